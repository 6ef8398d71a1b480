//! The guides in `docs/` say what to type; here every command in them is run.
//!
//! The convention, checked by the first test so that no command can be skipped by accident:
//! every fenced block in a guide is either ```` ```sh ```` (commands, run) or ```` ```text ````
//! (output or a diagram, which must not look like a command); contributing.md also has
//! ```` ```rust <file> ```` (code for that file, which `docs.rs` puts into a copy of the crate
//! and builds). The `sh` blocks of a guide run in order in one bash session (`set -euo
//! pipefail`), from this project's checkout, with the variables the guide's first block defines
//! preset to a fresh copy of the miniature tree and to scratch directories: the guide's text is
//! run as written, nothing is substituted in it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, dist_args, Beside, MiniTree};

const GUIDES: [&str; 2] = ["docs/packagers.md", "docs/contributing.md"];

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

pub struct Block {
    /// `docs/<guide>.md:<line of the opening fence>`.
    pub at: String,
    /// The info string: `sh`, `text`, or `rust <file>`.
    pub lang: String,
    pub text: String,
}

pub fn blocks(guide: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(project_root().join(guide)).unwrap();
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in text.lines().enumerate() {
        // Only fences at the start of a line: "```` ```sh ````" in prose names the convention.
        let Some(lang) = line.strip_prefix("```") else {
            if let Some(block) = open.as_mut() {
                block.text.push_str(line);
                block.text.push('\n');
            }
            continue;
        };
        match open.take() {
            Some(block) => found.push(block),
            None => {
                open = Some(Block {
                    at: format!("{guide}:{}", n + 1),
                    lang: lang.trim().to_string(),
                    text: String::new(),
                })
            }
        }
    }
    assert!(open.is_none(), "{guide}: a fenced block is not closed");
    found
}

#[test]
fn every_block_in_the_guides_is_run_or_is_output() {
    for guide in GUIDES {
        let blocks = blocks(guide);
        assert!(blocks.iter().any(|b| b.lang == "sh"), "{guide} has no command block");
        for block in &blocks {
            match block.lang.as_str() {
                "sh" => {}
                // docs.rs builds every one of contributing.md's.
                lang if guide == "docs/contributing.md"
                    && lang.starts_with("rust ")
                    && lang.split_whitespace().count() == 2 => {}
                "text" => {
                    for line in block.text.lines() {
                        let line = line.trim_start();
                        assert!(
                            !["$ ", "cargo ", "ci/", "./"]
                                .iter()
                                .any(|p| line.starts_with(p)),
                            "{}: a command in a text block is never run; put it in an sh block: {line}",
                            block.at
                        );
                    }
                }
                other => panic!(
                    "{}: a ```{other} block: guides have ```sh (run by this test), ```text \
                     (output) and ```rust <file> (built by docs.rs) only",
                    block.at
                ),
            }
        }
    }
}

/// Runs a guide's `sh` blocks in one bash session from the project's checkout, with `env`.
fn run_guide(guide: &str, env: &[(&str, &Path)], scratch: &Path) {
    let blocks: Vec<Block> = blocks(guide).into_iter().filter(|b| b.lang == "sh").collect();
    let mut script = String::from("set -euo pipefail\n");
    for (n, block) in blocks.iter().enumerate() {
        script.push_str(&format!("echo 'guides: block {n} at {}' >&2\n", block.at));
        script.push_str(&block.text);
    }
    // Reached only when no block stopped the session early.
    script.push_str(&format!("echo 'guides: all {} blocks ran' >&2\n", blocks.len()));
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(project_root())
        .env("TMPDIR", scratch)
        // Nothing of this test's own run may point the commands elsewhere.
        .env_remove("OPT_DIST_SRC")
        .env_remove("RUST_BOOTSTRAP_CONFIG")
        .env_remove("CARGO_TARGET_DIR");
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("bash runs");
    assert_success(&out, guide);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("guides: all {} blocks ran", blocks.len())), "{guide}: {err}");
}

#[test]
#[ignore = "heavy: installs and builds the xtask in a tree, then the pipeline three ways (CI runs it)"]
fn the_packagers_guide_runs_on_the_miniature_tree() {
    let tree = MiniTree::new("guide-packagers", "legacy");
    let beside = Beside::new(&tree);
    let dist_args = dist_args(&tree.host()).join(" ");
    run_guide(
        "docs/packagers.md",
        &[
            ("TREE", &tree.root),
            ("PROFILES", &beside.0.join("profiles")),
            ("STORE", &beside.0.join("store")),
            ("DIST_ARGS", Path::new(&dist_args)),
        ],
        &beside.0,
    );
    // What the guide promises at its end: the toolchain, from the one command and from the
    // separate steps, and the profiles kept.
    let version = tree.version();
    let host = tree.host();
    let rustc = format!("rustc-{version}-{host}.tar.xz");
    assert!(tree.root.join("build/dist").join(&rustc).is_file());
    assert!(beside.0.join("store/dist").join(&rustc).is_file());
    assert!(tree.root.join("build-again/dist").join(&rustc).is_file());
    for stage in ["rustc-pgo", "llvm-pgo", "llvm-bolt", "rustc-bolt"] {
        assert!(beside.0.join("profiles").join(stage).join("manifest.json").is_file());
    }
}

#[test]
#[ignore = "heavy: builds this project again in its own target dir, and runs the contract suite (CI runs it)"]
fn the_contributing_guide_runs_on_the_miniature_tree() {
    let tree = MiniTree::new("guide-contributing", "legacy");
    let beside = Beside::new(&tree);
    // The commands' own cargo needs a target dir of its own: this test's cargo holds ./target.
    let target = project_root().join("target/guides");
    let mut env: Vec<(&str, &Path)> = vec![("MINI", &tree.root), ("CARGO_TARGET_DIR", &target)];
    let real_tree = std::env::var_os("OPT_DIST_REAL_TREE").map(PathBuf::from);
    if let Some(real_tree) = &real_tree {
        env.push(("OPT_DIST_REAL_TREE", real_tree));
    }
    run_guide("docs/contributing.md", &env, &beside.0);
    assert!(tree.stage_dir("rustc-pgo").join("manifest.json").is_file());
}
