//! Where the xtask meets the outside world and must not trust it: runs started at the same
//! moment (the kernel lock), a kill at any instant (of the xtask alone, so its training
//! processes live on), a build state a killed dist left, and records of its own that are
//! garbage.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_success, dist_args, is_bolt_optimized, stderr, MiniTree, Snapshot};

/// `opt-dist --src <tree> <args>` started in a process group of its own (as a terminal would
/// start it), its stderr in `log`.
fn start(tree: &MiniTree, args: &[&str], log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["opt-dist", "--src", tree.src()])
        .args(args)
        .env_remove("OPT_DIST_SRC")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .process_group(0)
        .spawn()
        .unwrap()
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Waits until `log` holds `text`, failing if `child` ends first.
fn wait_for_log(child: &mut Child, log: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !read(log).contains(text) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ended ({status}) before `{text}`:\n{}", read(log));
        }
        assert!(Instant::now() < deadline, "no `{text}` in:\n{}", read(log));
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(pid: u32, signal: &str) {
    let ok = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

/// Whether any process of process group `group` is alive.
fn group_alive(group: u32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The process group of the (first) command the xtask runs now, as it records it for the next
/// run.
fn running_group(tree: &MiniTree) -> u32 {
    let record = tree.root.join("build/opt-dist/children.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(group) = std::fs::read(&record)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v[0]["group"].as_u64())
        {
            return group as u32;
        }
        assert!(Instant::now() < deadline, "{} never written", record.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn driver_library(tree: &MiniTree) -> PathBuf {
    let dir = tree.root.join(format!("build/{}/stage2/lib", tree.host()));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("librustc_driver"))
        .expect("librustc_driver in the sysroot")
}

fn with_dist_args<'a>(args: &[&'a str], dist: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.push("--");
    all.extend(dist.iter().map(String::as_str));
    all
}

/// The x.py calls that did work (not dry runs), from the tree's record after `since` entries.
fn x_py_calls_since(tree: &MiniTree, since: usize) -> Vec<Vec<String>> {
    tree.records()[since..]
        .iter()
        .filter(|r| r["tool"] == "x.py")
        .map(common::argv)
        .filter(|a| !a.contains(&"--dry-run".to_string()))
        .collect()
}

#[test]
fn of_simultaneous_starts_exactly_one_runs_and_a_sigkill_frees_the_lock_at_once() {
    let tree = MiniTree::from_snapshot("seams-lock", Snapshot::RustcPgo);
    for round in 0..3 {
        let logs: Vec<PathBuf> =
            (0..4).map(|i| tree.root.join(format!("round-{round}-{i}.log"))).collect();
        let mut runs: Vec<Child> =
            logs.iter().map(|log| start(&tree, &["all", "--no-preflight"], log)).collect();
        // Three are refused at once, naming the run that holds the build dir.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut refused = Vec::new();
        while refused.len() < 3 {
            for (i, run) in runs.iter_mut().enumerate() {
                if refused.contains(&i) {
                    continue;
                }
                if let Some(status) = run.try_wait().unwrap() {
                    assert_eq!(status.code(), Some(1), "{}", read(&logs[i]));
                    assert!(
                        read(&logs[i]).contains("another opt-dist run is using this build dir"),
                        "{}",
                        read(&logs[i])
                    );
                    refused.push(i);
                }
            }
            assert!(Instant::now() < deadline, "round {round}: {} refused", refused.len());
            std::thread::sleep(Duration::from_millis(10));
        }
        let winner = (0..4).find(|i| !refused.contains(i)).unwrap();
        let holder = runs[winner].id();
        for i in &refused {
            assert!(
                read(&logs[*i]).contains(&format!("pid {holder}")),
                "the refusal names the holder:\n{}",
                read(&logs[*i])
            );
        }
        // The winner got past its start: it runs the steps.
        wait_for_log(&mut runs[winner], &logs[winner], "==> [");
        // A kill -9 of the xtask alone: its x.py lives on in a process group of its own.
        let group = running_group(&tree);
        kill(holder, "-KILL");
        runs[winner].wait().unwrap();
        if round == 2 {
            // The kernel released the lock with the process: the next run takes it at once,
            // and first stops what the killed run left running.
            let out = tree.opt_dist(&["clean"]);
            assert_success(&out, "clean right after the kill");
            assert!(!group_alive(group), "group {group} still runs");
            if stderr(&out).contains("stopping the processes of a run that was killed") {
                assert!(stderr(&out).contains(&format!("process group {group}")));
            }
        }
    }
}

#[test]
fn sigterm_to_the_xtask_alone_ends_its_training_within_seconds() {
    let tree = MiniTree::from_snapshot("seams-sigterm", Snapshot::RustcPgo);
    let lib = driver_library(&tree);
    let original = std::fs::read(&lib).unwrap();
    let log = tree.root.join("rustc-bolt.log");
    let mut xtask = start(&tree, &["rustc-bolt"], &log);
    wait_for_log(&mut xtask, &log, "Executing benchmark");
    let group = running_group(&tree);

    // Export takes no lock: a finished stage goes out while another runs, the running one not.
    let exported = tree.root.join("exported");
    let export = tree.opt_dist(&["export", exported.to_str().unwrap()]);
    assert_success(&export, "export beside a run");
    let running = format!("rustc-bolt is running (in pid {}", xtask.id());
    assert!(stderr(&export).contains(&running), "{}", stderr(&export));
    assert!(exported.join("rustc-pgo/manifest.json").is_file());
    let export = tree.opt_dist(&["export", exported.to_str().unwrap(), "--stage", "rustc-bolt"]);
    assert!(!export.status.success());
    assert!(stderr(&export).contains("stage is running (in pid"), "{}", stderr(&export));
    // Into the build dir's own stage directories: refused, the stage left as it was.
    let own = tree.root.join("build/opt-dist");
    let export = tree.opt_dist(&["export", own.to_str().unwrap(), "--stage", "rustc-pgo"]);
    assert!(stderr(&export).contains("the rustc-pgo stage's own directory"), "{}", stderr(&export));
    assert!(tree.stage_dir("rustc-pgo").join("manifest.json").is_file());

    let signalled = Instant::now();
    kill(xtask.id(), "-TERM");
    let status = xtask.wait().unwrap();
    let took = signalled.elapsed();
    let err = read(&log);
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(took < Duration::from_secs(15), "the xtask waited {took:?}: {err}");
    assert!(!group_alive(group), "the collector's processes were ended");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(
        !err.contains("Finished benchmark externs (9/9)"),
        "the training was stopped, not finished: {err}"
    );
    assert_eq!(std::fs::read(&lib).unwrap(), original, "the original is back");
    let status = tree.opt_dist(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let stage =
        status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "rustc-bolt").unwrap();
    assert_eq!(stage["state"], "failed", "{status:#}");
    assert!(
        stage["failure"]["error"].as_str().unwrap().contains("interrupted by SIGTERM"),
        "{status:#}"
    );
}

#[test]
#[ignore = "heavy: a killed and a whole rustc-bolt (CI runs it)"]
fn a_kill_9_of_the_xtask_alone_leaves_no_training_for_the_next_run() {
    let tree = MiniTree::from_snapshot("seams-sigkill", Snapshot::RustcPgo);
    let lib = driver_library(&tree);
    let original = std::fs::read(&lib).unwrap();
    let log = tree.root.join("rustc-bolt.log");
    let mut xtask = start(&tree, &["rustc-bolt"], &log);
    wait_for_log(&mut xtask, &log, "Executing benchmark");
    let group = running_group(&tree);
    kill(xtask.id(), "-KILL");
    xtask.wait().unwrap();
    assert!(group_alive(group), "the training outlives a kill -9 of the xtask alone");

    let out = tree.opt_dist(&["rustc-bolt"]);
    assert_success(&out, "rustc-bolt after the kill");
    let err = stderr(&out);
    let stopped = err
        .find("stopping the processes of a run that was killed")
        .unwrap_or_else(|| panic!("{err}"));
    let first_step = err.find("==> [rustc-bolt 1/").expect("steps ran");
    assert!(stopped < first_step, "stopped before any step:\n{err}");
    assert!(!group_alive(group));
    assert!(err.contains("restored the original"), "{err}");
    assert_ne!(std::fs::read(&lib).unwrap(), Vec::<u8>::new());
    assert_eq!(
        std::fs::read(&lib).unwrap(),
        original,
        "the library is the optimized compiler again, not instrumented"
    );
}

#[test]
#[ignore = "heavy: three stages, a killed dist and two resumed ones (CI runs it)"]
fn a_dist_killed_after_its_backup_resumes_with_dist_alone_and_clean_dist_rebuilds_nothing() {
    let tree = MiniTree::from_snapshot("seams-dist-kill", Snapshot::RustcPgo);
    let host = tree.host();
    let dist = dist_args(&host);
    for stage in ["llvm-pgo", "llvm-bolt", "rustc-bolt"] {
        assert_success(&tree.opt_dist(&[stage]), stage);
    }
    // Killed right after dist backed up libLLVM, before llvm-bolt rewrote it.
    let log = tree.root.join("dist.log");
    let mut xtask = start(&tree, &with_dist_args(&["dist"], &dist), &log);
    let backups = tree.root.join("build/opt-dist/backups");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let backed_up = std::fs::read_dir(&backups).is_ok_and(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("libLLVM") && name.ends_with(".backup.json")
            })
        });
        if backed_up {
            break;
        }
        assert!(xtask.try_wait().unwrap().is_none(), "{}", read(&log));
        assert!(Instant::now() < deadline, "{}", read(&log));
        std::thread::sleep(Duration::from_millis(2));
    }
    Command::new("kill").args(["-KILL", &xtask.id().to_string()]).status().unwrap();
    xtask.wait().unwrap();

    // Nothing but dist is left to do: no repair, and the next `all` issues x.py dist alone.
    let plan = tree.plan_json(&with_dist_args(&["dist"], &dist));
    assert_eq!(plan["stages"][0]["repairs"], 0, "{plan:#}");
    let before = tree.records().len();
    let out = tree.opt_dist(&with_dist_args(&["all"], &dist));
    assert_success(&out, "all after the killed dist");
    let calls = x_py_calls_since(&tree, before);
    assert!(calls.iter().all(|a| a[0] == "dist"), "only x.py dist: {calls:?}\n{}", stderr(&out));
    let sysroot = tree.root.join(format!("build/{host}/stage2/lib"));
    for lib in std::fs::read_dir(&sysroot).unwrap() {
        let lib = lib.unwrap().path();
        let name = lib.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("libLLVM") || name.starts_with("librustc_driver") {
            assert!(is_bolt_optimized(&lib), "{}", lib.display());
        }
    }

    // On a finished build, `clean dist` then `all`: the libraries are known to be optimized
    // with these very profiles, so only x.py dist runs, in one go.
    assert_success(&tree.opt_dist(&["clean", "dist"]), "clean dist");
    let before = tree.records().len();
    let out = tree.opt_dist(&with_dist_args(&["all"], &dist));
    assert_success(&out, "all after clean dist");
    assert!(stderr(&out).contains("already optimized with this profile"));
    let calls = x_py_calls_since(&tree, before);
    assert!(calls.iter().all(|a| a[0] == "dist"), "{calls:?}");
    assert_eq!(calls.len(), 1, "{calls:?}");
}

#[test]
fn another_builds_bolt_profile_is_repaired_up_front_and_one_all_finishes() {
    let tree = MiniTree::from_snapshot("seams-other-bolt", Snapshot::Finished);
    let host = tree.host();
    let dist = dist_args(&host);
    // Another build's rustc-bolt profile: the same functions, other counts.
    let ours =
        tree.stage_dir("rustc-bolt").join(format!("rustc-bolt-{}-{host}.fdata", tree.version()));
    let text = std::fs::read_to_string(&ours).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let first = lines.iter().position(|l| l.starts_with("1 ")).expect("a branch record");
    let mut fields: Vec<String> = lines[first].split(' ').map(String::from).collect();
    let count: u64 = fields.last().unwrap().parse().unwrap();
    *fields.last_mut().unwrap() = (count + 7).to_string();
    lines[first] = fields.join(" ");
    let other = tree.root.join("other-build").join(ours.file_name().unwrap());
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(&other, lines.join("\n") + "\n").unwrap();
    assert_success(
        &tree.opt_dist(&["import", other.to_str().unwrap(), "--as", "rustc-bolt"]),
        "import another build's rustc-bolt profile",
    );

    // status and plan show the rebuild of librustc_driver before dist.
    let out = tree.opt_dist(&with_dist_args(&["status"], &dist));
    assert_success(&out, "status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("before it, `all` makes: Repair: Delete the BOLT-optimized compiler"),
        "{text}"
    );
    let plan = tree.plan_json(&with_dist_args(&["dist"], &dist));
    assert_eq!(plan["stages"][0]["repairs"], 2, "{plan:#}");

    let out = tree.opt_dist(&with_dist_args(&["all"], &dist));
    assert_success(&out, "one all after the import");
    let lib = driver_library(&tree);
    assert!(is_bolt_optimized(&lib));
    let status = tree.opt_dist(&with_dist_args(&["status", "--json"], &dist));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for stage in status["stages"].as_array().unwrap() {
        if stage["stage"] != "test" {
            assert_eq!(stage["state"], "done", "{status:#}");
            assert!(stage.get("repairs").is_none(), "{status:#}");
        }
    }
}

#[test]
#[ignore = "heavy: a killed rustc-bolt, then a rebuild of the compiler and its training (CI runs it)"]
fn backups_gone_after_a_kill_in_rustc_bolt_mean_a_rebuild_not_a_dead_end() {
    let tree = MiniTree::from_snapshot("seams-backups-gone", Snapshot::RustcPgo);
    let log = tree.root.join("rustc-bolt.log");
    let mut xtask = start(&tree, &["rustc-bolt"], &log);
    wait_for_log(&mut xtask, &log, "Executing benchmark");
    let group = running_group(&tree);
    kill(xtask.id(), "-KILL");
    xtask.wait().unwrap();
    Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status().unwrap();
    std::fs::remove_dir_all(tree.root.join("build/opt-dist/backups")).unwrap();
    let lib = driver_library(&tree);
    assert!(common::is_instrumented(&lib), "left BOLT-instrumented");

    let out = tree.opt_dist(&["rustc-bolt"]);
    assert_success(&out, "rustc-bolt with the backups gone");
    let err = stderr(&out);
    assert!(err.contains("Repair: Delete the BOLT-optimized compiler library"), "{err}");
    assert!(err.contains("not known"), "{err}");
    assert!(!err.contains("already BOLT-optimized"), "{err}");
    assert!(!common::is_instrumented(&driver_library(&tree)));
}

#[test]
fn garbage_records_of_its_own_are_set_aside_never_a_dead_end() {
    let tree = MiniTree::from_snapshot("seams-garbage", Snapshot::RustcPgo);
    let root = tree.root.join("build/opt-dist");
    std::fs::create_dir_all(root.join("backups")).unwrap();
    std::fs::write(root.join("backups/librustc_driver-x.so.backup.json"), "{garbage").unwrap();
    std::fs::write(root.join("build-state.json"), [0xff, 0x00, 0x13]).unwrap();

    let out = tree.opt_dist(&["clean"]);
    assert_success(&out, "clean with a garbage backup record");
    let err = stderr(&out);
    assert!(err.contains("librustc_driver-x.so.backup.json is unreadable"), "{err}");
    assert!(root.join("backups/librustc_driver-x.so.backup.json.corrupt").exists());

    // The unreadable build state: the compiler is not known, so the next stage that keeps it
    // rebuilds it first, and says why.
    let out = tree.opt_dist(&["plan", "llvm-pgo"]);
    assert_success(&out, "plan with a garbage build state");
    let err = stderr(&out);
    assert!(err.contains("build-state.json is not a valid record"), "{err}");
    assert!(root.join("build-state.json.corrupt").exists());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Repair: Delete the BOLT-optimized"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_success(&tree.opt_dist(&["status"]), "status");
}

#[test]
fn a_failure_that_cannot_be_recorded_is_said_to_be_one() {
    let tree = MiniTree::from_snapshot("seams-unrecorded", Snapshot::Finished);
    let dist = dist_args(&tree.host());
    // Whatever keeps failed.json from being written (a full disk, here a directory in the
    // way of its temporary file).
    let obstacle = tree.stage_dir("dist").join("failed.json.partial");
    std::fs::create_dir_all(obstacle.join("x")).unwrap();
    let out =
        tree.opt_dist_with_env(&with_dist_args(&["dist"], &dist), &[("MINI_TREE_FAULT", "dist")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("could not record the failure"));
    let status = tree.opt_dist(&with_dist_args(&["status"], &dist));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("dist        failed") && text.contains("its failure could not be written"),
        "{text}"
    );
    std::fs::remove_dir_all(&obstacle).unwrap();

    // The next success leaves no trace of it.
    assert_success(&tree.opt_dist(&with_dist_args(&["dist"], &dist)), "dist again");
    let left: Vec<String> = std::fs::read_dir(tree.stage_dir("dist"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("failed") || n.starts_with("journal"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `opt-dist --src <tree> <args>` under strace, which traces the renames of the xtask's main
/// thread (the runner's: journal, build state, backups, BOLT logs, the manifest) into `trace`;
/// with `kill_at`, strace kills the xtask (SIGKILL) as it enters that rename.
fn traced(tree: &MiniTree, args: &[&str], trace: &Path, kill_at: Option<usize>) -> Output {
    let renames = "rename,renameat,renameat2";
    let mut strace = Command::new("strace");
    strace.arg("-o").arg(trace).args(["-e", &format!("trace={renames}")]);
    if let Some(n) = kill_at {
        strace.args(["-e", &format!("inject={renames}:signal=SIGKILL:when={n}")]);
    }
    strace
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .args(["opt-dist", "--src", tree.src()])
        .args(args)
        .env_remove("OPT_DIST_SRC")
        .stdin(Stdio::null())
        .output()
        .expect("strace (ci/setup-debian.sh installs it)")
}

/// The renames in a trace `traced` wrote, in order (the last one entered when it was killed).
fn renames(trace: &Path) -> Vec<String> {
    let trace = std::fs::read_to_string(trace).unwrap();
    trace.lines().filter(|l| l.starts_with("rename")).map(String::from).collect()
}

/// Puts the tree back as it was when `pristine` was copied from it.
fn restore(tree: &MiniTree, pristine: &Path) {
    std::fs::remove_dir_all(&tree.root).unwrap();
    common::copy_tree(pristine, &tree.root);
}

#[test]
#[ignore = "a dist killed at each of its ~20 renames, each resumed: ~3 min (CI runs it)"]
fn a_dist_killed_at_any_rename_resumes_with_dist_alone() {
    let tree = MiniTree::from_snapshot("seams-dist-renames", Snapshot::RustcPgo);
    let dist = dist_args(&tree.host());
    for stage in ["llvm-pgo", "llvm-bolt", "rustc-bolt"] {
        assert_success(&tree.opt_dist(&[stage]), stage);
    }
    let pristine = tree.root.with_extension("before-dist");
    common::copy_tree(&tree.root, &pristine);
    let trace = pristine.with_extension("trace");
    let out = traced(&tree, &with_dist_args(&["dist"], &dist), &trace, None);
    assert_success(&out, "dist under strace");
    let count = renames(&trace).len();
    assert!(count >= 10, "a dist commits its state by renames: {count} seen");

    for n in 1..=count {
        restore(&tree, &pristine);
        let out = traced(&tree, &with_dist_args(&["dist"], &dist), &trace, Some(n));
        let killed_at = renames(&trace).pop().unwrap_or_default();
        assert!(!out.status.success(), "rename {n} ({killed_at}): the dist was not killed");
        let before = tree.records().len();
        let out = tree.opt_dist(&with_dist_args(&["all"], &dist));
        assert_success(&out, &format!("all after a dist killed at rename {n} ({killed_at})"));
        let calls = x_py_calls_since(&tree, before);
        assert!(
            calls.iter().all(|a| a[0] == "dist"),
            "rename {n} ({killed_at}): only x.py dist: {calls:?}\n{}",
            stderr(&out)
        );
        let status = tree.opt_dist(&with_dist_args(&["status", "--json"], &dist));
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        for stage in status["stages"].as_array().unwrap() {
            if stage["stage"] != "test" {
                assert_eq!(stage["state"], "done", "rename {n} ({killed_at}): {status:#}");
            }
        }
        assert!(is_bolt_optimized(&driver_library(&tree)), "rename {n} ({killed_at})");
    }
    std::fs::remove_dir_all(&pristine).unwrap();
}

#[test]
#[ignore = "llvm-bolt killed right after each of its moves, each resumed: ~15 s (CI runs it)"]
fn a_stage_killed_right_after_a_move_resumes_and_keeps_what_it_moved() {
    let tree = MiniTree::from_snapshot("seams-move-kill", Snapshot::RustcPgo);
    assert_success(&tree.opt_dist(&["llvm-pgo"]), "llvm-pgo");
    let pristine = tree.root.with_extension("before-llvm-bolt");
    common::copy_tree(&tree.root, &pristine);
    let stage_dir = tree.stage_dir("llvm-bolt");
    let profile = format!("llvm-bolt-{}-{}.fdata", tree.version(), tree.host());
    let kept = stage_dir.join(format!("raw-{}", profile.trim_end_matches(".fdata")));
    // The stage's two moves (its profile published, its raw profiles kept), found among the
    // renames of an undisturbed run.
    let args = ["llvm-bolt", "--keep-raw"];
    let trace = pristine.with_extension("trace");
    assert_success(&traced(&tree, &args, &trace, None), "llvm-bolt under strace");
    let renames = renames(&trace);
    let nth = |target: &Path| {
        let to = format!(", \"{}\")", target.display());
        1 + renames
            .iter()
            .position(|l| l.contains(&to))
            .unwrap_or_else(|| panic!("no rename to {}: {renames:#?}", target.display()))
    };
    for (what, moved) in [("profile", stage_dir.join(&profile)), ("raw profiles", kept.clone())] {
        // Killed as it records the move in its journal: the move is made, not recorded.
        let kill_at = nth(&moved) + 1;
        restore(&tree, &pristine);
        let out = traced(&tree, &args, &trace, Some(kill_at));
        assert!(!out.status.success(), "{what}: llvm-bolt was not killed at rename {kill_at}");
        let out = tree.opt_dist(&args);
        assert_success(&out, &format!("llvm-bolt after a kill right after its {what} moved"));
        let err = stderr(&out);
        let in_place = format!("{} is in place: an earlier run moved it there", moved.display());
        assert!(err.contains(&in_place), "{what}: {err}");
        let manifest = tree.manifest("llvm-bolt");
        assert_eq!(manifest["status"], "done", "{what}: {manifest:#}");
        let raw = &manifest["raw_profiles"][0];
        assert_eq!(raw["dir"], kept.to_str().unwrap(), "{what}: {manifest:#}");
        assert_eq!(raw["kept"], true, "{what}: {manifest:#}");
        let files = std::fs::read_dir(&kept).map(|d| d.count()).unwrap_or(0);
        assert_eq!(raw["count"], files, "{what}: the kept raw profiles are all there");
    }
    std::fs::remove_dir_all(&pristine).unwrap();
}
