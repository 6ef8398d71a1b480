//! The command line as a user meets it: help, usage errors (exit 2) and errors about the tree
//! (exit 1), each naming what is wrong and what to do.

use crate::common;

use common::{stderr, xtask, MiniTree};

#[test]
fn help_is_everywhere() {
    for args in [&["--help"][..], &["opt-dist", "--help"], &["opt-dist", "rustc-pgo", "--help"]] {
        let out = xtask(args);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("USAGE"), "{args:?}");
    }
}

#[test]
fn unknown_command_and_option_exit_with_2_and_name_them() {
    let out = xtask(&["opt-dist", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.lines().next().unwrap().contains("unknown command `frobnicate`"), "{err}");
    assert!(err.contains("USAGE"), "usage follows the message: {err}");

    let out = xtask(&["opt-dist", "rustc-pgo", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown option `--frobnicate` for `rustc-pgo`"));
}

#[test]
fn a_missing_tree_is_named_with_the_fix() {
    let out = xtask(&["opt-dist", "--src", "/nonexistent/tree", "rustc-pgo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/tree (from --src) does not exist"),
        "{}",
        stderr(&out)
    );

    // This workspace is not a rust tree, so without --src the user is told how to give one.
    let out = xtask(&["opt-dist", "rustc-pgo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("pass --src <DIR> or set OPT_DIST_SRC"), "{err}");
}

#[test]
fn a_src_that_is_a_file_is_named_as_one() {
    let file = std::env::temp_dir().join(format!("opt-dist-src-file-{}", std::process::id()));
    std::fs::write(&file, "").unwrap();
    let out = xtask(&["opt-dist", "--src", file.to_str().unwrap(), "rustc-pgo"]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a file, not a directory"), "{}", stderr(&out));
}

#[test]
fn a_tree_without_x_py_is_refused() {
    let dir = std::env::temp_dir().join(format!("opt-dist-no-xpy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = xtask(&["opt-dist", "--src", dir.to_str().unwrap(), "plan", "rustc-pgo"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a rust source tree: it has no x.py"), "{}", stderr(&out));
}

#[test]
fn plan_sh_replays_with_env_in_front_and_explicit_cd() {
    let tree = MiniTree::new("cli-plan-sh", "legacy");
    let out = tree.opt_dist(&["plan", "rustc-pgo", "--format", "sh"]);
    common::assert_success(&out, "plan --format sh");
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"));
    assert!(script.contains("\nset -eu\n"));
    let collector_dir = tree.root.join("src/tools/rustc-perf");
    assert!(script.contains(&format!("\ncd {}\n", collector_dir.display())), "{script}");
    assert!(script
        .lines()
        .any(|l| l.starts_with("CARGO_TARGET_DIR=") && l.contains(" run -p collector ")));
    // sh accepts the script's syntax.
    let check = std::process::Command::new("sh").arg("-n").arg("-c").arg(&script).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    // Nothing ran: plan builds nothing.
    assert!(!tree.root.join("build/opt-dist/rustc-pgo").exists());
}

#[test]
fn doctor_shows_every_check_and_a_fix_for_each_problem() {
    let tree = MiniTree::new("cli-doctor", "legacy");
    let out = tree.opt_dist(&["doctor"]);
    common::assert_success(&out, "doctor");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    for row in [
        "interface",
        "python",
        "x.py",
        "rustc-perf",
        "stage0 cargo",
        "llvm-profdata",
        "llvm-bolt",
        "merge-fdata",
        "free disk",
        "build.metrics",
    ] {
        assert!(
            table.lines().any(|l| l.split_whitespace().nth(1) == row.split_whitespace().next()),
            "no {row} row:\n{table}"
        );
    }

    let out = tree.opt_dist(&["doctor", "--build-llvm", "false", "--llvm-dir", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let fail = table.lines().position(|l| l.starts_with("FAIL  llvm-profdata")).expect(&table);
    let fix = table.lines().nth(fail + 1).unwrap();
    assert!(
        fix.contains("fix: install LLVM 22's tools (Debian: apt-get install llvm-22)"),
        "{table}"
    );
}

/// Preflight's dry runs go on beside the first build (bootstrap ran in this build dir: it
/// answered which interface it has); a typo in the dist arguments stops the run within
/// seconds all the same, before any training, profile or library.
#[test]
fn preflight_rejects_a_bad_dist_argument_before_any_profile_or_library() {
    let tree = MiniTree::new("cli-dist-typo", "legacy");
    let started = std::time::Instant::now();
    let out = tree.opt_dist(&["all", "--", "--frobnicate"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("preflight: bootstrap rejects the command for dist step"), "{err}");
    assert!(
        err.contains("unexpected argument '--frobnicate' found"),
        "bootstrap's own words: {err}"
    );
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}: {err}");
    assert!(!err.contains("] Train the instrumented"), "no training: {err}");
    assert!(tree.records_of("collector").is_empty(), "no training");
    let kept: Vec<String> = walkdir::WalkDir::new(tree.root.join("build/opt-dist"))
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with("data") || name == "manifest.json" || name.contains("backup"))
        .collect();
    assert!(kept.is_empty(), "no profile, no backup, no finished stage: {kept:?}");
    let status: serde_json::Value =
        serde_json::from_slice(&tree.opt_dist(&["status", "--json"]).stdout).unwrap();
    let failure = &status["stages"][0]["failure"];
    assert!(failure["error"].as_str().unwrap().contains("--frobnicate"), "{status:#}");
    assert!(failure["hint"].as_str().unwrap().contains("fix what preflight found"), "{status:#}");
    // The dist command, with the user's argument, was among the first checked (as many go at
    // once as there are cores).
    let at_once = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dry_runs: Vec<Vec<String>> = tree
        .records_of("x.py")
        .iter()
        .map(common::argv)
        .filter(|a| {
            a.contains(&"--dry-run".to_string()) && !a.iter().any(|x| x.starts_with("pgo."))
        })
        .collect();
    assert!(dry_runs.iter().take(at_once).any(|a| a[0] == "dist"), "{dry_runs:?}");
}

#[test]
fn benchmark_cargo_configs_reach_the_collector_as_absolute_paths() {
    let tree = MiniTree::new("cli-cargo-config", "legacy");
    let out = tree.opt_dist(&[
        "plan",
        "rustc-pgo",
        "--format",
        "json",
        "--benchmark-cargo-config",
        "vendored.toml",
    ]);
    common::assert_success(&out, "plan");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let collector = plan["stages"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"].as_str().unwrap().starts_with("Train"))
        .unwrap();
    let argv: Vec<&str> = collector["action"]["cmd"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let expected = std::env::current_dir().unwrap().join("vendored.toml");
    assert!(
        argv.windows(2).any(|w| w == ["--cargo-config", expected.to_str().unwrap()]),
        "{argv:?}"
    );
}

#[test]
fn relative_tool_paths_are_taken_from_where_the_user_stands() {
    // The commands run in the tree, not where the user typed them.
    let tree = MiniTree::new("cli-relative", "legacy");
    let out = tree.opt_dist(&[
        "--interface",
        "legacy",
        "--python",
        "./bin/python3",
        "--llvm-dir",
        "llvm",
        "plan",
        "rustc-pgo",
        "--format",
        "json",
        "--build-llvm",
        "false",
    ]);
    common::assert_success(&out, "plan");
    let text = String::from_utf8_lossy(&out.stdout);
    let cwd = std::env::current_dir().unwrap();
    assert!(text.contains(&format!("\"{}\"", cwd.join("./bin/python3").display())), "{text}");
    assert!(text.contains(&cwd.join("llvm/bin/llvm-profdata").display().to_string()), "{text}");
}

/// The LLVM training of a planned run, as `plan --format json` shows it.
fn llvm_training(plan: &serde_json::Value) -> Vec<String> {
    let step =
        plan["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "llvm-pgo").unwrap()
            ["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["title"].as_str().unwrap().starts_with("Train"))
            .unwrap()
            .clone();
    let argv: Vec<String> = step["action"]["cmd"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let list = argv.windows(2).find(|w| w[0] == "--exact-match").map(|w| w[1].clone()).unwrap();
    list.split(',').map(String::from).collect()
}

#[test]
fn training_lists_come_from_the_trees_build_helper() {
    let tree = MiniTree::new("cli-training-lists", "legacy");
    let helper = tree.root.join("src/build_helper/src/lib.rs");
    // As on master, where the LLVM list changed: the tree's own list is trained with.
    std::fs::write(
        &helper,
        "pub const LLVM_PGO_CRATES: &[&str] = &[\"syn-2.0.101\", \"hyper-1.6.0\"];\n\
         pub const RUSTC_PGO_CRATES: &[&str] = &[\"externs\"];\n",
    )
    .unwrap();
    let out = tree.opt_dist(&["--interface", "legacy", "plan", "all", "--format", "json"]);
    common::assert_success(&out, "plan all");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(llvm_training(&plan), ["syn-2.0.101", "hyper-1.6.0"]);
    assert_eq!(
        plan["options"]["training"]["source"],
        helper.to_str().unwrap(),
        "the plan says where the lists came from"
    );

    // A tree without them: 1.95.0's lists, with a warning that says so.
    std::fs::remove_file(&helper).unwrap();
    let out = tree.opt_dist(&["--interface", "legacy", "plan", "all", "--format", "json"]);
    common::assert_success(&out, "plan all");
    assert!(
        stderr(&out).contains("warning: training with rust 1.95.0's lists"),
        "{}",
        stderr(&out)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(llvm_training(&plan).len(), 7);
}

/// `--build-dir` naming the directory bootstrap builds in anyway is the default: x.py is not
/// told (so stages made without it stay current); another directory is passed on to every
/// x.py call.
#[test]
fn build_dir_is_passed_to_x_py_only_when_it_is_another_one() {
    let tree = MiniTree::new("cli-build-dir", "legacy");
    let x_py_builds_with = |build_dir: &std::path::Path| {
        let out = tree.opt_dist(&[
            "--build-dir",
            build_dir.to_str().unwrap(),
            "plan",
            "rustc-pgo",
            "--format",
            "json",
        ]);
        common::assert_success(&out, "plan rustc-pgo");
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        tree.planned_x_py_calls(&plan).into_iter().map(|(argv, _)| argv).collect::<Vec<_>>()
    };
    let default = x_py_builds_with(&tree.root.join("build"));
    assert!(!default.is_empty());
    for argv in &default {
        assert!(!argv.contains(&"--build-dir".to_string()), "{argv:?}");
    }
    let elsewhere = tree.root.join("elsewhere");
    for argv in x_py_builds_with(&elsewhere) {
        assert!(
            argv.windows(2).any(|w| w[0] == "--build-dir" && w[1] == elsewhere.to_str().unwrap()),
            "{argv:?}"
        );
    }
}
