//! The command line as a user meets it: help, usage errors (exit 2) and errors about the tree
//! (exit 1), each naming what is wrong and what to do.

mod common;

use common::{stderr, xtask, MiniTree};

#[test]
fn help_is_everywhere() {
    for args in [
        &["--help"][..],
        &["opt-dist", "--help"],
        &["opt-dist", "rustc-pgo", "--help"],
    ] {
        let out = xtask(args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("USAGE"),
            "{args:?}"
        );
    }
}

#[test]
fn unknown_command_and_option_exit_with_2_and_name_them() {
    let out = xtask(&["opt-dist", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.lines()
            .next()
            .unwrap()
            .contains("unknown command `frobnicate`"),
        "{err}"
    );
    assert!(err.contains("USAGE"), "usage follows the message: {err}");

    let out = xtask(&["opt-dist", "rustc-pgo", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown option `--frobnicate` for `rustc-pgo`"));
}

#[test]
fn commands_of_later_issues_say_they_are_not_built_yet() {
    let tree = MiniTree::new("cli-not-built", "legacy");
    for command in ["status", "clean"] {
        let out = tree.opt_dist(&["--interface", "legacy", command]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        assert!(
            stderr(&out).contains("not built yet"),
            "{command}: {}",
            stderr(&out)
        );
    }
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
    assert!(
        err.contains("pass --src <DIR> or set OPT_DIST_SRC"),
        "{err}"
    );
}

#[test]
fn a_tree_without_x_py_is_refused() {
    let dir = std::env::temp_dir().join(format!("opt-dist-no-xpy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = xtask(&[
        "opt-dist",
        "--src",
        dir.to_str().unwrap(),
        "plan",
        "rustc-pgo",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a rust source tree: it has no x.py"),
        "{}",
        stderr(&out)
    );
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
    assert!(
        script.contains(&format!("\ncd {}\n", collector_dir.display())),
        "{script}"
    );
    assert!(script
        .lines()
        .any(|l| l.starts_with("CARGO_TARGET_DIR=") && l.contains(" run -p collector ")));
    // sh accepts the script's syntax.
    let check = std::process::Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Nothing ran: plan builds nothing.
    assert!(!tree.root.join("build/opt-dist/rustc-pgo").exists());
}
