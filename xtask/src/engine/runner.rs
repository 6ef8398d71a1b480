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

use anyhow::Result;

use super::backup::{self, Settled};
use super::build_state::BuildState;
use super::context::Ctx;
use super::disk::DiskMeter;
use super::effects::Exec;
use super::manifest::{
    Failure, FileRecord, Journal, Manifest, StepRecord, FAILED_FILE, JOURNAL_FILE, UNRECORDED_FILE,
};
use super::plan::{StagePlan, Step};
use super::{report, state};
use crate::util::fs::{self, human_bytes, human_duration, sha256_file};
use crate::util::process;

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

/// Runs the plan and returns the manifest it wrote.
pub fn run_stage(ctx: &Ctx, plan: &StagePlan, sh: &xshell::Shell) -> Result<Manifest> {
    let (stage, title) = (plan.stage.name, plan.stage.title);
    let count = plan.steps.len();
    let (started_at, started) = (SystemTime::now(), Instant::now());
    fs::create_dir(&plan.dir)?;
    let mut disk = DiskMeter::start(&ctx.tree.build_dir);
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

    process::install();
    let root = ctx.tree.artifacts_root();
    let backups = backup::backups_dir(&root);
    settle_backups(&backups, "an earlier run was killed before it could put it back")?;

    // How long its training took last time, for the progress estimate.
    let previous = Manifest::read(&plan.dir);
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
            eprintln!("\n==> [{stage} {}/{count}] {} (done in an earlier run)", i + 1, step.title);
            continue;
        }
        let group = report::LogGroup::open(&format!("[{stage} {}/{count}] {}", i + 1, step.title));
        let step_started = Instant::now();
        let previous_secs = previous
            .as_ref()
            .and_then(|m| m.steps.iter().find(|s| s.title == step.title).map(|s| s.secs));
        // A signal between steps (or stages of `all`) stops the run before the next one.
        let mut result = match process::signal().is_some() {
            false => run_step(ctx, step, sh, &mut journal, started_at, previous_secs),
            true => Ok(()),
        };
        for file in &step.scratch {
            let _ = std::fs::remove_file(file);
        }
        let interrupted = process::signal();
        if let Some(signum) = interrupted {
            result = Err(anyhow::anyhow!("interrupted by {}", process::describe(signum)));
        }
        let secs = step_started.elapsed().as_secs_f64();
        timings.push((step.title.as_str(), secs));
        drop(group);
        if let Err(err) = result {
            let err = match backup::settle(&backups) {
                Ok(settled) => settled.iter().fold(err, |err, settled| {
                    eprintln!("opt-dist: {}", settled.describe("the step stopped before it could"));
                    match settled {
                        Settled::Restored(path) => err.context(format!(
                            "{} is as it was before this step (put back from its backup)",
                            path.display()
                        )),
                        _ => err,
                    }
                }),
                Err(restore) => err.context(format!("{restore:#}")),
            };
            print_timings(stage, &timings, started.elapsed().as_secs_f64());
            // What the step's own advice says about its failures applies only to them.
            let hint = match (interrupted, disk_full(&ctx.tree.build_dir, &err)) {
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
            let failed = StepFailed { stage, index: i + 1, count, title: step.title.clone(), hint };
            record_failure(plan, &failed, &err);
            return Err(err.context(failed));
        }
        journal.record.steps.push(StepRecord { title: step.title.clone(), secs });
        if let Some(own) = own {
            journal.completed = own + 1;
            fs::write_json(&plan.dir.join(JOURNAL_FILE), &journal)?;
        }
        let _ = disk.sample();
        eprintln!("    ({} for this step)", human_duration(secs));
    }

    let mut record = journal.record;
    let records = |artifacts: &[super::context::Artifact]| -> Result<Vec<FileRecord>> {
        artifacts.iter().map(|a| FileRecord::of(a.kind, &a.path)).collect()
    };
    let mut outputs = records(&plan.outputs)?;
    outputs.append(&mut record.found_outputs);
    let raw: Vec<(u64, u64)> = record.raw_profiles.iter().map(|r| (r.count, r.bytes)).collect();
    let merged_bytes = outputs
        .iter()
        .filter(|o| o.name.ends_with(".profdata") || o.name.ends_with(".fdata"))
        .map(|o| o.size)
        .sum();
    let manifest = Manifest {
        status: match plan.skipped {
            Some(_) => "skipped",
            None => "done",
        }
        .to_string(),
        skip_reason: plan.skipped.clone(),
        options: ctx.options_record(),
        fingerprint: Some(state::fingerprint(ctx, plan)),
        started_at: fs::utc_timestamp(started_at),
        duration_secs: started.elapsed().as_secs_f64(),
        commands: record.commands,
        tools: record.tools,
        raw_profiles: record.raw_profiles,
        validations: record.validations,
        inputs: records(&plan.inputs)?,
        outputs,
        steps: record.steps,
        disk: Some(disk.finish(&raw, merged_bytes)),
        fit: record.fit,
        ..Manifest::new(stage, title, &ctx.tree, ctx.interface)
    };
    manifest.write(&plan.dir)?;
    // The manifest says it all now; a failure of an earlier run is history, and so is what a
    // run killed while writing those records left.
    for done_with in [JOURNAL_FILE, FAILED_FILE, UNRECORDED_FILE] {
        let _ = std::fs::remove_file(plan.dir.join(done_with));
        let _ = std::fs::remove_file(fs::partial(&plan.dir.join(done_with)));
    }
    for output in &manifest.outputs {
        eprintln!("  {} ({})", output.path.display(), human_bytes(output.size));
    }
    if let Some(disk) = &manifest.disk {
        eprintln!("  disk: {}", report::disk_line(disk));
    }
    Ok(manifest)
}

/// One step: unless it has nothing to do, its effects in order, with the build state marked
/// before and recorded after, and what it backed up settled once its result is recorded.
fn run_step(
    ctx: &Ctx,
    step: &Step,
    sh: &xshell::Shell,
    journal: &mut Journal,
    stage_started: SystemTime,
    previous_secs: Option<f64>,
) -> Result<()> {
    let root = ctx.tree.artifacts_root();
    let parts_before = BuildState::before(&root, &step.changes)?;
    let mut exec = Exec {
        sh,
        build_dir: &ctx.tree.build_dir,
        record: &mut journal.record,
        stage_started,
        parts_before: &parts_before,
        step: &step.title,
        previous_secs,
    };
    let done = match &step.done_if {
        Some(done) => exec.done(done)?,
        None => None,
    };
    match done {
        Some(why) => eprintln!("    {why}"),
        None => {
            for effect in &step.effects {
                exec.run(effect)?;
            }
        }
    }
    BuildState::after(&root, &step.changes)?;
    settle_backups(&backup::backups_dir(&root), "the step did not finish")
}

/// The free bytes below the build dir, when a failure looks like a full disk: the error says
/// so, or next to nothing is free (a tool's own message about it is only on the terminal).
fn disk_full(build_dir: &Path, err: &anyhow::Error) -> Option<u64> {
    const NEARLY_NOTHING: u64 = 16 << 20;
    let said = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
            || cause.to_string().contains("No space left on device")
    });
    let free = fs::free_bytes(build_dir)?;
    (said || free < NEARLY_NOTHING).then_some(free)
}

/// The steps' times of a stage that stopped (a finished one is in the run's summary).
fn print_timings(stage: &str, timings: &[(&str, f64)], total: f64) {
    eprintln!("\nopt-dist: {stage} stopped after {}", human_duration(total));
    let width = timings.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    for (i, (title, secs)) in timings.iter().enumerate() {
        eprintln!("  {:>2}. {title:<width$}  {:>9}", i + 1, human_duration(*secs));
    }
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
    match Journal::read(&plan.dir) {
        Some(journal) if journal.fingerprint == fingerprint && journal.inputs == inputs => journal,
        _ => Journal { fingerprint, inputs, started_at: fs::now(), ..Journal::default() },
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
        at: fs::now(),
    };
    if let Err(write) = fs::write_json(&plan.dir.join(FAILED_FILE), &failure) {
        eprintln!("opt-dist: could not record the failure: {write:#}");
        // An empty file takes no data block: on a full disk it says at least that much.
        let _ = std::fs::File::create(plan.dir.join(UNRECORDED_FILE));
    }
}

/// Puts back every library a step changed in place and did not finish with, and forgets the
/// backups of those it did (see [`backup::settle`]), saying which.
pub fn settle_backups(backups: &Path, why: &str) -> Result<()> {
    for settled in backup::settle(backups)? {
        eprintln!("opt-dist: {}", settled.describe(why));
    }
    Ok(())
}
