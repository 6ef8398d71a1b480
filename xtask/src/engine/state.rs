//! A stage's state, from what its directory holds: the one place that decides whether a stage
//! is done and current, used by `status`, by `all` (which skips what is done) and before any
//! stage runs (its inputs must be what their producers made). The states and what makes each:
//! docs/usage.md, "Resuming, `status` and `clean`".

use std::path::Path;

use anyhow::{bail, Result};

use super::context::{Ctx, Options};
use super::lock::Holder;
use super::manifest::{Failure, Journal, Manifest, DIST_FILE_KIND, UNRECORDED_FILE};
use super::plan::{Effect, Part, StagePlan};
use crate::tools::llvm::{llvm_major, llvm_tool_version};
use crate::util::fs::{self, file_name, human_bytes};

#[derive(Debug, Clone)]
pub enum State {
    Done,
    Stale(Vec<String>),
    Failed(Failure),
    Running(Holder),
    Skipped(String),
    NotRun,
}

impl State {
    pub fn word(&self) -> &'static str {
        match self {
            State::Done => "done",
            State::Stale(_) => "stale",
            State::Failed(_) => "failed",
            State::Running(_) => "running",
            State::Skipped(_) => "skipped",
            State::NotRun => "not-run",
        }
    }

    /// Nothing to do for `all`.
    pub fn is_current(&self) -> bool {
        matches!(self, State::Done | State::Skipped(_))
    }
}

/// What a stage's plan does, by content: its own steps' actions, inputs and outputs, with this
/// tree's and build dir's paths written as `<src>` and `<build>`, so that a stage directory
/// copied to a tree at another path is as current there.
pub fn fingerprint(ctx: &Ctx, plan: &StagePlan) -> String {
    let actions: Vec<serde_json::Value> = plan
        .own_steps()
        .iter()
        .map(|s| serde_json::to_value(s).map(|v| v["action"].clone()))
        .collect::<Result<_, _>>()
        .expect("steps serialize");
    let value = serde_json::json!({
        "actions": actions,
        "inputs": plan.inputs.iter().map(|a| (a.kind, &a.path)).collect::<Vec<_>>(),
        "outputs": plan.outputs.iter().map(|a| (a.kind, &a.path)).collect::<Vec<_>>(),
        "skipped": plan.skipped,
    });
    crate::util::sha256::hex(path_free(&value, &ctx.tree.build_dir, &ctx.tree.src).as_bytes())
}

/// `value` as JSON text with the build dir's and the tree's paths written as `<build>` and
/// `<src>` (the build dir first: it is often inside the tree).
fn path_free(value: &serde_json::Value, build_dir: &Path, src: &Path) -> String {
    value
        .to_string()
        .replace(&build_dir.display().to_string(), "<build>")
        .replace(&src.display().to_string(), "<src>")
}

/// The state of the stage `plan` is for.
pub fn assess(ctx: &Ctx, plan: &StagePlan, holder: Option<&Holder>) -> (State, Option<Manifest>) {
    let manifest = Manifest::read(&plan.dir);
    if let Some(holder) = holder.filter(|h| h.stage.as_deref() == Some(plan.stage.name)) {
        return (State::Running(holder.clone()), manifest);
    }
    if let Some(reason) = &plan.skipped {
        return (State::Skipped(reason.clone()), manifest);
    }
    if let Some(failure) = Failure::read(&plan.dir) {
        return (State::Failed(failure), manifest);
    }
    let journal = Journal::read(&plan.dir);
    let unrecorded = plan.dir.join(UNRECORDED_FILE).exists();
    if journal.is_some() || unrecorded {
        let completed = journal.as_ref().map_or(0, |j| j.completed);
        let failure = Failure {
            step: completed + 1,
            steps: plan.own_steps().len(),
            title: plan
                .own_steps()
                .get(completed)
                .map(|s| s.title.clone())
                .unwrap_or_else(|| "writing the manifest".to_string()),
            error: match unrecorded {
                true => "the run failed, but its failure could not be written (a full disk?); \
                         the run's own output says why"
                    .to_string(),
                false => "the run stopped with no error recorded: it was killed, or its \
                          failure could not be written (a full disk?)"
                    .to_string(),
            },
            hint: "run the stage again: it resumes after its last finished step".to_string(),
            at: journal.map_or_else(
                || {
                    let marker = std::fs::metadata(plan.dir.join(UNRECORDED_FILE));
                    let when = marker.and_then(|m| m.modified());
                    fs::utc_timestamp(when.unwrap_or(std::time::SystemTime::now()))
                },
                |j| j.started_at,
            ),
        };
        return (State::Failed(failure), manifest);
    }
    let Some(manifest) = manifest else {
        return (State::NotRun, None);
    };
    let reasons = stale_reasons(ctx, plan, &manifest);
    let state = match reasons.is_empty() {
        true => State::Done,
        false => State::Stale(reasons),
    };
    (state, Some(manifest))
}

/// Why a finished stage no longer matches the tree, the options or its inputs: one sentence
/// per cause.
fn stale_reasons(ctx: &Ctx, plan: &StagePlan, manifest: &Manifest) -> Vec<String> {
    if manifest.imported.is_some() {
        // Its provenance was compared with this tree when it was imported (and differences
        // accepted by name); what it stands for is its profiles, as long as they are intact.
        let mut reasons = Vec::new();
        outputs_intact(ctx, plan, manifest, &mut reasons);
        return reasons;
    }
    let tree = &ctx.tree;
    let mut reasons: Vec<String> = manifest
        .tree_differences(tree, ctx.interface, None)
        .into_iter()
        .map(|(what, then, now)| match what {
            "interface" => format!("bootstrap's interface changed: {then} then, {now} now"),
            what => format!("the tree's {what} changed: {then} then, {now} now"),
        })
        .collect();
    if manifest.fingerprint.as_deref() != Some(fingerprint(ctx, plan).as_str()) {
        reasons.push(
            match changed_options(
                &manifest.options,
                (&manifest.tree.build_dir, &manifest.tree.src),
                &ctx.options_record(),
                (&tree.build_dir, &tree.src),
            ) {
                changed if !changed.is_empty() => format!(
                    "its commands changed with the options; they differ in {}",
                    changed.join(", ")
                ),
                _ if manifest.fingerprint.is_none() => {
                    "it was made by an older xtask, which recorded no plan fingerprint".to_string()
                }
                _ => "its commands changed (tool paths, or a newer xtask)".to_string(),
            },
        );
    }
    reasons.extend(changed_tools(manifest, &tree.build_dir));
    for input in &plan.inputs {
        let name = file_name(&input.path);
        let used = manifest.inputs.iter().find(|r| r.name == name);
        match (used, fs::sha256_remembered(&input.path)) {
            (_, None) => reasons.push(format!("its input {name} is missing")),
            (Some(used), Some(now)) if used.sha256 != now => reasons.push(format!(
                "its input {name} is not the one it used: made again by the {} stage, or replaced",
                input.made_by
            )),
            _ => {}
        }
    }
    outputs_intact(ctx, plan, manifest, &mut reasons);
    reasons
}

/// Its outputs are there and unchanged: profiles by content, the dist's files (gigabytes) by
/// size.
fn outputs_intact(ctx: &Ctx, plan: &StagePlan, manifest: &Manifest, reasons: &mut Vec<String>) {
    for output in &manifest.outputs {
        let path = match output.kind.as_str() {
            DIST_FILE_KIND => ctx.tree.build_dir.join("dist").join(&output.name),
            _ => plan.dir.join(&output.name),
        };
        let intact = match output.kind.as_str() {
            DIST_FILE_KIND => std::fs::metadata(&path).is_ok_and(|m| m.len() == output.size),
            _ => fs::sha256_remembered(&path).as_deref() == Some(output.sha256.as_str()),
        };
        if !intact {
            reasons.push(format!("its output {} is missing or was changed since", output.name));
        }
    }
}

/// The host tools the stage used that now have another LLVM major version: their profiles do
/// not mix with the old ones. Tools in a build dir (the in-tree llvm-profdata, the instrumented
/// compiler) change with the stages themselves, and a tool that is not here (a stage made on
/// another machine) cannot be compared: preflight finds the tools a run needs.
fn changed_tools(manifest: &Manifest, build_dir: &Path) -> Vec<String> {
    let Ok(sh) = xshell::Shell::new() else {
        return Vec::new();
    };
    let mut changed = Vec::new();
    for tool in &manifest.tools {
        let built = tool.path.starts_with(build_dir)
            || tool.path.starts_with(&manifest.tree.build_dir)
            || !matches!(tool.name.as_str(), "llvm-profdata" | "llvm-bolt" | "merge-fdata");
        if built || !tool.path.is_file() {
            continue;
        }
        let now = llvm_tool_version(&tool.path, &sh).ok();
        if now.as_deref().and_then(llvm_major) != llvm_major(&tool.llvm_version) {
            changed.push(format!(
                "a tool it used changed its LLVM major: {} was LLVM {} then, {} now",
                tool.path.display(),
                tool.llvm_version,
                now.as_deref().unwrap_or("missing")
            ));
        }
    }
    changed
}

/// The options that differ, each with its two values. Paths in the build dir or the tree are
/// compared as `<build>/...` and `<src>/...`: a tree at another path has the same options.
fn changed_options(
    was: &serde_json::Value,
    (was_build_dir, was_src): (&Path, &Path),
    now: &serde_json::Value,
    (build_dir, src): (&Path, &Path),
) -> Vec<String> {
    let (Some(was), Some(now)) = (was.as_object(), now.as_object()) else {
        return Vec::new();
    };
    now.iter()
        .filter(|(key, _)| !Options::NOT_IN_PLANS.contains(&key.as_str()))
        .filter(|(key, value)| {
            was.get(*key).map(|v| path_free(v, was_build_dir, was_src))
                != Some(path_free(value, build_dir, src))
        })
        .map(|(key, value)| {
            format!(
                "{key} {} then, {value} now",
                was.get(key).map_or("unset".to_string(), |v| v.to_string())
            )
        })
        .collect()
}

/// Refuses to start stages whose input is missing or is not the file its producer made (rustc
/// takes a corrupt or foreign profile with a warning and builds without PGO), naming the stage to
/// run first. Inputs an earlier plan of the same run makes are checked when their turn comes.
pub fn check_inputs(plans: &[StagePlan]) -> Result<()> {
    for (i, plan) in plans.iter().enumerate() {
        for input in &plan.inputs {
            let (stage, maker) = (plan.stage.name, input.made_by);
            if plans[..i].iter().any(|p| p.stage.name == maker) {
                continue;
            }
            let name = file_name(&input.path);
            let producer = input.path.parent().and_then(Manifest::read);
            let made = producer.and_then(|m| m.outputs.into_iter().find(|o| o.name == name));
            let Some(made) = made.filter(|_| input.path.is_file()) else {
                bail!(
                    "the {stage} stage needs {} ({}), which the {maker} stage makes: run `cargo \
                     xtask opt-dist {maker}` first (or again: without its manifest it is not \
                     known to be complete)",
                    input.kind,
                    input.path.display()
                );
            };
            let found_size = std::fs::metadata(&input.path).map_or(0, |m| m.len());
            let found = fs::sha256_remembered(&input.path).unwrap_or_default();
            if found != made.sha256 || found_size != made.size {
                bail!(
                    "the {stage} stage needs {}, but it is not the file the {maker} stage made: \
                     found sha256 {found} ({}), its manifest says sha256 {} ({}); the file was \
                     changed or replaced since: run `cargo xtask opt-dist {maker}` again",
                    input.path.display(),
                    human_bytes(found_size),
                    made.sha256,
                    human_bytes(made.size),
                );
            }
        }
    }
    Ok(())
}

/// Where a stage whose journal says `completed` of its own steps were done resumes: at the
/// next step, unless that one cannot be resumed (training), then at the last reset of a
/// scratch directory before it.
pub fn resume_point(plan: &StagePlan, completed: usize) -> usize {
    let steps = plan.own_steps();
    // A repair rebuilds a part as the stage needs it, undoing what the stage's own finished
    // steps made of it (llvm-bolt's optimized LLVM, say): those are done again.
    let repaired: Vec<Part> =
        plan.steps[..plan.repairs].iter().flat_map(|s| s.changes.iter().map(|c| c.part)).collect();
    let completed = steps[..completed.min(steps.len())]
        .iter()
        .position(|s| s.changes.iter().any(|c| repaired.contains(&c.part)))
        .unwrap_or(completed);
    match steps.get(completed) {
        None => completed.min(steps.len()),
        Some(step) if step.resumable => completed,
        Some(_) => steps[..completed]
            .iter()
            .rposition(|s| matches!(s.effects.as_slice(), [Effect::ResetDir { .. }]))
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_of_a_tree_at_another_path_are_the_same_options() {
        let was = serde_json::json!({
            "training": {"source": "/ci/a/rust/src/build_helper/src/lib.rs"},
            "rustc_crates": ["match-stress"],
        });
        let now = serde_json::json!({
            "training": {"source": "/home/me/rust/src/build_helper/src/lib.rs"},
            "rustc_crates": ["externs"],
        });
        let changed = changed_options(
            &was,
            (Path::new("/ci/a/rust/build"), Path::new("/ci/a/rust")),
            &now,
            (Path::new("/home/me/rust/build"), Path::new("/home/me/rust")),
        );
        assert_eq!(changed, [r#"rustc_crates ["match-stress"] then, ["externs"] now"#]);
    }
}
