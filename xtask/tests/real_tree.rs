//! Contract tests against the real rustc 1.95.0 source tree: every x.py command we plan must be
//! accepted by the tree's real bootstrap.
//!
//! They run when `OPT_DIST_REAL_TREE` names a tree prepared by `shared/tools/real-rust-tree`
//! (`.ci/run` provides it). Elsewhere they print why they were skipped, unless
//! `OPT_DIST_REQUIRE_REAL_TREE=1` makes a missing tree a failure (as in CI).

mod common;

use std::path::PathBuf;
use std::process::Command;

fn real_tree(test: &str) -> Option<PathBuf> {
    match std::env::var_os("OPT_DIST_REAL_TREE") {
        Some(tree) => Some(PathBuf::from(tree)),
        None => {
            assert!(
                std::env::var_os("OPT_DIST_REQUIRE_REAL_TREE").is_none(),
                "OPT_DIST_REQUIRE_REAL_TREE is set but OPT_DIST_REAL_TREE is not"
            );
            eprintln!(
                "skipped {test}: OPT_DIST_REAL_TREE is not set (prepare a tree with \
                 shared/tools/real-rust-tree and export its path)"
            );
            None
        }
    }
}

/// The x.py command lines of a `plan --format sh` script, each with the `cd` in force.
fn x_py_lines(script: &str) -> Vec<(String, String)> {
    let mut cwd = String::from(".");
    let mut lines = Vec::new();
    for line in script.lines() {
        if let Some(dir) = line.strip_prefix("cd ") {
            cwd = dir.to_string();
        } else if !line.starts_with('#') && line.contains("/x.py ") {
            lines.push((cwd.clone(), line.to_string()));
        }
    }
    lines
}

fn plan_sh(tree: &std::path::Path, extra: &[&str]) -> String {
    let out = common::xtask(&[&["opt-dist", "--src", tree.to_str().unwrap()], extra].concat());
    common::assert_success(&out, "plan");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn planned_rustc_pgo_commands_are_accepted_by_real_bootstrap() {
    let Some(tree) = real_tree("planned_rustc_pgo_commands_are_accepted_by_real_bootstrap") else {
        return;
    };
    for options in [
        &[][..],
        &["--use-bolt", "false"],
        &["--llvm-shared", "false"],
    ] {
        let script = plan_sh(
            &tree,
            &[&["plan", "rustc-pgo", "--format", "sh"], options].concat(),
        );
        let lines = x_py_lines(&script);
        assert_eq!(
            lines.len(),
            2,
            "instrumented and optimized build expected:\n{script}"
        );
        for (cwd, line) in lines {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("cd {cwd} && {line} --dry-run"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "real bootstrap rejected `{line} --dry-run`:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn real_1_95_tree_is_detected_as_legacy() {
    let Some(tree) = real_tree("real_1_95_tree_is_detected_as_legacy") else {
        return;
    };
    let out = common::xtask(&[
        "opt-dist",
        "--src",
        tree.to_str().unwrap(),
        "plan",
        "rustc-pgo",
        "--format",
        "json",
    ]);
    common::assert_success(&out, "plan --format json");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["interface"], "legacy");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("pgo.rustc"),
        "no [pgo] table settings for a legacy tree"
    );
    assert!(text.contains("--rust-profile-generate") && text.contains("--rust-profile-use"));
}
