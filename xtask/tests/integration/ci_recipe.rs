//! `ci/opt-dist-recipe.sh`, the staged pipeline for CI systems: every stage in a fresh root that
//! has nothing of the roots before it but the artifact store, and still a BOLT-optimized dist
//! at the end, with no stage training again what an earlier one trained.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{argv, assert_optimized_rustc_tarball, assert_success, dist_args, Beside, MiniTree};

const STAGES: [&str; 5] = ["rustc-pgo", "llvm-pgo", "llvm-bolt", "rustc-bolt", "dist"];

/// The x.py flag that builds an instrumented part, for the stages that train with one.
fn instrumenting_flag(stage: &str) -> Option<&'static str> {
    match stage {
        "rustc-pgo" => Some("--rust-profile-generate"),
        "llvm-pgo" => Some("--llvm-profile-generate"),
        _ => None,
    }
}

/// Runs the recipe with the built xtask binary (as a CI system would with a binary built once).
fn run_recipe(tree: &Path, store: &Path, work: &Path, args: &[String]) -> Output {
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/opt-dist-recipe.sh");
    Command::new(recipe)
        .args(args)
        .env("OPT_DIST_TREE", tree)
        .env("OPT_DIST_ARTIFACTS", store)
        .env("OPT_DIST_WORK", work)
        .env("OPT_DIST_XTASK", env!("CARGO_BIN_EXE_xtask"))
        .env_remove("OPT_DIST_SRC")
        .output()
        .expect("the recipe runs")
}

#[test]
#[ignore = "heavy: five fresh roots, each building what the stage needs (about 90 s on an idle 2-core machine; CI runs it)"]
fn the_recipe_runs_each_stage_in_a_fresh_root_and_ends_with_a_bolt_optimized_dist() {
    let tree = MiniTree::new("ci-recipe", "legacy");
    let beside = Beside::new(&tree);
    let store = beside.0.join("artifact store");
    let work = beside.0.join("roots");
    let host = tree.host();
    let mut args = vec!["--".to_string()];
    args.extend(dist_args(&host));
    let out = run_recipe(&tree.root, &store, &work, &args);
    assert_success(&out, "ci/opt-dist-recipe.sh");

    for (n, stage) in STAGES.iter().enumerate() {
        let root = work.join(stage);
        let records = records_in(&root);
        let trainings = records.iter().filter(|r| r["tool"] == "collector").count();
        let expected = usize::from(*stage != "dist");
        assert_eq!(trainings, expected, "collector runs in the {stage} root");
        // No root builds the instrumented compiler or LLVM of a stage before it.
        for earlier in &STAGES[..n] {
            let Some(flag) = instrumenting_flag(earlier) else {
                continue;
            };
            for record in &records {
                assert!(
                    !argv(record).iter().any(|a| a == flag),
                    "the {stage} root built for {earlier}'s training again: {record}"
                );
            }
        }
        // Every earlier stage is the one the store handed over, not made here.
        for earlier in STAGES[..n].iter().filter(|s| **s != "dist") {
            let manifest =
                read_json(&root.join("build/opt-dist").join(earlier).join("manifest.json"));
            assert_eq!(
                manifest["imported"]["from"],
                store.join(earlier).to_str().unwrap(),
                "{stage} root, {earlier}"
            );
        }
    }

    // The toolchain in the store: nothing instrumented, both libraries BOLT-optimized, and the
    // files the dist stage recorded.
    let dist = store.join("dist");
    let rustc_tarball = dist.join(format!("rustc-{}-{host}.tar.xz", tree.version()));
    assert_optimized_rustc_tarball(&rustc_tarball, &beside.0.join("unpacked"));
    let manifest = read_json(&dist.join("manifest.json"));
    let recorded: Vec<PathBuf> = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| dist.join(o["name"].as_str().unwrap()))
        .collect();
    assert!(recorded.contains(&rustc_tarball), "{manifest:#}");
    for file in &recorded {
        assert!(file.is_file(), "{} in the store", file.display());
    }
}

#[test]
fn the_recipe_refuses_a_root_that_is_not_fresh() {
    let tree = MiniTree::new("ci-recipe-not-fresh", "legacy");
    let beside = Beside::new(&tree);
    let store = beside.0.join("store");
    let earlier = beside.0.join("roots/llvm-pgo");
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::write(earlier.join("left by an earlier job"), "").unwrap();
    let out = run_recipe(&tree.root, &store, &beside.0.join("roots"), &["llvm-pgo".to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a stage runs in a fresh root"), "{err}");
    // Left as it was, and nothing was run or stored.
    let left: Vec<_> = std::fs::read_dir(&earlier).unwrap().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);
}

/// The x.py and collector calls that did work in a root (dry runs are preflight's).
fn records_in(root: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(root.join(".mini-tree/record.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| !argv(r).iter().any(|a| a == "--dry-run"))
        .collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}
