//! Bootstrap's own timings, when it writes them (`build.metrics = true` in bootstrap.toml):
//! after each x.py call, the slowest steps of that invocation are shown and recorded in the
//! manifest. Without metrics.json nothing is missing but this detail.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::util::fs::read_json;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootstrapStep {
    pub step: String,
    pub secs: f64,
}

/// The slowest steps of the last invocation in `<build-dir>/metrics.json`, if bootstrap wrote
/// the file after `since` (so it is this command's).
pub fn slowest_steps(build_dir: &Path, since: SystemTime, count: usize) -> Vec<BootstrapStep> {
    let path = build_dir.join("metrics.json");
    let modified = std::fs::metadata(&path).and_then(|m| m.modified());
    let fresh = modified.is_ok_and(|t| t >= since);
    let root: Option<serde_json::Value> = fresh.then(|| read_json(&path).ok().flatten()).flatten();
    let mut totals = Vec::new();
    if let Some(last) = root.as_ref().and_then(|r| r["invocations"].as_array()?.last()) {
        collect(&last["children"], &mut totals);
    }
    totals.sort_by(|a, b| b.secs.total_cmp(&a.secs));
    totals.truncate(count);
    totals
}

/// Sums `duration_excluding_children_sec` per step type over the step tree.
fn collect(nodes: &serde_json::Value, totals: &mut Vec<BootstrapStep>) {
    for node in nodes.as_array().into_iter().flatten() {
        if node["kind"] == "rustbuild_step" {
            let step = node["type"].as_str().unwrap_or("?").to_string();
            let secs = node["duration_excluding_children_sec"].as_f64().unwrap_or(0.0);
            match totals.iter_mut().find(|t| t.step == step) {
                Some(total) => total.secs += secs,
                None => totals.push(BootstrapStep { step, secs }),
            }
            collect(&node["children"], totals);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_nested_steps_of_the_last_invocation() {
        let dir = std::env::temp_dir().join(format!("xtask-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let before = SystemTime::now() - std::time::Duration::from_secs(5);
        let json = r#"{"format_version": 1, "invocations": [
            {"children": [{"kind": "rustbuild_step", "type": "old", "duration_excluding_children_sec": 99.0, "children": []}]},
            {"children": [
                {"kind": "rustbuild_step", "type": "compile::Rustc", "duration_excluding_children_sec": 3.0,
                 "children": [{"kind": "rustbuild_step", "type": "compile::Std", "duration_excluding_children_sec": 1.0, "children": []}]},
                {"kind": "rustbuild_step", "type": "compile::Rustc", "duration_excluding_children_sec": 2.0, "children": []},
                {"kind": "test_suite", "metadata": {}, "tests": []}
            ]}]}"#;
        std::fs::write(dir.join("metrics.json"), json).unwrap();
        let steps = slowest_steps(&dir, before, 5);
        let got: Vec<(&str, f64)> = steps.iter().map(|s| (s.step.as_str(), s.secs)).collect();
        assert_eq!(got, [("compile::Rustc", 5.0), ("compile::Std", 1.0)]);
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(slowest_steps(&dir, later, 5).is_empty(), "a stale file is not this command's");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
