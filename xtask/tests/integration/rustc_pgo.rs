//! `opt-dist rustc-pgo` end to end on the miniature rust tree: a real instrumented build, real
//! training, a real merge with LLVM 22's llvm-profdata, and the optimized rebuild.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{argv, assert_success, stderr, MiniTree};

const PROFDATA_22: &str = "/usr/lib/llvm-22/bin/llvm-profdata";
/// A short training run for the tests that stop before or at the merge.
const ONE_BENCHMARK: &[&str] = &["--rustc-crates", "match-stress"];

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// Function names and the sum of their block counts, from
/// `llvm-profdata show --all-functions --counts`.
fn profile_functions(profile: &Path) -> Vec<(String, u64)> {
    let out = Command::new(PROFDATA_22)
        .args(["show", "--all-functions", "--counts"])
        .arg(profile)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut functions = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if line.starts_with("  ") && !line.starts_with("    ") && trimmed.ends_with(':') {
            current = Some(trimmed.trim_end_matches(':').to_string());
        } else if let (Some(name), Some(counts)) =
            (&current, trimmed.strip_prefix("Block counts: "))
        {
            let total = counts
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .filter_map(|c| c.trim().parse::<u64>().ok())
                .sum();
            functions.push((name.clone(), total));
            current = None;
        }
    }
    functions
}

fn x_py_builds(tree: &MiniTree) -> Vec<Vec<String>> {
    tree.records_of("x.py")
        .iter()
        .map(argv)
        .filter(|a| {
            a.first().map(String::as_str) == Some("build") && !a.contains(&"--dry-run".into())
        })
        .collect()
}

#[test]
fn rustc_pgo_makes_a_valid_profile_that_the_optimized_build_uses() {
    let tree = MiniTree::new("rustc-pgo-legacy", "legacy");
    let out = tree.opt_dist(&["rustc-pgo"]);
    assert_success(&out, "rustc-pgo");

    let dir = tree.stage_dir("rustc-pgo");
    let name = format!("rustc-pgo-{}-{}.profdata", tree.version(), tree.host());
    let profile = dir.join(&name);
    assert!(profile.is_file(), "{} missing", profile.display());

    // The profile is real and covers the driver's hot functions.
    let functions = profile_functions(&profile);
    for hot in ["lex_token", "parse_expr", "check_expr"] {
        assert!(
            functions.iter().any(|(f, count)| f.contains(hot) && *count > 0),
            "no counts for {hot} in the profile"
        );
    }

    // Without build.metrics bootstrap writes no metrics, and nothing asks for them.
    assert!(!tree.root.join("build/metrics.json").exists());
    assert!(tree.manifest("rustc-pgo")["commands"][0].get("bootstrap_steps").is_none());

    // Raw profiles are gone after a good merge.
    assert!(!dir.join("raw").exists(), "raw profiles should be deleted");

    // The instrumented build wrote into our raw dir; the optimized build used our profile,
    // with BOLT link settings (the default on x86_64 Linux).
    let builds = x_py_builds(&tree);
    assert_eq!(builds.len(), 2, "one instrumented and one optimized build: {builds:?}");
    let raw = dir.join("raw").display().to_string();
    assert!(builds[0].windows(2).any(|w| w == ["--rust-profile-generate", raw.as_str()]));
    assert!(builds[0].windows(2).any(|w| w == ["--set", "llvm.thin-lto=false"]));
    let used = profile.display().to_string();
    assert!(builds[1].windows(2).any(|w| w == ["--rust-profile-use", used.as_str()]));
    assert!(builds[1].contains(&"--enable-bolt-settings".to_string()));
    let stamp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            tree.root.join("build").join(tree.host()).join("stage2/mini-build.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(stamp["components"]["rustc_driver"]["profile_use"], used.as_str(), "{stamp}");
    assert_eq!(stamp["components"]["rustc_driver"]["bolt_link_flags"], true);

    // The collector trained the stage-2 compiler with upstream's rustc benchmarks, writing
    // raw profiles into our directory.
    let collector = tree.records_of("collector");
    assert_eq!(collector.len(), 1);
    let args = argv(&collector[0]);
    assert!(args.starts_with(&["profile_local".into(), "eprintln".into()]), "{args:?}");
    assert!(args.windows(2).any(|w| w[0] == "--exact-match" && w[1].contains("ctfe-stress-5")));
    assert!(args.windows(2).any(|w| w == ["--profiles", "Check,Debug,Opt"]));
    assert_eq!(
        collector[0]["env"]["LLVM_PROFILE_FILE"],
        format!("{raw}/default_%m_%p.profraw").as_str()
    );

    // The manifest says how the profile was made.
    let m = tree.manifest("rustc-pgo");
    assert_eq!(m["stage"], "rustc-pgo");
    assert_eq!(m["tree"]["version"], tree.version().as_str());
    let commit = std::fs::read_to_string(tree.root.join("git-commit-hash")).unwrap();
    assert_eq!(m["tree"]["commit"], commit.trim());
    assert_eq!(m["tree"]["host"], tree.host().as_str());
    assert_eq!(m["interface"], "legacy");
    assert!(m["started_at"].as_str().unwrap() <= m["finished_at"].as_str().unwrap());
    let commands = m["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 6, "2 builds, collector build and run, merge, show: {commands:#?}");
    for c in commands {
        assert_eq!(c["exit_code"], 0);
        assert!(c["duration_secs"].as_f64().unwrap() >= 0.0);
        assert!(c["cwd"].is_string() && c["argv"].is_array() && c["env"].is_object());
    }
    assert_eq!(commands[2]["env"]["LLVM_PROFILE_FILE"], collector[0]["env"]["LLVM_PROFILE_FILE"]);
    let tools = m["tools"].as_array().unwrap();
    let profdata = tools.iter().find(|t| t["name"] == "llvm-profdata").unwrap();
    assert!(profdata["llvm_version"].as_str().unwrap().starts_with("22."));
    let raw_record = &m["raw_profiles"][0];
    assert!(raw_record["count"].as_u64().unwrap() > 0);
    assert!(raw_record["bytes"].as_u64().unwrap() > 0);
    assert_eq!(raw_record["kept"], false);
    let output = &m["outputs"][0];
    assert_eq!(output["name"], name.as_str());
    assert_eq!(output["size"], std::fs::metadata(&profile).unwrap().len());
    assert_eq!(output["sha256"], sha256sum(&profile).as_str());

    // A failing rerun loses nothing: the published profile and its manifest stay as they were.
    let before = (sha256sum(&profile), std::fs::read(dir.join("manifest.json")).unwrap());
    let bad = tree.opt_dist(
        &[&["rustc-pgo", "--build-llvm", "false", "--llvm-dir", "/nonexistent"][..], ONE_BENCHMARK]
            .concat(),
    );
    assert!(!bad.status.success());
    let after = (sha256sum(&profile), std::fs::read(dir.join("manifest.json")).unwrap());
    assert_eq!(before, after, "a failed rerun must not touch the published profile or manifest");
}

#[test]
fn pgo_table_tree_instruments_rustc_cargo_and_rustdoc_and_keeps_raw_on_request() {
    let tree = MiniTree::new("rustc-pgo-table", "pgo-table");
    // The table as upstream first had it (before its `clippy` key): clippy is left alone.
    tree.set_table_components("rustc rustdoc cargo llvm");
    // With build.metrics, bootstrap's own step timings reach the manifest.
    std::fs::write(tree.root.join("bootstrap.toml"), "[build]\nmetrics = true\n").unwrap();
    let out = tree.opt_dist(&["rustc-pgo", "--keep-raw", "--use-bolt", "false"]);
    assert_success(&out, "rustc-pgo on a [pgo] table tree");

    let dir = tree.stage_dir("rustc-pgo");
    let (version, host) = (tree.version(), tree.host());
    let rustc_profile = dir.join(format!("rustc-pgo-{version}-{host}.profdata"));
    let rustdoc_profile = dir.join(format!("rustdoc-pgo-{version}-{host}.profdata"));
    assert!(rustc_profile.is_file() && rustdoc_profile.is_file());

    let builds = x_py_builds(&tree);
    assert_eq!(builds.len(), 2, "{builds:?}");
    let raw = dir.join("raw").display().to_string();
    for component in ["rustc", "cargo", "rustdoc"] {
        let setting = format!("pgo.{component}.generate=\"{raw}\"");
        assert!(builds[0].windows(2).any(|w| w == ["--set", setting.as_str()]), "{:?}", builds[0]);
    }
    assert!(builds[0].iter().all(|a| !a.starts_with("--rust-profile")), "no legacy flags");
    assert!(
        builds.iter().flatten().all(|a| a != "clippy" && !a.starts_with("pgo.clippy")),
        "a table without the clippy key gets no clippy: {builds:?}"
    );
    for (component, profile) in
        [("rustc", &rustc_profile), ("cargo", &rustc_profile), ("rustdoc", &rustdoc_profile)]
    {
        let setting = format!("pgo.{component}.use=\"{}\"", profile.display());
        assert!(builds[1].windows(2).any(|w| w == ["--set", setting.as_str()]), "{:?}", builds[1]);
    }
    assert!(!builds[1].contains(&"--enable-bolt-settings".to_string()), "--use-bolt false");

    // rustdoc is trained on its own, with documentation builds.
    let collector = tree.records_of("collector");
    assert_eq!(collector.len(), 2);
    // The collector drives the cargo the instrumented build made (its counts join rustc's
    // profile): bootstrap puts a stage 2 tool in stage2-tools-bin.
    let cargo =
        argv(&collector[0]).windows(2).find(|w| w[0] == "--cargo").map(|w| w[1].clone()).unwrap();
    assert_eq!(
        Path::new(&cargo),
        tree.root.join(format!("build/{host}/stage2-tools-bin/cargo")),
        "{:?}",
        argv(&collector[0])
    );
    assert!(Path::new(&cargo).is_file(), "{cargo} was built");
    assert!(argv(&collector[1]).windows(2).any(|w| w == ["--profiles", "Doc"]));

    // --keep-raw: each training's raw profiles are kept beside its merged profile.
    for kept in
        [format!("raw-rustc-pgo-{version}-{host}"), format!("raw-rustdoc-pgo-{version}-{host}")]
    {
        let kept = dir.join(kept);
        let profraws = std::fs::read_dir(&kept)
            .unwrap_or_else(|_| panic!("{} missing", kept.display()))
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "profraw"))
            .count();
        assert!(profraws > 0, "no raw profiles kept in {}", kept.display());
    }
    let m = tree.manifest("rustc-pgo");
    assert_eq!(m["interface"], "pgo-table");
    let tools: Vec<&str> =
        m["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tools, ["llvm-profdata", "instrumented rustc"], "each tool recorded once");
    let steps = &m["commands"][0]["bootstrap_steps"];
    assert!(steps.as_array().is_some_and(|s| !s.is_empty()), "{:#}", m["commands"][0]);
    assert!(m["raw_profiles"].as_array().unwrap().iter().all(|r| r["kept"] == true));
    assert_eq!(m["outputs"].as_array().unwrap().len(), 2);
}

/// Asserts a failed run: non-zero exit, the failing step named with advice, and no manifest.
fn assert_failed_at(tree: &MiniTree, out: &std::process::Output, step: &str, detail: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: stage rustc-pgo failed at step"), "{err}");
    assert!(err.contains(step), "expected the step `{step}` named in:\n{err}");
    assert!(err.contains(detail), "expected `{detail}` in:\n{err}");
    assert!(err.contains("what to do:"), "{err}");
    assert!(!tree.stage_dir("rustc-pgo").join("manifest.json").exists(), "no manifest on failure");
}

/// Asserts a run stopped by preflight: non-zero exit, the check named, nothing built.
fn assert_stopped_by_preflight(tree: &MiniTree, out: &std::process::Output, detail: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("preflight:"), "{err}");
    assert!(err.contains(detail), "expected `{detail}` in:\n{err}");
    assert!(x_py_builds(tree).is_empty(), "preflight must stop the run before any build");
    assert!(!tree.stage_dir("rustc-pgo").join("manifest.json").exists());
}

#[test]
fn llvm_profdata_of_another_major_version_is_refused() {
    // Preflight catches it in seconds...
    let tree = MiniTree::new("rustc-pgo-llvm14", "legacy");
    let llvm14 = ["rustc-pgo", "--build-llvm", "false", "--llvm-dir", "/usr/lib/llvm-14"];
    let out = tree.opt_dist(&llvm14);
    assert_stopped_by_preflight(&tree, &out, "is LLVM 14.");
    assert!(stderr(&out).contains("apt-get install llvm-22"), "{}", stderr(&out));

    // ...and the stage itself still refuses it against the compiler it just built.
    let out = tree.opt_dist(&[&llvm14[..], &["--no-preflight"], ONE_BENCHMARK].concat());
    assert_failed_at(
        &tree,
        &out,
        "Check that llvm-profdata matches the compiler's LLVM",
        "cannot read raw profiles of another LLVM major version",
    );
    assert!(stderr(&out).contains("LLVM 14"), "{}", stderr(&out));
}

#[test]
fn missing_llvm_profdata_is_named() {
    let tree = MiniTree::new("rustc-pgo-no-profdata", "legacy");
    let missing = ["rustc-pgo", "--build-llvm", "false", "--llvm-dir", "/nonexistent"];
    let out = tree.opt_dist(&missing);
    assert_stopped_by_preflight(&tree, &out, "/nonexistent/bin/llvm-profdata");

    let out = tree.opt_dist(&[&missing[..], &["--no-preflight"], ONE_BENCHMARK].concat());
    assert_failed_at(
        &tree,
        &out,
        "Check that llvm-profdata matches",
        "llvm-profdata not found at /nonexistent/bin/llvm-profdata",
    );
}

#[test]
fn training_without_raw_profiles_is_an_error() {
    let tree = MiniTree::new("rustc-pgo-no-raw", "legacy");
    // The fixture's bootstrap drops the instrumentation flag, as a misconfigured one would.
    let out = tree.opt_dist_with_env(
        &[&["rustc-pgo"][..], ONE_BENCHMARK].concat(),
        &[("MINI_TREE_FAULT", "uninstrumented")],
    );
    assert_failed_at(
        &tree,
        &out,
        "Check that training wrote rustc raw profiles",
        "no .profraw files",
    );
}

#[test]
fn a_merged_profile_that_does_not_validate_is_not_published() {
    let tree = MiniTree::new("rustc-pgo-bad-merge", "legacy");
    // An llvm-profdata whose merge "succeeds" with an empty file: validation must catch it.
    let llvm = tree.root.join("broken-llvm");
    std::fs::create_dir_all(llvm.join("bin")).unwrap();
    let wrapper = llvm.join("bin/llvm-profdata");
    common::write_script(
        &wrapper,
        &format!(
            "#!/bin/sh\nif [ \"$1\" = merge ] && [ \"$2\" = -o ]; then : > \"$3\"; exit 0; fi\n\
             exec {PROFDATA_22} \"$@\"\n"
        ),
    );
    std::os::unix::fs::symlink(format!("{}/llvm-nm", common::LLVM_BIN), llvm.join("bin/llvm-nm"))
        .unwrap();
    let out = tree.opt_dist(
        &[
            &["rustc-pgo", "--build-llvm", "false", "--llvm-dir", llvm.to_str().unwrap()][..],
            ONE_BENCHMARK,
        ]
        .concat(),
    );
    assert_failed_at(
        &tree,
        &out,
        "Validate the merged rustc profile",
        "cannot read the merged profile",
    );
    let published: Vec<PathBuf> = std::fs::read_dir(tree.stage_dir("rustc-pgo"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "profdata"))
        .collect();
    assert!(published.is_empty(), "nothing published: {published:?}");
}

#[test]
fn a_failing_collector_stops_the_stage() {
    let tree = MiniTree::new("rustc-pgo-bad-collector", "legacy");
    // (A benchmark name the tree does not have is refused by preflight: see faults.rs.)
    let out = tree.opt_dist_with_env(&["rustc-pgo"], &[("MINI_TREE_FAULT", "collector")]);
    assert_failed_at(&tree, &out, "Train the instrumented rustc with rustc-perf", "collector");
}

#[test]
fn a_failing_x_py_stops_the_stage_at_its_step() {
    let tree = MiniTree::new("rustc-pgo-bad-config", "legacy");
    std::fs::write(tree.root.join("bootstrap.toml"), "[rust]\nno-such-option = true\n").unwrap();
    // Preflight shows bootstrap's own complaint before anything is built...
    let out = tree.opt_dist(&["--interface", "legacy", "rustc-pgo"]);
    assert_stopped_by_preflight(&tree, &out, "unknown field `no-such-option`");
    assert!(stderr(&out).contains("rustc-pgo step 2: Build the PGO-instrumented compiler"));

    // ...and without preflight the step that ran x.py is the one named.
    let out = tree.opt_dist(&["--interface", "legacy", "rustc-pgo", "--no-preflight"]);
    assert_failed_at(&tree, &out, "Build the PGO-instrumented compiler", "x.py");
}
