//! Shared by the integration tests: running the built xtask, and private copies of the
//! miniature rust tree (each test builds in its own, so tests can run in parallel).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Runs the xtask binary as `cargo xtask` would, with `args` after `xtask`.
pub fn xtask(args: &[&str]) -> Output {
    xtask_with_env(args, &[])
}

pub fn xtask_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args).env_remove("OPT_DIST_SRC");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the xtask binary runs")
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed with {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A private copy of `tests/mini-rust-tree`, removed when dropped unless the test failed.
pub struct MiniTree {
    pub root: PathBuf,
}

impl MiniTree {
    /// `interface`: "legacy" (like rustc 1.95.0) or "pgo-table" (like upstream master: the
    /// `[pgo]` table with its `clippy` key, and an opt-dist that trains with `--jobs 16`).
    pub fn new(name: &str, interface: &str) -> MiniTree {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mini-rust-tree");
        let root = test_root(name);
        for entry in walkdir::WalkDir::new(&fixture).into_iter().filter_entry(|e| {
            !matches!(e.file_name().to_str(), Some("build" | "target" | ".mini-tree"))
        }) {
            let entry = entry.unwrap();
            let dest = root.join(entry.path().strip_prefix(&fixture).unwrap());
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
            } else {
                std::fs::copy(entry.path(), &dest).unwrap();
            }
        }
        std::fs::write(root.join("src/bootstrap/interface"), format!("{interface}\n")).unwrap();
        let tree = MiniTree { root };
        if interface == "pgo-table" {
            tree.set_table_components("rustc rustdoc cargo llvm clippy");
            tree.set_opt_dist_jobs(Some(16));
        }
        tree
    }

    /// A private copy of a pipeline state the tests start from (see [`Snapshot`]), with an
    /// empty record of calls: `records()` are what this test asked of the tree.
    pub fn from_snapshot(name: &str, snapshot: Snapshot) -> MiniTree {
        let source = snapshot.path();
        let root = test_root(name);
        copy_tree(&source, &root);
        let _ = std::fs::remove_file(root.join(".mini-tree/record.jsonl"));
        MiniTree { root }
    }

    /// The components the mini bootstrap's `[pgo]` table accepts (words of
    /// `src/bootstrap/pgo-components`), e.g. without `clippy` like master before PR #159642.
    pub fn set_table_components(&self, components: &str) {
        std::fs::write(self.root.join("src/bootstrap/pgo-components"), format!("{components}\n"))
            .unwrap();
    }

    /// The `--jobs` the tree's opt-dist stand-in gives the collector, as upstream's
    /// `training.rs` spells it (master: 16 since PR #159628, 4 before; none at 1.95.0).
    pub fn set_opt_dist_jobs(&self, jobs: Option<u32>) {
        let file = self.root.join("src/tools/opt-dist/src/training.rs");
        let text = std::fs::read_to_string(&file).unwrap();
        // The arguments end with the crate list; anything after it (an earlier `--jobs`) goes.
        let last = "        crates,\n";
        let at = text.find(last).expect("the collector arguments") + last.len();
        let (head, tail) = text.split_at(at);
        let tail = &tail[tail.find("    ]").expect("the end of the arguments")..];
        let jobs =
            jobs.map(|n| format!("        \"--jobs\",\n        \"{n}\",\n")).unwrap_or_default();
        std::fs::write(&file, format!("{head}{jobs}{tail}")).unwrap();
    }

    pub fn src(&self) -> &str {
        self.root.to_str().unwrap()
    }

    /// `cargo xtask opt-dist --src <this tree> <args>`.
    pub fn opt_dist(&self, args: &[&str]) -> Output {
        self.opt_dist_with_env(args, &[])
    }

    pub fn opt_dist_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        xtask_with_env(&[&["opt-dist", "--src", self.src()], args].concat(), env)
    }

    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.root.join("build/opt-dist").join(stage)
    }

    /// The `manifest.json` a stage left, parsed.
    pub fn manifest(&self, stage: &str) -> serde_json::Value {
        let path = self.stage_dir(stage).join("manifest.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// The `manifest.json` a stage left in the build dir `build_dir`, parsed.
    pub fn manifest_in(&self, build_dir: &Path, stage: &str) -> serde_json::Value {
        let path = build_dir.join("opt-dist").join(stage).join("manifest.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    pub fn host(&self) -> String {
        let out = Command::new("rustc").arg("-vV").output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(String::from))
            .unwrap()
    }

    pub fn version(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("version")).unwrap();
        text.split_whitespace().next().unwrap().to_string()
    }

    /// What the tree's x.py and collector were asked to do, one JSON object per call.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let path = self.root.join(".mini-tree/record.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    pub fn records_of(&self, tool: &str) -> Vec<serde_json::Value> {
        self.records().into_iter().filter(|r| r["tool"] == tool).collect()
    }

    /// The x.py calls that did real work (not preflight's dry runs or the interface probe).
    pub fn recorded_x_py_calls(&self) -> Vec<XPyCall> {
        self.records_of("x.py")
            .iter()
            .filter(|r| !argv(r).contains(&"--dry-run".to_string()))
            .map(|r| (argv(r), r["env"]["LLVM_PROFILE_DIR"].as_str().map(String::from)))
            .collect()
    }

    /// `opt-dist plan <args> --format json`, parsed; `args` may end with `-- <dist args>`.
    pub fn plan_json(&self, args: &[&str]) -> serde_json::Value {
        let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        let full = [&["plan"][..], &args[..split], &["--format", "json"], &args[split..]].concat();
        let out = self.opt_dist(&full);
        assert_success(&out, &format!("{full:?}"));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `opt-dist <command> <options> -- <upstream's dist args>`.
    pub fn with_dist_args(&self, command: &[&str], options: &[&str]) -> Vec<String> {
        [command, options, &["--"]]
            .concat()
            .iter()
            .map(|a| a.to_string())
            .chain(dist_args(&self.host()))
            .collect()
    }

    /// `all <options> -- <upstream's dist args>` for real, after its plan: the x.py calls the
    /// tree records are the planned ones.
    pub fn run_all(&self, options: &[&str]) -> Output {
        let args = self.with_dist_args(&["all"], options);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let planned = self.planned_x_py_calls(&self.plan_json(&args));
        let out = self.opt_dist(&args);
        assert_success(&out, &format!("all {options:?}"));
        assert_same_calls(
            &self.recorded_x_py_calls(),
            &planned,
            &format!("the run of all {options:?} against its plan"),
        );
        out
    }

    /// The x.py calls a JSON plan makes, in order: every command of its steps that runs this
    /// tree's x.py (bootstrap's builds and dist, and the test stage's run under its own
    /// configuration).
    pub fn planned_x_py_calls(&self, plan: &serde_json::Value) -> Vec<XPyCall> {
        let x_py = self.root.join("x.py").display().to_string();
        plan["stages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|stage| stage["steps"].as_array().unwrap())
            .flat_map(step_actions)
            .map(|action| &action["cmd"])
            .filter(|cmd| cmd["argv"][1] == x_py.as_str())
            .map(|cmd| {
                (argv(cmd)[2..].to_vec(), cmd["env"]["LLVM_PROFILE_DIR"].as_str().map(String::from))
            })
            .collect()
    }
}

/// What a step of a JSON plan does: its action, or the actions of a step of several (listed
/// under `effects`).
pub fn step_actions(step: &serde_json::Value) -> Vec<&serde_json::Value> {
    match step["action"]["effects"].as_array() {
        Some(effects) => effects.iter().collect(),
        None => vec![&step["action"]],
    }
}

/// Where a test's copy of the miniature tree lives, emptied first.
fn test_root(name: &str) -> PathBuf {
    let root =
        std::env::temp_dir().join("opt-dist-tests").join(format!("{name}-{}", std::process::id()));
    if root.exists() {
        std::fs::remove_dir_all(&root).unwrap();
    }
    root
}

/// `cp -a`: hard links, symbolic links and times stay as they are (the sysroot's libraries are
/// hard links of bootstrap's build outputs, and BOLT rewrites them in place). `from` ending in
/// `/.` copies a directory's contents into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let ok = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(ok.success(), "cp -a {} {}", from.display(), to.display());
}

/// A pipeline state on the legacy miniature tree that several tests start from. Each is made
/// by real runs of the xtask once per test run (the first test that needs it makes it, tests
/// that need it meanwhile wait), and every test gets its own copy at its own path, as a build
/// restored from a CI cache would be.
#[derive(Clone, Copy, Debug)]
pub enum Snapshot {
    /// `rustc-pgo` on a fresh tree: its profile, and the PGO-optimized compiler linked for BOLT
    /// in the build dir.
    RustcPgo,
    /// `all -- <upstream's dist args>` on a fresh tree, its x.py calls checked against its plan:
    /// every stage but `test` done, the dist made.
    Finished,
}

impl Snapshot {
    fn name(self) -> &'static str {
        match self {
            Snapshot::RustcPgo => "rustc-pgo",
            Snapshot::Finished => "finished",
        }
    }

    fn make(self, tree: &MiniTree) {
        match self {
            Snapshot::RustcPgo => assert_success(&tree.opt_dist(&["rustc-pgo"]), "rustc-pgo"),
            // The run issues the x.py calls of its plan (all_stages.rs checks those against
            // upstream's sequence).
            Snapshot::Finished => {
                tree.run_all(&[]);
            }
        }
    }

    /// The snapshot's tree, made now unless this test run has made it already. A maker that
    /// fails leaves it unmade: the next test that needs it tries again (and fails the same way).
    pub fn path(self) -> PathBuf {
        static MADE: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
        MADE[self as usize]
            .get_or_init(|| {
                remove_snapshots_of_ended_runs();
                let tree = MiniTree::new(&format!("snapshot-{}", self.name()), "legacy");
                self.make(&tree);
                // Kept for the rest of the run (and removed by the next one).
                let root = tree.root.clone();
                std::mem::forget(tree);
                root
            })
            .clone()
    }
}

/// Snapshots are named `snapshot-<name>-<pid>`; those of test runs that have ended go.
fn remove_snapshots_of_ended_runs() {
    let dir = std::env::temp_dir().join("opt-dist-tests");
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("snapshot-")
            .and_then(|rest| rest.rsplit_once('-'))
            .map(|(_, pid)| pid);
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// One x.py call: its arguments after `x.py`, and LLVM_PROFILE_DIR when it sets one.
pub type XPyCall = (Vec<String>, Option<String>);

/// Asserts that `got` are the x.py calls `want`, naming the first that differs.
pub fn assert_same_calls(got: &[XPyCall], want: &[XPyCall], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "number of x.py calls differs: {what}\ngot: {got:#?}\nexpected: {want:#?}"
    );
    for (i, (got, want)) in got.iter().zip(want).enumerate() {
        assert_eq!(got, want, "x.py call {} differs: {what}", i + 1);
    }
}

impl Drop for MiniTree {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// A scratch directory beside a tree's copy, for what must not be inside the tree (a CI recipe
/// copies the whole tree); removed when dropped unless the test failed.
pub struct Beside(pub PathBuf);

impl Beside {
    pub fn new(tree: &MiniTree) -> Beside {
        let dir = tree.root.with_extension("beside");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        Beside(dir)
    }
}

impl Drop for Beside {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Args of a record as strings.
pub fn argv(record: &serde_json::Value) -> Vec<String> {
    record["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

pub const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

/// Upstream CI's dist arguments.
pub fn dist_args(host: &str) -> Vec<String> {
    ["--host", host, "--target", host, "--include-default-paths", "build-manifest", "bootstrap"]
        .map(String::from)
        .to_vec()
}

/// `llvm-readobj --sections` of a file: what it holds, as LLVM's own tool reads it.
pub fn sections(file: &Path) -> String {
    let out = Command::new(format!("{LLVM_BIN}/llvm-readobj"))
        .arg("--sections")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "llvm-readobj {}", file.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn is_bolt_optimized(file: &Path) -> bool {
    sections(file).contains("Name: .bolt.org.text ")
}

/// PGO instrumentation leaves profile counters; BOLT instrumentation its own sections.
pub fn is_instrumented(file: &Path) -> bool {
    let s = sections(file);
    s.contains("Name: __llvm_prf_cnts ") || s.contains("Name: .bolt.instr")
}

/// Every ELF file below `dir`.
pub fn elf_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| std::fs::read(p).map(|b| b.starts_with(b"\x7fELF")).unwrap_or(false))
        .collect()
}

pub fn untar(tarball: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let ok = Command::new("tar").arg("-xf").arg(tarball).arg("-C").arg(into).status().unwrap();
    assert!(ok.success(), "untar {}", tarball.display());
}

/// What a shipped optimized compiler must be: the rustc tarball unpacked into `into` holds no
/// instrumented ELF file, and its libLLVM and librustc_driver are the BOLT-optimized ones.
pub fn assert_optimized_rustc_tarball(tarball: &Path, into: &Path) {
    untar(tarball, into);
    let files = elf_files(into);
    for file in &files {
        assert!(!is_instrumented(file), "{}", file.display());
    }
    for prefix in ["libLLVM.so", "librustc_driver"] {
        let lib = files
            .iter()
            .find(|f| f.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {files:?}"));
        assert!(is_bolt_optimized(lib), "{}", lib.display());
    }
}

/// Writes an executable shell script (a tool stand-in for a test).
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
