//! Faults a packager's builder meets: a full disk during dist, an LLVM tool of the wrong major
//! version, training input that does not exist, a build dir that cannot be one. Nothing may
//! be left broken, and whatever can be known before the first x.py build is found before it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{argv, assert_success, dist_args, is_bolt_optimized, stderr, MiniTree, Snapshot};

/// The x.py calls that did work (not dry runs).
fn real_x_py_calls(tree: &MiniTree) -> Vec<Vec<String>> {
    tree.records_of("x.py")
        .iter()
        .map(argv)
        .filter(|a| !a.contains(&"--dry-run".to_string()))
        .collect()
}

/// Asserts a run refused before any x.py build, within seconds, naming `expected`.
fn assert_refused_before_building(tree: &MiniTree, out: &Output, took: Duration, expected: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(expected), "`{expected}` in:\n{err}");
    assert!(err.contains("preflight"), "found by preflight:\n{err}");
    assert!(real_x_py_calls(tree).is_empty(), "nothing was built: {:?}", real_x_py_calls(tree));
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

fn timed(f: impl FnOnce() -> Output) -> (Output, Duration) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed())
}

#[test]
fn an_llvm_profdata_of_another_major_is_refused_before_llvm_pgo_builds() {
    let tree = MiniTree::new("faults-profdata-14", "legacy");
    let (out, took) =
        timed(|| tree.opt_dist(&["--llvm-dir", "/usr/lib/llvm-14", "all", "--use-bolt", "false"]));
    assert_refused_before_building(&tree, &out, took, "the compiler's LLVM is 22");
    let (out, _) = timed(|| tree.opt_dist(&["--llvm-dir", "/usr/lib/llvm-14", "doctor"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAIL  llvm-profdata"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn training_input_that_does_not_exist_is_refused_before_the_instrumented_build() {
    let tree = MiniTree::new("faults-training", "legacy");
    for (args, expected) in [
        (vec!["rustc-pgo", "--rustc-crates", ""], "the list is empty"),
        (vec!["rustc-pgo", "--rustc-crates", "externs,no-such-benchmark"], "no-such-benchmark"),
        (
            vec!["rustc-pgo", "--benchmark-cargo-config", "/nonexistent/vendored.toml"],
            "/nonexistent/vendored.toml does not exist",
        ),
    ] {
        let (out, took) = timed(|| tree.opt_dist(&args));
        assert_refused_before_building(&tree, &out, took, expected);
    }
}

#[test]
fn a_build_dir_that_cannot_be_one_is_refused_before_anything_runs() {
    let tree = MiniTree::new("faults-build-dir", "legacy");
    let file = tree.root.join("a-file");
    std::fs::write(&file, "").unwrap();
    let (out, took) =
        timed(|| tree.opt_dist(&["--build-dir", file.to_str().unwrap(), "rustc-pgo"]));
    assert_refused_before_building(&tree, &out, took, "is not a directory");

    let out = tree.opt_dist(&["--build-dir", "", "rustc-pgo"]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {}", stderr(&out));
    assert!(stderr(&out).contains("`--build-dir` needs a value, not an empty string"));

    // Read-only: a read-only mount says no to root as well; elsewhere a mode does.
    let read_only = tree.root.join("read-only");
    std::fs::create_dir_all(&read_only).unwrap();
    let mount = Mount::read_only_tmpfs(&read_only);
    if mount.is_none() {
        Command::new("chmod").arg("555").arg(&read_only).status().unwrap();
        if is_root() {
            eprintln!("skipped the read-only case: root may write anywhere, and mount failed");
            return;
        }
    }
    let build = read_only.join("build");
    let (out, took) =
        timed(|| tree.opt_dist(&["--build-dir", build.to_str().unwrap(), "rustc-pgo"]));
    assert_refused_before_building(&tree, &out, took, "cannot write in");
    drop(mount);
}

/// In a build dir that holds an optimized compiler, the first build does not start before
/// preflight's dry runs end: a rejected dist argument leaves everything as it was.
#[test]
#[ignore = "a finished pipeline then a rejected dist: ~35 s (CI runs it)"]
fn a_rejected_dist_argument_leaves_an_optimized_build_dir_as_it_was() {
    let tree = MiniTree::from_snapshot("faults-typo-optimized", Snapshot::Finished);
    let host = tree.host();
    let (libraries, state) =
        (sysroot_libraries(&tree.root.join("build"), &host), build_state(&tree));
    let (out, took) = timed(|| tree.opt_dist(&["all", "--force", "--", "--frobnicate"]));
    assert_refused_before_building(&tree, &out, took, "unexpected argument '--frobnicate'");
    assert!(stderr(&out).contains("nothing was started"), "{}", stderr(&out));
    assert_eq!(sysroot_libraries(&tree.root.join("build"), &host), libraries);
    assert_eq!(build_state(&tree), state);
    let status = tree.opt_dist(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["stages"][0]["state"], "done", "{status:#}");
}

/// A dist that packaged another build of librustc_driver than the BOLT-optimized one is
/// refused, whether the package check ran while dist still packaged the rest or after it; a
/// dist that packages the right one passes again.
#[test]
#[ignore = "heavy: a finished pipeline, then two dists: ~35 s (CI runs it)"]
fn a_dist_that_packaged_another_library_is_refused_and_the_next_dist_passes() {
    let tree = MiniTree::from_snapshot("faults-repackaged", Snapshot::Finished);
    let dist = tree.with_dist_args(&["dist"], &[]);
    let dist: Vec<&str> = dist.iter().map(String::as_str).collect();
    let out = tree.opt_dist_with_env(&dist, &[("MINI_TREE_FAULT", "repackaged")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("librustc_driver*.so in ") && err.contains("differs from the optimized"));
    let status = tree.opt_dist(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let dist_status = status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "dist");
    let failure = &dist_status.unwrap()["failure"];
    assert!(failure["title"].as_str().unwrap().starts_with("Check the packaged compiler"));
    let out = tree.opt_dist(&dist);
    assert_success(&out, "dist after the faulty one");
    assert!(stderr(&out).contains("librustc_driver*.so in the rustc tarball is the BOLT-optimized"));
}

fn build_state(tree: &MiniTree) -> String {
    std::fs::read_to_string(tree.root.join("build/opt-dist/build-state.json")).unwrap()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A tmpfs mounted for a test (as root, as CI runs), unmounted when dropped.
struct Mount {
    dir: PathBuf,
}

impl Mount {
    fn tmpfs(dir: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount { dir: dir.to_path_buf() })
    }

    fn read_only_tmpfs(dir: &Path) -> Option<Mount> {
        Mount::tmpfs(dir, "size=1m,ro")
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df").arg("-Pk").arg(dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

fn sysroot_libraries(build: &Path, host: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = build.join(format!("{host}/stage2/lib"));
    let mut libs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("libLLVM.so") || name.starts_with("librustc_driver")
        })
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    libs.sort();
    libs
}

#[test]
#[ignore = "a finished pipeline then a dist on a full disk: ~40 s (CI runs it)"]
fn a_full_disk_during_dist_leaves_the_libraries_as_they_were() {
    let tree = MiniTree::from_snapshot("faults-disk-full", Snapshot::RustcPgo);
    let build = tree.root.join("small-disk");
    let Some(_mount) = Mount::tmpfs(&build, "size=160m") else {
        eprintln!(
            "skipped: mounting a small tmpfs needs root (CI runs as root); the full-disk case \
             was not exercised"
        );
        return;
    };
    // The build dir moves onto the small disk with its rustc-pgo stage done.
    common::copy_tree(&tree.root.join("build/."), &build);
    std::fs::remove_dir_all(tree.root.join("build")).unwrap();
    let host = tree.host();
    let build_arg = build.to_str().unwrap().to_string();
    for stage in ["llvm-pgo", "llvm-bolt", "rustc-bolt"] {
        assert_success(
            &tree.opt_dist(&["--build-dir", &build_arg, stage, "--ignore-disk-space"]),
            stage,
        );
    }
    let before = sysroot_libraries(&build, &host);
    assert_eq!(before.len(), 2);

    // Leave 10 MiB: less than BOLT's output and the rewrite need.
    let filler = build.join("filler");
    let fill = free_bytes(&build).saturating_sub(10 << 20);
    let ok =
        Command::new("fallocate").args(["-l", &fill.to_string()]).arg(&filler).status().unwrap();
    assert!(ok.success());
    let mut args = vec!["--build-dir", &build_arg, "dist", "--ignore-disk-space", "--"];
    let dist = dist_args(&host);
    args.extend(dist.iter().map(String::as_str));
    let out = tree.opt_dist(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("as it was before this step"), "{err}");
    assert!(err.contains("what to do: the disk is full"), "{err}");
    // The library whose step failed is as it was; one whose step finished before is
    // completely BOLT-optimized. Nothing is half-written.
    let failed_step = err
        .lines()
        .find(|l| l.starts_with("error: stage dist failed at step"))
        .unwrap_or_else(|| panic!("{err}"))
        .to_string();
    for (path, bytes) in &before {
        let name = path.file_name().unwrap().to_string_lossy();
        let prefix = if name.starts_with("libLLVM") { "libLLVM" } else { "librustc_driver" };
        let now = std::fs::read(path).unwrap();
        if failed_step.contains(prefix) {
            assert!(now == *bytes, "{} changed after the failed dist:\n{err}", path.display());
        } else {
            assert!(
                now == *bytes || is_bolt_optimized(path),
                "{} is neither as it was nor BOLT-optimized:\n{err}",
                path.display()
            );
        }
    }
    let leftovers: Vec<PathBuf> = std::fs::read_dir(build.join("opt-dist/dist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".bolt") || name.ends_with(".original")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let backups = build.join("opt-dist/backups");
    assert!(
        !backups.exists() || std::fs::read_dir(&backups).unwrap().next().is_none(),
        "no backup left to restore"
    );

    // With space again, dist goes through.
    std::fs::remove_file(&filler).unwrap();
    let out = tree.opt_dist(&args);
    assert_success(&out, "dist with space");
    assert!(partials(&build).is_empty(), "{:?}", partials(&build));
    for (path, _) in sysroot_libraries(&build, &host) {
        assert!(is_bolt_optimized(&path), "{}", path.display());
    }
}

/// Half-written files (`*.partial`) below the build dir's `opt-dist`.
fn partials(build: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(build.join("opt-dist"))
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect()
}
