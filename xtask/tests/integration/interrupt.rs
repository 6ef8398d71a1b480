//! A run stopped while a sysroot library is BOLT-instrumented must not leave it instrumented:
//! Ctrl-C puts the original back at once, and after a SIGKILL the next start does.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_success, stderr, MiniTree, Snapshot};

fn driver_library(tree: &MiniTree) -> PathBuf {
    let dir = tree.root.join(format!("build/{}/stage2/lib", tree.host()));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("librustc_driver"))
        .expect("librustc_driver in the sysroot")
}

fn is_bolt_instrumented(lib: &Path) -> bool {
    let out = Command::new("/usr/lib/llvm-22/bin/llvm-readobj").arg("--sections").arg(lib).output();
    out.is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Name: .bolt.instr")
    })
}

/// Starts `opt-dist rustc-bolt` in a process group of its own, as a terminal would.
fn start_rustc_bolt(tree: &MiniTree, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["opt-dist", "--src", tree.src(), "rustc-bolt"])
        .env_remove("OPT_DIST_SRC")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// Waits until training runs on the instrumented library.
fn wait_until_instrumented(lib: &Path, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !is_bolt_instrumented(lib) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the stage ended ({status}) before instrumenting:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "the library was never instrumented");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal_group(child: &Child, signal: &str) {
    let group = format!("-{}", child.id());
    let ok = Command::new("kill").args([signal, "--", &group]).status().unwrap();
    assert!(ok.success());
}

fn prepared_tree(name: &str) -> (MiniTree, PathBuf, Vec<u8>) {
    let tree = MiniTree::from_snapshot(name, Snapshot::RustcPgo);
    let lib = driver_library(&tree);
    let original = std::fs::read(&lib).unwrap();
    (tree, lib, original)
}

#[test]
fn ctrl_c_while_instrumented_puts_the_original_back_at_once() {
    let (tree, lib, original) = prepared_tree("interrupt-sigint");
    let log = tree.root.join("rustc-bolt.log");
    let mut child = start_rustc_bolt(&tree, &log);
    wait_until_instrumented(&lib, &mut child, &log);

    signal_group(&child, "-INT");
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(&log).unwrap();
    // As a process killed by SIGINT: 130, and the message names the interruption.
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT (Ctrl-C)"), "{err}");
    assert!(!err.contains("the collector failed"), "{err}");
    assert!(err.contains("restored the original"), "{err}");
    assert!(err.contains("stage rustc-bolt failed at step"), "{err}");
    assert!(std::fs::read(&lib).unwrap() == original, "the original library must be back");
    assert!(!tree.stage_dir("rustc-bolt").join("manifest.json").exists());
}

#[test]
fn after_a_sigkill_while_instrumented_the_next_start_restores_the_original() {
    let (tree, lib, original) = prepared_tree("interrupt-sigkill");
    let log = tree.root.join("rustc-bolt.log");
    let mut child = start_rustc_bolt(&tree, &log);
    wait_until_instrumented(&lib, &mut child, &log);

    signal_group(&child, "-KILL");
    child.wait().unwrap();
    assert!(is_bolt_instrumented(&lib), "SIGKILL leaves no chance to clean up");

    // The next run of any stage puts the original back before it does anything else.
    let out = tree.opt_dist(&["rustc-bolt"]);
    assert_success(&out, "rustc-bolt after a kill");
    let err = stderr(&out);
    let restored = err.find("restored the original").expect("restore reported");
    let first_step = err.find("==> [rustc-bolt 1/").expect("steps ran");
    assert!(restored < first_step, "restored before the first step:\n{err}");
    assert!(std::fs::read(&lib).unwrap() == original, "the original library must be back");
}
