//! Running stages: one alone (`opt-dist <stage>`), or `all`, which skips every stage that is
//! done and current and runs from the first that is not. Either way the same plans run: the
//! build dir's repairs go in front, inputs are checked against what made them, preflight checks
//! everything it can, and the run ends with its summary.

use anyhow::{Context, Result};

use super::doctor;
use crate::engine::context::Ctx;
use crate::engine::plan::StagePlan;
use crate::engine::report::RunSummary;
use crate::engine::state::{self, State};
use crate::engine::{backup, build_state, lock, runner};
use crate::stages::{self, StageId};

pub fn stage(ctx: &Ctx, stage: StageId, sh: &xshell::Shell) -> Result<()> {
    doctor::require_usable_build_dir(ctx)?;
    let mut lock = ctx.lock()?;
    run_plans(ctx, vec![stage.plan(ctx)?], sh, &mut lock)
}

/// `all`: the stages that are done and current are skipped, the first that is not runs, and
/// every one after it (`--from` names the first to run, `--force` runs them all).
pub fn all(ctx: &Ctx, from: Option<StageId>, force: bool, sh: &xshell::Shell) -> Result<()> {
    doctor::require_usable_build_dir(ctx)?;
    let mut lock = ctx.lock()?;
    let mut plans = stages::all_plans(ctx)?;
    let start = first_to_run(ctx, &plans, from, force, true)?;
    if start == plans.len() {
        eprintln!(
            "opt-dist: every stage is done and current: nothing to do (`status` shows them, \
             --force runs them again)"
        );
        return Ok(());
    }
    run_plans(ctx, plans.split_off(start), sh, &mut lock)
}

/// Where `all` starts among `plans`: at `--from`, at the first with `--force`, else at the
/// first stage that is not done and current (each one before it says so when `tell`).
fn first_to_run(
    ctx: &Ctx,
    plans: &[StagePlan],
    from: Option<StageId>,
    force: bool,
    tell: bool,
) -> Result<usize> {
    if force {
        return Ok(0);
    }
    if let Some(from) = from {
        return plans.iter().position(|p| p.stage.name == from.name()).with_context(|| {
            format!(
                "--from {}: that stage is not part of this run (the test stage needs \
                     --run-tests)",
                from.name()
            )
        });
    }
    for (i, plan) in plans.iter().enumerate() {
        let (state, manifest) = state::assess(ctx, plan, None);
        if !state.is_current() {
            return Ok(i);
        }
        if tell {
            let when = manifest.map(|m| format!(", finished {}", m.finished_at));
            let how = match &state {
                State::Skipped(reason) => format!("skipped: {reason}"),
                other => format!("{} and current", other.word()),
            };
            eprintln!(
                "opt-dist: {}: {how}{}; not run again (--from {} or --force would)",
                plan.stage.name,
                when.unwrap_or_default(),
                plan.stage.name
            );
        }
    }
    Ok(plans.len())
}

/// The repairs the next `all` makes before each stage it runs, as step titles.
pub fn planned_repairs(ctx: &Ctx) -> Result<Vec<(&'static str, Vec<String>)>> {
    let mut plans = stages::all_plans(ctx)?;
    let start = first_to_run(ctx, &plans, None, false, false)?;
    let mut plans = plans.split_off(start);
    let settled = backup::settled_state(&ctx.tree.artifacts_root());
    build_state::prepare(ctx, &mut plans, settled, &stages::rebuild)?;
    Ok(plans
        .iter()
        .filter(|p| p.repairs > 0)
        .map(|p| {
            let titles = p.steps[..p.repairs].iter().map(|s| s.title.clone());
            (p.stage.name, titles.collect())
        })
        .collect())
}

/// Runs stage plans in order: repairs of the build dir first where a stage needs them, after
/// checking that their inputs exist and are what their producers made and, unless told not
/// to, after preflight; ends with the time each stage took.
fn run_plans(
    ctx: &Ctx,
    mut plans: Vec<StagePlan>,
    sh: &xshell::Shell,
    lock: &mut lock::Lock,
) -> Result<()> {
    // What a killed run left changed is settled before the plans look at the build dir.
    runner::settle_backups(
        &backup::backups_dir(&ctx.tree.artifacts_root()),
        "an earlier run was killed before it could put it back",
    )?;
    let on_disk = build_state::BuildState::load(&ctx.tree.artifacts_root());
    build_state::prepare(ctx, &mut plans, on_disk, &stages::rebuild)?;
    state::check_inputs(&plans)?;
    let dry_runs_later = match ctx.options.no_preflight {
        true => false,
        false => doctor::preflight(ctx, &plans, sh)?,
    };
    let started = std::time::Instant::now();
    let mut manifests = Vec::new();
    let result = std::thread::scope(|scope| {
        let mut checks = match dry_runs_later {
            true => runner::PendingChecks::start(scope, || {
                doctor::bootstrap_dry_runs(ctx, &plans, false)
            }),
            false => runner::PendingChecks::default(),
        };
        for plan in &plans {
            lock.set_stage(Some(plan.stage.name));
            manifests.push(runner::run_stage(ctx, plan, sh, &mut checks)?);
        }
        Ok(())
    });
    RunSummary {
        manifests: &manifests,
        total_secs: started.elapsed().as_secs_f64(),
        failure: result.as_ref().err().map(|err| format!("{err}")),
    }
    .emit();
    result
}
