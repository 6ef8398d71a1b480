//! What a run tells the CI system and the people watching it: GitHub Actions log groups and
//! step summary, training progress in a log file, the disk figures in the manifest, and the
//! pooled raw-profile mode (all on one miniature tree).

mod common;

use common::{assert_success, stderr, MiniTree};

#[test]
fn a_stage_on_github_actions_groups_its_log_reports_progress_and_accounts_for_disk() {
    let tree = MiniTree::new("reporting", "legacy");
    let summary = tree.root.join("step-summary.md");
    let out = tree.opt_dist_with_env(
        &["rustc-pgo", "--raw-profiles", "pooled"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_success(&out, "rustc-pgo with pooled raw profiles");
    let manifest = tree.manifest("rustc-pgo");
    let steps = manifest["steps"].as_array().unwrap();

    // One group per step, each closed before the next opens.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let groups: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::group::") || l.starts_with("::endgroup::"))
        .collect();
    assert_eq!(groups.len(), 2 * steps.len(), "{groups:#?}");
    for (pair, step) in groups.chunks(2).zip(steps) {
        let title = step["title"].as_str().unwrap();
        assert!(
            pair[0].starts_with("::group::[rustc-pgo ") && pair[0].ends_with(title),
            "{pair:?} for {title}"
        );
        assert_eq!(pair[1], "::endgroup::");
    }

    // The step summary: every step with its time and share.
    let markdown = std::fs::read_to_string(&summary).expect("the step summary was written");
    assert!(
        markdown.contains("| stage | step | seconds | share |"),
        "{markdown}"
    );
    for step in steps {
        let title = step["title"].as_str().unwrap();
        assert!(
            markdown.contains(&format!("| {title} |")),
            "{title} in\n{markdown}"
        );
    }
    assert!(
        markdown.contains("rustc-pgo-"),
        "artifacts listed:\n{markdown}"
    );

    // Progress through the benchmarks as plain lines: stderr is not a terminal here.
    let err = stderr(&out);
    let crates = manifest["options"]["training"]["rustc"]
        .as_array()
        .unwrap()
        .len();
    for i in 1..=crates {
        assert!(
            err.contains(&format!("training: benchmark {i} of {crates} done")),
            "progress {i}/{crates} in\n{err}"
        );
    }
    assert!(!err.contains('\u{1b}'), "no escape codes in a log file");

    // Pooled: the collector trained with the pool pattern, and few files were written.
    let collector = tree.records_of("collector");
    let pattern = collector[0]["env"]["LLVM_PROFILE_FILE"].as_str().unwrap();
    assert!(pattern.ends_with("/default_%4m.profraw"), "{pattern}");
    let raw = &manifest["raw_profiles"][0];
    let files = raw["count"].as_u64().unwrap();
    let runs: u64 = crates as u64;
    assert!(
        files < runs,
        "{files} raw files for {runs} benchmarks: not pooled"
    );

    // Disk figures, consistent with the rest of the manifest.
    let disk = &manifest["disk"];
    assert_eq!(disk["peak_raw_bytes"], raw["bytes"]);
    assert_eq!(disk["raw_files"], raw["count"]);
    let merged: u64 = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["size"].as_u64().unwrap())
        .sum();
    assert_eq!(disk["merged_bytes"].as_u64().unwrap(), merged);
    assert!(
        disk["build_dir_after"].as_u64().unwrap() > disk["build_dir_before"].as_u64().unwrap(),
        "the stage built a compiler: {disk}"
    );
    assert!(disk["free_before"].as_u64().unwrap() > 0);

    // The next estimate uses what was measured.
    let doctor = tree.opt_dist(&["doctor"]);
    let doctor_out = String::from_utf8_lossy(&doctor.stdout).to_string() + &stderr(&doctor);
    let disk_line = doctor_out
        .lines()
        .find(|l| l.contains("free disk"))
        .expect("doctor checks free disk");
    assert!(
        disk_line.contains("rustc-pgo") && disk_line.contains("measured by their last run"),
        "{disk_line}"
    );

    // Outside GitHub Actions: no workflow commands.
    let out = tree.opt_dist(&["llvm-pgo"]);
    assert_success(&out, "llvm-pgo");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::group::"));
    assert!(stderr(&out).contains("==> [llvm-pgo 1/"));
}
