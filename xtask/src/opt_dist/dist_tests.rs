//! The test stage: a subset of the test suite run on the dist toolchain, as upstream does after
//! its final build, to catch miscompilations the profiles may have caused.
//!
//! The rustc, rust-std, cargo and rust-src tarballs are unpacked into `<build>/unpacked-dist`
//! and assembled into one sysroot; a configuration written into the stage directory makes that
//! toolchain bootstrap's stage 0, and `x.py test --stage 0` runs the suites with
//! `RUST_BOOTSTRAP_CONFIG` pointing at it. Upstream overwrites the tree's `bootstrap.toml` for
//! this (and restores it after); the tree's own file is not touched here, and a
//! `RUST_BOOTSTRAP_CONFIG` of the user's cannot shadow the test configuration.

use anyhow::Result;

use super::cmd::Cmd;
use super::pipeline::{Action, Artifact, StageId, StagePlan, Step};
use super::Ctx;

/// The suites upstream runs on the dist toolchain (opt-dist's list at 1.95.0).
pub const SUITES: &[&str] = &[
    "tests/assembly-llvm",
    "tests/codegen-llvm",
    "tests/codegen-units",
    "tests/incremental",
    "tests/mir-opt",
    "tests/pretty",
    // No too-new glibc symbols on x86_64 Linux.
    "tests/run-make/glibc-symbols-x86_64-unknown-linux-gnu",
    // LLD is the default linker on x86_64 Linux.
    "tests/run-make/rust-lld-x86_64-unknown-linux-gnu-dist",
    "tests/ui",
    "tests/crashes",
    "tests/rustdoc-html",
];

pub fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let dir = ctx.stage_dir(StageId::Test);
    let unpacked = tree.build_dir.join("unpacked-dist");
    let config = dir.join("bootstrap.toml");
    let mut test = Cmd::new(tree.python.clone(), &tree.src)
        .arg(tree.x_py().display().to_string())
        .args(["test", "--build", &tree.host, "--stage", "0"])
        .args(SUITES.iter().copied())
        // Also the tests that only make sense for a dist toolchain.
        .env("COMPILETEST_ENABLE_DIST_TESTS", "1")
        .env("RUST_BOOTSTRAP_CONFIG", config.display().to_string());
    if tree.build_dir_is_explicit {
        test = test
            .arg("--build-dir")
            .arg(tree.build_dir.display().to_string());
    }
    for skipped in &ctx.options.skipped_tests {
        test = test.args(["--skip", skipped]);
    }
    let steps = vec![
        Step {
            title: "Unpack the dist toolchain into one sysroot".to_string(),
            action: Action::UnpackDist {
                dist_dir: tree.build_dir.join("dist"),
                unpacked: unpacked.clone(),
            },
            hint: "run the dist stage first: it makes the tarballs".to_string(),
        },
        Step {
            title: "Test the dist toolchain".to_string(),
            action: Action::RunWithTestConfig {
                cmd: test,
                config: config.clone(),
                unpacked,
                // Only named so bootstrap does not build an LLVM; nothing is compiled with it.
                llvm_config: tree
                    .config
                    .llvm_config
                    .clone()
                    .unwrap_or_else(|| tree.host_build().join("llvm/bin/llvm-config")),
            },
            hint: "a test suite failed on the optimized toolchain: its output above names \
                   the tests; --skipped-tests <PATH> skips known failures"
                .to_string(),
        },
    ];
    let outputs = vec![Artifact {
        kind: "test-bootstrap-config",
        path: config,
        made_by: StageId::Test,
    }];
    Ok(StagePlan {
        stage: StageId::Test,
        dir,
        inputs: Vec::new(),
        outputs,
        steps,
        skipped: None,
    })
}
