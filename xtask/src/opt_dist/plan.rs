//! `opt-dist plan`: the exact steps a run would take, printed instead of run.
//!
//! The plan is the same [`StagePlan`] the runner executes, so what it prints is what runs.
//! `--format sh` renders a POSIX script that replays the run: environment assignments in front
//! of each command, `cd` wherever the working directory changes, and the xtask's own checks as
//! their shell equivalents.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::cmd::shell_quote;
use super::pipeline::{Action, ProfileCheck, StagePlan};
use super::Ctx;
use crate::flags::PlanFormat;

pub fn render(ctx: &Ctx, plans: &[StagePlan], format: PlanFormat) -> Result<String> {
    Ok(match format {
        PlanFormat::Text => text(ctx, plans),
        PlanFormat::Sh => sh(ctx, plans),
        PlanFormat::Json => {
            let value = json!({
                "schema": PLAN_SCHEMA_VERSION,
                "tree": {
                    "src": ctx.tree.src,
                    "version": ctx.tree.version,
                    "commit": ctx.tree.commit,
                    "host": ctx.tree.host,
                    "build_dir": ctx.tree.build_dir,
                },
                "interface": ctx.interface.name(),
                "options": ctx.options_record(),
                "stages": plans,
            });
            serde_json::to_string_pretty(&value)? + "\n"
        }
    })
}

/// `plan --format json`'s schema (docs/json.md).
pub const PLAN_SCHEMA_VERSION: u32 = 1;

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
    if ctx.interface == super::bootstrap::Interface::PgoTable {
        let clippy = match ctx.clippy_pgo {
            true => "instrumented, trained and optimized (bootstrap has pgo.clippy)",
            false => "not optimized (bootstrap's [pgo] table has no clippy key)",
        };
        let _ = writeln!(out, "Clippy: {clippy}");
    }
    for plan in plans {
        let _ = writeln!(out, "\n{}: {}", plan.stage.name(), plan.stage.def().title);
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
            let _ = writeln!(out, "  {:>2}. {}", i + 1, step.title);
            let line = match &step.action {
                Action::Run { cmd, .. } | Action::Bootstrap { cmd } => {
                    format!("cd {} && {}", cmd.cwd.display(), cmd.shell_line())
                }
                other => shell_equivalent(other, &ctx.tree.host),
            };
            let _ = writeln!(out, "      $ {line}");
        }
    }
    out
}

fn sh(ctx: &Ctx, plans: &[StagePlan]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "#!/bin/sh");
    let _ = writeln!(
        out,
        "# Replays `cargo xtask opt-dist` for {}.",
        describe(ctx)
    );
    let _ = writeln!(
        out,
        "# Written by `cargo xtask opt-dist plan --format sh`; the xtask's own checks appear as\n\
         # shell equivalents. It stops at the first failing command."
    );
    let _ = writeln!(out, "set -eu");
    let mut cwd: Option<PathBuf> = None;
    for plan in plans {
        let _ = writeln!(
            out,
            "\n# == {}: {} ==",
            plan.stage.name(),
            plan.stage.def().title
        );
        if let Some(reason) = &plan.skipped {
            let _ = writeln!(out, "# skipped: {reason}");
            continue;
        }
        let _ = writeln!(out, "mkdir -p {}", quote_path(&plan.dir));
        for (i, step) in plan.steps.iter().enumerate() {
            let _ = writeln!(out, "# {}. {}", i + 1, step.title);
            match &step.action {
                Action::Run { cmd, .. } | Action::Bootstrap { cmd } => {
                    if cwd.as_deref() != Some(cmd.cwd.as_path()) {
                        let _ = writeln!(out, "cd {}", quote_path(&cmd.cwd));
                        cwd = Some(cmd.cwd.clone());
                    }
                    let _ = writeln!(out, "{}", cmd.shell_line());
                }
                other => {
                    let _ = writeln!(out, "{}", shell_equivalent(other, &ctx.tree.host));
                    // Some equivalents change directory themselves: say the next cd again.
                    cwd = None;
                }
            }
        }
    }
    out
}

fn quote_path(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

/// The shell command that does what the xtask does itself for a step that runs no single
/// command.
fn shell_equivalent(action: &Action, host: &str) -> String {
    match action {
        Action::Run { cmd, .. } | Action::Bootstrap { cmd } => cmd.shell_line(),
        Action::ResetDir { dir } => {
            format!("rm -rf {0} && mkdir -p {0}", quote_path(dir))
        }
        Action::RemoveDir { dir } => format!("rm -rf {}", quote_path(dir)),
        Action::Move { from, to } => format!(
            "{{ [ ! -d {1} ] || rm -rf {1}; }} && mv -f {0} {1}",
            quote_path(from),
            quote_path(to)
        ),
        Action::ExpectRawProfiles { dir, extension } => format!(
            "test -n \"$(find {} -name '*.{extension}' -print | head -n 1)\"",
            quote_path(dir)
        ),
        Action::Validate { profile, check } => match check {
            ProfileCheck::LlvmProfdata { tool } => format!(
                "{} show {} | grep -q '^Maximum function count: [1-9]'",
                quote_path(tool),
                quote_path(profile)
            ),
            ProfileCheck::Fdata => format!("grep -q '^1 ' {}", quote_path(profile)),
        },
        Action::Work(work) => work.shell(host),
    }
}
