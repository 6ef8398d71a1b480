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

use crate::engine::context::Ctx;
use crate::engine::context::Artifact;
use crate::engine::plan::{Effect, StageDef, StagePlan, Step};
use crate::tools::bootstrap::Bootstrap;

pub const STAGE: StageDef = StageDef {
    name: "test",
    title: "Tests",
    summary: "run upstream's test subset on the dist toolchain",
    about: "Unpacks the dist toolchain into one sysroot and runs upstream's test subset with it \
            as stage 0. The test configuration is written to \
            <build-dir>/opt-dist/test/bootstrap.toml and handed to x.py test with \
            RUST_BOOTSTRAP_CONFIG; the tree's own bootstrap.toml is never touched.",
    takes_dist_args: false,
    only_with_tests: true,
    kept_gib: 5,
    transient_gib: 0,
    scratch: &[],
    plan,
};

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

fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let unpacked = tree.build_dir.join("unpacked-dist");
    let dist_dir = tree.build_dir.join("dist");
    let config = tree.stage_dir(STAGE.name).join("bootstrap.toml");
    let test = Bootstrap::test(tree, SUITES, &ctx.options.skipped_tests, &config);
    let steps = vec![
        Step::new(
            "Unpack the dist toolchain into one sysroot",
            Effect::UnpackDist {
                dist_dir: dist_dir.clone(),
                unpacked: unpacked.clone(),
                host: tree.host.clone(),
            },
            "run the dist stage first: it makes the tarballs",
        ),
        Step::of(
            "Test the dist toolchain",
            Some("run-with-test-config"),
            vec![
                Effect::WriteTestConfig {
                    config: config.clone(),
                    dist_dir,
                    unpacked,
                    host: tree.host.clone(),
                    // Only named so bootstrap does not build an LLVM; nothing is compiled with it.
                    llvm_config: tree
                        .config
                        .llvm_config
                        .clone()
                        .unwrap_or_else(|| tree.host_build().join("llvm/bin/llvm-config")),
                    build_dir: tree.config.build_dir.is_some().then(|| tree.build_dir.clone()),
                },
                Effect::Bootstrap {
                    cmd: test.into_cmd(),
                    preflight: false,
                },
            ],
            "a test suite failed on the optimized toolchain: its output above names the tests; \
             --skipped-tests <PATH> skips known failures",
        ),
    ];
    Ok(StagePlan {
        outputs: vec![Artifact {
            kind: "test-bootstrap-config",
            path: config,
            made_by: STAGE.name,
        }],
        ..StagePlan::new(&STAGE, ctx, steps)
    })
}
