//! Starting from any stage, for real: `all` resumes where a run stopped and repeats nothing
//! that is done, `status` tells each stage's state, a stage's inputs must be what their
//! producers made, the build dir's compiler is what later stages need (never an instrumented
//! one in a dist), one run at a time per build dir, and `clean`.
//!
//! The kill-in-every-stage and fault-in-every-tool matrices are `#[ignore]`d (CI runs them
//! with `--include-ignored`): each is several full pipelines.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    argv, assert_success, dist_args, elf_files, is_bolt_optimized, is_instrumented, stderr, untar,
    MiniTree, Snapshot,
};

const STAGES_BEFORE_TEST: [&str; 5] = ["rustc-pgo", "llvm-pgo", "llvm-bolt", "rustc-bolt", "dist"];

/// `opt-dist <args> -- <upstream's dist args>`.
fn with_dist_args(tree: &MiniTree, args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.push("--".to_string());
    all.extend(dist_args(&tree.host()));
    all
}

fn opt_dist(tree: &MiniTree, args: &[String], env: &[(&str, &str)]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tree.opt_dist_with_env(&args, env)
}

/// Every x.py call, dry runs included.
fn x_py_calls(tree: &MiniTree) -> usize {
    tree.records_of("x.py").len()
}

fn status_json(tree: &MiniTree, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["status", "--json"];
    full.extend(args);
    let out = opt_dist(tree, &with_dist_args(tree, &full), &[]);
    assert_success(&out, "status --json");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn state_of(status: &serde_json::Value, stage: &str) -> String {
    status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .unwrap_or_else(|| panic!("{stage} in {status:#}"))["state"]
        .as_str()
        .unwrap()
        .to_string()
}

fn stage_entry<'a>(status: &'a serde_json::Value, stage: &str) -> &'a serde_json::Value {
    status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == stage).unwrap()
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn rustc_profile(tree: &MiniTree) -> PathBuf {
    tree.stage_dir("rustc-pgo").join(format!(
        "rustc-pgo-{}-{}.profdata",
        tree.version(),
        tree.host()
    ))
}

/// The rustc dist tarball unpacked: every ELF file in it must carry no instrumentation, and
/// with BOLT its libraries must be BOLT-optimized.
fn assert_dist_is_clean(tree: &MiniTree, bolt: bool) {
    let tarball =
        tree.root.join(format!("build/dist/rustc-{}-{}.tar.xz", tree.version(), tree.host()));
    let unpacked = tree.root.join(format!("check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&unpacked);
    untar(&tarball, &unpacked);
    let files = elf_files(&unpacked);
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        assert!(!is_instrumented(file), "{} is instrumented", file.display());
        let name = file.file_name().unwrap().to_string_lossy();
        if bolt && (name.starts_with("libLLVM.so") || name.starts_with("librustc_driver")) {
            assert!(is_bolt_optimized(file), "{} is not BOLT-optimized", file.display());
        }
    }
    std::fs::remove_dir_all(&unpacked).unwrap();
}

/// Starts the xtask in a process group of its own (as a terminal would), its stderr in `log`.
fn spawn(tree: &MiniTree, args: &[String], log: &Path, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["opt-dist", "--src", tree.src()])
        .args(args)
        .env_remove("OPT_DIST_SRC")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits until `log` holds `text` (the run has reached that point).
fn wait_for(log: &Path, text: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if std::fs::read_to_string(log).is_ok_and(|l| l.contains(text)) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the run ended ({status}) before `{text}`:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "never reached `{text}`");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal_group(child: &Child, signal: &str) {
    let ok =
        Command::new("kill").args([signal, "--", &format!("-{}", child.id())]).status().unwrap();
    assert!(ok.success());
}

#[test]
fn a_finished_pipeline_is_not_run_again_and_status_tells_every_state() {
    // A finished pipeline: `all` from scratch, its calls checked against its plan.
    let tree = MiniTree::from_snapshot("resume-states", Snapshot::Finished);
    let profile = rustc_profile(&tree);
    let made = sha256sum(&profile);

    // Nothing to do: no x.py call at all, not even a dry run, and every stage says why.
    let calls = x_py_calls(&tree);
    let started = Instant::now();
    let out = opt_dist(&tree, &with_dist_args(&tree, &["all"]), &[]);
    let took = started.elapsed();
    assert_success(&out, "all again");
    assert_eq!(x_py_calls(&tree), calls, "a finished pipeline calls no x.py");
    let err = stderr(&out);
    for stage in STAGES_BEFORE_TEST {
        assert!(err.contains(&format!("opt-dist: {stage}: done and current")), "{stage}: {err}");
    }
    assert!(err.contains("every stage is done and current"), "{err}");
    assert!(took < Duration::from_secs(5), "a no-op all took {took:?}");

    // done, not-run (the test stage never ran), skipped (BOLT off skips the BOLT stages).
    let status = status_json(&tree, &[]);
    for stage in STAGES_BEFORE_TEST {
        assert_eq!(state_of(&status, stage), "done", "{status:#}");
    }
    assert_eq!(state_of(&status, "test"), "not-run");
    let outputs = &stage_entry(&status, "rustc-pgo")["outputs"];
    assert_eq!(outputs[0]["sha256"], made.as_str(), "{status:#}");
    let without_bolt = status_json(&tree, &["--use-bolt", "false"]);
    assert_eq!(state_of(&without_bolt, "rustc-bolt"), "skipped");
    assert!(stage_entry(&without_bolt, "rustc-bolt")["reason"]
        .as_str()
        .unwrap()
        .contains("BOLT is off"));

    // A host tool of another LLVM major than the one a stage used (as after an upgrade):
    // the stage is stale, and says which tool.
    let manifest_path = tree.stage_dir("llvm-pgo").join("manifest.json");
    let original_manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&original_manifest).unwrap();
    let tools = edited["tools"].as_array_mut().unwrap();
    let host_profdata = tools
        .iter_mut()
        .find(|t| t["name"] == "llvm-profdata")
        .expect("llvm-pgo records the llvm-profdata it merged with");
    host_profdata["llvm_version"] = "21.1.0".into();
    std::fs::write(&manifest_path, edited.to_string()).unwrap();
    let status = status_json(&tree, &[]);
    assert_eq!(state_of(&status, "llvm-pgo"), "stale", "{status:#}");
    let reasons = stage_entry(&status, "llvm-pgo")["reasons"].to_string();
    assert!(reasons.contains("changed its LLVM major"), "{reasons}");
    std::fs::write(&manifest_path, original_manifest).unwrap();

    // A corrupt profile: refused, with both hashes and the stage to re-run; both its maker
    // and its user are stale.
    let good = std::fs::read(&profile).unwrap();
    let garbage: Vec<u8> = (0..100u32).map(|i| (i * 37 % 251) as u8).collect();
    std::fs::write(&profile, &garbage).unwrap();
    let found = sha256sum(&profile);
    let out = tree.opt_dist(&["llvm-pgo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for expected in [found.as_str(), made.as_str(), "run `cargo xtask opt-dist rustc-pgo` again"] {
        assert!(err.contains(expected), "`{expected}` in:\n{err}");
    }
    assert!(!err.contains("==> ["), "no step ran: {err}");
    let status = status_json(&tree, &[]);
    assert_eq!(state_of(&status, "rustc-pgo"), "stale");
    assert_eq!(state_of(&status, "llvm-pgo"), "stale");
    let reasons = stage_entry(&status, "llvm-pgo")["reasons"].to_string();
    assert!(reasons.contains("rustc-pgo-"), "{reasons}");
    std::fs::write(&profile, &good).unwrap();

    // running: another process holds the kernel lock (flock(1) takes the same lock as the
    // xtask) and the file names it; `all` is refused at once, status still works.
    let lock = tree.root.join("build/opt-dist/lock");
    // --close: the lock is flock's own, and goes when flock is killed.
    let mut holder =
        Command::new("flock").arg("--close").arg(&lock).args(["sleep", "60"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Command::new("flock")
        .args(["--nonblock", "--shared"])
        .arg(&lock)
        .arg("true")
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < deadline, "flock never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(
        &lock,
        format!(
            r#"{{"pid": {}, "process_start": null, "command": "opt-dist dist", "started_at": "now", "stage": "dist"}}"#,
            holder.id()
        ),
    )
    .unwrap();
    let status = status_json(&tree, &[]);
    assert_eq!(state_of(&status, "dist"), "running", "{status:#}");
    let out = opt_dist(&tree, &with_dist_args(&tree, &["all"]), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("pid {}", holder.id())), "{}", stderr(&out));
    holder.kill().unwrap();
    holder.wait().unwrap();

    // failed: dist fails; status names the step; `all` then runs dist alone. The holder that
    // was killed left the lock free: nothing needs taking over.
    let out = opt_dist(&tree, &with_dist_args(&tree, &["dist"]), &[("MINI_TREE_FAULT", "dist")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("another opt-dist run"), "{}", stderr(&out));
    let status = status_json(&tree, &[]);
    assert_eq!(state_of(&status, "dist"), "failed", "{status:#}");
    let failure = &stage_entry(&status, "dist")["failure"];
    assert_eq!(failure["title"], "Build the dist artifacts", "{status:#}");
    assert!(failure["error"].as_str().unwrap().contains("command failed"));
    let before = tree.records().len();
    let out = opt_dist(&tree, &with_dist_args(&tree, &["all"]), &[]);
    assert_success(&out, "all after a failed dist");
    let again: Vec<Vec<String>> = tree.records()[before..]
        .iter()
        .filter(|r| r["tool"] == "x.py" || r["tool"] == "collector")
        .map(argv)
        .filter(|a| !a.contains(&"--dry-run".to_string()))
        .collect();
    assert!(again.iter().all(|a| a[0] == "dist"), "only dist runs again: {again:?}");
    assert_dist_is_clean(&tree, true);
    assert_eq!(state_of(&status_json(&tree, &[]), "dist"), "done");

    // clean: scratch goes, every stage stays done; a named stage goes with its profile.
    std::fs::create_dir_all(tree.stage_dir("rustc-pgo").join("raw-old")).unwrap();
    let out = tree.opt_dist(&["clean"]);
    assert_success(&out, "clean");
    assert!(!tree.stage_dir("rustc-pgo").join("raw-old").exists());
    assert!(!tree.root.join("build/opt-dist/rustc-perf").exists());
    assert!(profile.exists(), "clean keeps merged profiles");
    assert_eq!(state_of(&status_json(&tree, &[]), "rustc-pgo"), "done");
    let out = tree.opt_dist(&["clean", "rustc-bolt", "--and-later"]);
    assert_success(&out, "clean rustc-bolt --and-later");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("rustc-bolt") && said.contains("in all"), "{said}");
    let status = status_json(&tree, &[]);
    assert_eq!(state_of(&status, "llvm-bolt"), "done");
    for stage in ["rustc-bolt", "dist"] {
        assert_eq!(state_of(&status, stage), "not-run");
    }
}

#[test]
fn an_interrupted_rustc_pgo_never_ships_an_instrumented_compiler_and_runs_do_not_overlap() {
    let tree = MiniTree::from_snapshot("resume-instrumented", Snapshot::Finished);
    let first_counts =
        tree.manifest("rustc-pgo")["validations"][0]["total_count"].as_u64().unwrap();

    // A second run while rustc-pgo runs is refused at once, naming the first; the first
    // finishes with a full profile.
    let log = tree.root.join("first.log");
    let mut first = spawn(&tree, &["rustc-pgo".to_string()], &log, &[]);
    wait_for(&log, "==> [rustc-pgo 2/", &mut first);
    let started = Instant::now();
    let second = opt_dist(&tree, &with_dist_args(&tree, &["all"]), &[]);
    assert_eq!(second.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(stderr(&second).contains(&format!("pid {}", first.id())), "{}", stderr(&second));
    assert!(first.wait().unwrap().success(), "the first run finishes");
    let counts = tree.manifest("rustc-pgo")["validations"][0]["total_count"].as_u64().unwrap();
    assert!(
        counts * 10 >= first_counts * 9,
        "a full profile: {counts} counts, {first_counts} before"
    );

    // Ctrl-C while the instrumented compiler trains, then dist alone (without BOLT): the
    // compiler in the build dir is the instrumented one, so dist rebuilds it first.
    let log = tree.root.join("interrupted.log");
    let mut run = spawn(&tree, &["rustc-pgo".to_string()], &log, &[]);
    wait_for(&log, "] Train the instrumented rustc", &mut run);
    std::thread::sleep(Duration::from_millis(300));
    signal_group(&run, "-INT");
    assert!(!run.wait().unwrap().success());
    let out = opt_dist(&tree, &with_dist_args(&tree, &["dist", "--use-bolt", "false"]), &[]);
    assert_success(&out, "dist after an interrupted rustc-pgo");
    assert!(stderr(&out).contains("Repair: Build the PGO-optimized compiler"), "{}", stderr(&out));
    assert_dist_is_clean(&tree, false);
    // The reproducible artifacts of the earlier dist (with BOLT) are not this one's.
    let outputs = tree.manifest("dist")["outputs"].to_string();
    assert!(!outputs.contains("reproducible-artifacts"), "{outputs}");
    assert!(outputs.contains(&format!("rustc-{}", tree.version())), "{outputs}");
}

/// The process groups the xtask runs now, as it records them for the next run: (group,
/// command) once there are `count`.
fn running_groups(tree: &MiniTree, count: usize) -> Vec<(u32, String)> {
    let record = tree.root.join("build/opt-dist/children.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let groups: Vec<(u32, String)> = std::fs::read(&record)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<serde_json::Value>>(&b).ok())
            .unwrap_or_default()
            .iter()
            .map(|c| (c["group"].as_u64().unwrap() as u32, c["command"].to_string()))
            .collect();
        if groups.len() == count {
            return groups;
        }
        assert!(Instant::now() < deadline, "never {count} groups in {}", record.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn group_alive(group: u32) -> bool {
    let mut probe = Command::new("kill");
    probe.args(["-0", "--", &format!("-{group}")]).stderr(Stdio::null());
    probe.status().unwrap().success()
}

/// rustc-pgo builds the collector at the same time as the instrumented compiler. Whichever
/// fails, the other is stopped, and the next run does again only what did not finish; a
/// SIGTERM reaches both.
#[test]
fn the_collector_built_beside_the_instrumented_compiler_fails_stops_and_resumes_alone() {
    let tree = MiniTree::new("resume-alongside", "legacy");
    let all = with_dist_args(&tree, &["all"]);
    let collector = tree.root.join("src/tools/rustc-perf/collector/src/main.rs");
    let source = std::fs::read_to_string(&collector).unwrap();

    // The collector does not build: the compiler's build beside it is stopped.
    std::fs::write(&collector, format!("{source}\ncompile_error!(\"a broken rustc-perf\");\n"))
        .unwrap();
    let out = opt_dist(&tree, &all, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("failed at step 3/11: Build the rustc-perf collector"), "{err}");
    assert!(err.contains("a broken rustc-perf"), "the compiler's words: {err}");
    assert!(
        err.contains(
            "step 2 (Build the PGO-instrumented compiler), which ran at the same time, \
                      was stopped too"
        ),
        "{err}"
    );
    assert!(err.contains("the collector did not build"), "the collector's advice: {err}");
    let built = |tree: &MiniTree| {
        let calls = tree.records_of("x.py");
        calls
            .iter()
            .filter(|c| argv(c)[0] == "build" && !argv(c).contains(&"--dry-run".into()))
            .count()
    };
    assert_eq!(built(&tree), 0, "the compiler's build did not finish");

    // Fixed: both run again. A SIGTERM while they run reaches both process groups.
    std::fs::write(&collector, &source).unwrap();
    let log = tree.root.join("sigterm.log");
    let mut run = spawn(&tree, &all, &log, &[]);
    wait_for(&log, "Compiling collector", &mut run);
    let groups = running_groups(&tree, 2);
    Command::new("kill").args(["-TERM", &run.id().to_string()]).status().unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(143), "{}", std::fs::read_to_string(&log).unwrap());
    for (group, command) in &groups {
        assert!(!group_alive(*group), "{command} (group {group}) still runs");
    }

    // The compiler's build fails after the collector's finished: the collector is not built
    // again.
    let log = tree.root.join("x-py-killed.log");
    let mut run = spawn(&tree, &all, &log, &[]);
    wait_for(&log, "step 3 (Build the rustc-perf collector) done after", &mut run);
    let (x_py, _) =
        running_groups(&tree, 1).into_iter().find(|(_, c)| c.contains("python")).unwrap();
    Command::new("kill").args(["-KILL", "--", &format!("-{x_py}")]).status().unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(1));
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(err.contains("failed at step 2/11: Build the PGO-instrumented compiler"), "{err}");
    assert!(!err.contains("was stopped too"), "{err}");

    let out = opt_dist(&tree, &all, &[("MINI_TREE_FAULT", "collector")]);
    let err = stderr(&out);
    assert!(err.contains("resuming at step 2 of its own 11"), "{err}");
    assert!(
        err.contains(
            "==> [rustc-pgo 3/11] Build the rustc-perf collector (done in an earlier run)"
        ),
        "{err}"
    );
    assert_eq!(built(&tree), 1, "the compiler was built, once: {err}");
    assert!(err.contains("failed at step 5/11: Train the instrumented rustc"), "{err}");
}

/// Runs `all` in a process group, kills it with SIGKILL once the log shows `at`.
fn kill_all_at(tree: &MiniTree, args: &[String], at: &str, log: &Path) {
    let mut run = spawn(tree, args, log, &[]);
    wait_for(log, at, &mut run);
    std::thread::sleep(Duration::from_millis(200));
    signal_group(&run, "-KILL");
    run.wait().unwrap();
}

/// The x.py and collector calls since record `since`, dry runs left out.
fn calls_since(tree: &MiniTree, since: usize) -> Vec<(String, Vec<String>)> {
    tree.records()[since..]
        .iter()
        .map(|r| (r["tool"].as_str().unwrap().to_string(), argv(r)))
        .filter(|(_, a)| !a.contains(&"--dry-run".to_string()))
        .collect()
}

/// Asserts that the calls of a resumed run built nothing instrumented for the stages before
/// `stage` and trained none of them.
fn assert_earlier_stages_not_rerun(calls: &[(String, Vec<String>)], stage: &str, err: &str) {
    let position = STAGES_BEFORE_TEST.iter().position(|s| *s == stage).unwrap();
    for earlier in &STAGES_BEFORE_TEST[..position] {
        assert!(
            err.contains(&format!("opt-dist: {earlier}: done and current")),
            "{earlier} is skipped when {stage} was interrupted:\n{err}"
        );
    }
    let has = |flag: &str| calls.iter().any(|(_, a)| a.iter().any(|x| x == flag));
    if position > 0 {
        assert!(!has("--rust-profile-generate"), "rustc-pgo ran again: {calls:?}");
    }
    if position > 1 {
        assert!(!has("--llvm-profile-generate"), "llvm-pgo ran again: {calls:?}");
    }
}

#[test]
#[ignore = "a SIGKILL in every stage: five interrupted and resumed pipelines (CI runs it)"]
fn sigkill_in_every_stage_then_all_finishes_without_repeating_earlier_stages() {
    let tree = MiniTree::new("resume-sigkill", "legacy");
    assert_success(&opt_dist(&tree, &with_dist_args(&tree, &["all"]), &[]), "all");
    // Where to kill: a step inside each stage, the longest-running ones where possible.
    let kill_points = [
        ("rustc-pgo", "] Train the instrumented rustc"),
        ("llvm-pgo", "] Build the PGO-instrumented LLVM"),
        ("llvm-bolt", "BOLT-instrumented in place"),
        ("rustc-bolt", "BOLT-instrumented in place"),
        ("dist", "] Build the dist artifacts"),
    ];
    for (stage, step) in kill_points {
        let log = tree.root.join(format!("kill-{stage}.log"));
        let from = with_dist_args(&tree, &["all", "--from", stage]);
        kill_all_at(&tree, &from, step, &log);
        let since = tree.records().len();
        let out = opt_dist(&tree, &with_dist_args(&tree, &["all"]), &[]);
        assert_success(&out, &format!("all after a kill in {stage}"));
        let err = stderr(&out);
        assert_earlier_stages_not_rerun(&calls_since(&tree, since), stage, &err);
        assert_dist_is_clean(&tree, true);
    }

    // Killed after its training finished, a stage resumes after it: no training again.
    let log = tree.root.join("kill-after-training.log");
    let from = with_dist_args(&tree, &["all", "--from", "rustc-pgo"]);
    kill_all_at(&tree, &from, "] Build the PGO-optimized compiler", &log);
    let since = tree.records().len();
    let out = opt_dist(&tree, &with_dist_args(&tree, &["all"]), &[]);
    assert_success(&out, "all after a kill after training");
    assert!(stderr(&out).contains("opt-dist: rustc-pgo: resuming at step 11"), "{}", stderr(&out));
    // rustc-pgo's training is the collector run writing into its raw-profile directory.
    let trained_again: Vec<serde_json::Value> = tree.records()[since..]
        .iter()
        .filter(|r| {
            r["tool"] == "collector"
                && r["env"]["LLVM_PROFILE_FILE"].as_str().is_some_and(|f| f.contains("rustc-pgo"))
        })
        .cloned()
        .collect();
    assert!(trained_again.is_empty(), "rustc-pgo trained again: {trained_again:?}");
    assert_dist_is_clean(&tree, true);
}

/// A directory of LLVM tools that fail while `<dir>/fail` exists and the arguments contain
/// the text in it; otherwise they are the real LLVM 22 tools.
fn failing_llvm_tools(tree: &MiniTree) -> PathBuf {
    let dir = tree.root.join("failing-llvm");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    for tool in ["llvm-profdata", "llvm-bolt", "merge-fdata", "llvm-nm"] {
        let wrapper = dir.join("bin").join(tool);
        common::write_script(
            &wrapper,
            &format!(
                "#!/bin/sh\nif [ -e '{0}/fail-{tool}' ] && echo \"$*\" | grep -q \"$(cat '{0}/fail-{tool}')\"; then\n  \
                 echo 'injected failure of {tool}' >&2; exit 1\nfi\nexec {1}/{tool} \"$@\"\n",
                dir.display(),
                common::LLVM_BIN
            ),
        );
    }
    dir
}

/// Where a failure is injected: the stage, the LLVM tool that fails (and the text its
/// arguments must hold), or the tree's fault switch (`MINI_TREE_FAULT`).
type Fault<'a> = (&'a str, Option<(&'a str, &'a str)>, Option<&'a str>);

#[test]
#[ignore = "a failure in every tool: five failed and resumed pipelines (CI runs it)"]
fn a_failure_in_any_tool_then_all_finishes_without_repeating_earlier_stages() {
    let tree = MiniTree::new("resume-faults", "legacy");
    let tools = failing_llvm_tools(&tree);
    let llvm_dir = tools.display().to_string();
    let args = |extra: &[&str]| {
        let mut all = vec!["--llvm-dir", llvm_dir.as_str(), "all"];
        all.extend(extra);
        with_dist_args(&tree, &all)
    };
    assert_success(&opt_dist(&tree, &args(&[]), &[]), "all");
    // (stage, how it fails): the collector and x.py dist through the tree's fault switch,
    // the LLVM tools through wrappers that fail on that stage's files.
    let faults: [Fault; 5] = [
        ("rustc-pgo", None, Some("collector")),
        ("llvm-pgo", Some(("llvm-profdata", "llvm-pgo")), None),
        ("llvm-bolt", Some(("llvm-bolt", "libLLVM")), None),
        ("rustc-bolt", Some(("merge-fdata", "rustc-bolt")), None),
        ("dist", None, Some("dist")),
    ];
    for (stage, tool, switch) in faults {
        if let Some((tool, pattern)) = tool {
            std::fs::write(tools.join(format!("fail-{tool}")), pattern).unwrap();
        }
        let env: Vec<(&str, &str)> = switch.map(|s| ("MINI_TREE_FAULT", s)).into_iter().collect();
        let out = opt_dist(&tree, &args(&["--from", stage]), &env);
        assert_eq!(out.status.code(), Some(1), "{stage} fails:\n{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("error: stage {stage} failed at step")),
            "{stage}: {}",
            stderr(&out)
        );
        if let Some((tool, _)) = tool {
            std::fs::remove_file(tools.join(format!("fail-{tool}"))).unwrap();
        }
        let since = tree.records().len();
        let out = opt_dist(&tree, &args(&[]), &[]);
        assert_success(&out, &format!("all after a failure in {stage}"));
        assert_earlier_stages_not_rerun(&calls_since(&tree, since), stage, &stderr(&out));
        assert_dist_is_clean(&tree, true);
    }
}
