//! The CI templates in `ci/github/` run only commands and options the xtask has:
//! `ci/check-workflows.py` parses them (python3-yaml) and checks each `cargo xtask opt-dist`
//! against the built xtask's `--help`. Here so that `cargo test` covers it, not only `.ci/run`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_success, stderr};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether python3-yaml is there; without it the check is skipped, except in CI (`CI` set),
/// where ci/setup-debian.sh installs it and a missing one is a failure.
fn yaml_available(test: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", "import yaml"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: python3-yaml is missing, and CI is set (ci/setup-debian.sh installs it)"
        );
        eprintln!("{test}: skipped: python3-yaml is missing (apt-get install python3-yaml)");
    }
    found
}

fn check_workflows(files: &[&Path]) -> Output {
    Command::new("python3")
        .arg(repo_root().join("ci/check-workflows.py"))
        .args(["--xtask", env!("CARGO_BIN_EXE_xtask")])
        .args(files)
        .output()
        .expect("python3 runs")
}

#[test]
fn every_opt_dist_command_in_the_workflows_is_the_xtasks() {
    if !yaml_available("every_opt_dist_command_in_the_workflows_is_the_xtasks") {
        return;
    }
    let out = check_workflows(&[]);
    assert_success(&out, "ci/check-workflows.py");
    let err = stderr(&out);
    // Both templates, and every stage job's commands, were read.
    assert!(err.contains("in 2 workflows are the xtask's"), "{err}");
}

#[test]
fn a_command_or_option_the_xtask_lacks_is_named() {
    if !yaml_available("a_command_or_option_the_xtask_lacks_is_named") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("opt-dist-ci-workflows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let workflow = dir.join("bad.yml");
    std::fs::write(
        &workflow,
        r#"
on: workflow_dispatch
jobs:
  stage:
    runs-on: ubuntu-latest
    steps:
      - name: good, with a global option after the command and a value
        run: cargo xtask opt-dist llvm-pgo --src "$TREE" --use-bolt=false
      - name: renamed stage
        run: cargo xtask opt-dist llvm-pgoo
      - name: option of another command
        run: |
          cd "$TREE" && cargo xtask opt-dist export "$OUT" \
            --allow-stale -- --anything-after-the-dashes
"#,
    )
    .unwrap();
    let out = check_workflows(&[&workflow]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("step 2 (renamed stage)") && err.contains("opt-dist has no command llvm-pgoo"),
        "{err}"
    );
    assert!(
        err.contains("step 3 (option of another command)")
            && err.contains("opt-dist export has no option --allow-stale"),
        "{err}"
    );
    assert!(!err.contains("step 1"), "{err}");
    // What follows `--` is x.py's, not the xtask's.
    assert!(!err.contains("no option --anything"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
