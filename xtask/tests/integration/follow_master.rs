//! Following the tree's own upstream: parallel training where the tree's opt-dist passes the
//! collector `--jobs` (and `--training-jobs`), clippy PGO where the tree's bootstrap has
//! `pgo.clippy`, and neither on a rustc 1.95.0 tree.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{argv, assert_success, dist_args, MiniTree, Snapshot};

fn plan_all(tree: &MiniTree, options: &[&str]) -> String {
    let host = tree.host();
    let mut args = vec!["plan", "all"];
    args.extend(options);
    args.push("--");
    let dist = dist_args(&host);
    args.extend(dist.iter().map(String::as_str));
    let out = tree.opt_dist(&args);
    assert_success(&out, "plan all");
    String::from_utf8(out.stdout).unwrap()
}

/// The collector calls of a plan: the shell lines that run it.
fn collector_lines(plan: &str) -> Vec<&str> {
    plan.lines().filter(|l| l.contains("--bin collector -- profile_local")).collect()
}

/// Whether a shell line passes `--jobs <jobs>`.
fn passes_jobs(line: &str, jobs: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.windows(2).any(|w| w == ["--jobs", jobs])
}

/// The `x.py build`/`x.py dist` lines of a plan that do real work.
fn x_py_lines(plan: &str) -> Vec<&str> {
    plan.lines().filter(|l| l.contains("x.py build") || l.contains("x.py dist")).collect()
}

#[test]
fn plan_on_a_master_tree_trains_in_parallel_with_its_lists_and_optimizes_clippy() {
    let tree = MiniTree::new("follow-plan-master", "pgo-table");
    // The lists are the tree's: a tree whose build_helper names other benchmarks trains those.
    let build_helper = tree.root.join("src/build_helper/src/lib.rs");
    let text = std::fs::read_to_string(&build_helper).unwrap();
    std::fs::write(
        &build_helper,
        text.replace("\"tuple-stress\",", "").replace("\"hyper-1.6.0\",", ""),
    )
    .unwrap();
    let plan = plan_all(&tree, &[]);

    let collectors = collector_lines(&plan);
    // rustc, rustdoc, clippy; LLVM; BOLT of libLLVM and of librustc_driver.
    assert_eq!(collectors.len(), 6, "{plan}");
    for line in &collectors {
        assert!(passes_jobs(line, "16"), "not parallel as master: {line}");
    }
    let rustc_list = "externs,ctfe-stress-5,cargo-0.87.1,token-stream-stress,match-stress,\
                      diesel-2.2.10,bitmaps-3.2.1,serde-1.0.219-new-solver";
    let llvm_list =
        "syn-2.0.101,cargo-0.87.1,serde-1.0.219,ripgrep-14.1.1,regex-automata-0.4.8,clap_derive-4.5.32";
    let with_list = |list: &str| {
        collectors.iter().filter(|l| l.contains(&format!("--exact-match {list} "))).count()
    };
    assert_eq!(with_list(rustc_list), 4, "{plan}");
    assert_eq!(with_list(llvm_list), 2, "{plan}");

    // clippy: trained on its own with Clippy builds, driven by the clippy-driver the
    // instrumented build made, and built with its profile in stage 1 and dist.
    let host = tree.host();
    let clippy_training = collectors
        .iter()
        .find(|l| l.contains("--profiles Clippy --scenarios Full"))
        .expect("a clippy training");
    let driver = tree.root.join(format!("build/{host}/stage2-tools-bin/clippy-driver"));
    assert!(
        clippy_training.contains(&format!("--clippy {}", driver.display())),
        "{clippy_training}"
    );
    let profile =
        tree.stage_dir("rustc-pgo").join(format!("clippy-pgo-{}-{host}.profdata", tree.version()));
    let x_py = x_py_lines(&plan);
    assert!(x_py[0].contains(" rustdoc cargo clippy ") && x_py[0].contains("pgo.clippy.generate="));
    let clippy_use = format!("pgo.clippy.use=\"{}\"", profile.display());
    let using: Vec<&&str> = x_py.iter().filter(|l| l.contains(&clippy_use)).collect();
    assert_eq!(using.len(), 2, "optimized build and dist: {x_py:#?}");
    assert!(using[1].contains("x.py dist"));
    // Upstream's names for what dist ships.
    for name in ["LLVM-bolt.profdata", "rustc-bolt.profdata"] {
        assert!(using[1].contains(&format!("reproducible-artifacts/{name}")), "{}", using[1]);
    }
}

#[test]
fn a_table_without_clippy_and_an_older_opt_dist_get_neither_clippy_nor_16_jobs() {
    let tree = MiniTree::new("follow-plan-first-table", "pgo-table");
    tree.set_table_components("rustc rustdoc cargo llvm");
    tree.set_opt_dist_jobs(Some(4));
    let plan = plan_all(&tree, &[]);
    assert!(!plan.contains("clippy-pgo"), "{plan}");
    for line in x_py_lines(&plan) {
        assert!(!line.contains("clippy"), "{line}");
    }
    let collectors = collector_lines(&plan);
    assert_eq!(collectors.len(), 5, "{plan}");
    assert!(collectors.iter().all(|l| passes_jobs(l, "4")), "{plan}");
}

#[test]
fn a_legacy_tree_trains_one_benchmark_at_a_time_unless_told() {
    let tree = MiniTree::new("follow-plan-legacy", "legacy");
    let plan = plan_all(&tree, &[]);
    let collectors = collector_lines(&plan);
    assert_eq!(collectors.len(), 4, "{plan}");
    assert!(collectors.iter().all(|l| !l.contains("--jobs")), "{plan}");
    assert!(!plan.contains("clippy"), "{plan}");

    let told = plan_all(&tree, &["--training-jobs", "3"]);
    assert!(collector_lines(&told).iter().all(|l| passes_jobs(l, "3")));
    let out = tree.opt_dist(&["plan", "all", "--training-jobs", "0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[test]
fn training_jobs_reach_the_collector_and_every_benchmark_runs() {
    // The LLVM training (the cheapest stage that trains), after rustc-pgo.
    let tree = MiniTree::from_snapshot("follow-jobs", Snapshot::RustcPgo);
    let out = tree.opt_dist(&["llvm-pgo", "--use-bolt", "false", "--training-jobs", "3"]);
    assert_success(&out, "llvm-pgo --training-jobs 3");
    let collector = tree.records_of("collector");
    assert_eq!(collector.len(), 1);
    let args = argv(&collector[0]);
    assert!(args.windows(2).any(|w| w == ["--jobs", "3"]), "{args:?}");
    // Every benchmark ran, in parallel or not: each wrote its announcement.
    let stdout =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let crates = args.windows(2).find(|w| w[0] == "--exact-match").map(|w| w[1].clone()).unwrap();
    for name in crates.split(',') {
        assert!(stdout.contains(&format!("Profiling {name} (Debug, Full)")), "{name} did not run");
    }
    let m = tree.manifest("llvm-pgo");
    assert_eq!(m["options"]["training_jobs"], 3, "{}", m["options"]);
}

/// rustc 1.95.0's own opt-dist trains one benchmark at a time and its bootstrap has no table:
/// the real tree is recognised as such from its sources.
#[test]
fn the_real_1_95_tree_gets_neither_jobs_nor_clippy() {
    let Some(real) = std::env::var_os("OPT_DIST_REAL_TREE") else {
        assert!(
            std::env::var_os("OPT_DIST_REQUIRE_REAL_TREE").is_none(),
            "OPT_DIST_REQUIRE_REAL_TREE is set but OPT_DIST_REAL_TREE is not"
        );
        eprintln!("skipped: OPT_DIST_REAL_TREE is not set");
        return;
    };
    // In the tree's own build dir, where bootstrap is already built (as the contract suite
    // runs it); `plan` writes only the answers it caches under `build/opt-dist`.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["opt-dist", "--src"])
        .arg(Path::new(&real))
        .args(["plan", "all"])
        .output()
        .unwrap();
    assert_success(&out, "plan all on the real tree");
    let plan = String::from_utf8(out.stdout).unwrap();
    let collectors = collector_lines(&plan);
    assert!(!collectors.is_empty(), "{plan}");
    assert!(collectors.iter().all(|l| !l.contains("--jobs")), "{plan}");
    assert!(!plan.contains("clippy"), "{plan}");
    assert!(plan.contains("passes no --jobs"), "{plan}");
}
