//! Carrying out an [`Effect`]: the runner's side of each one (the shell side is
//! [`Effect::shell`]).

use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};

use super::backup;
use super::build_state::{BuildState, Recorded};
use super::manifest::{CommandRecord, FileRecord, RawProfilesRecord, Record, DIST_FILE_KIND};
use super::plan::{Done, Effect, FitBy, PackageCheck, ProfileCheck};
use super::report;
use crate::tools::fit;
use crate::tools::llvm::{self, llvm_tool_version};
use crate::tools::metrics;
use crate::tools::streaming::{self, Stream, StreamedRecord};
use crate::util::cmd::Cmd;
use crate::util::elf::{self, BoltState};
use crate::util::fs::{self, file_name, human_bytes, human_duration, sha256_file, OneFile};

/// What carrying out the effects of one step can use and leaves behind.
pub struct Exec<'a> {
    pub sh: &'a xshell::Shell,
    pub build_dir: &'a Path,
    pub record: &'a mut Record,
    /// When this run of the stage started: files older than that are an earlier run's.
    pub stage_started: SystemTime,
    /// The build state before this step.
    pub parts_before: &'a BuildState,
    pub step: &'a str,
    /// How long this step took in the stage's previous finished run.
    pub previous_secs: Option<f64>,
}

impl Exec<'_> {
    /// Why the step has nothing to do, when `done` holds.
    pub fn done(&self, done: &Done) -> Result<Option<String>> {
        let Done::BoltOptimized { library, part, pgo_profile, bolt_profile } = done;
        let library = library.find()?;
        if elf::bolt_state(&library)? != BoltState::Optimized {
            return Ok(None);
        }
        let recorded = match self.parts_before.get(*part) {
            Recorded::BoltOptimized { profile_sha256, bolt_profile_sha256: Some(bolt_sha256) } => {
                profile_sha256 == sha256_file(pgo_profile)?
                    && bolt_sha256 == sha256_file(bolt_profile)?
            }
            _ => false,
        };
        Ok(recorded
            .then(|| format!("{} is already optimized with this profile", library.display())))
    }

    fn run(&mut self, effect: &Effect) -> Result<()> {
        match effect {
            Effect::Run { cmd, training: false, output: Some(output), .. } => {
                let mut kept = String::new();
                let mut keep = |line: &str| {
                    eprintln!("{line}");
                    kept.extend([line, "\n"]);
                };
                self.recorded(cmd, false, |cmd, sh| cmd.run(sh, Some(&mut keep)))?;
                fs::write_atomically(output, kept.as_bytes())?;
            }
            Effect::Run { cmd, training: false, .. } => self.command(cmd, false)?,
            Effect::Run { cmd, stream, .. } => {
                self.streaming(stream.as_ref(), cmd, |exec| exec.training(cmd))?
            }
            Effect::Bootstrap { cmd, stream, early_check, .. } => {
                let early = early_check.as_ref().map(PackageCheck::start_early);
                let ran = self.streaming(stream.as_ref(), cmd, |exec| exec.command(cmd, true));
                if let Some(early) = early {
                    early.finish();
                }
                ran?
            }
            Effect::ResetDir { dir } => {
                let (files, bytes) = fs::files_below(dir, None)?;
                if files > 0 {
                    eprintln!(
                        "    removing {files} files ({}) left in {} by an unfinished run",
                        human_bytes(bytes),
                        dir.display()
                    );
                }
                fs::remove(dir)?;
                fs::create_dir(dir)?;
            }
            Effect::RemoveDir { dir } => {
                match dir.exists() {
                    true => eprintln!(
                        "    deleting {} ({})",
                        dir.display(),
                        human_bytes(fs::files_below(dir, None)?.1)
                    ),
                    false => eprintln!("    {} is not there", dir.display()),
                }
                match self.raw_profiles_in(dir) {
                    Some(raw) if dir.exists() => {
                        raw.kept = false;
                        delete_behind(dir)?;
                    }
                    _ => fs::remove(dir)?,
                }
            }
            Effect::Move { from, to } => {
                // A run stopped between the rename and its journal's record of the step left
                // nothing to move: what it moved is in place (and a kept directory stays).
                if from.exists() || !to.exists() {
                    if to.is_dir() {
                        fs::remove(to)?;
                    }
                    fs::rename(from, to)?;
                } else {
                    eprintln!("    {} is in place: an earlier run moved it there", to.display());
                }
                if let Some(raw) = self.raw_profiles_in(from) {
                    raw.dir = to.clone();
                    eprintln!("    kept in {}", to.display());
                }
            }
            Effect::Link { from, to } => {
                fs::create_dir(to.parent().unwrap_or(Path::new("/")))?;
                let partial = fs::partial(to);
                fs::remove(&partial)?;
                if std::fs::hard_link(from, &partial).is_err() {
                    fs::copy(from, &partial)?;
                }
                fs::rename(&partial, to)?;
                eprintln!("    {} is {}", file_name(to), from.display());
            }
            Effect::ExpectRawProfiles { dir, extension } => {
                let (left, left_bytes) = streaming::left_unmerged(dir, extension)?;
                // Streamed, the record is there: what merged while training ran, and now what
                // it left for the merge.
                let raw = self.raw_record(dir, false);
                (raw.count, raw.bytes) = (raw.count + left, raw.bytes + left_bytes);
                raw.peak_bytes = raw.peak_bytes.max(left_bytes);
                let (count, bytes) = (raw.count, raw.bytes);
                if count == 0 {
                    bail!("training wrote no .{extension} files to {}", dir.display());
                }
                eprintln!("    {count} raw profiles, {}", human_bytes(bytes));
            }
            Effect::CheckProfdata { profdata, compiler } => {
                let (tool, rustc) = llvm::check_profdata_matches(profdata, compiler, self.sh)?;
                self.record.tool("llvm-profdata", profdata, tool);
                self.record.tool("instrumented rustc", compiler, rustc);
            }
            Effect::MergeFdata { merge_fdata, raw_dir, output } => {
                let inputs = fs::files_in(raw_dir)?
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "fdata"));
                self.tool("merge-fdata", merge_fdata);
                let cmd = Cmd::new(merge_fdata, raw_dir).arg("-o").arg(output).args(inputs);
                self.command(&cmd, false)?;
            }
            Effect::Validate { profile, check } => {
                let validation = match check {
                    ProfileCheck::LlvmProfdata { tool } => {
                        let show = llvm::show_profile(tool, profile);
                        self.recorded(&show, false, |show, sh| {
                            llvm::validate_profile(show, profile, sh)
                        })?
                    }
                    ProfileCheck::Fdata => llvm::validate_fdata(profile)?,
                };
                eprintln!(
                    "    {} functions, maximum function count {}, total count {}",
                    validation.functions, validation.max_function_count, validation.total_count
                );
                self.record.validations.push(validation);
            }
            Effect::NotBoltOutput { library, rebuild_hint } => {
                not_bolt_output(&library.find()?, rebuild_hint)?
            }
            Effect::BackUp { library, backup, part } => {
                let library = library.find()?;
                backup::back_up(&library, backup, Some(*part))
                    .with_context(|| format!("{} was not changed", library.display()))?;
            }
            Effect::Replace { library, with, instrumented } => {
                self.replace(library, with, *instrumented)?
            }
            Effect::Restore { backup, .. } => {
                for settled in backup::settle(backup.parent().unwrap_or(Path::new("/")))? {
                    eprintln!("    {}", settled.describe("its change is over"));
                }
            }
            Effect::RemoveBoltOutput { library, build_dirs } => {
                remove_bolt_output(library, build_dirs)?
            }
            Effect::RecordDistFiles { dist_dir } => self.record_dist_files(dist_dir)?,
            Effect::CheckPackagedToolchain(package) => self.check_packaged(package)?,
            Effect::CheckFit { profile, binaries, by, allow_stale } => {
                let fit = measure_fit(profile, binaries, by)?;
                self.judge_fit(fit, profile, *allow_stale)?
            }
            Effect::Script { script } => {
                self.command(&Cmd::new("sh", Path::new("/")).args(["-c", script]), false)?
            }
        }
        Ok(())
    }

    /// Carries out a step's effects in order. The fit checks of one step (dist's: each profile
    /// against the binary built with it) read different binaries: they are measured at the same
    /// time, then judged in order.
    pub fn run_all(&mut self, effects: &[Effect]) -> Result<()> {
        let checks: Vec<_> = effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::CheckFit { profile, binaries, by, allow_stale } => {
                    Some((profile, binaries, by, *allow_stale))
                }
                _ => None,
            })
            .collect();
        if checks.len() < 2 || checks.len() != effects.len() {
            return effects.iter().try_for_each(|effect| self.run(effect));
        }
        let fits: Vec<Result<fit::Fit>> = std::thread::scope(|scope| {
            let measuring: Vec<_> = checks
                .iter()
                .map(|&(profile, binaries, by, _)| {
                    scope.spawn(move || measure_fit(profile, binaries, by))
                })
                .collect();
            let joined = measuring.into_iter().map(|m| m.join());
            joined.map(|fit| fit.unwrap_or_else(|_| bail!("a fit check panicked"))).collect()
        });
        for ((profile, _, _, allow_stale), fit) in checks.into_iter().zip(fits) {
            self.judge_fit(fit?, profile, allow_stale)?;
        }
        Ok(())
    }

    /// Reports a fit and records it; one too low stops the step, unless `allow_stale`.
    fn judge_fit(&mut self, fit: fit::Fit, profile: &Path, allow_stale: bool) -> Result<()> {
        eprintln!("    {}", fit.describe());
        if !fit.fits() {
            let stage = profile.parent().map(file_name).unwrap_or_default();
            match allow_stale {
                false => bail!("{}", fit.refusal(&stage)),
                true => eprintln!("opt-dist: WARNING (--allow-stale): {}", fit.refusal(&stage)),
            }
        }
        self.record.fit.push(fit);
        Ok(())
    }

    /// Runs a command with its line logged, and records it for the manifest; an x.py call
    /// also with bootstrap's own slowest steps, when it wrote metrics.
    fn command(&mut self, cmd: &Cmd, bootstrap: bool) -> Result<()> {
        self.recorded(cmd, bootstrap, |cmd, sh| cmd.run(sh, None))
    }

    /// The collector's run, its progress through the benchmarks reported.
    fn training(&mut self, cmd: &Cmd) -> Result<()> {
        let mut progress = report::TrainingProgress::new(self.previous_secs);
        let ran =
            self.recorded(cmd, false, |cmd, sh| cmd.run(sh, Some(&mut |line| progress.line(line))));
        progress.finish();
        ran
    }

    /// Runs `cmd` with `run`, the raw profiles its processes write merged as they go where
    /// they stream; what streamed adds up in the record of their directory.
    fn streaming(
        &mut self,
        stream: Option<&Stream>,
        cmd: &Cmd,
        run: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        let Some(stream) = stream else {
            return run(self);
        };
        let streaming = stream.start(&cmd.shell_line());
        let ran = run(self);
        // The streaming's failure first: it is why the command was stopped.
        let streamed = streaming.finish()?;
        ran?;
        if streamed.files == 0 {
            return Ok(());
        }
        eprintln!("    {}", streamed.describe());
        let raw = self.raw_record(&stream.raw_dir, true);
        let all = raw.streamed.as_mut().expect("a streamed record");
        all.add(&streamed);
        (raw.count, raw.bytes, raw.peak_bytes) = (all.files, all.bytes, all.peak_bytes);
        Ok(())
    }

    fn recorded<T>(
        &mut self,
        cmd: &Cmd,
        bootstrap: bool,
        run: impl FnOnce(&Cmd, &xshell::Shell) -> Result<T>,
    ) -> Result<T> {
        eprintln!("    $ cd {} && {}", cmd.cwd.display(), cmd.shell_line());
        let (started_at, started) = (SystemTime::now(), Instant::now());
        let answer = run(cmd, self.sh)?;
        let bootstrap_steps = match bootstrap {
            true => metrics::slowest_steps(self.build_dir, started_at, 5),
            false => Vec::new(),
        };
        if !bootstrap_steps.is_empty() {
            let shown: Vec<String> = bootstrap_steps
                .iter()
                .map(|s| format!("{} {}", s.step, human_duration(s.secs)))
                .collect();
            eprintln!("    bootstrap's slowest steps: {}", shown.join(", "));
        }
        self.note_command(cmd, started_at, started.elapsed().as_secs_f64(), bootstrap_steps);
        if file_name(Path::new(cmd.program())) == "llvm-bolt" {
            self.tool("llvm-bolt", Path::new(cmd.program()));
        }
        Ok(answer)
    }

    /// Records a command that ran to its end, for the manifest.
    fn note_command(
        &mut self,
        cmd: &Cmd,
        started_at: SystemTime,
        secs: f64,
        bootstrap_steps: Vec<metrics::BootstrapStep>,
    ) {
        let since_stage = started_at.duration_since(self.stage_started).unwrap_or_default();
        self.record.commands.push(CommandRecord {
            step: self.step.to_string(),
            argv: cmd.argv.clone(),
            cwd: cmd.cwd.clone(),
            env: cmd.env.clone(),
            exit_code: 0,
            started_secs: since_stage.as_secs_f64(),
            duration_secs: secs,
            bootstrap_steps,
        });
    }

    /// Records a host LLVM tool with its version in the manifest (a later run compares it).
    fn tool(&mut self, name: &str, path: &Path) {
        if let Ok(version) = llvm_tool_version(path, self.sh) {
            self.record.tool(name, path, version);
        }
    }

    /// The record of the raw profiles in `dir` still to be merged: the one of those streaming
    /// into it now (kept: not yet merged and deleted), else a new one (streamed, when `streams`).
    fn raw_record(&mut self, dir: &Path, streams: bool) -> &mut RawProfilesRecord {
        let records = &mut self.record.raw_profiles;
        let streaming = records.iter().rposition(|r| r.dir == dir);
        let at = match streaming.filter(|&at| records[at].kept && records[at].streamed.is_some()) {
            Some(at) => at,
            None => {
                records.push(RawProfilesRecord {
                    dir: dir.to_path_buf(),
                    kept: true,
                    streamed: streams.then(StreamedRecord::default),
                    ..RawProfilesRecord::default()
                });
                records.len() - 1
            }
        };
        &mut records[at]
    }

    /// The raw profiles counted in `dir`, to note that they were moved or deleted.
    fn raw_profiles_in(&mut self, dir: &Path) -> Option<&mut RawProfilesRecord> {
        self.record.raw_profiles.iter_mut().rev().find(|r| r.dir == dir)
    }

    /// Copies `with` over the library, which BOLT's output must then be. Copying truncates the
    /// library first: its blocks are free again before the new ones are written.
    fn replace(&mut self, library: &OneFile, with: &Path, instrumented: bool) -> Result<()> {
        let library = library.find()?;
        let size = fs::size(with)?;
        let old = fs::size(&library)?;
        if let Some(free) = fs::free_bytes(&library) {
            if free + old < size {
                bail!(
                    "rewriting {} needs {} free, {} is: free some space (the BOLT output was \
                     written; the library was not touched)",
                    library.display(),
                    human_bytes(size),
                    human_bytes(free)
                );
            }
        }
        fs::copy(with, &library)?;
        let (expected, what) = match instrumented {
            true => (BoltState::Instrumented, "BOLT-instrumented"),
            false => (BoltState::Optimized, "BOLT-optimized"),
        };
        let written = fs::size(&library)?;
        if written != size || elf::bolt_state(&library).ok() != Some(expected) {
            bail!(
                "{} is not what llvm-bolt wrote after the copy ({} of {})",
                library.display(),
                human_bytes(written),
                human_bytes(size)
            );
        }
        eprintln!("    {} is {what}", library.display());
        Ok(())
    }

    /// Records every file this dist wrote (a file an earlier dist left, say reproducible
    /// artifacts of a run with BOLT, is not this one's).
    fn record_dist_files(&mut self, dist_dir: &Path) -> Result<()> {
        let since = self.stage_started - Duration::from_secs(2);
        let mut found = 0;
        for file in fs::files_in(dist_dir)? {
            let modified = std::fs::metadata(&file).and_then(|m| m.modified());
            if !modified.is_ok_and(|modified| modified >= since) {
                eprintln!("    {} is an earlier dist's: not recorded", file_name(&file));
                continue;
            }
            let output = FileRecord::of(DIST_FILE_KIND, &file)?;
            eprintln!("    {} ({})", output.name, human_bytes(output.size));
            self.record.found_outputs.push(output);
            found += 1;
        }
        if found == 0 {
            bail!("bootstrap wrote no dist files to {}", dist_dir.display());
        }
        Ok(())
    }

    fn check_packaged(&mut self, package: &PackageCheck) -> Result<()> {
        let asked = SystemTime::now();
        let checked = package.check()?;
        let unpack = &checked.unpack;
        eprintln!("    $ cd {} && {}", unpack.cwd.display(), unpack.shell_line());
        if checked.unpack_started < asked {
            eprintln!("    (checked while dist packaged the other components)");
        }
        self.note_command(unpack, checked.unpack_started, checked.unpack_secs, Vec::new());
        if let Some(refusal) = checked.refusal {
            bail!("{refusal}");
        }
        eprintln!("    {} ELF files in the rustc tarball, none instrumented", checked.elf_files);
        if let (Some(llvm), true) = (checked.shared_llvm, package.bolt_libraries.is_empty()) {
            eprintln!(
                "    note: the dist ships a shared {llvm} without BOLT (BOLT is off); with \
                 --use-bolt true it would be BOLT-optimized"
            );
        }
        for library in &package.bolt_libraries {
            eprintln!("    {} in the rustc tarball is the BOLT-optimized one", library.shown());
        }
        Ok(())
    }
}

/// Deletions going on while the next steps run: see [`delete_behind`].
static DELETING: Mutex<Vec<JoinHandle<Result<()>>>> = Mutex::new(Vec::new());

/// Deletes merged raw profiles (thousands of files, gigabytes on a real tree) while the next
/// steps run: gone at once under another name (`<dir>-deleted`), deleted by a thread the stage
/// waits for before it ends ([`finish_deletions`], which also deletes what a killed run left).
fn delete_behind(dir: &Path) -> Result<()> {
    // A name no earlier deletion still uses: two threads deleting one tree at once fail.
    let doomed = (0..)
        .map(|n| dir.with_file_name(format!("{}-{n}-deleted", file_name(dir))))
        .find(|doomed| doomed.symlink_metadata().is_err())
        .expect("some name is free");
    fs::rename(dir, &doomed)?;
    let deleting = std::thread::spawn(move || fs::remove(&doomed));
    DELETING.lock().unwrap_or_else(|e| e.into_inner()).push(deleting);
    Ok(())
}

/// Waits for the deletions [`delete_behind`] started, then deletes what the deletion of a run
/// that was killed left in `stage_dir`.
pub fn finish_deletions(stage_dir: &Path) -> Result<()> {
    let deleting = std::mem::take(&mut *DELETING.lock().unwrap_or_else(|e| e.into_inner()));
    for deletion in deleting {
        deletion.join().map_err(|_| anyhow::anyhow!("a deletion panicked"))??;
    }
    let left = std::fs::read_dir(stage_dir).into_iter().flatten().filter_map(|e| e.ok());
    for leftover in left.filter(|e| e.file_name().to_string_lossy().ends_with("-deleted")) {
        fs::remove(&leftover.path())?;
    }
    Ok(())
}

/// How much of `profile` the binaries built with it hold.
fn measure_fit(profile: &Path, binaries: &[OneFile], by: &FitBy) -> Result<fit::Fit> {
    let found: Vec<_> = binaries.iter().filter_map(|b| b.find().ok()).collect();
    if found.is_empty() {
        binaries.first().context("no binary to check the profile against")?.find()?;
    }
    match by {
        FitBy::Symbols { profdata, nm } => fit::pgo(profdata, profile, nm, &found),
        FitBy::BoltLog { log } => {
            let log_text = std::fs::read_to_string(log)
                .with_context(|| format!("cannot read {}", log.display()))?;
            fit::bolt(&log_text, profile, &found[0])
        }
    }
}

/// Refuses a library BOLT already rewrote: BOLT cannot process its own output again. The plan
/// rebuilds such a library first wherever the build state knows it; this is the last guard.
fn not_bolt_output(library: &Path, how_to_rebuild: &str) -> Result<()> {
    match elf::bolt_state(library)? {
        BoltState::Untouched => Ok(()),
        BoltState::Optimized => bail!(
            "{} is already BOLT-optimized (it has a .bolt.org.text section), and BOLT cannot \
             process its own output: {how_to_rebuild}",
            library.display()
        ),
        BoltState::Instrumented => bail!(
            "{} is BOLT-instrumented (it has .bolt.instr sections): a run was stopped while it \
             was trained, and its backup is gone, so the original cannot be put back: \
             {how_to_rebuild}",
            library.display()
        ),
    }
}

/// Deletes the library, if it is BOLT's output, with every hard link to it in `build_dirs`.
fn remove_bolt_output(library: &OneFile, build_dirs: &[std::path::PathBuf]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(library) = library.find() else {
        eprintln!("    there is no {} to delete", library.shown());
        return Ok(());
    };
    if elf::bolt_state(&library)? == BoltState::Untouched {
        eprintln!(
            "    {} is not BOLT's output: bootstrap rebuilds it as needed",
            library.display()
        );
        return Ok(());
    }
    let meta = std::fs::metadata(&library)
        .with_context(|| format!("cannot read {}", library.display()))?;
    for dir in build_dirs {
        for entry in walkdir::WalkDir::new(dir).into_iter().filter_map(|e| e.ok()) {
            let same = entry
                .metadata()
                .is_ok_and(|m| m.is_file() && m.dev() == meta.dev() && m.ino() == meta.ino());
            if same {
                fs::remove(entry.path())?;
                eprintln!("    deleted {}", entry.path().display());
            }
        }
    }
    Ok(())
}
