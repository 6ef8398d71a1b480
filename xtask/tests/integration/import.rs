//! `import` treats what it is given as hostile: names that are paths, links, FIFOs, devices
//! and directories, manifests that list too little, too much or another stage's profile, and
//! profiles of the wrong format or of the wrong binary are refused, each naming the file, what
//! is wrong, what was expected and what to do, and a refused import leaves the build dir as it
//! was (not even a lock file). The profiles are real: exported from a finished pipeline of the
//! miniature tree, imported into a copy of another state of it.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{assert_success, Beside, MiniTree, Snapshot, LLVM_BIN};

/// An import that takes longer hangs: on the miniature tree one takes well under a second.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The profile stages of a finished pipeline, exported once per test run; tests change copies.
fn exported() -> &'static Path {
    static EXPORTED: OnceLock<PathBuf> = OnceLock::new();
    EXPORTED.get_or_init(|| {
        // Named as the snapshots are, so the next test run removes it with them.
        let a = MiniTree::from_snapshot("snapshot-import-export", Snapshot::Finished);
        let dir = a.root.join("exported");
        assert_success(&a.opt_dist(&["export", dir.to_str().unwrap()]), "export");
        let dir = dir.clone();
        std::mem::forget(a);
        dir
    })
}

/// A tree that imports (a copy of the `rustc-pgo` snapshot, so its build dir has something to
/// lose), and its own copy of the exported stages beside it.
struct Importing {
    tree: MiniTree,
    scratch: Beside,
    source: PathBuf,
}

impl Importing {
    fn new(name: &str) -> Importing {
        Importing::into_tree(MiniTree::from_snapshot(name, Snapshot::RustcPgo))
    }

    fn into_tree(tree: MiniTree) -> Importing {
        let scratch = Beside::new(&tree);
        let source = scratch.0.join("exported");
        common::copy_tree(exported(), &source);
        Importing { tree, scratch, source }
    }

    fn build_dir(&self) -> PathBuf {
        self.tree.root.join("build")
    }

    fn manifest_path(&self, stage: &str) -> PathBuf {
        self.source.join(stage).join("manifest.json")
    }

    fn manifest(&self, stage: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.manifest_path(stage)).unwrap()).unwrap()
    }

    fn edit_manifest(&self, stage: &str, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut manifest = self.manifest(stage);
        edit(&mut manifest);
        std::fs::write(self.manifest_path(stage), manifest.to_string()).unwrap();
    }

    /// The exported profile of `stage` (its first output).
    fn profile(&self, stage: &str) -> PathBuf {
        let manifest = self.manifest(stage);
        self.source.join(stage).join(manifest["outputs"][0]["name"].as_str().unwrap())
    }

    /// Puts `file` in place of `stage`'s profile, its manifest updated to list it (size and
    /// SHA-256): only what the file is can be wrong.
    fn replace_profile(&self, stage: &str, file: &Path) {
        let profile = self.profile(stage);
        std::fs::copy(file, &profile).unwrap();
        let (size, sha256) = size_and_sha256(&profile);
        self.edit_manifest(stage, |m| {
            m["outputs"][0]["size"] = size.into();
            m["outputs"][0]["sha256"] = sha256.into();
        });
    }

    /// `opt-dist <args>` must fail (exit 1) within the time limit, saying each of `expected`,
    /// and leave the build dir as it was. Returns its stderr.
    fn refused(&self, args: &[&str], expected: &[&str]) -> String {
        self.refused_with_env(args, &[], expected, &[])
    }

    /// [`Importing::refused`], with `env`, and the build dir's files in `may_differ` (relative to
    /// it) left out of the comparison.
    fn refused_with_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        expected: &[&str],
        may_differ: &[&str],
    ) -> String {
        let before = listing(&self.build_dir(), may_differ);
        let (code, err) = opt_dist_within(&self.tree, &self.scratch.0, args, env);
        assert_eq!(code, Some(1), "{args:?} exit code\n{err}");
        for text in expected {
            assert!(err.contains(text), "{args:?}: `{text}` in\n{err}");
        }
        let after = listing(&self.build_dir(), may_differ);
        assert_same_listing(&before, &after, &format!("{args:?}\n{err}"));
        err
    }
}

/// Runs `opt-dist --src <tree> <args>` and waits for it at most [`TIME_LIMIT`]; a run that is
/// still going then is killed and fails the test. (exit code, stderr)
fn opt_dist_within(
    tree: &MiniTree,
    scratch: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    // A file, not a pipe: a child blocked on a full pipe would look like a hang.
    let stderr_file = scratch.join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["opt-dist", "--src", tree.src()])
        .args(args)
        .envs(env.iter().copied())
        .env_remove("OPT_DIST_SRC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "{args:?} did not return within {TIME_LIMIT:?}: it hangs\n{}",
                std::fs::read_to_string(&stderr_file).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), std::fs::read_to_string(&stderr_file).unwrap_or_default())
}

/// Everything below `dir` (itself included, absent or not): each path with its type, and a
/// file's size and SHA-256 or a link's target.
fn listing(dir: &Path, except: &[&str]) -> BTreeMap<PathBuf, String> {
    let mut entries = BTreeMap::new();
    if std::fs::symlink_metadata(dir).is_err() {
        entries.insert(PathBuf::new(), "absent".to_string());
        return entries;
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.unwrap();
        let path = entry.path().strip_prefix(dir).unwrap().to_path_buf();
        if except.iter().any(|e| path == Path::new(e)) {
            continue;
        }
        let file_type = entry.file_type();
        let what = if file_type.is_dir() {
            "directory".to_string()
        } else if file_type.is_symlink() {
            format!("link to {}", std::fs::read_link(entry.path()).unwrap().display())
        } else {
            files.push(entry.path().to_path_buf());
            format!("file of {} bytes", entry.metadata().unwrap().len())
        };
        entries.insert(path, what);
    }
    for chunk in files.chunks(500) {
        let out = Command::new("sha256sum").args(chunk).output().unwrap();
        assert!(out.status.success());
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let (sha256, path) = line.split_once("  ").unwrap();
            let path = Path::new(path).strip_prefix(dir).unwrap().to_path_buf();
            entries.get_mut(&path).unwrap().push_str(&format!(", {sha256}"));
        }
    }
    entries
}

fn assert_same_listing(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
    what: &str,
) {
    let changed: Vec<String> = before
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|path| before.get(*path) != after.get(*path))
        .map(|path| format!("{}: {:?} -> {:?}", path.display(), before.get(path), after.get(path)))
        .collect();
    assert!(changed.is_empty(), "the build dir changed:\n{}\n{what}", changed.join("\n"));
}

fn size_and_sha256(file: &Path) -> (u64, String) {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    let sha256 = String::from_utf8(out.stdout).unwrap()[..64].to_string();
    (std::fs::metadata(file).unwrap().len(), sha256)
}

fn host_file(tree: &MiniTree, stem: &str, extension: &str) -> String {
    format!("{stem}-{}-{}.{extension}", tree.version(), tree.host())
}

#[test]
fn output_names_that_are_not_plain_file_names_are_refused() {
    let t = Importing::new("import-names");
    let source = t.source.to_str().unwrap();
    let rustc_profile = t.profile("rustc-pgo");
    // Each name leads to a copy of the very profile the manifest lists, outside the stage's
    // directory: only the name is wrong.
    let outside = t.source.join(rustc_profile.file_name().unwrap());
    std::fs::copy(&rustc_profile, &outside).unwrap();
    std::fs::create_dir(t.source.join("rustc-pgo/sub")).unwrap();
    std::fs::copy(&rustc_profile, t.source.join("rustc-pgo/sub/profile")).unwrap();
    let parent = format!("../{}", rustc_profile.file_name().unwrap().to_str().unwrap());
    let absolute = outside.to_str().unwrap().to_string();
    for (name, why) in [
        (parent.as_str(), "it is a path (it has a `/`)"),
        (absolute.as_str(), "it is an absolute path"),
        ("sub/profile", "it is a path (it has a `/`)"),
        ("..", "it names a directory, not a file in it"),
        (".", "it names a directory, not a file in it"),
        ("", "it is empty"),
    ] {
        t.edit_manifest("rustc-pgo", |m| m["outputs"][0]["name"] = name.into());
        t.refused(
            &["import", source],
            &[
                &format!("{}: the file of rustc-pgo-profile", source_manifest(&t)),
                &format!("is named {name:?}, and {why}"),
                "a manifest names each output by a plain file name in its stage's directory",
                "export the stage again from the build that made it",
            ],
        );
    }
}

fn source_manifest(t: &Importing) -> String {
    t.manifest_path("rustc-pgo").display().to_string()
}

#[test]
fn links_fifos_devices_and_directories_are_refused_without_hanging() {
    let t = Importing::new("import-special-files");
    let source = t.source.to_str().unwrap();
    let profile = t.profile("llvm-pgo");
    let good = t.scratch.0.join("llvm-pgo good copy");
    std::fs::copy(&profile, &good).unwrap();
    let put = |make: &dyn Fn(&Path)| {
        let _ = std::fs::remove_file(&profile);
        let _ = std::fs::remove_dir(&profile);
        make(&profile);
    };
    let mkfifo = |path: &Path| {
        assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
    };

    // A link to the very file the manifest lists, outside: refused, not followed.
    put(&|p| std::os::unix::fs::symlink(&good, p).unwrap());
    t.refused(
        &["import", source],
        &[&format!(
            "{} is a symbolic link (to {}), not a regular file: import follows no link",
            profile.display(),
            good.display()
        )],
    );
    // Endless, or blocking on open: refused before reading, at once.
    put(&|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap());
    t.refused(&["import", source], &["is a symbolic link (to /dev/zero), not a regular file"]);
    put(&|p| mkfifo(p));
    t.refused(
        &["import", source],
        &[&format!(
            "{} is a FIFO (named pipe), not a regular file; export the stage again from the \
             build that made it",
            profile.display()
        )],
    );
    put(&|p| std::fs::create_dir(p).unwrap());
    t.refused(&["import", source], &["is a directory, not a regular file"]);
    // /dev/zero's own device node, where this test may make one (as root): what a bind mount
    // of it shows.
    put(&|p| {
        let _ = Command::new("mknod").arg(p).args(["c", "1", "5"]).status();
    });
    if std::fs::symlink_metadata(&profile).is_ok() {
        t.refused(&["import", source], &["is a character device, not a regular file"]);
    }
    // A file that grew after it was exported.
    put(&|p| {
        let mut bytes = std::fs::read(&good).unwrap();
        bytes.extend_from_slice(&[0; 4096]);
        std::fs::write(p, bytes).unwrap();
    });
    t.refused(
        &["import", source],
        &["is not the file its manifest lists", "copy the stage directory again"],
    );
    put(&|p| {
        std::fs::copy(&good, p).unwrap();
    });

    // The manifest and the stage directory themselves.
    let manifest = t.manifest_path("llvm-pgo");
    let elsewhere = t.scratch.0.join("manifest elsewhere.json");
    std::fs::rename(&manifest, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &manifest).unwrap();
    t.refused(&["import", source], &[&format!("{} is a symbolic link", manifest.display())]);
    std::fs::remove_file(&manifest).unwrap();
    mkfifo(&manifest);
    t.refused(&["import", source], &["is a FIFO (named pipe)"]);
    std::fs::remove_file(&manifest).unwrap();
    std::fs::rename(&elsewhere, &manifest).unwrap();
    let stage_dir = t.source.join("llvm-pgo");
    let moved = t.scratch.0.join("llvm-pgo elsewhere");
    std::fs::rename(&stage_dir, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &stage_dir).unwrap();
    t.refused(
        &["import", source],
        &[&format!(
            "{} is a symbolic link (to {}), not a directory",
            stage_dir.display(),
            moved.display()
        )],
    );
    std::fs::remove_file(&stage_dir).unwrap();
    std::fs::rename(&moved, &stage_dir).unwrap();

    // One file, with --as: the same rules.
    let single = t.scratch.0.join(host_file(&t.tree, "llvm-pgo", "profdata"));
    std::os::unix::fs::symlink("/dev/zero", &single).unwrap();
    let single_arg = single.to_str().unwrap();
    t.refused(
        &["import", single_arg, "--as", "llvm-pgo"],
        &["is a symbolic link (to /dev/zero), not a regular file"],
    );
    std::fs::remove_file(&single).unwrap();
    mkfifo(&single);
    t.refused(
        &["import", single_arg, "--as", "llvm-pgo"],
        &["is a FIFO (named pipe), not a regular file"],
    );

    // With everything back in place, the same source imports.
    assert_success(&t.tree.opt_dist(&["import", source]), "import of the repaired source");
}

#[test]
fn manifests_must_list_exactly_what_the_stage_makes() {
    let t = Importing::new("import-outputs");
    let source = t.source.to_str().unwrap();
    let original = t.manifest("rustc-pgo");
    let restore = || std::fs::write(t.manifest_path("rustc-pgo"), original.to_string()).unwrap();
    let makes = "the rustc-pgo stage makes exactly rustc-pgo-profile for this tree (bootstrap's \
                 legacy interface) with these options; export the stage again from the build \
                 that made it";
    let in_manifest = format!("{}: its `outputs`", source_manifest(&t));

    t.edit_manifest("rustc-pgo", |m| m["outputs"] = serde_json::json!([]));
    t.refused(
        &["import", source],
        &[&format!("{in_manifest} lists nothing; it lacks rustc-pgo-profile; {makes}")],
    );

    restore();
    t.edit_manifest("rustc-pgo", |m| {
        let output = m["outputs"][0].clone();
        m["outputs"].as_array_mut().unwrap().push(output);
    });
    t.refused(&["import", source], &[&format!("{in_manifest} lists rustc-pgo-profile twice")]);

    // LLVM's profile, in the rustc-pgo directory under its own kind: listed in full, with the
    // right hash, so only the kind is wrong.
    restore();
    let llvm_profile = t.profile("llvm-pgo");
    std::fs::copy(
        &llvm_profile,
        t.source.join("rustc-pgo").join(llvm_profile.file_name().unwrap()),
    )
    .unwrap();
    let llvm_output = t.manifest("llvm-pgo")["outputs"][0].clone();
    t.edit_manifest("rustc-pgo", |m| m["outputs"] = serde_json::json!([llvm_output]));
    t.refused(
        &["import", source],
        &[&format!(
            "{in_manifest} lists llvm-pgo-profile, which the llvm-pgo stage makes; it lacks \
             rustc-pgo-profile; {makes}"
        )],
    );
    // Alongside its own profile.
    restore();
    t.edit_manifest("rustc-pgo", |m| {
        m["outputs"].as_array_mut().unwrap().push(llvm_output.clone())
    });
    t.refused(
        &["import", source],
        &[&format!(
            "{in_manifest} lists llvm-pgo-profile, which the llvm-pgo stage makes; {makes}"
        )],
    );
    restore();
    t.edit_manifest("rustc-pgo", |m| m["outputs"][0]["kind"] = "dist-file".into());
    t.refused(&["import", source], &["lists dist-file, which the dist stage makes"]);

    // The manifest itself: another stage's, not JSON, too large.
    restore();
    t.edit_manifest("rustc-pgo", |m| m["stage"] = "llvm-pgo".into());
    t.refused(
        &["import", source],
        &[&format!(
            "{} is the manifest of the llvm-pgo stage, not of rustc-pgo",
            source_manifest(&t)
        )],
    );
    std::fs::write(t.manifest_path("rustc-pgo"), "{\"stage\": ").unwrap();
    t.refused(
        &["import", source],
        &[&format!(
            "{} is not a stage manifest this xtask reads; export the stage again",
            source_manifest(&t)
        )],
    );
    let file = std::fs::File::create(t.manifest_path("rustc-pgo")).unwrap();
    file.set_len(17 << 20).unwrap();
    t.refused(
        &["import", source],
        &[&format!(
            "{} is 17.0 MiB, more than the 16.0 MiB a stage manifest can be",
            source_manifest(&t)
        )],
    );
    restore();

    // A tree whose bootstrap has the [pgo] table makes rustdoc's and clippy's profiles too:
    // the legacy export lacks them.
    let table = Importing::into_tree(MiniTree::new("import-outputs-table", "pgo-table"));
    table.refused(
        &["import", table.source.to_str().unwrap()],
        &[
            "its `outputs` lacks rustdoc-pgo-profile and clippy-pgo-profile; the rustc-pgo \
             stage makes exactly rustc-pgo-profile, rustdoc-pgo-profile and clippy-pgo-profile \
             for this tree (bootstrap's pgo-table interface)",
            "it was made with bootstrap's legacy interface, this tree has the pgo-table one: \
             import the profiles it has one at a time with `import <FILE> --as <profile>`",
        ],
    );
    // And a legacy tree makes no rustdoc profile to import.
    let rustc_profile = t.profile("rustc-pgo");
    t.refused(
        &["import", rustc_profile.to_str().unwrap(), "--as", "rustdoc-pgo"],
        &["the rustc-pgo stage makes rustc-pgo-profile for this tree (bootstrap's legacy \
           interface) with these options, not rustdoc-pgo-profile"],
    );
}

/// A raw profile, as an instrumented program writes it: a C program built by clang with
/// `-fprofile-instr-generate`, run once.
fn raw_profile(dir: &Path) -> PathBuf {
    let program = dir.join("raw-profile-maker");
    std::fs::write(
        dir.join("main.c"),
        "int work(int n) { return n > 1 ? n * work(n - 1) : 1; }\n\
         int main(void) { return work(5) == 120 ? 0 : 1; }\n",
    )
    .unwrap();
    let built = Command::new(format!("{LLVM_BIN}/clang"))
        .arg("-fprofile-instr-generate")
        .arg(dir.join("main.c"))
        .arg("-o")
        .arg(&program)
        .status()
        .unwrap();
    assert!(built.success(), "clang -fprofile-instr-generate");
    let raw = dir.join(format!("rustc-pgo-{}.profraw", std::process::id()));
    let ran = Command::new(&program).env("LLVM_PROFILE_FILE", &raw).status().unwrap();
    assert!(ran.success());
    raw
}

#[test]
fn profiles_of_the_wrong_format_or_binary_are_refused() {
    let t = Importing::new("import-wrong-kind");
    let source = t.source.to_str().unwrap();
    let file = |name: &str, from: &Path| {
        let to = t.scratch.0.join(name);
        std::fs::copy(from, &to).unwrap();
        to
    };
    let rustc_pgo = t.profile("rustc-pgo");
    let llvm_pgo = t.profile("llvm-pgo");
    let llvm_bolt = t.profile("llvm-bolt");
    let rustc_bolt = file("rustc-bolt as exported", &t.profile("rustc-bolt"));

    // rustc's profile renamed as LLVM's: even with --allow-stale.
    let renamed = file(&host_file(&t.tree, "llvm-pgo", "profdata"), &rustc_pgo);
    for extra in [&[][..], &["--allow-stale"]] {
        let args = [&["import", renamed.to_str().unwrap(), "--as", "llvm-pgo"][..], extra].concat();
        let err = t.refused(
            &args,
            &[
                &format!(
                    "{} is not a usable llvm-pgo profile; nothing was imported",
                    renamed.display()
                ),
                "functions it profiles are Rust symbols: this is a profile of a Rust binary \
                 (rustc, rustdoc or clippy), not of LLVM",
                "if it is the profile of rustc, rustdoc or clippy, import it with `--as \
                 rustc-pgo`, `--as rustdoc-pgo` or `--as clippy-pgo`",
            ],
        );
        assert_majority(&err, "Rust symbols", true);
    }
    // LLVM's as rustc's.
    let err = t.refused(
        &["import", llvm_pgo.to_str().unwrap(), "--as", "rustc-pgo"],
        &["this is a profile of a C/C++ binary (LLVM), not of rustc"],
    );
    assert_majority(&err, "Rust symbols", false);
    // BOLT profiles of the other library, both ways.
    let renamed = file(&host_file(&t.tree, "rustc-bolt", "fdata"), &llvm_bolt);
    t.refused(
        &["import", renamed.to_str().unwrap(), "--as", "rustc-bolt", "--allow-stale"],
        &[
            "is not a usable rustc-bolt profile",
            "this is a profile of a C/C++ binary (libLLVM), not of librustc_driver",
            "import it with `--as llvm-bolt`",
        ],
    );
    t.refused(
        &["import", rustc_bolt.to_str().unwrap(), "--as", "llvm-bolt"],
        &["this is a profile of a Rust binary (librustc_driver), not of libLLVM"],
    );
    // A BOLT profile as a PGO profile, and the other way round.
    t.refused(
        &["import", llvm_bolt.to_str().unwrap(), "--as", "llvm-pgo"],
        &[
            "it is text (as a BOLT profile is), not an indexed LLVM profile",
            "import it with `--as llvm-bolt` or `--as rustc-bolt`",
        ],
    );
    t.refused(
        &["import", llvm_pgo.to_str().unwrap(), "--as", "llvm-bolt"],
        &["it is an indexed LLVM profile (what `llvm-profdata merge` writes), not a BOLT \
           profile"],
    );
    // Not merged.
    let raw = raw_profile(&t.scratch.0);
    t.refused(
        &["import", raw.to_str().unwrap(), "--as", "rustc-pgo", "--allow-stale"],
        &["it is a raw LLVM profile (.profraw) as an instrumented program writes it, not \
             merged: merge the raw profiles into one indexed profile with `llvm-profdata merge"],
    );

    // In a directory: the rustc-bolt stage holding libLLVM's profile, listed with its hash.
    t.replace_profile("rustc-bolt", &llvm_bolt);
    t.refused(
        &["import", source, "--allow-stale"],
        &[
            &format!(
                "{} is not a usable rustc-bolt profile; nothing was imported",
                t.profile("rustc-bolt").display()
            ),
            "not of librustc_driver; its manifest lists it as the librustc_driver profile \
             (rustc-bolt-profile); export the stage again from the build that made it",
        ],
    );
    t.replace_profile("rustc-bolt", &rustc_bolt);
    t.replace_profile("llvm-pgo", &raw);
    t.refused(&["import", source], &["it is a raw LLVM profile (.profraw)"]);

    // Into a fresh tree, nothing at all is written: no build dir, no cache, no lock.
    let fresh = Importing::into_tree(MiniTree::new("import-wrong-kind-fresh", "legacy"));
    fresh.replace_profile("llvm-pgo", &rustc_pgo);
    fresh.refused(
        &["import", fresh.source.to_str().unwrap()],
        &["this is a profile of a Rust binary (rustc, rustdoc or clippy), not of LLVM"],
    );
    assert!(!fresh.build_dir().exists());
}

/// `N of M functions it profiles are Rust symbols`: N is most of M, or not.
fn assert_majority(err: &str, what: &str, most: bool) {
    let words: Vec<&str> = err
        .split(&format!(" functions it profiles are {what}"))
        .next()
        .unwrap()
        .rsplit(' ')
        .take(3)
        .collect();
    let (n, m): (usize, usize) = (words[2].parse().unwrap(), words[0].parse().unwrap());
    assert!(m > 0 && (n * 2 > m) == most, "{n} of {m}: {err}");
}

/// The source changes after it was checked and before it is copied in (llvm-profdata, run for
/// the check of the second profile, changes it when it is done): the copy does not match the
/// hash, and nothing is left of the import.
#[test]
fn a_source_that_changes_after_the_check_leaves_nothing_behind() {
    let t = Importing::new("import-toctou");
    let changed = t.profile("llvm-pgo");
    let original = std::fs::read(&changed).unwrap();
    let llvm = t.scratch.0.join("llvm");
    std::fs::create_dir_all(llvm.join("bin")).unwrap();
    common::write_script(
        &llvm.join("bin/llvm-profdata"),
        &format!(
            "#!/bin/sh\n\
             n=$(($(cat \"$CALLS\" 2>/dev/null || echo 0) + 1)); echo $n > \"$CALLS\"\n\
             {LLVM_BIN}/llvm-profdata \"$@\"; status=$?\n\
             [ $n = 2 ] && printf X | dd of=\"$CHANGE\" bs=1 seek=64 conv=notrunc 2>/dev/null\n\
             exit $status\n"
        ),
    );
    let calls = t.scratch.0.join("calls");
    // The lock is taken to install; the file may stay (a kernel lock needs none removed).
    let err = t.refused_with_env(
        &["--llvm-dir", llvm.to_str().unwrap(), "import", t.source.to_str().unwrap()],
        &[("CALLS", calls.to_str().unwrap()), ("CHANGE", changed.to_str().unwrap())],
        &[
            &format!("{} changed since it was checked", changed.display()),
            "import again once nothing writes to it",
            "nothing was imported",
        ],
        &["opt-dist/lock"],
    );
    assert_ne!(std::fs::read(&changed).unwrap(), original, "{err}");
    assert_eq!(std::fs::read_to_string(&calls).unwrap().trim(), "2");
}

#[test]
fn a_stage_directory_an_unfinished_export_left_is_named_and_the_others_come_in() {
    let t = Importing::new("import-unfinished-export");
    // An export killed while it copied rustc-bolt's profile: the manifest comes last.
    std::fs::remove_file(t.manifest_path("rustc-bolt")).unwrap();
    let source = t.source.to_str().unwrap();
    let (code, err) = opt_dist_within(&t.tree, &t.scratch.0, &["import", source], &[]);
    assert_eq!(code, Some(0), "{err}");
    let named =
        format!("{source}/rustc-bolt has no manifest.json (an export that did not finish?)");
    assert!(err.contains(&named), "{err}");
    for stage in ["rustc-pgo", "llvm-pgo", "llvm-bolt"] {
        assert!(err.contains(&format!("opt-dist: {stage} is done (imported)")), "{err}");
    }
    assert!(!t.tree.stage_dir("rustc-bolt").join("manifest.json").exists());
}

#[test]
fn exports_into_one_directory_take_turns_and_an_import_from_it_waits_for_them() {
    let a = MiniTree::from_snapshot("import-exports-at-once", Snapshot::Finished);
    let b = MiniTree::from_snapshot("import-exports-at-once-into", Snapshot::RustcPgo);
    let store = a.root.join("store");
    let store = store.to_str().unwrap();
    // Builders that finish at once, exporting into one artifact store while another builder
    // imports from it: without turns, the exports' copies share `.partial` names, one moving
    // away what another is about to rename, and the import finds stages half exported.
    for round in 0..4 {
        std::thread::scope(|s| {
            let exports: Vec<_> =
                (0..2).map(|_| s.spawn(|| a.opt_dist(&["export", store]))).collect();
            let import = (round > 0).then(|| s.spawn(|| b.opt_dist(&["import", store])));
            for export in exports {
                assert_success(&export.join().unwrap(), &format!("round {round}: export"));
            }
            if let Some(import) = import {
                let out = import.join().unwrap();
                assert_success(&out, &format!("round {round}: import beside the exports"));
                let err = common::stderr(&out);
                for stage in ["rustc-pgo", "llvm-pgo", "llvm-bolt", "rustc-bolt"] {
                    let imported = format!("opt-dist: {stage} is done (imported)");
                    assert!(err.contains(&imported), "round {round}: {err}");
                }
            }
        });
    }
}
