//! `plan`: the exact steps a run would take, printed instead of run. The plan is the same
//! [`StagePlan`] the runner executes, so what it prints is what runs. `--format sh` renders a
//! POSIX script that replays the run: environment assignments in front of each command, `cd`
//! wherever the working directory changes, steps that run at the same time as background
//! jobs the script waits for, and the xtask's own checks as their shell equivalents.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde::Deserialize;
use serde_json::json;

use crate::engine::context::Ctx;
use crate::engine::manifest::TreeRecord;
use crate::engine::plan::{Effect, StagePlan};
use crate::engine::{backup, build_state};
use crate::stages::{self, StageId};
use crate::tools::bootstrap::Interface;
use crate::util::cmd::shell_quote_path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanFormat {
    #[default]
    Text,
    Sh,
    Json,
}

/// `plan --format json`'s schema (docs/json.md). 2: `allow_stale`, `run`'s `output`, fit checks.
const SCHEMA_VERSION: u32 = 2;

pub fn plan(ctx: &Ctx, target: Option<StageId>, format: PlanFormat) -> Result<()> {
    let mut plans = match target {
        Some(stage) => vec![stage.plan(ctx)?],
        None => stages::all_plans(ctx)?,
    };
    let settled = backup::settled_state(&ctx.tree.artifacts_root());
    build_state::prepare(ctx, &mut plans, settled, &stages::rebuild)?;
    let out = match format {
        PlanFormat::Text => text(ctx, &plans),
        PlanFormat::Sh => sh(ctx, &plans),
        PlanFormat::Json => {
            let value = json!({
                "schema": SCHEMA_VERSION,
                "tree": TreeRecord::of(&ctx.tree),
                "interface": ctx.interface.name(),
                "options": ctx.options_record(),
                "stages": plans,
            });
            serde_json::to_string_pretty(&value)? + "\n"
        }
    };
    print!("{out}");
    Ok(())
}

fn describe(ctx: &Ctx) -> String {
    format!(
        "rust {} ({}) at {}, host {}, {} bootstrap interface",
        ctx.tree.version,
        ctx.tree.commit.as_deref().unwrap_or("no commit recorded"),
        ctx.tree.src.display(),
        ctx.tree.host,
        ctx.interface.name()
    )
}

fn text(ctx: &Ctx, plans: &[StagePlan]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Plan for {}", describe(ctx));
    let _ = writeln!(out, "Training crates from {}", ctx.training.source);
    let jobs = match (ctx.options.training_jobs, ctx.training.jobs) {
        (Some(jobs), _) => format!("--jobs {jobs} (--training-jobs)"),
        (None, Some(jobs)) => format!("--jobs {jobs}, as {}", ctx.training.jobs_source),
        (None, None) => ctx.training.jobs_source.clone(),
    };
    let _ = writeln!(out, "Training jobs: {jobs}");
    if ctx.interface == Interface::PgoTable {
        let clippy = match (ctx.clippy_pgo, ctx.options.try_build) {
            (true, false) => "instrumented, trained and optimized (bootstrap has pgo.clippy)",
            (true, true) => "not optimized in a try build (as upstream)",
            (false, _) => "not optimized (bootstrap's [pgo] table has no clippy key)",
        };
        let _ = writeln!(out, "Clippy: {clippy}");
    }
    for plan in plans {
        let _ = writeln!(out, "\n{}: {}", plan.stage.name, plan.stage.title);
        let _ = writeln!(out, "  directory: {}", plan.dir.display());
        if let Some(reason) = &plan.skipped {
            let _ = writeln!(out, "  skipped: {reason}");
        }
        for input in &plan.inputs {
            let _ = writeln!(out, "  input:  {} ({})", input.path.display(), input.kind);
        }
        for output in &plan.outputs {
            let _ = writeln!(out, "  output: {} ({})", output.path.display(), output.kind);
        }
        for (i, step) in plan.steps.iter().enumerate() {
            let alongside = match step.alongside {
                true => format!(" (at the same time as step {i})"),
                false => String::new(),
            };
            let _ = writeln!(out, "  {:>2}. {}{alongside}", i + 1, step.title);
            for effect in &step.effects {
                let line = match effect {
                    Effect::Run { cmd, .. } | Effect::Bootstrap { cmd, .. } => {
                        format!("cd {} && {}", cmd.cwd.display(), cmd.shell_line())
                    }
                    other => other.shell(),
                };
                let _ = writeln!(out, "      $ {}", line.replace('\n', "\n        "));
            }
        }
    }
    out
}

fn sh(ctx: &Ctx, plans: &[StagePlan]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "#!/bin/sh");
    let _ = writeln!(out, "# Replays `cargo xtask opt-dist` for {}.", describe(ctx));
    let _ = writeln!(
        out,
        "# Written by `cargo xtask opt-dist plan --format sh`; the xtask's own checks appear as\n\
         # shell equivalents. It stops at the first failing command."
    );
    let _ = writeln!(out, "set -eu");
    let mut cwd: Option<PathBuf> = None;
    for plan in plans {
        let _ = writeln!(out, "\n# == {}: {} ==", plan.stage.name, plan.stage.title);
        if let Some(reason) = &plan.skipped {
            let _ = writeln!(out, "# skipped: {reason}");
            continue;
        }
        let _ = writeln!(out, "mkdir -p {}", shell_quote_path(&plan.dir));
        for (i, step) in plan.steps.iter().enumerate() {
            let together = plan.steps.get(i + 1).is_some_and(|next| next.alongside);
            match (together, step.alongside) {
                (false, false) => {
                    let _ = writeln!(out, "# {}. {}", i + 1, step.title);
                    for line in step.shell(&mut cwd) {
                        let _ = writeln!(out, "{line}");
                    }
                }
                // The pair: each in a background subshell; should one fail, the other is
                // awaited before the script stops.
                (true, _) | (_, true) => {
                    let note = match step.alongside {
                        true => format!(", at the same time as step {i}"),
                        false => String::new(),
                    };
                    let _ = writeln!(out, "# {}. {}{note}\n(", i + 1, step.title);
                    for program in step.programs().filter(|_| step.alongside) {
                        let _ = writeln!(
                            out,
                            "while [ ! -x {} ] && kill -0 \"$step{i}\" 2>/dev/null; do sleep 1; done",
                            shell_quote_path(program)
                        );
                    }
                    for line in step.shell(&mut cwd.clone()) {
                        let _ = writeln!(out, "{line}");
                    }
                    let _ = writeln!(out, ") &\nstep{}=$!", i + 1);
                    if step.alongside {
                        let _ = writeln!(
                            out,
                            "wait \"$step{i}\" || {{ wait \"$step{0}\" || :; exit 1; }}\n\
                             wait \"$step{0}\"",
                            i + 1
                        );
                    }
                }
            }
        }
    }
    out
}
