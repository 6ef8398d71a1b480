//! Contract tests against the real rustc 1.95.0 source tree: every x.py command we plan must be
//! accepted by the tree's real bootstrap, must make bootstrap pass the profile flags on to the
//! compiler build, and a bad dist argument must be stopped by preflight before any stage runs.
//!
//! They run when `OPT_DIST_REAL_TREE` names a tree prepared by `ci/prepare-real-tree.sh`
//! (`.ci/run` provides it). Elsewhere they print why they were skipped, unless
//! `OPT_DIST_REQUIRE_REAL_TREE=1` makes a missing tree a failure (as in CI).
//!
//! Nothing here builds a compiler: bootstrap is only ever run with `--dry-run` (a fraction of a
//! second, writing only below `build/tmp-dry-run`), and the xtask only with `plan`, `doctor`, or
//! a run that preflight must reject. The one cargo build is section 6's: the xtask installed
//! into a copy of the tree, and bootstrap, which the copy compiles afresh at its first dry run
//! (under [`BUILD_LIMIT`]). Every process is started in its own process group and the
//! group is killed at a time limit ([`HARD_LIMIT`] for the runs preflight must reject), so a
//! mistake cannot turn into a real compiler build of the cached tree. Runs that must be
//! rejected also get a python that refuses any x.py call without `--dry-run`
//! ([`Scratch::guard_python`]).
//!
//! The tree configures an external LLVM (`target.<host>.llvm-config`), so by default the xtask
//! plans no LLVM stages. The LLVM stages' commands are covered by pointing the xtask and
//! bootstrap (both read `RUST_BOOTSTRAP_CONFIG`) at a copy of the tree's `bootstrap.toml`
//! without `llvm-config` ([`InTreeLlvm`]).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const HOST: &str = "x86_64-unknown-linux-gnu";

/// Upstream CI's arguments for the final `x.py dist`.
const DIST_ARGS: &[&str] =
    &["--host", HOST, "--target", HOST, "--include-default-paths", "build-manifest", "bootstrap"];

/// The option sets whose plans must be accepted by bootstrap.
const OPTION_SETS: &[&[&str]] = &[
    &[],
    &["--use-bolt", "true"],
    &["--use-bolt", "false"],
    &["--build-llvm", "false"],
    &["--llvm-shared", "false"],
    &["--try-build"],
    &["--run-tests"],
];

/// A run of the xtask that could start real work if preflight failed to stop it is killed,
/// with its whole process group, after this long.
const HARD_LIMIT: Duration = Duration::from_secs(20);

/// The limit for everything else: bootstrap's dry runs, `plan` and `doctor` cannot build
/// anything, but under load they may wait for bootstrap's build-dir lock behind the dry runs
/// of the other tests; the limit only guards against a hang.
const DRY_RUN_LIMIT: Duration = Duration::from_secs(60);

fn real_tree(test: &str) -> Option<PathBuf> {
    match std::env::var_os("OPT_DIST_REAL_TREE") {
        Some(tree) => {
            let tree = PathBuf::from(tree);
            assert!(
                tree.join("x.py").is_file(),
                "OPT_DIST_REAL_TREE={} is not a rust source tree (no x.py)",
                tree.display()
            );
            Some(tree)
        }
        None => {
            assert!(
                std::env::var_os("OPT_DIST_REQUIRE_REAL_TREE").is_none(),
                "OPT_DIST_REQUIRE_REAL_TREE is set but OPT_DIST_REAL_TREE is not"
            );
            eprintln!(
                "skipped {test}: OPT_DIST_REAL_TREE is not set (prepare a tree with \
                 ci/prepare-real-tree.sh and export its path)"
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running processes with a hard limit

struct Ran {
    /// `None` when the process group was killed at its time limit.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Ran {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn both(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn describe(&self) -> String {
        let status = match self.status {
            Some(status) => format!("{status}"),
            None => "killed at its time limit".to_string(),
        };
        let tail = |text: &str| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        };
        format!(
            "{status} in {:.1?}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            self.elapsed,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

/// Runs `cmd` with [`DRY_RUN_LIMIT`].
fn run_bounded(cmd: Command) -> Ran {
    run_within(cmd, DRY_RUN_LIMIT)
}

/// Runs `cmd` in a process group of its own, killing the whole group (bootstrap, cargo, rustc
/// and all) if it is still running after `limit`.
fn run_within(mut cmd: Command, limit: Duration) -> Ran {
    cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            // The child is not reaped yet, so its id still names the group it leads. procps'
            // kill, since dash's builtin takes no negative (group) ids.
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Output ends once every process of the group has closed it.
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    Ran { status, stdout, stderr, elapsed: started.elapsed() }
}

/// The safety net of every test here: a process that outlives its limit is killed with
/// everything it started (runs without the real tree).
#[test]
fn the_hard_limit_kills_the_whole_process_group() {
    let mut cmd = Command::new("sh");
    // A grandchild that would outlive a kill of the shell alone, and keep the pipes open.
    cmd.arg("-c").arg("sleep 60 & echo $!; wait");
    let ran = run_within(cmd, Duration::from_millis(500));
    assert!(ran.status.is_none(), "{}", ran.describe());
    assert!(ran.elapsed < Duration::from_secs(10), "{}", ran.describe());
    let grandchild = ran.stdout.trim();
    // Killed: gone, or a zombie until its new parent reaps it (a killed process can show as
    // running for a moment while it exits).
    let state = || {
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        stat.rsplit(") ").next().and_then(|rest| rest.chars().next())
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while matches!(state(), Some(s) if s != 'Z' && s != 'X') && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        matches!(state(), None | Some('Z' | 'X')),
        "sleep {grandchild} survived: {:?}",
        state()
    );
}

/// `cargo xtask opt-dist --src <tree> <args>` (the built binary, as `cargo xtask` runs it),
/// killed after `limit`.
fn opt_dist_within(tree: &Path, args: &[&str], env: &[(String, String)], limit: Duration) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["opt-dist", "--src", tree.to_str().unwrap()]).args(args).env_remove("OPT_DIST_SRC");
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    run_within(cmd, limit)
}

/// `opt-dist` for commands that run nothing but dry runs: `plan`, `doctor`.
fn opt_dist(tree: &Path, args: &[&str], env: &[(String, String)]) -> Ran {
    opt_dist_within(tree, args, env, DRY_RUN_LIMIT)
}

/// `opt-dist plan all --format <format> <options> -- <upstream's dist args>`.
fn plan_all(tree: &Path, format: &str, options: &[&str], env: &[(String, String)]) -> String {
    let args = [&["plan", "all", "--format", format], options, &["--"], DIST_ARGS].concat();
    let ran = opt_dist(tree, &args, env);
    assert!(ran.ok(), "plan {args:?} failed: {}", ran.describe());
    ran.stdout
}

// ---------------------------------------------------------------------------------------------
// Scratch files: a guard python, and a configuration with an in-tree LLVM

/// A private directory below the system temp dir, removed when dropped unless the test failed.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir()
            .join("opt-dist-real-tree-tests")
            .join(format!("{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A python for `--python` that passes on only dry runs and version probes: a run that
    /// preflight fails to stop gets exit 97 from its first real x.py call instead of a
    /// compiler build.
    fn guard_python(&self) -> PathBuf {
        self.script(
            "guard-python",
            "for a in \"$@\"; do case \"$a\" in --dry-run|--version) exec python3 \"$@\";; esac; done\n\
             echo \"guard-python: refusing a real x.py run: $*\" >&2\nexit 97\n",
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The tree as if it built its own LLVM: a copy of its `bootstrap.toml` without the
/// `llvm-config` line, named by `RUST_BOOTSTRAP_CONFIG` (read by the xtask, by x.py's python
/// part and by bootstrap itself), so the xtask plans the LLVM stages and bootstrap plans an
/// LLVM build.
///
/// Bootstrap's sanity check then insists on `cmake` and `ninja` on PATH before it plans
/// anything, even with `--dry-run` ("Couldn't find required command: cmake"), and this machine
/// has neither. Stand-ins put first on PATH satisfy the check (a dry run never runs them) and
/// fail if anything ever did run them, so no LLVM build can start. The tree has no LLVM
/// sources, and bootstrap's dry run does not look for them.
struct InTreeLlvm {
    scratch: Scratch,
    config: PathBuf,
}

impl InTreeLlvm {
    fn new(tree: &Path, name: &str) -> InTreeLlvm {
        let scratch = Scratch::new(name);
        let original = std::fs::read_to_string(tree.join("bootstrap.toml")).unwrap();
        assert!(
            original.contains("llvm-config"),
            "the real tree is expected to configure an external LLVM"
        );
        let copy: String = original
            .lines()
            .filter(|l| !l.trim_start().starts_with("llvm-config"))
            .map(|l| format!("{l}\n"))
            .collect();
        let config = scratch.dir.join("bootstrap.toml");
        std::fs::write(&config, copy).unwrap();
        std::fs::create_dir_all(scratch.dir.join("bin")).unwrap();
        for tool in ["cmake", "ninja"] {
            scratch.script(
                &format!("bin/{tool}"),
                &format!(
                    "echo \"{tool} stand-in of the real-tree tests: never runs\" >&2\nexit 1\n"
                ),
            );
        }
        InTreeLlvm { scratch, config }
    }

    fn env(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            self.scratch.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            ("RUST_BOOTSTRAP_CONFIG".to_string(), self.config.display().to_string()),
            ("PATH".to_string(), path),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// The x.py lines of a `plan --format sh` script

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct XPyLine {
    stage: String,
    /// The directory the script's last `cd` established.
    cwd: String,
    /// The shell line as the script has it (env assignments, python, x.py, arguments).
    line: String,
}

impl XPyLine {
    /// `build`, `dist`, `test`: the word after `…/x.py`.
    fn subcommand(&self) -> &str {
        let mut words = self.line.split_whitespace();
        words.find(|w| w.ends_with("/x.py"));
        words.next().unwrap_or("")
    }
}

fn x_py_lines(script: &str) -> Vec<XPyLine> {
    let mut stage = String::new();
    let mut cwd = String::from(".");
    let mut lines = Vec::new();
    for line in script.lines() {
        if let Some(header) = line.strip_prefix("# == ") {
            stage = header.split(':').next().unwrap_or("").to_string();
        } else if let Some(dir) = line.strip_prefix("cd ") {
            cwd = dir.to_string();
        } else if !line.starts_with('#') && line.contains("/x.py ") {
            lines.push(XPyLine { stage: stage.clone(), cwd: cwd.clone(), line: line.to_string() });
        }
    }
    lines
}

/// `--set pgo.…` settings (the `[pgo]` table, which bootstrap 1.95.0 rejects) among `words`.
fn pgo_table_settings<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let words: Vec<&str> = words.into_iter().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "--set" && w[1].trim_start_matches(['\'', '"']).starts_with("pgo."))
        .map(|w| w[1].to_string())
        .collect()
}

/// Runs a planned x.py line with `extra` and ` --dry-run` appended, in its directory.
fn dry_run(line: &XPyLine, extra: &str, env: &[(String, String)]) -> Ran {
    let sub = line.subcommand();
    assert!(
        matches!(sub, "build" | "dist" | "test"),
        "unexpected x.py command `{sub}` in the plan: {}",
        line.line
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("cd {} && {} {extra} --dry-run", line.cwd, line.line));
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    run_bounded(cmd)
}

/// Dry runs and plans at a time. Bootstrap holds a lock on the build dir while it plans, but
/// python's start, x.py's check that bootstrap is built and the xtask's own work overlap.
const WORKERS: usize = 3;

/// `f` over `items` on [`WORKERS`] threads; the results in the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else {
                    break;
                };
                let result = f(item);
                results.lock().unwrap()[i] = Some(result);
            });
        }
    });
    results.into_inner().unwrap().into_iter().map(|r| r.expect("every item was mapped")).collect()
}

/// The tree's own configuration plus `build.compiletest-allow-stage0`, written once, standing in
/// for the configuration the test stage writes when it runs.
fn test_config(tree: &Path) -> String {
    let path = std::env::temp_dir()
        .join(format!("opt-dist-real-tree-test-config-{}.toml", std::process::id()));
    if !path.exists() {
        let own = std::fs::read_to_string(tree.join("bootstrap.toml")).unwrap();
        let with_stage0_tests =
            own.replacen("[build]\n", "[build]\ncompiletest-allow-stage0 = true\n", 1);
        assert_ne!(own, with_stage0_tests, "the tree's bootstrap.toml has a [build] table");
        let partial = path.with_extension("partial");
        std::fs::write(&partial, with_stage0_tests).unwrap();
        std::fs::rename(&partial, &path).unwrap();
    }
    path.display().to_string()
}

/// `line` with its RUST_BOOTSTRAP_CONFIG assignment pointing at `config`.
fn with_test_config(line: &XPyLine, config: &str) -> XPyLine {
    let words: Vec<String> = line
        .line
        .split(' ')
        .map(|w| match w.strip_prefix("RUST_BOOTSTRAP_CONFIG=") {
            Some(_) => format!("RUST_BOOTSTRAP_CONFIG={config}"),
            None => w.to_string(),
        })
        .collect();
    assert!(
        words.iter().any(|w| w.starts_with("RUST_BOOTSTRAP_CONFIG=")),
        "the test stage points bootstrap at its configuration: {}",
        line.line
    );
    XPyLine { line: words.join(" "), ..line.clone() }
}

/// The planned x.py lines of every option set, and what bootstrap printed for each line that
/// was dry-run.
struct Accepted {
    per_set: Vec<(&'static [&'static str], Vec<XPyLine>)>,
    output: BTreeMap<XPyLine, String>,
}

/// Plans `all --format sh` for every option set, then dry-runs every distinct x.py line of the
/// stages in `stages` (every stage when `None`), and fails listing every line bootstrap
/// rejected.
fn assert_plans_accepted(
    tree: &Path,
    env: &[(String, String)],
    stages: Option<&[&str]>,
) -> Accepted {
    let started = Instant::now();
    let scripts = parallel_map(OPTION_SETS, |options| plan_all(tree, "sh", options, env));
    let planned = started.elapsed();
    let mut per_set = Vec::new();
    let mut distinct: BTreeSet<(XPyLine, &str)> = BTreeSet::new();
    for (options, script) in OPTION_SETS.iter().zip(&scripts) {
        let lines = x_py_lines(script);
        let settings = pgo_table_settings(script.split_whitespace());
        assert!(
            settings.is_empty(),
            "{options:?}: the [pgo] table is planned for a legacy tree: {settings:?}"
        );
        let subs: Vec<&str> = lines.iter().map(XPyLine::subcommand).collect();
        assert!(
            subs.iter().filter(|s| **s == "build").count() >= 2 && subs.contains(&"dist"),
            "{options:?}: the instrumented and optimized builds and the dist are expected:\n{script}"
        );
        assert_eq!(
            subs.contains(&"test"),
            options.contains(&"--run-tests"),
            "{options:?}: x.py test is expected exactly with --run-tests:\n{script}"
        );
        for line in &lines {
            if stages.is_some_and(|stages| !stages.contains(&line.stage.as_str())) {
                continue;
            }
            let (line, extra) = if line.subcommand() == "test" {
                // The test stage runs `x.py test --stage 0` with RUST_BOOTSTRAP_CONFIG pointing
                // at a configuration it writes only then, making the unpacked dist toolchain
                // stage 0 (build.rustc/cargo, local-rebuild, compiletest-allow-stage0, channel,
                // lld = false). There is no dist toolchain here, so the line is dry-run under
                // the tree's own configuration plus compiletest-allow-stage0 (without it
                // bootstrap refuses any stage 0 test before planning it); the tree's stage 0
                // (the 1.95.0 toolchain) stands in for the dist toolchain.
                (with_test_config(line, &test_config(tree)), "")
            } else {
                (line.clone(), "")
            };
            distinct.insert((line, extra));
        }
        per_set.push((*options, lines));
    }

    let distinct: Vec<(XPyLine, &str)> = distinct.into_iter().collect();
    let runs = parallel_map(&distinct, |(line, extra)| dry_run(line, extra, env));
    let mut rejected = Vec::new();
    let mut output = BTreeMap::new();
    for ((line, extra), ran) in distinct.iter().zip(runs) {
        if ran.ok() {
            output.insert(line.clone(), ran.both());
        } else {
            rejected.push(format!(
                "[{}] cd {} && {} {extra} --dry-run\n{}",
                line.stage,
                line.cwd,
                line.line,
                ran.describe()
            ));
        }
    }
    eprintln!(
        "{} plans in {planned:.1?}, {} distinct x.py lines dry-run in {:.1?}",
        OPTION_SETS.len(),
        distinct.len(),
        started.elapsed() - planned
    );
    assert!(
        rejected.is_empty(),
        "real bootstrap rejected {} planned command(s):\n\n{}",
        rejected.len(),
        rejected.join("\n\n")
    );
    Accepted { per_set, output }
}

// ---------------------------------------------------------------------------------------------
// 1. Every planned x.py command is accepted by real bootstrap

#[test]
fn planned_commands_of_every_option_set_are_accepted_by_real_bootstrap() {
    let Some(tree) =
        real_tree("planned_commands_of_every_option_set_are_accepted_by_real_bootstrap")
    else {
        return;
    };
    let accepted = assert_plans_accepted(&tree, &[], None);
    // With the tree's external LLVM there is no LLVM of ours to instrument or BOLT.
    for (options, lines) in &accepted.per_set {
        assert!(
            lines.iter().all(|l| !l.line.contains("--llvm-profile-")),
            "{options:?}: LLVM profile flags planned for an external LLVM: {lines:#?}"
        );
    }
}

#[test]
fn planned_llvm_stage_commands_are_accepted_with_an_in_tree_llvm() {
    let Some(tree) = real_tree("planned_llvm_stage_commands_are_accepted_with_an_in_tree_llvm")
    else {
        return;
    };
    let llvm = InTreeLlvm::new(&tree, "in-tree-llvm");
    let env = llvm.env();
    // The stages whose x.py commands exist or change only with an in-tree LLVM. The rustc-pgo
    // commands read the same with either LLVM and are dry-run by the test above; x.py test is
    // run under the test stage's own configuration, which always names an llvm-config.
    let accepted = assert_plans_accepted(&tree, &env, Some(&["llvm-pgo", "llvm-bolt", "dist"]));

    // The coverage this test exists for: the LLVM stages are planned, with their flags.
    let (_, default) = &accepted.per_set[0];
    let of =
        |stage: &str| -> Vec<&XPyLine> { default.iter().filter(|l| l.stage == stage).collect() };
    let instrumented = of("llvm-pgo");
    assert_eq!(instrumented.len(), 1, "{default:#?}");
    let instrumented = instrumented[0];
    for needed in ["--llvm-profile-generate", "--keep-stage 0 --keep-stage 1", "LLVM_PROFILE_DIR="]
    {
        assert!(instrumented.line.contains(needed), "{needed}: {}", instrumented.line);
    }
    let bolt = of("llvm-bolt");
    assert_eq!(bolt.len(), 1, "{default:#?}");
    for needed in
        ["--set llvm.ldflags=-Wl,-q", "--llvm-profile-use", "--keep-stage 0 --keep-stage 1"]
    {
        assert!(bolt[0].line.contains(needed), "{needed}: {}", bolt[0].line);
    }
    let dist = of("dist");
    assert!(dist.len() == 1 && dist[0].line.contains("--llvm-profile-use"), "{default:#?}");

    // Bootstrap did read the copy: it planned an LLVM build for the instrumented LLVM.
    let printed = &accepted.output[instrumented];
    assert!(
        printed.contains(&format!("Building LLVM for {HOST}")),
        "bootstrap should plan an LLVM build under {}:\n{printed}",
        llvm.config.display()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Bootstrap passes the profile flags on to the stage-2 rustc build

/// The x.py build commands of the rustc-pgo stage (instrumented, then optimized), the raw
/// profile directory the stage expects its training to fill, and the profile it publishes.
struct RustcPgoPlan {
    builds: Vec<serde_json::Value>,
    raw_dir: String,
    profile: String,
}

fn rustc_pgo_plan(tree: &Path, options: &[&str]) -> RustcPgoPlan {
    let args = [&["plan", "rustc-pgo", "--format", "json"], options].concat();
    let ran = opt_dist(tree, &args, &[]);
    assert!(ran.ok(), "plan {args:?}: {}", ran.describe());
    let plan: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let stage = &plan["stages"][0];
    let steps = stage["steps"].as_array().unwrap();
    let builds: Vec<serde_json::Value> = steps
        .iter()
        .flat_map(common::step_actions)
        .filter_map(|action| action.get("cmd"))
        .filter(|cmd| {
            let argv = cmd["argv"].as_array().unwrap();
            argv.len() > 2 && argv[1].as_str().unwrap().ends_with("x.py") && argv[2] == "build"
        })
        .cloned()
        .collect();
    assert_eq!(builds.len(), 2, "instrumented and optimized builds: {plan:#}");
    let raw_dir = steps
        .iter()
        .find(|s| s["action"]["kind"] == "expect-raw-profiles")
        .and_then(|s| s["action"]["dir"].as_str())
        .unwrap_or_else(|| panic!("no raw-profile check in {plan:#}"))
        .to_string();
    let profile = stage["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "rustc-pgo-profile")
        .and_then(|o| o["path"].as_str())
        .unwrap_or_else(|| panic!("no rustc profile among the outputs of {plan:#}"))
        .to_string();
    RustcPgoPlan { builds, raw_dir, profile }
}

/// `cmd` (a plan's `{argv, env, cwd}`) with ` -vv --dry-run`: the `running:` line of the cargo
/// build of the stage-2 compiler (target dir `…/<host>/stage2-rustc`, built by the stage-1
/// compiler), which shows its environment and RUSTFLAGS.
fn stage2_rustc_build(cmd: &serde_json::Value) -> String {
    let argv: Vec<&str> =
        cmd["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let mut command = Command::new(argv[0]);
    command.args(&argv[1..]).args(["-vv", "--dry-run"]).current_dir(cmd["cwd"].as_str().unwrap());
    for (k, v) in cmd["env"].as_object().unwrap() {
        command.env(k, v.as_str().unwrap());
    }
    let ran = run_bounded(command);
    assert!(ran.ok(), "{argv:?} -vv --dry-run: {}", ran.describe());
    let target_dir = format!("/{HOST}/stage2-rustc\"");
    let builds: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("running: ") && l.contains(&target_dir))
        .collect();
    assert_eq!(
        builds.len(),
        1,
        "one cargo build of the stage-2 compiler expected in the -vv output of {argv:?}:\n{}",
        ran.describe()
    );
    builds[0].to_string()
}

/// `flag` as a whole word of a `-vv` line (followed by a space or the closing quote).
fn has_word(line: &str, flag: &str) -> bool {
    line.match_indices(flag).any(|(i, _)| {
        let before = line[..i].chars().last();
        let after = line[i + flag.len()..].chars().next();
        matches!(before, Some(' ' | '"')) && matches!(after, None | Some(' ' | '"'))
    })
}

#[test]
fn profile_flags_and_bolt_settings_reach_the_stage2_rustc_build() {
    let Some(tree) = real_tree("profile_flags_and_bolt_settings_reach_the_stage2_rustc_build")
    else {
        return;
    };
    const BOLT_LINK: &str = "RUSTC_BOLT_LINK_FLAGS=\"1\"";
    // (options, BOLT on): BOLT is on by default on x86_64 Linux.
    let cases: &[(&[&str], bool)] = &[(&[], true), (&["--use-bolt", "false"], false)];
    let plans = parallel_map(cases, |(options, _)| rustc_pgo_plan(&tree, options));
    let builds: Vec<&serde_json::Value> = plans.iter().flat_map(|p| &p.builds).collect();
    let printed = parallel_map(&builds, |cmd| stage2_rustc_build(cmd));
    for (((options, bolt), plan), printed) in cases.iter().zip(&plans).zip(printed.chunks(2)) {
        let [instrumented, optimized] = printed else { unreachable!("two builds per plan") };

        let generate = format!("-Cprofile-generate={}", plan.raw_dir);
        assert!(
            has_word(instrumented, &generate),
            "{options:?}: the instrumented stage-2 rustc build lacks {generate}:\n{instrumented}"
        );
        assert!(!instrumented.contains("-Cprofile-use"), "{options:?}: {instrumented}");
        assert!(
            !instrumented.contains(BOLT_LINK),
            "{options:?}: only the optimized compiler is linked for BOLT:\n{instrumented}"
        );

        let use_ = format!("-Cprofile-use={}", plan.profile);
        assert!(
            has_word(optimized, &use_),
            "{options:?}: the optimized stage-2 rustc build lacks {use_}:\n{optimized}"
        );
        assert!(!optimized.contains("-Cprofile-generate"), "{options:?}: {optimized}");
        assert_eq!(
            optimized.contains(BOLT_LINK),
            *bolt,
            "{options:?}: {BOLT_LINK} expected exactly when BOLT is on:\n{optimized}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Preflight rejects bad dist arguments with bootstrap's own message, within seconds, before
// any training, profile or library

#[test]
fn bad_dist_arguments_are_rejected_by_preflight_before_any_stage() {
    let Some(tree) = real_tree("bad_dist_arguments_are_rejected_by_preflight_before_any_stage")
    else {
        return;
    };
    let scratch = Scratch::new("preflight");
    let python = scratch.guard_python();
    let root = tree.join("build/opt-dist");
    let manifest = root.join("rustc-pgo/manifest.json");
    let manifest_before = std::fs::metadata(&manifest).and_then(|m| m.modified()).ok();
    // Once bootstrap has run in the build dir, its dry runs go on beside the first build, which
    // a rejection stops: what that leaves (the stage's journal and failure, the build state, the
    // collector's target dir) goes again, so the shared tree stays as other tests expect it.
    let left: Vec<PathBuf> = ["rustc-pgo", "build-state.json", "rustc-perf"]
        .iter()
        .map(|name| root.join(name))
        .filter(|path| !path.exists())
        .collect();
    for (bad, bootstrap_says) in [
        (&["--frobnicate"][..], "unexpected argument '--frobnicate'"),
        (&["--set", "rust.no-such-key=1"], "unknown field `no-such-key`"),
    ] {
        // Free disk on a small machine may be below the full-size estimate, and that check
        // would stop the run before bootstrap is asked: this test is about bootstrap's answer.
        // The guard python turns any x.py call without --dry-run into exit 97.
        let args = [
            &["--python", python.to_str().unwrap(), "all", "--ignore-disk-space", "--"][..],
            DIST_ARGS,
            bad,
        ]
        .concat();
        let ran = opt_dist_within(&tree, &args, &[], HARD_LIMIT);
        for path in &left {
            let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
        }
        let what = format!("opt-dist all -- … {bad:?}");
        assert!(ran.status.is_some(), "{what} was still running: {}", ran.describe());
        assert_eq!(ran.status.unwrap().code(), Some(1), "{what}: {}", ran.describe());
        assert!(
            ran.elapsed < Duration::from_secs(10),
            "{what}: rejected only after {:.1?}",
            ran.elapsed
        );
        assert!(
            ran.stderr.contains("preflight") && ran.stderr.contains(bootstrap_says),
            "{what}: preflight should reject it with bootstrap's message `{bootstrap_says}`: {}",
            ran.describe()
        );
        assert!(!ran.stderr.contains("] Train "), "{what}: training started: {}", ran.describe());
        let refused: Vec<&str> =
            ran.stderr.lines().filter(|l| l.contains("refusing a real x.py run")).collect();
        assert!(
            refused.iter().all(|l| l.contains("x.py build ")),
            "{what}: a real x.py run other than the first build was attempted: {}",
            ran.describe()
        );
        assert_eq!(
            std::fs::metadata(&manifest).and_then(|m| m.modified()).ok(),
            manifest_before,
            "{what}: {} was written",
            manifest.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. The tree's bootstrap has the legacy interface, and no plan uses the [pgo] table

#[test]
fn real_1_95_tree_is_detected_as_legacy() {
    let Some(tree) = real_tree("real_1_95_tree_is_detected_as_legacy") else {
        return;
    };
    let llvm = InTreeLlvm::new(&tree, "legacy");
    let mut flags_seen = BTreeSet::new();
    for (env, options) in [(Vec::new(), &["--run-tests"][..]), (llvm.env(), &[][..])] {
        let text = plan_all(&tree, "json", options, &env);
        let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(plan["interface"], "legacy");
        for stage in plan["stages"].as_array().unwrap() {
            for action in stage["steps"].as_array().unwrap().iter().flat_map(common::step_actions) {
                let Some(argv) = action["cmd"]["argv"].as_array() else {
                    continue;
                };
                let words = argv.iter().map(|a| a.as_str().unwrap());
                let settings = pgo_table_settings(words.clone());
                assert!(
                    settings.is_empty(),
                    "[pgo] table settings for a legacy tree in {}: {settings:?}",
                    stage["stage"]
                );
                flags_seen.extend(
                    words
                        .filter(|w| w.ends_with("-profile-generate") || w.ends_with("-profile-use"))
                        .map(String::from),
                );
                if argv.iter().any(|a| a == "--llvm-profile-generate") {
                    assert!(
                        action["cmd"]["env"]["LLVM_PROFILE_DIR"].is_string(),
                        "legacy bootstrap takes the LLVM profile directory from LLVM_PROFILE_DIR: {action:#}"
                    );
                }
            }
        }
    }
    let expected: BTreeSet<String> = [
        "--llvm-profile-generate",
        "--llvm-profile-use",
        "--rust-profile-generate",
        "--rust-profile-use",
    ]
    .map(String::from)
    .into();
    assert_eq!(flags_seen, expected);
}

// ---------------------------------------------------------------------------------------------
// 5. doctor

/// The `doctor` table: (mark, check, detail) per check line.
fn doctor_table(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let mark = words.next()?;
            if !matches!(mark, "ok" | "note" | "FAIL") {
                return None;
            }
            let name = words.next()?;
            // Check names are one word except `stage0 cargo` and `free disk`.
            let (name, rest) = match (name, l.split_once(name).map(|(_, r)| r.trim())) {
                ("stage0" | "free", Some(rest)) => {
                    let (second, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                    (format!("{name} {second}"), rest.trim().to_string())
                }
                (_, rest) => (name.to_string(), rest.unwrap_or("").to_string()),
            };
            Some((mark.to_string(), name, rest))
        })
        .collect()
}

#[test]
fn doctor_shows_llvm_22_profdata_and_the_legacy_interface() {
    let Some(tree) = real_tree("doctor_shows_llvm_22_profdata_and_the_legacy_interface") else {
        return;
    };
    let ran = opt_dist(&tree, &["doctor"], &[]);
    let table = doctor_table(&ran.stdout);
    let row = |name: &str| {
        table
            .iter()
            .find(|(_, n, _)| n == name)
            .unwrap_or_else(|| panic!("no `{name}` row: {}", ran.describe()))
    };
    let (mark, _, detail) = row("llvm-profdata");
    assert!(
        mark == "ok" && detail.contains("(LLVM 22."),
        "llvm-profdata of LLVM 22 expected: {}",
        ran.describe()
    );
    let (mark, _, detail) = row("interface");
    assert!(mark == "ok" && detail.starts_with("legacy"), "{}", ran.describe());
    // Without --ignore-disk-space, free disk is the only check allowed to fail here.
    let failed: Vec<&String> =
        table.iter().filter(|(m, _, _)| m == "FAIL").map(|(_, n, _)| n).collect();
    assert!(failed.iter().all(|n| *n == "free disk"), "{failed:?}: {}", ran.describe());
    assert_eq!(
        ran.status.and_then(|s| s.code()),
        Some(if failed.is_empty() { 0 } else { 1 }),
        "doctor exits 1 exactly when a check fails: {}",
        ran.describe()
    );
}

#[test]
fn doctor_with_ignore_disk_space_passes_on_the_real_tree() {
    let Some(tree) = real_tree("doctor_with_ignore_disk_space_passes_on_the_real_tree") else {
        return;
    };
    let ran = opt_dist(&tree, &["doctor", "--ignore-disk-space"], &[]);
    assert!(
        ran.ok(),
        "`doctor --ignore-disk-space` should pass on the real tree (the stage options' help says \
         doctor takes them): {}",
        ran.describe()
    );
    let table = doctor_table(&ran.stdout);
    assert!(
        table.iter().any(|(m, n, d)| m == "ok" && n == "llvm-profdata" && d.contains("(LLVM 22.")),
        "{}",
        ran.describe()
    );
    assert!(table.iter().all(|(m, _, _)| m != "FAIL"), "{}", ran.describe());
}

// ---------------------------------------------------------------------------------------------
// The test stage's temporary configuration must be the one bootstrap reads

#[test]
fn test_stage_config_is_the_one_bootstrap_reads_under_rust_bootstrap_config() {
    let Some(tree) =
        real_tree("test_stage_config_is_the_one_bootstrap_reads_under_rust_bootstrap_config")
    else {
        return;
    };
    // An unchanged copy of the tree's configuration, named as bootstrap (and the xtask, when it
    // reads the configuration) allow.
    let scratch = Scratch::new("test-config");
    let config = scratch.dir.join("bootstrap.toml");
    std::fs::copy(tree.join("bootstrap.toml"), &config).unwrap();
    let env = vec![("RUST_BOOTSTRAP_CONFIG".to_string(), config.display().to_string())];
    let text = plan_all(&tree, "json", &["--run-tests"], &env);
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    let test = plan["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "test").unwrap();
    let step = test["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["kind"] == "run-with-test-config")
        .unwrap_or_else(|| panic!("no test run in {plan:#}"));
    let actions = common::step_actions(step);
    // The configuration the stage says it makes, and the script that writes it there.
    let written = test["outputs"][0]["path"].as_str().expect("the configuration it writes");
    let writes = actions.iter().filter_map(|a| a["script"].as_str());
    assert!(
        writes.clone().any(|script| script.contains(&format!("cat > {written} "))),
        "no script writes {written}: {:?}",
        writes.collect::<Vec<_>>()
    );
    let action = actions.iter().find(|a| a["kind"] == "bootstrap").expect("the x.py test it runs");
    // Bootstrap (x.py's python part and bootstrap itself) reads `--config <file>`, else
    // RUST_BOOTSTRAP_CONFIG (set by the command, else inherited from the xtask's environment),
    // else <src>/bootstrap.toml. A temporary configuration written anywhere else is ignored,
    // and `x.py test --stage 0` then fails with "cannot test anything on stage 0" after the
    // whole pipeline has run.
    let argv: Vec<&str> =
        action["cmd"]["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let read_by_bootstrap = argv
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| (w[1], "--config"))
        .or_else(|| {
            let set = action["cmd"]["env"]["RUST_BOOTSTRAP_CONFIG"].as_str()?;
            Some((set, "RUST_BOOTSTRAP_CONFIG set by the command"))
        })
        .unwrap_or((config.to_str().unwrap(), "RUST_BOOTSTRAP_CONFIG inherited from the xtask"));
    let (read, how) = (read_by_bootstrap.0.to_string(), read_by_bootstrap.1);
    // Nothing in the scratch dir helps to debug a failure here.
    drop(scratch);
    assert_eq!(
        written, read,
        "the test stage writes its configuration to {written}, but its x.py test reads {read} \
         ({how})"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Installed into the tree (ci/install-into-tree.sh): built offline from the tree's vendor/,
//    run from the tree's root with no --src

/// Cargo builds get this limit: the installed xtask, and bootstrap itself, which a copied tree
/// compiles afresh at its first x.py call. x.py is still only ever run with `--dry-run` (`plan`
/// and `doctor` do nothing else, and the guard python refuses anything else).
const BUILD_LIMIT: Duration = Duration::from_secs(900);

/// A copy of the real tree, as upstream ships the tarball: the vendoring configuration that
/// tree preparation sets aside is back in `.cargo/config.toml`, and bootstrap.toml no longer
/// says `vendor = false`. Removed when dropped unless the test failed.
struct TreeCopy {
    scratch: Scratch,
    root: PathBuf,
}

impl TreeCopy {
    fn new(tree: &Path, name: &str) -> TreeCopy {
        let scratch = Scratch::new(name);
        let root = scratch.dir.join("rustc-src");
        std::fs::create_dir_all(&root).unwrap();
        let started = Instant::now();
        for entry in std::fs::read_dir(tree).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            // bootstrap's outputs: a moved tree rebuilds bootstrap anyway.
            if name == "build" {
                continue;
            }
            // vendor/ is big and only read, except that the installer adds crate directories:
            // hard links (new directories, shared files) keep the original as it was.
            let how: &[&str] = if name == "vendor" { &["-al"] } else { &["-a", "--reflink=auto"] };
            let status =
                Command::new("cp").args(how).arg(entry.path()).arg(&root).status().unwrap();
            assert!(status.success(), "cp {how:?} {}", entry.path().display());
        }
        let cargo = root.join(".cargo");
        let set_aside = cargo.join("config.toml.debian-vendored");
        if set_aside.exists() && !cargo.join("config.toml").exists() {
            std::fs::rename(&set_aside, cargo.join("config.toml")).unwrap();
        }
        let config = root.join("bootstrap.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let text: String = text
            .lines()
            .filter(|l| l.split('=').next().map(str::trim) != Some("vendor"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&config, text).unwrap();
        eprintln!("copied {} in {:.1?}", tree.display(), started.elapsed());
        TreeCopy { scratch, root }
    }

    fn install(&self) -> Ran {
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/install-into-tree.sh"))
            .arg(&self.root);
        run_within(cmd, BUILD_LIMIT)
    }

    /// `cargo xtask opt-dist --python <guard> <args>` from the tree's root, offline, with an
    /// empty CARGO_HOME (rustup's toolchains stay reachable through RUSTUP_HOME).
    fn cargo_xtask_offline(&self, cargo_home: &Path, guard: &Path, args: &[&str]) -> Ran {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.args(["xtask", "opt-dist", "--python", guard.to_str().unwrap()])
            .args(args)
            .current_dir(&self.root)
            .env("CARGO_HOME", cargo_home)
            .env("CARGO_NET_OFFLINE", "true")
            .env_remove("OPT_DIST_SRC")
            .env_remove("RUST_BOOTSTRAP_CONFIG")
            .env_remove("CARGO_TARGET_DIR");
        run_within(cmd, BUILD_LIMIT)
    }
}

/// The registry crates of `tree`'s src/bootstrap/Cargo.lock that its vendor/ lacks at their
/// version: with the tarball's vendoring, bootstrap cannot be built offline without them.
fn bootstrap_crates_not_vendored(tree: &Path) -> Vec<String> {
    let lock: toml::Table =
        std::fs::read_to_string(tree.join("src/bootstrap/Cargo.lock")).unwrap().parse().unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("source").is_some())
        .map(|p| format!("{}-{}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .filter(|dir| !tree.join("vendor").join(dir).is_dir())
        .collect()
}

/// Path and SHA-256 of every file below `dirs` (relative to `root`) and of `files`.
fn hashes(root: &Path, dirs: &[PathBuf], files: &[&str]) -> BTreeMap<PathBuf, String> {
    let mut paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    for dir in dirs {
        for entry in walkdir::WalkDir::new(root.join(dir)) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                paths.push(entry.into_path());
            }
        }
    }
    paths
        .into_iter()
        .map(|p| {
            let out = Command::new("sha256sum").arg(&p).output().unwrap();
            assert!(out.status.success(), "sha256sum {}", p.display());
            let hash = String::from_utf8(out.stdout).unwrap();
            let hash = hash.split_whitespace().next().unwrap().to_string();
            (p.strip_prefix(root).unwrap().to_path_buf(), hash)
        })
        .collect()
}

fn vendored(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("vendor"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
#[ignore = "heavy: copies the real tree and builds bootstrap and the xtask offline (CI runs it)"]
fn installed_xtask_builds_offline_and_plans_from_the_tree_root() {
    let Some(tree) = real_tree("installed_xtask_builds_offline_and_plans_from_the_tree_root")
    else {
        return;
    };
    let missing = bootstrap_crates_not_vendored(&tree);
    if !missing.is_empty() {
        let why = format!(
            "{}'s vendor/ lacks {} crates bootstrap needs offline (e.g. {}): prepare the tree \
             with ci/prepare-real-tree.sh",
            tree.display(),
            missing.len(),
            missing[0]
        );
        assert!(std::env::var_os("OPT_DIST_REQUIRE_REAL_TREE").is_none(), "{why}");
        eprintln!("skipped installed_xtask_builds_offline_and_plans_from_the_tree_root: {why}");
        return;
    }
    let copy = TreeCopy::new(&tree, "installed");
    assert!(
        copy.root.join(".cargo/config.toml").is_file(),
        "the tree has no vendoring configuration to test an offline build with"
    );
    let root_lock = std::fs::read(tree.join("Cargo.lock")).unwrap();
    let vendored_before = vendored(&copy.root);

    let installed = copy.install();
    assert!(installed.ok(), "install: {}", installed.describe());
    let added: Vec<PathBuf> = vendored(&copy.root)
        .difference(&vendored_before)
        .map(|d| Path::new("vendor").join(d))
        .collect();
    assert!(
        added.iter().any(|d| d.to_string_lossy().starts_with("vendor/pico-args-")),
        "pico-args is not in the tree's vendor/, so the installer adds it: {added:?}"
    );
    let written = |root: &Path| {
        let dirs = [&[PathBuf::from("src/tools/opt-dist-xtask")][..], &added].concat();
        hashes(root, &dirs, &[".cargo/config.toml", "Cargo.lock"])
    };
    let after_install = written(&copy.root);

    let cargo_home = copy.scratch.dir.join("empty-cargo-home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    let guard = copy.scratch.guard_python();
    let ran = copy.cargo_xtask_offline(&cargo_home, &guard, &["plan", "all", "--format", "json"]);
    assert!(ran.ok(), "cargo xtask opt-dist plan all: {}", ran.describe());
    for word in ["Downloading", "Downloaded", "Updating"] {
        assert!(!ran.stderr.contains(word), "{word}: {}", ran.describe());
    }
    assert!(
        !cargo_home.join("registry").exists(),
        "the offline build put crates into CARGO_HOME: {}",
        ran.describe()
    );
    let plan: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        Path::new(plan["tree"]["src"].as_str().unwrap()),
        copy.root.canonicalize().unwrap(),
        "the plan is for the tree the xtask is installed in"
    );
    assert_eq!(plan["interface"], "legacy");
    eprintln!("offline build and plan in {:.1?}", ran.elapsed);

    let doctor = copy.cargo_xtask_offline(&cargo_home, &guard, &["doctor", "--ignore-disk-space"]);
    assert!(doctor.ok(), "cargo xtask opt-dist doctor: {}", doctor.describe());
    assert!(
        doctor.stdout.contains(&format!("at {},", copy.root.canonicalize().unwrap().display())),
        "{}",
        doctor.describe()
    );
    assert!(
        doctor_table(&doctor.stdout).iter().all(|(mark, _, _)| mark != "FAIL"),
        "{}",
        doctor.describe()
    );

    let again = copy.install();
    assert!(again.ok(), "second install: {}", again.describe());
    assert!(again.stderr.contains("nothing changed"), "{}", again.describe());
    assert_eq!(written(&copy.root), after_install, "the second install changed files");
    assert_eq!(vendored(&copy.root).len(), vendored_before.len() + added.len());
    assert!(
        std::fs::read(copy.root.join("Cargo.lock")).unwrap() == root_lock,
        "the tree's root Cargo.lock changed"
    );
}

// ---------------------------------------------------------------------------------------------
// Profiles made elsewhere: a fresh build dir of the real tree starts at dist

/// Profiles made on the miniature tree (rust 1.95.0, the same commit and host as the real
/// tree), exported, imported into a fresh build dir of the real tree: `plan dist` there trains
/// nothing, rebuilds the compiler with the imported profile first (the fresh build dir holds
/// no compiler), and every x.py command of it is accepted by the real bootstrap.
#[test]
fn profiles_imported_from_the_miniature_tree_plan_a_dist_real_bootstrap_accepts() {
    let Some(tree) =
        real_tree("profiles_imported_from_the_miniature_tree_plan_a_dist_real_bootstrap_accepts")
    else {
        return;
    };
    let mini = common::MiniTree::from_snapshot("real-tree-import", common::Snapshot::Finished);
    let scratch = Scratch::new("import");
    let exported = scratch.dir.join("exported");
    common::assert_success(&mini.opt_dist(&["export", exported.to_str().unwrap()]), "export");

    // A fresh build dir; bootstrap's own build is copied in, or x.py would compile bootstrap
    // again for it.
    let build = scratch.dir.join("build");
    std::fs::create_dir_all(&build).unwrap();
    common::copy_tree(&tree.join("build/bootstrap"), &build.join("bootstrap"));
    let build_arg = build.to_str().unwrap();
    let ran = opt_dist_within(
        &tree,
        &["--build-dir", build_arg, "import", exported.to_str().unwrap()],
        &[],
        DRY_RUN_LIMIT,
    );
    assert!(ran.ok(), "import: {}", ran.describe());

    let args = [&["--build-dir", build_arg, "plan", "dist", "--format", "sh", "--"][..], DIST_ARGS]
        .concat();
    let ran = opt_dist(&tree, &args, &[]);
    assert!(ran.ok(), "plan dist: {}", ran.describe());
    let lines = x_py_lines(&ran.stdout);
    let profile = build.join(format!("opt-dist/rustc-pgo/rustc-pgo-1.95.0-{HOST}.profdata"));
    // Upstream's name for it, the name dist ships it under.
    let bolt_profile = build.join("opt-dist/dist/reproducible-artifacts/rustc-bolt.profdata");
    let subcommands: Vec<&str> = lines.iter().map(XPyLine::subcommand).collect();
    assert_eq!(subcommands, ["build", "dist"], "{}", ran.stdout);
    let rebuild = &lines[0].line;
    for expected in
        [format!("--rust-profile-use {}", profile.display()), "--enable-bolt-settings".to_string()]
    {
        assert!(rebuild.contains(&expected), "`{expected}` in {rebuild}");
    }
    assert!(!rebuild.contains("--keep-stage"), "{rebuild}");
    assert!(
        lines[1].line.contains(&format!("--reproducible-artifact {}", bolt_profile.display())),
        "{}",
        lines[1].line
    );
    assert!(!ran.stdout.contains("profile-generate"), "{}", ran.stdout);
    for line in &lines {
        let ran = dry_run(line, "", &[]);
        assert!(ran.ok(), "real bootstrap rejects `{}`: {}", line.line, ran.describe());
    }
}
