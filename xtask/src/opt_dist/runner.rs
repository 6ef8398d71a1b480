//! Runs a [`StagePlan`]: each step in order, logged as it starts, timed, and recorded; then the
//! stage's manifest, written only when every step succeeded.
//!
//! A failing step stops the stage with a [`StepFailed`] error that names the step and says what
//! to do. Published outputs of an earlier run are only replaced by complete, validated new ones,
//! and no manifest claims a stage that did not finish.

use std::fmt;
use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context, Result};

use super::fsutil::{self, human_bytes, human_duration};
use super::llvm_tools::{llvm_major, profdata_llvm_version};
use super::manifest::{
    CommandRecord, FileRecord, Manifest, RawProfilesRecord, ToolRecord, TreeRecord,
    ValidationRecord, SCHEMA_VERSION,
};
use super::pipeline::{Action, StagePlan, Step};
use super::tree::llvm_version_of_rustc;
use super::Ctx;

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

    let mut record = Record::default();
    let mut timings = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        eprintln!("\n==> [{stage} {}/{count}] {}", i + 1, step.title);
        let step_started = Instant::now();
        let result = execute(step, &mut record, sh);
        let secs = step_started.elapsed().as_secs_f64();
        timings.push((step.title.as_str(), secs));
        if let Err(err) = result {
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

    let outputs = plan
        .outputs
        .iter()
        .map(|a| FileRecord::of(a.kind, &a.path))
        .collect::<Result<Vec<_>>>()?;
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

fn execute(step: &Step, record: &mut Record, sh: &xshell::Shell) -> Result<()> {
    match &step.action {
        Action::Run { cmd } => {
            eprintln!("    $ cd {} && {}", cmd.cwd.display(), cmd.shell_line());
            let started = Instant::now();
            cmd.run(sh)?;
            record.commands.push(CommandRecord {
                step: step.title.clone(),
                argv: cmd.argv.clone(),
                cwd: cmd.cwd.clone(),
                env: cmd.env.clone(),
                exit_code: 0,
                duration_secs: started.elapsed().as_secs_f64(),
            });
        }
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
