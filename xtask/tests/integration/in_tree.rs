//! The xtask installed into a rust tree (`ci/install-into-tree.sh`) and run from the tree's
//! root as `cargo xtask opt-dist …`, with no `--src`: the installed crate's own build, not this
//! test binary, runs the whole pipeline on a copy of the miniature tree.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{argv, assert_success, MiniTree};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn install_into(tree: &Path) -> Output {
    Command::new("bash")
        .arg(project_root().join("ci/install-into-tree.sh"))
        .arg(tree)
        .output()
        .expect("the installer runs")
}

/// `cargo xtask <args>` in `dir`, as a user types it there.
fn cargo_xtask(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    Command::new(cargo)
        .arg("xtask")
        .args(args)
        .current_dir(dir)
        // Nothing of this test's own run may point the installed xtask elsewhere.
        .env_remove("OPT_DIST_SRC")
        .env_remove("RUST_BOOTSTRAP_CONFIG")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo runs")
}

#[test]
#[ignore = "heavy: builds the installed xtask in the tree, then a whole pipeline (CI runs it)"]
fn installed_xtask_runs_all_from_the_tree_root_without_src() {
    let tree = MiniTree::new("in-tree", "legacy");
    let installed = install_into(&tree.root);
    assert_success(&installed, "ci/install-into-tree.sh");
    let crate_dir = tree.root.join("src/tools/opt-dist-xtask");
    for file in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
        assert!(crate_dir.join(file).is_file(), "{file} was not installed");
    }

    let host = tree.host();
    let out = cargo_xtask(
        &tree.root,
        &[
            "opt-dist",
            "all",
            "--",
            "--host",
            &host,
            "--target",
            &host,
            "--include-default-paths",
            "build-manifest",
            "bootstrap",
        ],
    );
    assert_success(&out, "cargo xtask opt-dist all (from the tree's root)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The alias builds the installed crate into the tree's build dir and runs that binary.
    assert!(stderr.contains("build/opt-dist-xtask/debug/xtask opt-dist all"), "{stderr}");
    assert!(tree.root.join("build/opt-dist-xtask/debug/xtask").is_file());

    let version = tree.version();
    let dist = tree.root.join("build/dist");
    for tarball in [
        format!("rustc-{version}-{host}.tar.xz"),
        format!("rust-std-{version}-{host}.tar.xz"),
        format!("reproducible-artifacts-{version}-{host}.tar.xz"),
    ] {
        assert!(dist.join(&tarball).is_file(), "{tarball} is missing from {}", dist.display());
    }
    let dist_calls: Vec<Vec<String>> = tree
        .records_of("x.py")
        .iter()
        .map(argv)
        .filter(|a| a.first().map(String::as_str) == Some("dist"))
        // Preflight's dry run of the same command is recorded too.
        .filter(|a| !a.iter().any(|w| w == "--dry-run"))
        .collect();
    assert_eq!(dist_calls.len(), 1, "{dist_calls:?}");
    let profile = tree.stage_dir("rustc-pgo").join(format!("rustc-pgo-{version}-{host}.profdata"));
    assert!(
        dist_calls[0]
            .windows(2)
            .any(|w| w[0] == "--rust-profile-use" && Path::new(&w[1]) == profile),
        "{dist_calls:?}"
    );
    assert!(tree.stage_dir("dist").join("manifest.json").is_file());
}

#[test]
fn installing_twice_changes_nothing() {
    let tree = MiniTree::new("install-twice", "legacy");
    // A tree with its own cargo configuration: the installer adds the alias and keeps the rest.
    std::fs::create_dir_all(tree.root.join(".cargo")).unwrap();
    let config = "[build]\nrustflags = [\"-Cdebuginfo=0\"]\n\n[alias]\nb = \"build\"\n";
    std::fs::write(tree.root.join(".cargo/config.toml"), config).unwrap();

    assert_success(&install_into(&tree.root), "the first install");
    let after_first = snapshot(&tree.root);
    let written = std::fs::read_to_string(tree.root.join(".cargo/config.toml")).unwrap();
    let parsed: toml::Table = written.parse().unwrap();
    assert_eq!(parsed["build"]["rustflags"][0].as_str(), Some("-Cdebuginfo=0"), "{written}");
    assert_eq!(parsed["alias"]["b"].as_str(), Some("build"), "{written}");
    assert!(
        parsed["alias"]["xtask"].as_str().unwrap().contains("src/tools/opt-dist-xtask/Cargo.toml"),
        "{written}"
    );

    let second = install_into(&tree.root);
    assert_success(&second, "the second install");
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("nothing changed"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(snapshot(&tree.root), after_first);

    // A source file the installed copy has but the project does not is removed on the next
    // run, and a changed one is put back.
    let crate_dir = tree.root.join("src/tools/opt-dist-xtask");
    std::fs::write(crate_dir.join("src/stale.rs"), "// gone next run\n").unwrap();
    std::fs::write(crate_dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    assert_success(&install_into(&tree.root), "the third install");
    assert_eq!(snapshot(&tree.root), after_first);
}

/// Every file the installer may write, with its content.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != "build")
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}
