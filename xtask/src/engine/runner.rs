//! Runs a [`StagePlan`]: each step in order, logged as it starts, timed, and recorded; then the
//! stage's manifest, written only when every step succeeded.
//!
//! A failing step stops the stage with a [`StepFailed`] error that names the step and says what
//! to do. Published outputs of an earlier run are only replaced by complete, validated new ones,
//! and no manifest claims a stage that did not finish.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Result};

use super::backup::{self, Settled};
use super::build_state::{BuildState, Recorded};
use super::context::Ctx;
use super::disk::DiskMeter;
use super::effects::{self, Exec};
use super::manifest::{
    Failure, FileRecord, Journal, Manifest, Record, StepRecord, FAILED_FILE, JOURNAL_FILE,
    UNRECORDED_FILE,
};
use super::plan::{Effect, StagePlan, Step};
use super::{report, state};
use crate::util::fs::{self, human_bytes, human_duration, sha256_file};
use crate::util::process;

/// The error of a failed step: which stage, and what `failed.json` records (which step, the
/// error, the advice that goes with it).
#[derive(Debug)]
pub struct StepFailed {
    pub stage: &'static str,
    pub failure: Failure,
}

impl fmt::Display for StepFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Failure { step, steps, title, .. } = &self.failure;
        write!(f, "stage {} failed at step {step}/{steps}: {title}", self.stage)
    }
}

/// Preflight's checks that go on while the first steps run (bootstrap's dry runs): a step that
/// may not run before they end ([`may_start_before_checks_end`]) waits for their verdict,
/// and their failure stops the commands running meanwhile.
#[derive(Default)]
pub struct PendingChecks<'scope> {
    running: Option<std::thread::ScopedJoinHandle<'scope, Result<()>>>,
    failure: Option<String>,
}

impl<'scope> PendingChecks<'scope> {
    pub fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        checks: impl FnOnce() -> Result<()> + Send + 'scope,
    ) -> PendingChecks<'scope> {
        let running = scope.spawn(|| {
            let verdict = checks();
            if verdict.is_err() {
                process::stop_commands("preflight found a problem");
            }
            verdict
        });
        PendingChecks { running: Some(running), failure: None }
    }

    /// Their failure, once they failed; `wait`: waits for them to end first.
    pub fn failure(&mut self, wait: bool) -> Option<String> {
        if let Some(running) = self.running.take_if(|r| wait || r.is_finished()) {
            if !running.is_finished() {
                eprintln!("    (waiting for preflight's bootstrap dry runs to end)");
            }
            self.failure = match running.join() {
                Ok(Ok(())) => None,
                Ok(Err(err)) => Some(format!("{err:#}")),
                Err(_) => Some("preflight's checks panicked".to_string()),
            };
        }
        self.failure.clone()
    }
}

/// How one step of a batch ended.
struct Ran {
    index: usize,
    result: Result<()>,
    secs: f64,
    ended: Instant,
    record: Record,
}

/// Runs the plan and returns the manifest it wrote.
pub fn run_stage(
    ctx: &Ctx,
    plan: &StagePlan,
    sh: &xshell::Shell,
    checks: &mut PendingChecks,
) -> Result<Manifest> {
    let (stage, title) = (plan.stage.name, plan.stage.title);
    let count = plan.steps.len();
    // How long its training took last time, for the progress estimate.
    let previous = Manifest::read(&plan.dir);
    let mut journal = start_journal(ctx, plan);
    let resume_at = state::resume_point(plan, journal.completed);
    if resume_at != journal.completed {
        // Where the stage goes back, what was done ahead is done again.
        journal.done_ahead.clear();
    }
    journal.completed = resume_at;
    let own = |i: usize| i.checked_sub(plan.repairs);
    let done_before = |journal: &Journal, i: usize| {
        own(i).is_some_and(|own| own < journal.completed || journal.done_ahead.contains(&own))
    };
    // Nothing starts, not even the emptying of a raw-profile directory, unless the first build
    // may start before preflight's checks end: a rejection then leaves the stage as it was.
    let root = ctx.tree.artifacts_root();
    let resets = |step: &Step| step.effects.iter().all(|e| matches!(e, Effect::ResetDir { .. }));
    let first = (0..count).find(|&i| !done_before(&journal, i) && !resets(&plan.steps[i]));
    if first.is_none_or(|i| !may_start_before_checks_end(&plan.steps[i], &root)) {
        if let Some(failure) = checks.failure(true) {
            return Err(anyhow::anyhow!("{failure}").context("nothing was started"));
        }
    }
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
    let backups = backup::backups_dir(&root);
    settle_backups(&backups, "an earlier run was killed before it could put it back")?;
    // This run's failure, if it fails, replaces the last one; should it not be recordable (a
    // full disk), `status` must not show the old one as this run's.
    for last_failure in [FAILED_FILE, UNRECORDED_FILE] {
        let _ = std::fs::remove_file(plan.dir.join(last_failure));
    }
    if resume_at > 0 {
        eprintln!(
            "opt-dist: {stage}: resuming at step {} of its own {}: the steps before it finished \
             in an earlier run of the same plan",
            resume_at + 1,
            plan.own_steps().len()
        );
    }
    let previous_secs = |i: usize| {
        let title = &plan.steps[i].title;
        previous.as_ref().and_then(|m| m.steps.iter().find(|s| &s.title == title).map(|s| s.secs))
    };
    let mut timings = Vec::new();
    let mut i = 0;
    while i < count {
        let step = &plan.steps[i];
        if done_before(&journal, i) {
            eprintln!("\n==> [{stage} {}/{count}] {} (done in an earlier run)", i + 1, step.title);
            i += 1;
            continue;
        }
        // The step after it, when it runs alongside, runs now too.
        let mut batch = vec![i];
        batch.extend(
            plan.steps
                .get(i + 1)
                .filter(|next| next.alongside && !done_before(&journal, i + 1))
                .map(|_| i + 1),
        );
        let mut heading = format!("[{stage} {}/{count}] {}", i + 1, step.title);
        if let [_, next] = batch[..] {
            heading += &format!(
                "; at the same time, step {}/{count}: {}",
                next + 1,
                plan.steps[next].title
            );
        }
        let group = report::LogGroup::open(&heading);
        let batch_started = Instant::now();
        let stopped_by_checks = checks.failure(!may_start_before_checks_end(step, &root));
        let ran = match (&stopped_by_checks, process::signal()) {
            (None, None) if batch.len() == 1 => {
                let result =
                    run_step(ctx, step, sh, &mut journal.record, started_at, previous_secs(i));
                let (secs, ended) = (batch_started.elapsed().as_secs_f64(), Instant::now());
                vec![Ran { index: i, result, secs, ended, record: Record::default() }]
            }
            (None, None) => run_together(ctx, plan, &batch, started_at, &previous_secs),
            // A signal between steps (or stages of `all`), or preflight's verdict, stops the
            // run before the next one.
            _ => vec![Ran {
                index: i,
                result: Err(anyhow::anyhow!("not started")),
                secs: 0.0,
                ended: Instant::now(),
                record: Record::default(),
            }],
        };
        let interrupted = process::signal();
        // The step that failed first (a step running at the same time was stopped because of
        // it), or the first one when a signal came.
        let failed_at = ran
            .iter()
            .enumerate()
            .filter(|(_, r)| r.result.is_err())
            .min_by_key(|(_, r)| r.ended)
            .map(|(at, _)| at)
            .or(interrupted.map(|_| 0));
        let checks_failure =
            failed_at.and_then(|_| stopped_by_checks.or_else(|| checks.failure(true)));
        let together = ran.len() > 1;
        let (mut failure, mut stopped, mut progressed) = (None, Vec::new(), false);
        for (at, ran) in ran.into_iter().enumerate() {
            let step = &plan.steps[ran.index];
            for file in &step.scratch {
                let _ = std::fs::remove_file(file);
            }
            timings.push((step.title.as_str(), ran.secs));
            append_record(&mut journal.record, ran.record);
            match (failed_at == Some(at), ran.result) {
                (true, result) => failure = Some((ran.index, result.err())),
                (false, Err(_)) => stopped.push(ran.index),
                (false, Ok(())) => {
                    let alongside = together && step.alongside;
                    let (title, secs) = (step.title.clone(), ran.secs);
                    journal.record.steps.push(StepRecord { title, secs, alongside });
                    if !together {
                        eprintln!("    ({} for this step)", human_duration(secs));
                    }
                    let Some(own) = own(ran.index) else { continue };
                    progressed = true;
                    match own == journal.completed {
                        true => journal.completed += 1,
                        false => journal.done_ahead.push(own),
                    }
                    while let Some(ahead) =
                        journal.done_ahead.iter().position(|&d| d == journal.completed)
                    {
                        journal.done_ahead.swap_remove(ahead);
                        journal.completed += 1;
                    }
                }
            }
        }
        drop(group);
        if let Some((failed_at, own_error)) = failure {
            let err = match (interrupted, &checks_failure, own_error) {
                (Some(signum), ..) => {
                    anyhow::anyhow!("interrupted by {}", process::describe(signum))
                }
                (None, Some(failure), _) => anyhow::anyhow!("{failure}").context(
                    "preflight, which went on beside the first steps, found a problem: the run \
                     stopped here",
                ),
                (None, None, error) => error.unwrap_or_else(|| anyhow::anyhow!("not started")),
            };
            if progressed {
                // What finished beside the failed step is not done again; should the journal
                // not be writable (a full disk), the step's failure is still what is reported.
                let _ = fs::write_json(&plan.dir.join(JOURNAL_FILE), &journal);
            }
            let failed_step = &plan.steps[failed_at];
            let mut err = match backup::settle(&backups) {
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
            if let Some(other) = stopped.first() {
                err = err.context(format!(
                    "step {} ({}), which ran at the same time, was stopped too: the next run does \
                     it again",
                    other + 1,
                    plan.steps[*other].title
                ));
            }
            print_timings(stage, &timings, started.elapsed().as_secs_f64());
            // What the step's own advice says about its failures applies only to them.
            let hint = match (interrupted, checks_failure, disk_full(&ctx.tree.build_dir, &err)) {
                (Some(_), ..) => "the run was interrupted and the command it ran was stopped; \
                                 run the stage, or `all`, again to go on"
                    .to_string(),
                (None, Some(_), _) => "fix what preflight found (above), then run the stage, or \
                                       `all`, again: it goes on from this step"
                    .to_string(),
                (None, None, Some(free)) => format!(
                    "the disk is full ({} free below {}): free some space, then run the \
                     stage, or `all`, again",
                    human_bytes(free),
                    ctx.tree.build_dir.display()
                ),
                (None, None, None) => failed_step.hint.clone(),
            };
            let failure = Failure {
                step: failed_at + 1,
                steps: count,
                title: failed_step.title.clone(),
                error: format!("{err:#}"),
                hint,
                at: fs::now(),
            };
            record_failure(plan, &failure);
            if let Err(deleting) = effects::finish_deletions(&plan.dir) {
                eprintln!("opt-dist: {deleting:#}");
            }
            return Err(err.context(StepFailed { stage, failure }));
        }
        if progressed {
            fs::write_json(&plan.dir.join(JOURNAL_FILE), &journal)?;
        }
        let _ = disk.sample();
        if together {
            eprintln!(
                "    ({} for steps {} and {}, run at the same time)",
                human_duration(batch_started.elapsed().as_secs_f64()),
                batch[0] + 1,
                batch[1] + 1
            );
        }
        i = batch[batch.len() - 1] + 1;
    }
    effects::finish_deletions(&plan.dir)?;
    if let Some(failure) = checks.failure(true) {
        bail!("{failure}");
    }

    let mut record = journal.record;
    let records = |artifacts: &[super::context::Artifact]| -> Result<Vec<FileRecord>> {
        artifacts.iter().map(|a| FileRecord::of(a.kind, &a.path)).collect()
    };
    let mut outputs = records(&plan.outputs)?;
    outputs.append(&mut record.found_outputs);
    let raw: Vec<(u64, u64)> =
        record.raw_profiles.iter().map(|r| (r.count, r.peak_bytes)).collect();
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
    record: &mut Record,
    stage_started: SystemTime,
    previous_secs: Option<f64>,
) -> Result<()> {
    let root = ctx.tree.artifacts_root();
    let parts_before = BuildState::before(&root, &step.changes)?;
    let mut exec = Exec {
        sh,
        build_dir: &ctx.tree.build_dir,
        record,
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
        None => exec.run_all(&step.effects)?,
    }
    BuildState::after(&root, &step.changes)?;
    settle_backups(&backup::backups_dir(&root), "the step did not finish")
}

/// Whether `step` may start while preflight's dry runs go on: it may by what it does
/// ([`Step::may_run_before_checks_end`]), and it replaces nothing built with a profile (such a
/// build is not undone for a run that may not go on).
fn may_start_before_checks_end(step: &Step, artifacts_root: &Path) -> bool {
    let state = BuildState::load(artifacts_root);
    let precious = |part| {
        matches!(state.get(part), Recorded::Optimized { .. } | Recorded::BoltOptimized { .. })
    };
    step.may_run_before_checks_end() && !step.changes.iter().any(|c| precious(c.part))
}

/// Runs a step and the step alongside it at the same time, each on a thread of its own: the
/// second starts once the programs it runs are there (bootstrap's first build provides the
/// stage0 toolchain), and a failure of either stops the other.
fn run_together(
    ctx: &Ctx,
    plan: &StagePlan,
    batch: &[usize],
    stage_started: SystemTime,
    previous_secs: &(dyn Fn(usize) -> Option<f64> + Sync),
) -> Vec<Ran> {
    let first_ended = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let threads: Vec<_> = batch
            .iter()
            .map(|&index| {
                let (step, first_ended) = (&plan.steps[index], &first_ended);
                scope.spawn(move || {
                    let started = Instant::now();
                    if index != batch[0] {
                        wait_for_programs(step, first_ended);
                    }
                    let mut record = Record::default();
                    let result = xshell::Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
                        run_step(ctx, step, &sh, &mut record, stage_started, previous_secs(index))
                    });
                    let secs = started.elapsed().as_secs_f64();
                    match &result {
                        Ok(()) => eprintln!(
                            "    step {} ({}) done after {}",
                            index + 1,
                            step.title,
                            human_duration(secs)
                        ),
                        Err(_) => process::stop_commands(&format!(
                            "step {} ({}), run at the same time, failed",
                            index + 1,
                            step.title
                        )),
                    }
                    if index == batch[0] {
                        first_ended.store(true, Ordering::SeqCst);
                    }
                    Ran { index, result, secs, ended: Instant::now(), record }
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("a step's thread panicked")).collect()
    })
}

/// Waits until every program the step runs by path is an executable file (bootstrap unpacks a
/// downloaded one before it marks it executable), or the step before it ended.
fn wait_for_programs(step: &Step, step_before_ended: &AtomicBool) {
    use std::os::unix::fs::PermissionsExt;
    for program in step.programs() {
        let ready = || {
            std::fs::metadata(program)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if ready() {
            continue;
        }
        eprintln!("    {} waits for {}, which bootstrap provides", step.title, program.display());
        let stopped = || process::signal().is_some() || process::stop_reason().is_some();
        while !ready() && !step_before_ended.load(Ordering::SeqCst) && !stopped() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Adds what a step run on its own thread recorded to the stage's record (every field: a new
/// one that is not added here does not compile).
fn append_record(to: &mut Record, from: Record) {
    let Record {
        mut commands,
        tools,
        mut raw_profiles,
        mut validations,
        mut found_outputs,
        mut steps,
        mut fit,
    } = from;
    to.commands.append(&mut commands);
    for tool in tools {
        to.tool(&tool.name, &tool.path, tool.llvm_version);
    }
    to.raw_profiles.append(&mut raw_profiles);
    to.validations.append(&mut validations);
    to.found_outputs.append(&mut found_outputs);
    to.steps.append(&mut steps);
    to.fit.append(&mut fit);
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
fn record_failure(plan: &StagePlan, failure: &Failure) {
    if let Err(write) = fs::write_json(&plan.dir.join(FAILED_FILE), failure) {
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
