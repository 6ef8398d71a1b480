//! Every profile fits the binary built or optimized with it: a build with a profile of another
//! release, or of another binary, stops (or, with `--allow-stale`, warns and records it).

use crate::common;

use std::path::Path;

use common::{assert_success, stderr, MiniTree, Snapshot};

/// Puts `with` in place of a stage's profile, and makes its manifest list it, as a stage
/// directory copied by hand would (import refuses most of these before any build).
fn replace_profile(tree: &MiniTree, stage: &str, with: &Path) {
    let manifest_path = tree.stage_dir(stage).join("manifest.json");
    let mut manifest = tree.manifest(stage);
    let output = &mut manifest["outputs"][0];
    let profile = tree.stage_dir(stage).join(output["name"].as_str().unwrap());
    std::fs::copy(with, &profile).unwrap();
    let sha256 = std::process::Command::new("sha256sum").arg(&profile).output().unwrap();
    let sha256 = String::from_utf8_lossy(&sha256.stdout);
    output["sha256"] = sha256.split_whitespace().next().unwrap().into();
    output["size"] = std::fs::metadata(&profile).unwrap().len().into();
    std::fs::write(manifest_path, manifest.to_string()).unwrap();
}

fn profile(tree: &Path, stage: &str, extension: &str, host: &str) -> std::path::PathBuf {
    tree.join(format!("build/opt-dist/{stage}/{stage}-1.95.0-{host}.{extension}"))
}

#[test]
#[ignore = "heavy: a refused repair build, then a whole llvm-pgo: ~25 s (CI runs it)"]
fn a_previous_releases_rustc_profile_stops_the_build_unless_allowed() {
    // 1.95.1, with 1.95.0's rustc profile: symbol names carry a hash of the release.
    let tree = MiniTree::new("fit-previous-release", "legacy");
    std::fs::write(tree.root.join("version"), "1.95.1\n").unwrap();
    let old = profile(&Snapshot::RustcPgo.path(), "rustc-pgo", "profdata", &tree.host());
    let import = ["import", old.to_str().unwrap(), "--as", "rustc-pgo", "--allow-stale"];
    assert_success(&tree.opt_dist(&import), "import --allow-stale");

    // The repair builds the compiler with it, finds it holds next to nothing of it, and stops.
    let out = tree.opt_dist(&["llvm-pgo"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for said in ["librustc_driver-", "too little for the profile to fit", "another release"] {
        assert!(stderr(&out).contains(said), "{said}: {}", stderr(&out));
    }
    assert!(!tree.stage_dir("llvm-pgo").join("manifest.json").exists());

    // With --allow-stale it goes on, loudly, and the low fit stays on record.
    let out = tree.opt_dist(&["llvm-pgo", "--allow-stale"]);
    assert_success(&out, "llvm-pgo --allow-stale");
    assert!(stderr(&out).contains("WARNING (--allow-stale)"), "{}", stderr(&out));
    let fit = &tree.manifest("llvm-pgo")["fit"][0];
    let (found, functions) = (fit["found"].as_u64().unwrap(), fit["functions"].as_u64().unwrap());
    assert!(found * 100 < functions * 10 && found < fit["minimum"].as_u64().unwrap(), "{fit}");
    let status = tree.opt_dist(&["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("WARNING (--allow-stale): librustc_driver-"), "{status}");
}

#[test]
fn a_profile_of_another_binary_is_caught() {
    // rustc's PGO profile given to LLVM (import refuses it: here a stage directory copied by
    // hand): the LLVM built with it holds none of its functions.
    let tree = MiniTree::from_snapshot("fit-wrong-kind", Snapshot::Finished);
    let host = tree.host();
    replace_profile(&tree, "llvm-pgo", &profile(&tree.root, "rustc-pgo", "profdata", &host));
    let out = tree.opt_dist(&["llvm-bolt"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("libLLVM.so.22.1-rust-1.95.0-stable holds 0 of"),
        "{}",
        stderr(&out)
    );

    // libLLVM's BOLT profile given to librustc_driver: llvm-bolt matches next to nothing, and
    // the library stays as it was.
    let tree = MiniTree::from_snapshot("fit-other-library", Snapshot::Finished);
    replace_profile(&tree, "rustc-bolt", &profile(&tree.root, "llvm-bolt", "fdata", &host));
    let args = tree.with_dist_args(&["dist"], &[]);
    let out = tree.opt_dist(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("failed at step") && err.contains("BOLT-optimize librustc_driver"),
        "{err}"
    );
    assert!(
        err.contains("llvm-bolt matched rustc-bolt-") && err.contains("the other library"),
        "{err}"
    );
    assert!(err.contains("is as it was before this step"), "{err}");
}

#[test]
#[ignore = "a finished pipeline rebuilt from llvm-bolt on: ~30 s on an idle machine (CI runs it)"]
fn dist_checks_every_profile_it_built_with_and_judges_them_in_order() {
    // rustc's PGO profile in llvm-pgo's place, allowed: dist's one step of fit checks measures
    // both PGO profiles against their binaries together, and reports and records them in its
    // order, the low one as a warning.
    let tree = MiniTree::from_snapshot("fit-dist-both", Snapshot::Finished);
    let host = tree.host();
    replace_profile(&tree, "llvm-pgo", &profile(&tree.root, "rustc-pgo", "profdata", &host));
    let args = tree.with_dist_args(&["all"], &["--allow-stale"]);
    let out = tree.opt_dist(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_success(&out, "all --allow-stale");
    let err = stderr(&out);
    let dist_log = &err[err.find("==> [dist").expect("dist ran")..];
    let rustc = dist_log.find("functions of rustc-pgo-");
    let llvm = dist_log.find("libLLVM.so.22.1-rust-1.95.0-stable holds 0 of");
    assert!(rustc.is_some() && llvm.is_some() && rustc < llvm, "{dist_log}");
    assert!(dist_log.contains("WARNING (--allow-stale): libLLVM"), "{dist_log}");
    let fits = tree.manifest("dist")["fit"].as_array().unwrap().clone();
    let pgo: Vec<(&str, bool)> = fits
        .iter()
        .filter(|f| f["profile"].as_str().unwrap().ends_with(".profdata"))
        .map(|f| (f["profile"].as_str().unwrap(), f["found"].as_u64() >= f["minimum"].as_u64()))
        .collect();
    assert_eq!(pgo.len(), 2, "{fits:#?}");
    assert!(pgo[0].0.starts_with("rustc-pgo-") && pgo[0].1, "{fits:#?}");
    assert!(pgo[1].0.starts_with("llvm-pgo-") && !pgo[1].1, "{fits:#?}");
}
