//! Profiles that travel: a pipeline run once, its stages exported (or copied by hand), and a
//! fresh tree at another path, with another build dir, that makes an optimized dist from them
//! without training; foreign and corrupt profiles refused at import.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{
    argv, assert_optimized_rustc_tarball, assert_success, dist_args, stderr, MiniTree, Snapshot,
};

const PROFILE_STAGES: [&str; 4] = ["rustc-pgo", "llvm-pgo", "llvm-bolt", "rustc-bolt"];

fn run(tree: &MiniTree, build_dir: &Path, args: &[&str]) -> Output {
    let mut full = vec!["--build-dir", build_dir.to_str().unwrap()];
    full.extend(args);
    tree.opt_dist(&full)
}

fn all_with_dist_args(tree: &MiniTree, build_dir: &Path) -> Output {
    let host = tree.host();
    let dist = dist_args(&host);
    let mut args = vec!["all", "--"];
    args.extend(dist.iter().map(String::as_str));
    run(tree, build_dir, &args)
}

/// The tree's own x.py calls and collector runs that did work (not dry runs).
fn work_done(tree: &MiniTree) -> Vec<(String, Vec<String>)> {
    tree.records()
        .iter()
        .map(|r| (r["tool"].as_str().unwrap().to_string(), argv(r)))
        .filter(|(_, a)| !a.contains(&"--dry-run".to_string()))
        .collect()
}

/// What a fresh root with imported profiles must do: no training, no instrumented build, an
/// optimized compiler built from its own copy of the profiles, a clean BOLT-optimized dist.
fn assert_optimized_dist_without_training(tree: &MiniTree, build_dir: &Path, out: &Output) {
    let work = work_done(tree);
    assert!(work.iter().all(|(tool, _)| tool != "collector"), "no training: {work:?}");
    for flag in ["--rust-profile-generate", "--llvm-profile-generate"] {
        assert!(
            work.iter().all(|(_, a)| !a.iter().any(|x| x == flag)),
            "nothing instrumented: {work:?}"
        );
    }
    let builds: Vec<&Vec<String>> =
        work.iter().filter(|(tool, a)| tool == "x.py" && a[0] == "build").map(|(_, a)| a).collect();
    assert_eq!(builds.len(), 1, "one build makes compiler and LLVM: {builds:?}");
    let err = stderr(out);
    for stage in PROFILE_STAGES {
        assert!(
            err.contains(&format!("opt-dist: {stage}: done and current")),
            "{stage} is not run: {err}"
        );
    }

    let host = tree.host();
    // The compiler was built with this build dir's copy of the rustc profile.
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(build_dir.join(format!("{host}/stage2/mini-build.json"))).unwrap(),
    )
    .unwrap();
    let used = record["components"]["rustc_driver"]["profile_use"].as_str().unwrap();
    let own_copy =
        build_dir.join(format!("opt-dist/rustc-pgo/rustc-pgo-{}-{host}.profdata", tree.version()));
    assert_eq!(Path::new(used), own_copy, "{record:#}");
    assert_eq!(
        record["components"]["llvm"]["profile_use"].as_str().map(PathBuf::from),
        Some(
            build_dir
                .join(format!("opt-dist/llvm-pgo/llvm-pgo-{}-{host}.profdata", tree.version()))
        ),
        "{record:#}"
    );

    assert_optimized_rustc_tarball(
        &build_dir.join(format!("dist/rustc-{}-{host}.tar.xz", tree.version())),
        &build_dir.join("check-unpacked"),
    );
}

#[test]
fn a_fresh_root_at_another_path_makes_an_optimized_dist_from_imported_profiles() {
    // A: a finished pipeline.
    let a = MiniTree::from_snapshot("portable-a", Snapshot::Finished);
    let a_build = a.root.join("build");
    let exported = a.root.join("exported profiles");
    assert_success(&run(&a, &a_build, &["export", exported.to_str().unwrap()]), "export");
    for stage in PROFILE_STAGES {
        assert!(exported.join(stage).join("manifest.json").is_file(), "{stage}");
    }

    // B and C are independent of each other: they run side by side.
    std::thread::scope(|scope| {
        // B: another path with a space in it, another build dir; `import`, then `all`.
        scope.spawn(|| {
            let b = MiniTree::new("portable b", "legacy");
            let b_build = b.root.join("another-build");
            let out = run(&b, &b_build, &["import", exported.to_str().unwrap()]);
            assert_success(&out, "import");
            let status = run(&b, &b_build, &["status", "--json"]);
            let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
            for stage in &status["stages"].as_array().unwrap()[..4] {
                assert_eq!(stage["state"], "done", "{status:#}");
            }
            let out = all_with_dist_args(&b, &b_build);
            assert_success(&out, "all in B");
            assert_optimized_dist_without_training(&b, &b_build, &out);
            let imported = &b.manifest_in(&b_build, "rustc-pgo")["imported"];
            assert_eq!(imported["from"], exported.join("rustc-pgo").to_str().unwrap());
            assert_eq!(imported["differences"], serde_json::json!([]));
        });

        // C: A's stage directories copied by hand, no import.
        scope.spawn(|| {
            let c = MiniTree::new("portable-c", "legacy");
            let c_build = c.root.join("build");
            for stage in PROFILE_STAGES {
                let to = c_build.join("opt-dist").join(stage);
                std::fs::create_dir_all(&to).unwrap();
                for entry in std::fs::read_dir(a_build.join("opt-dist").join(stage)).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_file() {
                        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
                    }
                }
            }
            let out = all_with_dist_args(&c, &c_build);
            assert_success(&out, "all in C");
            assert_optimized_dist_without_training(&c, &c_build, &out);
        });

        // D: A's tree with its build dir moved elsewhere (a restored CI cache): dist knows
        // the libraries it BOLT-optimized there.
        scope.spawn(|| {
            let d = a
                .root
                .with_file_name(format!("{}-moved", a.root.file_name().unwrap().to_string_lossy()));
            let _ = std::fs::remove_dir_all(&d);
            common::copy_tree(&a.root, &d);
            let moved = MiniTree { root: d.clone() };
            let mut args = vec!["dist", "--"];
            let dist_args = dist_args(&moved.host());
            args.extend(dist_args.iter().map(String::as_str));
            let out = run(&moved, &d.join("build"), &args);
            assert_success(&out, "dist in the moved build dir");
            assert_eq!(
                stderr(&out).matches("is already optimized with this profile").count(),
                2,
                "both libraries known as optimized:\n{}",
                stderr(&out)
            );
            let _ = std::fs::remove_dir_all(&d);
        });
    });
}

#[test]
fn foreign_and_corrupt_profiles_are_refused_at_import() {
    let a = MiniTree::from_snapshot("portable-foreign-a", Snapshot::Finished);
    let a_build = a.root.join("build");
    let exported = a.root.join("exported");
    assert_success(
        &run(&a, &a_build, &["export", exported.to_str().unwrap(), "--stage", "rustc-pgo"]),
        "export --stage rustc-pgo",
    );

    // A profile of the next release: refused naming both versions, taken with --allow-stale.
    let manifest_path = exported.join("rustc-pgo/manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["tree"]["version"] = "1.96.0".into();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let b = MiniTree::new("portable-foreign-b", "legacy");
    let b_build = b.root.join("build");
    let out = run(&b, &b_build, &["import", exported.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("version: 1.96.0 there, 1.95.0 here"), "{}", stderr(&out));
    assert!(!b_build.join("opt-dist/rustc-pgo/manifest.json").exists());
    let out = run(&b, &b_build, &["import", exported.to_str().unwrap(), "--allow-stale"]);
    assert_success(&out, "import --allow-stale");
    let imported = &b.manifest_in(&b_build, "rustc-pgo")["imported"];
    assert_eq!(imported["differences"], serde_json::json!(["version: 1.96.0 there, 1.95.0 here"]));

    // A copy that is not what its manifest lists, a corrupt file, an empty one: refused.
    let profile = exported.join(format!("rustc-pgo/rustc-pgo-1.95.0-{}.profdata", a.host()));
    let good = std::fs::read(&profile).unwrap();
    std::fs::write(&profile, &good[..good.len() / 2]).unwrap();
    let out = run(&b, &b_build, &["import", exported.to_str().unwrap(), "--allow-stale"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not the file its manifest lists"), "{}", stderr(&out));
    for (name, bytes) in [("garbage.profdata", vec![7u8; 100]), ("empty.profdata", vec![])] {
        let file = a.root.join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = run(&b, &b_build, &["import", file.to_str().unwrap(), "--as", "llvm-pgo"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            stderr(&out).contains("is not a usable llvm-pgo profile"),
            "{name}: {}",
            stderr(&out)
        );
    }
    assert!(!b_build.join("opt-dist/llvm-pgo").join("manifest.json").exists());
}
