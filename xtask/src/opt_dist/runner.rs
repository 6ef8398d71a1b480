//! Runs a [`StagePlan`]: each step in order, logged as it starts, timed, and recorded; then the
//! stage's manifest, written only when every step succeeded.
//!
//! A failing step stops the stage with a [`StepFailed`] error that names the step and says what
//! to do. Published outputs of an earlier run are only replaced by complete, validated new ones,
//! and no manifest claims a stage that did not finish.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context, Result};

use super::bolt::{self, LibraryPattern};
use super::cmd::Cmd;
use super::fsutil::{self, human_bytes, human_duration};
use super::llvm_tools::{llvm_major, profdata_llvm_version};
use super::manifest::{
    CommandRecord, FileRecord, Manifest, RawProfilesRecord, ToolRecord, TreeRecord,
    ValidationRecord, SCHEMA_VERSION,
};
use super::pipeline::{Action, StagePlan, Step};
use super::tree::llvm_version_of_rustc;
use super::Ctx;
use super::{backup, elf, interrupt, metrics};

/// The error of a failed step: which stage, which step, and the advice that goes with it.
#[derive(Debug)]
pub struct StepFailed {
    pub stage: &'static str,
    pub index: usize,
    pub count: usize,
    pub title: String,
    pub hint: String,
}

impl fmt::Display for StepFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stage {} failed at step {}/{}: {}",
            self.stage, self.index, self.count, self.title
        )
    }
}

/// What the steps leave for the manifest.
#[derive(Default)]
struct Record {
    commands: Vec<CommandRecord>,
    tools: Vec<ToolRecord>,
    raw_profiles: Vec<RawProfilesRecord>,
    validations: Vec<ValidationRecord>,
    dist_files: Vec<FileRecord>,
}

pub fn run_stage(ctx: &Ctx, plan: &StagePlan, sh: &xshell::Shell) -> Result<()> {
    let stage = plan.stage.name();
    let title = plan.stage.def().title;
    let count = plan.steps.len();
    let started_at = SystemTime::now();
    let started = Instant::now();
    std::fs::create_dir_all(&plan.dir)
        .with_context(|| format!("cannot create the stage directory {}", plan.dir.display()))?;
    if let Some(reason) = &plan.skipped {
        eprintln!("opt-dist: {stage}: {title} skipped: {reason}");
    } else {
        eprintln!(
        "opt-dist: {stage}: {title}, {count} steps; tree {} {} for {}, {} interface; artifacts in {}",
        ctx.tree.version,
        ctx.tree.commit.as_deref().map(|c| &c[..c.len().min(9)]).unwrap_or("(no commit)"),
        ctx.tree.host,
        ctx.interface.name(),
        plan.dir.display()
    );
    }

    interrupt::install();
    let backups = backup::backups_dir(&ctx.tree.artifacts_root());
    restore_backups(&backups, "an earlier run was killed before it could")?;

    let mut record = Record::default();
    let mut timings = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        eprintln!("\n==> [{stage} {}/{count}] {}", i + 1, step.title);
        let step_started = Instant::now();
        let mut result = execute(ctx, step, &mut record, sh);
        if interrupt::interrupted() {
            result = Err(anyhow::anyhow!("interrupted by a signal (Ctrl-C?)"));
        }
        let secs = step_started.elapsed().as_secs_f64();
        timings.push((step.title.as_str(), secs));
        if let Err(err) = result {
            let err = match restore_backups(&backups, "the stage stopped before it could") {
                Ok(()) => err,
                Err(restore) => err.context(format!("{restore:#}")),
            };
            print_timings(stage, &timings, started.elapsed().as_secs_f64(), false);
            return Err(err.context(StepFailed {
                stage,
                index: i + 1,
                count,
                title: step.title.clone(),
                hint: step.hint.clone(),
            }));
        }
        eprintln!("    ({} for this step)", human_duration(secs));
    }

    let mut outputs = plan
        .outputs
        .iter()
        .map(|a| FileRecord::of(a.kind, &a.path))
        .collect::<Result<Vec<_>>>()?;
    outputs.append(&mut record.dist_files);
    let inputs = plan
        .inputs
        .iter()
        .map(|a| FileRecord::of(a.kind, &a.path))
        .collect::<Result<Vec<_>>>()?;
    let manifest = Manifest {
        schema: SCHEMA_VERSION,
        stage: stage.to_string(),
        title: title.to_string(),
        status: if plan.skipped.is_some() {
            "skipped"
        } else {
            "done"
        }
        .to_string(),
        skip_reason: plan.skipped.clone(),
        xtask_version: env!("CARGO_PKG_VERSION").to_string(),
        tree: TreeRecord {
            src: ctx.tree.src.clone(),
            version: ctx.tree.version.clone(),
            commit: ctx.tree.commit.clone(),
            host: ctx.tree.host.clone(),
            build_dir: ctx.tree.build_dir.clone(),
        },
        interface: ctx.interface.name().to_string(),
        options: ctx.options_record(),
        started_at: fsutil::utc_timestamp(started_at),
        finished_at: fsutil::utc_timestamp(SystemTime::now()),
        duration_secs: started.elapsed().as_secs_f64(),
        commands: record.commands,
        tools: record.tools,
        raw_profiles: record.raw_profiles,
        validations: record.validations,
        inputs,
        outputs,
    };
    manifest.write(&plan.dir)?;

    print_timings(stage, &timings, started.elapsed().as_secs_f64(), true);
    for output in &manifest.outputs {
        eprintln!("  {} ({})", output.path.display(), human_bytes(output.size));
    }
    Ok(())
}

fn print_timings(stage: &str, timings: &[(&str, f64)], total: f64, done: bool) {
    let verdict = if done { "finished" } else { "stopped" };
    eprintln!(
        "\nopt-dist: {stage} {verdict} after {}",
        human_duration(total)
    );
    let width = timings.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    for (i, (title, secs)) in timings.iter().enumerate() {
        eprintln!(
            "  {:>2}. {title:<width$}  {:>9}",
            i + 1,
            human_duration(*secs)
        );
    }
}

fn execute(ctx: &Ctx, step: &Step, record: &mut Record, sh: &xshell::Shell) -> Result<()> {
    match &step.action {
        Action::Run { cmd } => run_recorded(ctx, &step.title, cmd, record, sh)?,
        Action::RemoveBuildOutput { dir } => {
            if dir.exists() {
                let (_, bytes) = fsutil::dir_size(dir)?;
                eprintln!("    deleting {} ({})", dir.display(), human_bytes(bytes));
                std::fs::remove_dir_all(dir)
                    .with_context(|| format!("cannot delete {}", dir.display()))?;
            } else {
                eprintln!("    {} is not there", dir.display());
            }
        }
        Action::BoltInstrument {
            library,
            bolt,
            profile_prefix,
            scratch,
            backups,
            rebuild_hint,
        } => {
            let library = library.resolve()?;
            bolt::ensure_not_optimized(&library, rebuild_hint)?;
            let cmd = bolt::instrument_cmd(bolt, &library, profile_prefix, scratch);
            run_recorded(ctx, &step.title, &cmd, record, sh)?;
            bolt::swap_in_instrumented(&library, scratch, backups)?;
            eprintln!(
                "    {} is instrumented; its original is in {}",
                library.display(),
                backups.display()
            );
        }
        Action::RestoreBackups { backups } => {
            for library in backup::restore_leftovers(backups)? {
                eprintln!("    restored {}", library.display());
            }
        }
        Action::MergeFdata {
            merge_fdata,
            raw_dir,
            output,
        } => {
            let mut inputs: Vec<String> = std::fs::read_dir(raw_dir)
                .with_context(|| format!("cannot list {}", raw_dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "fdata"))
                .map(|p| p.display().to_string())
                .collect();
            inputs.sort();
            let cmd = Cmd::new(merge_fdata.display().to_string(), raw_dir)
                .arg("-o")
                .arg(output.display().to_string())
                .args(inputs);
            run_recorded(ctx, &step.title, &cmd, record, sh)?;
        }
        Action::ValidateFdata { profile } => {
            let validation = validate_fdata(profile)?;
            eprintln!(
                "    {} branch records, {} functions",
                validation.total_count, validation.functions
            );
            record.validations.push(validation);
        }
        Action::BoltOptimize {
            library,
            bolt,
            profile,
            scratch,
            record: record_file,
        } => {
            let library = library.resolve()?;
            let mut done: Vec<bolt::Optimized> = match std::fs::read(record_file) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .with_context(|| format!("unreadable {}", record_file.display()))?,
                Err(_) => Vec::new(),
            };
            let previous = done.iter().find(|o| o.library == library);
            match bolt::optimize_state(&library, profile, previous)? {
                bolt::OptimizeState::Done => {
                    eprintln!(
                        "    {} is already optimized with this profile",
                        library.display()
                    );
                }
                bolt::OptimizeState::Pending => {
                    // BOLT reads a copy, so its output can be copied over the library in place.
                    let input = scratch.with_extension("original");
                    std::fs::copy(&library, &input)
                        .with_context(|| format!("cannot copy {}", library.display()))?;
                    let cmd = bolt::optimize_cmd(bolt, &input, profile, scratch, &ctx.tree.host);
                    run_recorded(ctx, &step.title, &cmd, record, sh)?;
                    std::fs::copy(scratch, &library)
                        .with_context(|| format!("cannot write {}", library.display()))?;
                    std::fs::remove_file(scratch)?;
                    std::fs::remove_file(&input)?;
                    done.retain(|o| o.library != library);
                    done.push(bolt::Optimized {
                        library: library.clone(),
                        profile_sha256: fsutil::sha256_file(profile)?,
                        result_sha256: fsutil::sha256_file(&library)?,
                    });
                    fsutil::write_atomically(record_file, &serde_json::to_vec_pretty(&done)?)?;
                    eprintln!("    {} is BOLT-optimized", library.display());
                }
            }
        }
        Action::RecordDistFiles { dist_dir } => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dist_dir)
                .with_context(|| format!("cannot list {}", dist_dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            if files.is_empty() {
                bail!("{} holds no dist files", dist_dir.display());
            }
            for file in files {
                let output = FileRecord::of("dist-file", &file)?;
                eprintln!("    {} ({})", output.name, human_bytes(output.size));
                record.dist_files.push(output);
            }
        }
        Action::CheckPackagedLibraries {
            dist_dir,
            libraries,
            scratch,
        } => {
            let tarball = rustc_tarball(dist_dir, &ctx.tree.host)?;
            if scratch.exists() {
                std::fs::remove_dir_all(scratch)?;
            }
            std::fs::create_dir_all(scratch)?;
            let untar = Cmd::new("tar", scratch)
                .arg("-xf")
                .arg(tarball.display().to_string());
            run_recorded(ctx, &step.title, &untar, record, sh)?;
            let unpacked = walkdir::WalkDir::new(scratch)
                .into_iter()
                .filter_map(|e| e.ok())
                .map(|e| e.into_path())
                .find(|p| p.ends_with("rustc/lib"))
                .with_context(|| format!("{} has no rustc/lib", tarball.display()))?;
            for library in libraries {
                let sysroot = library.resolve()?;
                let packaged = LibraryPattern {
                    dir: unpacked.clone(),
                    ..library.clone()
                }
                .resolve()?;
                if !elf::is_bolt_optimized(&packaged)? {
                    bail!(
                        "{} in {} is not BOLT-optimized",
                        library.shown(),
                        tarball.display()
                    );
                }
                if fsutil::sha256_file(&packaged)? != fsutil::sha256_file(&sysroot)? {
                    bail!(
                        "{} in {} differs from the optimized {}",
                        library.shown(),
                        tarball.display(),
                        sysroot.display()
                    );
                }
                eprintln!(
                    "    {} in the rustc tarball is the BOLT-optimized one",
                    library.shown()
                );
            }
            std::fs::remove_dir_all(scratch)?;
        }
        Action::UnpackDist { dist_dir, unpacked } => {
            let dist = DistToolchain::find(dist_dir, unpacked, &ctx.tree.host)?;
            if unpacked.exists() {
                std::fs::remove_dir_all(unpacked)
                    .with_context(|| format!("cannot empty {}", unpacked.display()))?;
            }
            std::fs::create_dir_all(unpacked)?;
            for tarball in &dist.tarballs {
                let untar = Cmd::new("tar", unpacked)
                    .arg("-xf")
                    .arg(tarball.display().to_string());
                run_recorded(ctx, &step.title, &untar, record, sh)?;
            }
            let rustlib = format!("lib/rustlib/{}/lib", ctx.tree.host);
            fsutil::copy_dir(&dist.std_dir.join(&rustlib), &dist.rustc_dir.join(&rustlib))?;
            fsutil::copy_dir(
                &dist.src_dir.join("lib/rustlib/src"),
                &dist.rustc_dir.join("lib/rustlib/src"),
            )?;
            eprintln!("    sysroot: {}", dist.rustc_dir.display());
        }
        Action::RunWithTestConfig {
            cmd,
            config,
            unpacked,
            llvm_config,
        } => {
            let dist =
                DistToolchain::find(&ctx.tree.build_dir.join("dist"), unpacked, &ctx.tree.host)?;
            let rustc = dist.rustc_dir.join("bin/rustc");
            let cargo = dist.cargo_dir.join("bin/cargo");
            for tool in [&rustc, &cargo] {
                if !tool.is_file() {
                    bail!(
                        "{} is missing: unpack the dist toolchain first",
                        tool.display()
                    );
                }
            }
            let toml_path = |p: &Path| p.display().to_string().replace('\\', "/");
            let mut content = format!(
                "# Written by cargo xtask opt-dist for its test stage.\n\
                 profile = \"user\"\nchange-id = 115898\n\n[rust]\nchannel = \"{}\"\n\
                 verbose-tests = true\n# rust-lld cannot be combined with an external LLVM\nlld = false\n\n\
                 [build]\nrustc = \"{}\"\ncargo = \"{}\"\nlocal-rebuild = true\n\
                 compiletest-allow-stage0 = true\n",
                dist.channel(),
                toml_path(&rustc),
                toml_path(&cargo)
            );
            if ctx.tree.config.build_dir.is_some() {
                content.push_str(&format!(
                    "build-dir = \"{}\"\n",
                    toml_path(&ctx.tree.build_dir)
                ));
            }
            content.push_str(&format!(
                "\n[target.{}]\nllvm-config = \"{}\"\n",
                ctx.tree.host,
                toml_path(llvm_config)
            ));
            fsutil::write_atomically(config, content.as_bytes())?;
            eprintln!("    {}:\n{}", config.display(), indent(&content));
            run_recorded(ctx, &step.title, cmd, record, sh)?;
        }
        Action::ResetScratchDir { dir } => {
            if dir.exists() {
                let (files, bytes) = fsutil::dir_size(dir)?;
                if files > 0 {
                    eprintln!(
                        "    removing {files} raw files ({}) left in {} by an unfinished run",
                        human_bytes(bytes),
                        dir.display()
                    );
                }
                std::fs::remove_dir_all(dir)
                    .with_context(|| format!("cannot empty {}", dir.display()))?;
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Action::ExpectRawProfiles { dir, extension } => {
            let (count, bytes) = fsutil::count_files(dir, extension)?;
            if count == 0 {
                bail!("training wrote no .{extension} files to {}", dir.display());
            }
            eprintln!("    {count} raw profiles, {}", human_bytes(bytes));
            record.raw_profiles.push(RawProfilesRecord {
                dir: dir.clone(),
                count,
                bytes,
                kept: true,
            });
        }
        Action::CheckProfdataMatchesCompiler { profdata, compiler } => {
            check_profdata_matches(profdata, compiler, record, sh)?;
        }
        Action::ValidateProfile { profdata, profile } => {
            let validation = validate_profile(profdata, profile, sh)?;
            eprintln!(
                "    {} functions, maximum function count {}, total count {}",
                validation.functions, validation.max_function_count, validation.total_count
            );
            record.validations.push(validation);
        }
        Action::Publish { from, to } => {
            std::fs::rename(from, to)
                .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
        }
        Action::KeepRawProfiles { dir, to } => {
            if to.exists() {
                std::fs::remove_dir_all(to)
                    .with_context(|| format!("cannot replace {}", to.display()))?;
            }
            std::fs::rename(dir, to)
                .with_context(|| format!("cannot move {} to {}", dir.display(), to.display()))?;
            if let Some(raw) = record.raw_profiles.iter_mut().rev().find(|r| &r.dir == dir) {
                raw.dir = to.clone();
            }
            eprintln!("    kept in {}", to.display());
        }
        Action::RemoveRawProfiles { dir } => {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot delete {}", dir.display()))?;
            if let Some(raw) = record.raw_profiles.iter_mut().rev().find(|r| &r.dir == dir) {
                raw.kept = false;
            }
        }
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The dist tarballs the test stage unpacks, and where their contents land.
struct DistToolchain {
    /// `1.95.0`, `beta` or `nightly`: the version part of the tarball names.
    package_version: String,
    tarballs: Vec<PathBuf>,
    rustc_dir: PathBuf,
    std_dir: PathBuf,
    cargo_dir: PathBuf,
    src_dir: PathBuf,
}

impl DistToolchain {
    fn find(dist_dir: &Path, unpacked: &Path, host: &str) -> Result<DistToolchain> {
        let rustc = rustc_tarball(dist_dir, host)
            .context("run the dist stage first: it makes the tarballs")?;
        let name = rustc
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let package_version = name
            .strip_prefix("rustc-")
            .and_then(|rest| rest.split_once(&format!("-{host}.tar")))
            .map(|(v, _)| v.to_string())
            .context("unexpected rustc tarball name")?;
        let stem = |component: &str, with_host: bool| {
            if with_host {
                format!("{component}-{package_version}-{host}")
            } else {
                format!("{component}-{package_version}")
            }
        };
        let mut tarballs = Vec::new();
        for (component, with_host) in [
            ("rustc", true),
            ("rust-std", true),
            ("cargo", true),
            ("rust-src", false),
        ] {
            let prefix = format!("{}.tar.", stem(component, with_host));
            let tarball = std::fs::read_dir(dist_dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .starts_with(&prefix)
                })
                .with_context(|| format!("no {prefix}* (.xz or .zst) in {}", dist_dir.display()))?;
            tarballs.push(tarball);
        }
        Ok(DistToolchain {
            rustc_dir: unpacked.join(stem("rustc", true)).join("rustc"),
            std_dir: unpacked
                .join(stem("rust-std", true))
                .join(format!("rust-std-{host}")),
            cargo_dir: unpacked.join(stem("cargo", true)).join("cargo"),
            src_dir: unpacked.join(stem("rust-src", false)).join("rust-src"),
            package_version,
            tarballs,
        })
    }

    /// Tarballs are named after the release for stable, after the channel otherwise.
    fn channel(&self) -> &str {
        match self.package_version.as_str() {
            "beta" => "beta",
            "nightly" => "nightly",
            _ => "stable",
        }
    }
}

/// `rustc-<version>-<host>.tar.*` in the dist dir (not rustc-dev-… or rustc-docs-…).
fn rustc_tarball(dist_dir: &Path, host: &str) -> Result<PathBuf> {
    let suffix = format!("-{host}.tar");
    std::fs::read_dir(dist_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            name.strip_prefix("rustc-")
                .and_then(|rest| rest.split_once(&suffix))
                .is_some_and(|(version, _)| !version.contains('-'))
        })
        .with_context(|| format!("no rustc-<version>{suffix}.* in {}", dist_dir.display()))
}

/// Puts back every library a BOLT step left instrumented, saying why it was left so.
fn restore_backups(backups: &Path, why: &str) -> Result<()> {
    for library in backup::restore_leftovers(backups)? {
        eprintln!(
            "opt-dist: restored the original {} ({why})",
            library.display()
        );
    }
    Ok(())
}

/// Runs a command with its line logged, and records it for the manifest, with bootstrap's
/// own slowest steps when it wrote metrics for an x.py call.
fn run_recorded(
    ctx: &Ctx,
    step: &str,
    cmd: &Cmd,
    record: &mut Record,
    sh: &xshell::Shell,
) -> Result<()> {
    eprintln!("    $ cd {} && {}", cmd.cwd.display(), cmd.shell_line());
    let started_at = SystemTime::now();
    let started = Instant::now();
    cmd.run(sh)?;
    let bootstrap_steps = metrics::slowest_steps(&ctx.tree.build_dir, started_at, 5);
    if !bootstrap_steps.is_empty() {
        let shown: Vec<String> = bootstrap_steps
            .iter()
            .map(|s| format!("{} {}", s.step, human_duration(s.secs)))
            .collect();
        eprintln!("    bootstrap's slowest steps: {}", shown.join(", "));
    }
    record.commands.push(CommandRecord {
        step: step.to_string(),
        argv: cmd.argv.clone(),
        cwd: cmd.cwd.clone(),
        env: cmd.env.clone(),
        exit_code: 0,
        duration_secs: started.elapsed().as_secs_f64(),
        bootstrap_steps,
    });
    Ok(())
}

/// A merged `.fdata` is lines of `<branch record> <count>`: it must hold some, with counts.
fn validate_fdata(profile: &Path) -> Result<ValidationRecord> {
    let text = std::fs::read_to_string(profile)
        .with_context(|| format!("cannot read the merged BOLT profile {}", profile.display()))?;
    let mut records = 0u64;
    let mut max_count = 0u64;
    let mut total = 0u64;
    let mut functions = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `1 <from symbol> <offset> 1 <to symbol> <offset> <mispredicts> <count>`
        if fields.len() == 8 && fields[0] == "1" {
            records += 1;
            functions.insert(fields[1].to_string());
            let count: u64 = fields[7].parse().unwrap_or(0);
            max_count = max_count.max(count);
            total += count;
        }
    }
    if records == 0 || max_count == 0 {
        bail!(
            "the merged BOLT profile {} holds no branch records with counts: the instrumented \
             library was not exercised",
            profile.display()
        );
    }
    Ok(ValidationRecord {
        profile: profile
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        functions: functions.len() as u64,
        total_count: total,
        max_function_count: max_count,
        hottest_functions: Vec::new(),
    })
}

fn check_profdata_matches(
    profdata: &Path,
    compiler: &Path,
    record: &mut Record,
    sh: &xshell::Shell,
) -> Result<()> {
    if !profdata.is_file() {
        bail!("llvm-profdata not found at {}", profdata.display());
    }
    let tool_version = profdata_llvm_version(profdata, sh)?;
    let compiler_version = llvm_version_of_rustc(compiler, sh)
        .with_context(|| format!("cannot ask {} for its LLVM version", compiler.display()))?;
    eprintln!(
        "    {} is LLVM {tool_version}; {} uses LLVM {compiler_version}",
        profdata.display(),
        compiler.display()
    );
    let (tool_major, compiler_major) = (llvm_major(&tool_version), llvm_major(&compiler_version));
    if tool_major.is_none() || tool_major != compiler_major {
        bail!(
            "{} is LLVM {tool_version}, but the compiler {} uses LLVM {compiler_version}: \
             llvm-profdata cannot read raw profiles of another LLVM major version",
            profdata.display(),
            compiler.display()
        );
    }
    record.tools.push(ToolRecord {
        name: "llvm-profdata".to_string(),
        path: profdata.to_path_buf(),
        llvm_version: tool_version,
    });
    record.tools.push(ToolRecord {
        name: "instrumented rustc".to_string(),
        path: compiler.to_path_buf(),
        llvm_version: compiler_version,
    });
    Ok(())
}

/// `llvm-profdata show --topn`: the profile must parse and carry counts.
fn validate_profile(
    profdata: &Path,
    profile: &Path,
    sh: &xshell::Shell,
) -> Result<ValidationRecord> {
    let show = super::cmd::Cmd::new(profdata.display().to_string(), Path::new("."))
        .args(["show", "--topn=10"])
        .arg(profile.display().to_string());
    let (ok, stdout, stderr) = show.probe(sh)?;
    if !ok {
        bail!(
            "`{}` cannot read the merged profile: {}",
            show.shell_line(),
            stderr.trim()
        );
    }
    let number = |label: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let hottest_functions = stdout
        .lines()
        .filter_map(|l| l.trim().rsplit_once(", max count = "))
        .filter(|(_, count)| count.trim().parse::<u64>().is_ok_and(|c| c > 0))
        .map(|(name, _)| name.rsplit(';').next().unwrap_or(name).to_string())
        .collect();
    let validation = ValidationRecord {
        profile: profile
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        functions: number("Total functions:"),
        total_count: number("Total count:"),
        max_function_count: number("Maximum function count:"),
        hottest_functions,
    };
    if validation.functions == 0 || validation.max_function_count == 0 {
        bail!(
            "the merged profile {} has no counts ({} functions, maximum count {}): the \
             training did not exercise the instrumented compiler",
            profile.display(),
            validation.functions,
            validation.max_function_count
        );
    }
    Ok(validation)
}
