//! The test stage: a subset of the test suite run on the dist toolchain, as upstream does after
//! its final build, to catch miscompilations the profiles may have caused. Upstream overwrites
//! the tree's `bootstrap.toml` for this (and restores it after); here the tree's own file is not
//! touched, and a `RUST_BOOTSTRAP_CONFIG` of the user's cannot shadow the test configuration.

use std::path::Path;

use anyhow::Result;

use crate::engine::context::Artifact;
use crate::engine::context::Ctx;
use crate::engine::plan::rustc_tarball_shell;
use crate::engine::plan::{Effect, StageDef, StagePlan, Step};
use crate::tools::bootstrap::{toml_path, Bootstrap, TestConfig};
use crate::util::cmd::shell_quote_path;

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
    raw_gib: 0,
    scratch: &[],
    plan,
};

/// The kind of output the test configuration is recorded as.
pub const CONFIG_KIND: &str = "test-bootstrap-config";

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
    let config = tree.stage_dir(STAGE.name).join("bootstrap.toml");
    let test = Bootstrap::test(tree, SUITES, &ctx.options.skipped_tests, &config);
    let layout =
        layout(&tree.build_dir.join("dist"), &tree.build_dir.join("unpacked-dist"), &tree.host);
    let host = &tree.host;
    let tarball = |stem: &str| format!("\"$(ls \"$dist\"/{stem}.tar.* | head -n 1)\"");
    let unpack = [
        layout.as_str(),
        "rm -rf \"$unpacked\" && mkdir -p \"$unpacked\"",
        &format!(
            "for t in \"$rustc_tarball\" {} {} {}; do tar -xf \"$t\" -C \"$unpacked\"; done",
            tarball(&format!("rust-std-$pkgver-{host}")),
            tarball(&format!("cargo-$pkgver-{host}")),
            tarball("rust-src-$pkgver"),
        ),
        &format!("mkdir -p \"$sysroot/lib/rustlib/{host}/lib\" \"$sysroot/lib/rustlib/src\""),
        &format!(
            "cp -R \"$unpacked/rust-std-$pkgver-{host}/rust-std-{host}/lib/rustlib/{host}/lib/.\" \
             \"$sysroot/lib/rustlib/{host}/lib/\""
        ),
        "cp -R \"$unpacked/rust-src-$pkgver/rust-src/lib/rustlib/src/.\" \"$sysroot/lib/rustlib/src/\"",
        "echo \"sysroot: $sysroot\"",
    ]
    .join("\n");
    // Literal parts go into an unquoted here-document, where `$`, `` ` `` and `\\` would be
    // expanded; the shell's variables are the unpacked toolchain's paths.
    let literal =
        |path: &Path| toml_path(path).replace('\\', "\\\\").replace('$', "\\$").replace('`', "\\`");
    // Only named so bootstrap does not build an LLVM; nothing is compiled with it.
    let llvm_config = tree
        .config
        .llvm_config
        .clone()
        .unwrap_or_else(|| tree.host_build().join("llvm/bin/llvm-config"));
    let build_dir = tree.config.build_dir.is_some().then(|| literal(&tree.build_dir));
    let content = TestConfig {
        rustc: "$sysroot/bin/rustc",
        cargo: &format!("$unpacked/cargo-$pkgver-{host}/cargo/bin/cargo"),
        channel: "$channel",
        build_dir: build_dir.as_deref(),
        host,
        llvm_config: &literal(&llvm_config),
    }
    .render();
    let write_config = [
        layout.as_str(),
        "case $pkgver in beta|nightly) channel=$pkgver ;; *) channel=stable ;; esac",
        &format!("mkdir -p {}", shell_quote_path(config.parent().unwrap_or(Path::new("/")))),
        &format!(
            "cat > {0} <<OPT_DIST_TEST_CONFIG\n{content}OPT_DIST_TEST_CONFIG",
            shell_quote_path(&config)
        ),
        &format!("cat {}", shell_quote_path(&config)),
    ]
    .join("\n");
    let steps = vec![
        Step::new(
            "Unpack the dist toolchain into one sysroot",
            Effect::Script { script: unpack },
            "run the dist stage first: it makes the tarballs",
        ),
        Step::of(
            "Test the dist toolchain",
            Some("run-with-test-config"),
            vec![
                Effect::Script { script: write_config },
                Effect::Bootstrap {
                    cmd: test.into_cmd(),
                    preflight: false,
                    stream: None,
                    early_check: None,
                },
            ],
            "a test suite failed on the optimized toolchain: its output above names the tests; \
             --skipped-tests <PATH> skips known failures",
        ),
    ];
    Ok(StagePlan {
        outputs: vec![Artifact { kind: CONFIG_KIND, path: config, made_by: STAGE.name }],
        ..StagePlan::new(&STAGE, ctx, steps)
    })
}

/// The shell variables both scripts start from: `dist`, `unpacked`, the rustc tarball, the
/// package version in the tarball names (`1.95.0`, `beta` or `nightly`), and the sysroot.
fn layout(dist_dir: &Path, unpacked: &Path, host: &str) -> String {
    [
        format!("dist={}", shell_quote_path(dist_dir)),
        format!("unpacked={}", shell_quote_path(unpacked)),
        format!("rustc_tarball=$({})", rustc_tarball_shell(dist_dir, host)),
        "pkgver=${rustc_tarball##*/rustc-}".to_string(),
        format!("pkgver=${{pkgver%%-{host}.tar.*}}"),
        format!("sysroot=\"$unpacked/rustc-$pkgver-{host}/rustc\""),
    ]
    .join("\n")
}
