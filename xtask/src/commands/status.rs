//! `status`: every stage's state for these options, as a table or JSON (`docs/json.md`), with
//! the repairs the next `all` makes before a stage.

use anyhow::Result;
use serde_json::json;

use super::run::planned_repairs;
use crate::engine::context::Ctx;
use crate::engine::lock;
use crate::engine::manifest::DIST_FILE_KIND;
use crate::engine::state::{self, State};
use crate::stages::StageId;
use crate::util::fs::human_bytes;

pub fn status(ctx: &Ctx, json: bool) -> Result<()> {
    let holder = lock::holder(&ctx.tree.artifacts_root());
    // Only what `all` would do first: a plan that cannot be made is `all`'s error to report.
    let repairs = planned_repairs(ctx).unwrap_or_else(|err| {
        eprintln!("opt-dist: warning: the next `all` cannot plan its repairs: {err:#}");
        Vec::new()
    });
    let mut stages = Vec::new();
    let mut table = String::new();
    for stage in StageId::ALL {
        let plan = stage.plan(ctx)?;
        let (state, manifest) = state::assess(ctx, &plan, holder.as_ref());
        let repairs: &[String] = repairs
            .iter()
            .find(|(name, _)| *name == stage.name())
            .map_or(&[], |(_, titles)| titles);
        let mut entry = json!({
            "stage": stage.name(),
            "state": state.word(),
            "directory": plan.dir,
        });
        let detail = match &state {
            State::Done => String::new(),
            State::Stale(reasons) => {
                entry["reasons"] = json!(reasons);
                reasons.join("; ")
            }
            State::Failed(failure) => {
                entry["failure"] = json!(failure);
                format!(
                    "at step {}/{}: {}\n{:14}{}\n{:14}what to do: {}",
                    failure.step,
                    failure.steps,
                    failure.title,
                    "",
                    failure.error.lines().next().unwrap_or_default(),
                    "",
                    failure.hint
                )
            }
            State::Running(holder) => {
                entry["holder"] = json!(holder);
                holder.describe()
            }
            State::Skipped(reason) => {
                entry["reason"] = json!(reason);
                reason.clone()
            }
            State::NotRun => String::new(),
        };
        if !repairs.is_empty() {
            entry["repairs"] = json!(repairs);
        }
        let mut detail = detail;
        if let Some(manifest) = &manifest {
            entry["finished_at"] = json!(manifest.finished_at);
            let outputs = manifest.outputs.iter().map(
                |o| json!({"name": o.name, "kind": o.kind, "size": o.size, "sha256": o.sha256}),
            );
            entry["outputs"] = json!(outputs.collect::<Vec<_>>());
            if !manifest.fit.is_empty() {
                entry["fit"] = json!(manifest.fit);
            }
            if let State::Done = state {
                let profiles: Vec<String> = manifest
                    .outputs
                    .iter()
                    .filter(|o| o.kind != DIST_FILE_KIND)
                    .map(|o| format!("{} ({})", o.name, human_bytes(o.size)))
                    .collect();
                let dist_files = manifest.outputs.len() - profiles.len();
                detail = format!("finished {}", manifest.finished_at);
                if !profiles.is_empty() {
                    detail.push_str(&format!("; {}", profiles.join(", ")));
                }
                if dist_files > 0 {
                    detail.push_str(&format!("; {dist_files} dist files"));
                }
                let fits: Vec<String> = manifest.fit.iter().map(|f| f.short()).collect();
                if !fits.is_empty() {
                    detail.push_str(&format!("; fit: {}", fits.join(", ")));
                }
                for low in manifest.fit.iter().filter(|f| !f.fits()) {
                    let warning = format!("WARNING (--allow-stale): {}", low.describe());
                    detail.push_str(&format!("\n{:22}{warning}", ""));
                }
            }
        }
        table.push_str(&format!("{:<12}{:<9} {detail}\n", stage.name(), state.word()));
        for repair in repairs {
            table.push_str(&format!("{:22}before it, `all` makes: {repair}\n", ""));
        }
        stages.push(entry);
    }
    match json {
        true => {
            println!("{}", serde_json::to_string_pretty(&json!({ "schema": 2, "stages": stages }))?)
        }
        false => print!("opt-dist status: {}\n\n{table}", ctx.tree.describe()),
    }
    Ok(())
}
