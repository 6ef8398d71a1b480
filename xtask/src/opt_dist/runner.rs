//! Runs a [`StagePlan`]: each step in order, logged as it starts, timed, and recorded; then the
//! stage's manifest, written only when every step succeeded.
//!
//! A failing step stops the stage with a [`StepFailed`] error that names the step and says what
//! to do. Published outputs of an earlier run are only replaced by complete, validated new ones,
//! and no manifest claims a stage that did not finish.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::build_state::BuildState;
use super::cmd::Cmd;
use super::disk::DiskMeter;
use super::fsutil::{self, human_bytes, human_duration, sha256_file};
use super::manifest::{
    CommandRecord, FileRecord, Manifest, RawProfilesRecord, StepRecord, ToolRecord, TreeRecord,
    ValidationRecord, SCHEMA_VERSION,
};
use super::pipeline::{Action, ProfileCheck, StagePlan, Step};
use super::state::{self, Failure, Journal, FAILED_FILE, JOURNAL_FILE, UNRECORDED_FILE};
use super::Ctx;
use super::{backup, interrupt, metrics, report, validate};

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

/// What kind of command a step runs: it decides what is read from it while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Bootstrap,
    Training,
}

/// What the steps leave for the manifest (kept in the step journal while the stage runs).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Record {
    pub commands: Vec<CommandRecord>,
    pub tools: Vec<ToolRecord>,
    pub raw_profiles: Vec<RawProfilesRecord>,
    pub validations: Vec<ValidationRecord>,
    /// Outputs found while the stage ran (the files bootstrap's dist wrote).
    pub found_outputs: Vec<FileRecord>,
    /// Every finished step and how long it took (also those of an interrupted earlier run).
    #[serde(default)]
    pub steps: Vec<StepRecord>,
}

impl Record {
    /// Records a tool the stage used, once (a stage that merges twice checks its tools twice).
    pub fn tool(&mut self, name: &str, path: &Path, llvm_version: String) {
        if !self.tools.iter().any(|t| t.name == name && t.path == path) {
            self.tools.push(ToolRecord {
                name: name.to_string(),
                path: path.to_path_buf(),
                llvm_version,
            });
        }
    }

    /// The raw profiles counted in `dir`, to note that they were moved or deleted.
    fn raw_profiles_in(&mut self, dir: &Path) -> Option<&mut RawProfilesRecord> {
        self.raw_profiles.iter_mut().rev().find(|r| r.dir == dir)
    }
}

/// What the work of one step can use: the context, a shell, and the stage's record.
pub struct StepRun<'a> {
    pub ctx: &'a Ctx,
    pub sh: &'a xshell::Shell,
    pub record: &'a mut Record,
    /// When this run of the stage started: files older than that are an earlier run's.
    pub stage_started: SystemTime,
    /// The build state as it was before this step marked the parts it changes as changing.
    pub parts_before: BuildState,
    step: &'a str,
    /// How long this step took in the stage's previous finished run.
    previous_secs: Option<f64>,
}

impl StepRun<'_> {
    /// Runs a command with its line logged, and records it for the manifest.
    pub fn run(&mut self, cmd: &Cmd) -> Result<()> {
        self.run_recorded(cmd, Kind::Plain)
    }

    /// Runs an x.py call like [`StepRun::run`], and records bootstrap's own slowest steps
    /// when it wrote metrics (`build.metrics = true`).
    pub fn run_bootstrap(&mut self, cmd: &Cmd) -> Result<()> {
        self.run_recorded(cmd, Kind::Bootstrap)
    }

    /// Runs the collector like [`StepRun::run`], reporting its progress through the benchmarks.
    pub fn run_training(&mut self, cmd: &Cmd) -> Result<()> {
        self.run_recorded(cmd, Kind::Training)
    }

    fn run_recorded(&mut self, cmd: &Cmd, kind: Kind) -> Result<()> {
        eprintln!("    $ cd {} && {}", cmd.cwd.display(), cmd.shell_line());
        let started_at = SystemTime::now();
        let started = Instant::now();
        match kind {
            Kind::Training => {
                let mut progress = report::TrainingProgress::new(self.previous_secs);
                let result = cmd.run_watching_stderr(self.sh, |line| progress.line(line));
                progress.finish();
                result?
            }
            _ => cmd.run(self.sh)?,
        }
        let bootstrap = kind == Kind::Bootstrap;
        let bootstrap_steps = match bootstrap {
            true => metrics::slowest_steps(&self.ctx.tree.build_dir, started_at, 5),
            false => Vec::new(),
        };
        if !bootstrap_steps.is_empty() {
            let shown: Vec<String> = bootstrap_steps
                .iter()
                .map(|s| format!("{} {}", s.step, human_duration(s.secs)))
                .collect();
            eprintln!("    bootstrap's slowest steps: {}", shown.join(", "));
        }
        self.record.commands.push(CommandRecord {
            step: self.step.to_string(),
            argv: cmd.argv.clone(),
            cwd: cmd.cwd.clone(),
            env: cmd.env.clone(),
            exit_code: 0,
            duration_secs: started.elapsed().as_secs_f64(),
            bootstrap_steps,
        });
        Ok(())
    }
}

/// Runs the plan and returns the manifest it wrote.
pub fn run_stage(ctx: &Ctx, plan: &StagePlan, sh: &xshell::Shell) -> Result<Manifest> {
    let stage = plan.stage.name();
    let title = plan.stage.def().title;
    let count = plan.steps.len();
    let started_at = SystemTime::now();
    let started = Instant::now();
    std::fs::create_dir_all(&plan.dir)
        .with_context(|| format!("cannot create the stage directory {}", plan.dir.display()))?;
    let mut disk = DiskMeter::start(&ctx.tree.build_dir, sh);
    match &plan.skipped {
        Some(reason) => eprintln!("opt-dist: {stage}: {title} skipped: {reason}"),
        None => {
            let tree = &ctx.tree;
            let commit = tree.commit.as_deref().map(|c| &c[..c.len().min(9)]);
            eprintln!(
                "opt-dist: {stage}: {title}, {count} steps; rust {} ({}) for {}, {} interface; \
                 artifacts in {}",
                tree.version,
                commit.unwrap_or("no commit"),
                tree.host,
                ctx.interface.name(),
                plan.dir.display()
            );
        }
    }

    interrupt::install();
    let root = ctx.tree.artifacts_root();
    let backups = backup::backups_dir(&root);
    settle_backups(
        &backups,
        "an earlier run was killed before it could put it back",
    )?;

    // How long its training took last time, for the progress estimate.
    let previous = state::read_manifest(&plan.dir);
    let mut journal = start_journal(ctx, plan);
    // This run's failure, if it fails, replaces the last one; should it not be recordable (a
    // full disk), `status` must not show the old one as this run's.
    for last_failure in [FAILED_FILE, UNRECORDED_FILE] {
        let _ = std::fs::remove_file(plan.dir.join(last_failure));
    }
    let resume_at = state::resume_point(plan, journal.completed);
    journal.completed = resume_at;
    if resume_at > 0 {
        eprintln!(
            "opt-dist: {stage}: resuming at step {} of its own {}: the steps before it finished \
             in an earlier run of the same plan",
            resume_at + 1,
            plan.own_steps().len()
        );
    }
    let mut timings = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let own = i.checked_sub(plan.repairs);
        if own.is_some_and(|own| own < resume_at) {
            eprintln!(
                "\n==> [{stage} {}/{count}] {} (done in an earlier run)",
                i + 1,
                step.title
            );
            continue;
        }
        let group = report::LogGroup::open(&format!("[{stage} {}/{count}] {}", i + 1, step.title));
        let step_started = Instant::now();
        // A signal between steps (or stages of `all`) stops the run before the next one.
        let mut result = match interrupt::interrupted() {
            false => BuildState::before(&root, &step.changes)
                .and_then(|parts_before| {
                    let previous_secs = previous.as_ref().and_then(|m| {
                        m.steps
                            .iter()
                            .find(|s| s.title == step.title)
                            .map(|s| s.secs)
                    });
                    let mut run = StepRun {
                        ctx,
                        sh,
                        record: &mut journal.record,
                        stage_started: started_at,
                        parts_before,
                        step: &step.title,
                        previous_secs,
                    };
                    execute(step, &mut run)
                })
                .and_then(|()| BuildState::after(&root, &step.changes))
                // What the step backed up is settled now that its result is recorded.
                .and_then(|()| settle_backups(&backups, "the step did not finish")),
            true => Ok(()),
        };
        let interrupted = interrupt::signal();
        if let Some(signum) = interrupted {
            result = Err(anyhow::anyhow!(
                "interrupted by {}",
                interrupt::describe(signum)
            ));
        }
        let secs = step_started.elapsed().as_secs_f64();
        timings.push((step.title.as_str(), secs));
        drop(group);
        if let Err(err) = result {
            let err = match settle_backups(&backups, "the step stopped before it could") {
                Ok(()) => err,
                Err(restore) => err.context(format!("{restore:#}")),
            };
            print_timings(stage, &timings, started.elapsed().as_secs_f64());
            // What the step's own advice says about its failures applies only to them.
            let hint = match (interrupted, disk_full(&ctx.tree.build_dir, &err, sh)) {
                (Some(_), _) => "the run was interrupted and the command it ran was stopped; \
                                 run the stage, or `all`, again to go on"
                    .to_string(),
                (None, Some(free)) => format!(
                    "the disk is full ({} free below {}): free some space, then run the \
                     stage, or `all`, again",
                    human_bytes(free),
                    ctx.tree.build_dir.display()
                ),
                (None, None) => step.hint.clone(),
            };
            let failed = StepFailed {
                stage,
                index: i + 1,
                count,
                title: step.title.clone(),
                hint,
            };
            record_failure(plan, &failed, &err);
            return Err(err.context(failed));
        }
        journal.record.steps.push(StepRecord {
            title: step.title.clone(),
            secs,
        });
        if let Some(own) = own {
            journal.completed = own + 1;
            write_json(&plan.dir.join(JOURNAL_FILE), &journal)?;
        }
        let _ = disk.sample();
        eprintln!("    ({} for this step)", human_duration(secs));
    }
    let mut record = journal.record;

    let mut outputs = plan
        .outputs
        .iter()
        .map(|a| FileRecord::of(a.kind, &a.path))
        .collect::<Result<Vec<_>>>()?;
    outputs.append(&mut record.found_outputs);
    let inputs = plan
        .inputs
        .iter()
        .map(|a| FileRecord::of(a.kind, &a.path))
        .collect::<Result<Vec<_>>>()?;
    let raw: Vec<(u64, u64)> = record
        .raw_profiles
        .iter()
        .map(|r| (r.count, r.bytes))
        .collect();
    let merged_bytes = outputs
        .iter()
        .filter(|o| o.name.ends_with(".profdata") || o.name.ends_with(".fdata"))
        .map(|o| o.size)
        .sum();
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
        tree: TreeRecord::of(&ctx.tree),
        interface: ctx.interface.name().to_string(),
        options: ctx.options_record(),
        fingerprint: Some(state::fingerprint(ctx, plan)),
        imported: None,
        started_at: fsutil::utc_timestamp(started_at),
        finished_at: fsutil::utc_timestamp(SystemTime::now()),
        duration_secs: started.elapsed().as_secs_f64(),
        commands: record.commands,
        tools: record.tools,
        raw_profiles: record.raw_profiles,
        validations: record.validations,
        inputs,
        outputs,
        steps: record.steps,
        disk: Some(disk.finish(&raw, merged_bytes)),
    };
    manifest.write(&plan.dir)?;
    // The manifest says it all now; a failure of an earlier run is history, and so is what a
    // run killed while writing those records left.
    for done_with in [JOURNAL_FILE, FAILED_FILE, UNRECORDED_FILE] {
        let _ = std::fs::remove_file(plan.dir.join(done_with));
        let _ = std::fs::remove_file(plan.dir.join(format!("{done_with}.partial")));
    }

    for output in &manifest.outputs {
        eprintln!("  {} ({})", output.path.display(), human_bytes(output.size));
    }
    if let Some(disk) = &manifest.disk {
        eprintln!("  disk: {}", report::disk_line(disk));
    }
    Ok(manifest)
}

/// The free bytes below the build dir, when a failure looks like a full disk: the error says
/// so, or next to nothing is free (a tool's own message about it is only on the terminal).
fn disk_full(build_dir: &Path, err: &anyhow::Error, sh: &xshell::Shell) -> Option<u64> {
    const NEARLY_NOTHING: u64 = 16 << 20;
    let said = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
            || cause.to_string().contains("No space left on device")
    });
    let free = fsutil::free_bytes(build_dir, sh)?;
    (said || free < NEARLY_NOTHING).then_some(free)
}

/// The steps' times of a stage that stopped (a finished one is in the run's summary).
fn print_timings(stage: &str, timings: &[(&str, f64)], total: f64) {
    eprintln!(
        "\nopt-dist: {stage} stopped after {}",
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

fn execute(step: &Step, run: &mut StepRun) -> Result<()> {
    let sh = run.sh;
    match &step.action {
        Action::Run {
            cmd,
            training: false,
        } => run.run(cmd)?,
        Action::Run {
            cmd,
            training: true,
        } => run.run_training(cmd)?,
        Action::Bootstrap { cmd } => run.run_bootstrap(cmd)?,
        Action::ResetDir { dir } => {
            if dir.exists() {
                let (files, bytes) = fsutil::files_below(dir, None)?;
                if files > 0 {
                    eprintln!(
                        "    removing {files} files ({}) left in {} by an unfinished run",
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
        Action::RemoveDir { dir } => {
            if dir.exists() {
                let (_, bytes) = fsutil::files_below(dir, None)?;
                eprintln!("    deleting {} ({})", dir.display(), human_bytes(bytes));
                std::fs::remove_dir_all(dir)
                    .with_context(|| format!("cannot delete {}", dir.display()))?;
            } else {
                eprintln!("    {} is not there", dir.display());
            }
            if let Some(raw) = run.record.raw_profiles_in(dir) {
                raw.kept = false;
            }
        }
        Action::Move { from, to } => {
            if to.is_dir() {
                std::fs::remove_dir_all(to)
                    .with_context(|| format!("cannot replace {}", to.display()))?;
            }
            std::fs::rename(from, to)
                .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
            if let Some(raw) = run.record.raw_profiles_in(from) {
                raw.dir = to.clone();
                eprintln!("    kept in {}", to.display());
            }
        }
        Action::ExpectRawProfiles { dir, extension } => {
            let (count, bytes) = fsutil::files_below(dir, Some(extension))?;
            if count == 0 {
                bail!("training wrote no .{extension} files to {}", dir.display());
            }
            eprintln!("    {count} raw profiles, {}", human_bytes(bytes));
            run.record.raw_profiles.push(RawProfilesRecord {
                dir: dir.clone(),
                count,
                bytes,
                kept: true,
            });
        }
        Action::Validate { profile, check } => {
            let validation = match check {
                ProfileCheck::LlvmProfdata { tool } => {
                    validate::validate_profile(tool, profile, sh)?
                }
                ProfileCheck::Fdata => validate::validate_fdata(profile)?,
            };
            eprintln!(
                "    {} functions, maximum function count {}, total count {}",
                validation.functions, validation.max_function_count, validation.total_count
            );
            run.record.validations.push(validation);
        }
        Action::Work(work) => work.run(run)?,
    }
    Ok(())
}

/// The journal to continue: the one an interrupted run of the same plan left (the same own
/// steps, from the same inputs), else a new one.
fn start_journal(ctx: &Ctx, plan: &StagePlan) -> Journal {
    let fingerprint = state::fingerprint(ctx, plan);
    let inputs: BTreeMap<String, String> = plan
        .inputs
        .iter()
        .filter_map(|a| Some((a.path.display().to_string(), sha256_file(&a.path).ok()?)))
        .collect();
    match state::read_journal(&plan.dir) {
        Some(journal) if journal.fingerprint == fingerprint && journal.inputs == inputs => journal,
        _ => Journal {
            fingerprint,
            inputs,
            completed: 0,
            record: Record::default(),
            started_at: fsutil::utc_timestamp(SystemTime::now()),
        },
    }
}

/// Leaves `failed.json` for `status`: which step, the error, the advice.
fn record_failure(plan: &StagePlan, failed: &StepFailed, err: &anyhow::Error) {
    let failure = Failure {
        step: failed.index,
        steps: failed.count,
        title: failed.title.clone(),
        error: format!("{err:#}"),
        hint: failed.hint.clone(),
        at: fsutil::utc_timestamp(SystemTime::now()),
    };
    if let Err(write) = write_json(&plan.dir.join(FAILED_FILE), &failure) {
        eprintln!("opt-dist: could not record the failure: {write:#}");
        // An empty file takes no data block: on a full disk it says at least that much.
        let _ = std::fs::File::create(plan.dir.join(UNRECORDED_FILE));
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    fsutil::write_atomically(path, &serde_json::to_vec_pretty(value)?)
}

/// Puts back every library a step changed in place and did not finish with, and forgets the
/// backups of those it did (see [`backup::settle`]), saying which.
pub fn settle_backups(backups: &Path, why: &str) -> Result<()> {
    for settled in backup::settle(backups)? {
        eprintln!("opt-dist: {}", settled.describe(why));
    }
    Ok(())
}
