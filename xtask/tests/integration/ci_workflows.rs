//! The CI templates in `ci/github/` run only commands and options the xtask has:
//! `ci/check-workflows.py` parses them (python3-yaml) and checks each `cargo xtask opt-dist`
//! against the built xtask's `--help`. Here so that `cargo test` covers it, not only `.ci/run`.
//! They also hold no finding of zizmor's, the GitHub Actions linter (least privilege: actions
//! pinned to commits, a read-only token, no credentials left in the checkout).

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
    let found =
        Command::new("python3").args(["-c", "import yaml"]).status().is_ok_and(|s| s.success());
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
            --json -- --anything-after-the-dashes
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
            && err.contains("opt-dist export has no option --json"),
        "{err}"
    );
    assert!(!err.contains("step 1"), "{err}");
    // What follows `--` is x.py's, not the xtask's.
    assert!(!err.contains("no option --anything"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Whether zizmor (the GitHub Actions linter) is installed; without it the check is skipped,
/// except in CI (`CI` set), where `ci/setup-debian.sh --with-zizmor` (in .ci/run) installs it
/// and a missing one is a failure.
fn zizmor_available(test: &str) -> bool {
    let found = Command::new("zizmor").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: zizmor is missing, and CI is set (ci/setup-debian.sh --with-zizmor installs it)"
        );
        eprintln!(
            "{test}: skipped: zizmor is missing (ci/setup-debian.sh --with-zizmor installs it)"
        );
    }
    found
}

/// zizmor on workflow files as .ci/run runs it: offline, its default persona. Files, not
/// `ci/github/`: from a directory zizmor collects only `.github/workflows/`.
fn zizmor(files: &[PathBuf]) -> Output {
    Command::new("zizmor")
        .args(["--offline", "--color=never"])
        .args(files)
        .output()
        .expect("zizmor runs")
}

fn templates() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("ci/github"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn zizmor_finds_nothing_in_the_workflows() {
    if !zizmor_available("zizmor_finds_nothing_in_the_workflows") {
        return;
    }
    let files = templates();
    assert_eq!(files.len(), 2, "{files:?}");
    let out = zizmor(&files);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "zizmor found:\n{report}{}", stderr(&out));
    assert!(report.contains("No findings"), "{report}");
}

/// The check is not vacuous: each least-privilege choice undone in a copy of a template is a
/// finding that zizmor names, and fails on.
#[test]
fn zizmor_names_an_unpinned_action_a_broad_token_and_kept_credentials() {
    if !zizmor_available("zizmor_names_an_unpinned_action_a_broad_token_and_kept_credentials") {
        return;
    }
    let template = std::fs::read_to_string(repo_root().join("ci/github/opt-dist-all.yml")).unwrap();
    let dir = std::env::temp_dir().join(format!("opt-dist-ci-zizmor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The checkout by its movable tag, as the templates had it.
    let checkout = template
        .lines()
        .find(|l| l.trim_start().starts_with("- uses: actions/checkout@"))
        .expect("the template checks out");
    let unpinned = template.replacen(checkout, "      - uses: actions/checkout@v4", 1);
    // No `permissions:`: the token has the repository's default (broad) permissions.
    let broad = template.replacen("permissions:\n  contents: read\n", "", 1);
    // The checkout's default: the token stays in .git/config, in the workspace.
    let kept = template.replacen("\n        with:\n          persist-credentials: false", "", 1);

    for (name, workflow, rule, names) in [
        ("unpinned", unpinned, "unpinned-uses", "actions/checkout@v4"),
        ("broad", broad, "excessive-permissions", "default permissions used"),
        ("kept", kept, "artipacked", "does not set persist-credentials: false"),
    ] {
        assert_ne!(workflow, template, "{name}: the template changed, this test did not");
        let file = dir.join(format!("{name}.yml"));
        std::fs::write(&file, workflow).unwrap();
        let out = zizmor(&[file]);
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{name}: zizmor passed:\n{report}");
        assert!(
            report.contains(&format!("[{rule}]")) && report.contains(names),
            "{name}: {report}"
        );
        // Only what was undone: the rest of the template is clean.
        for other in ["unpinned-uses", "excessive-permissions", "artipacked"] {
            assert!(other == rule || !report.contains(other), "{name}: {report}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
