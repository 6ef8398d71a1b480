//! The test stage: a subset of the test suite run on the dist toolchain, as upstream does after
//! its final build, to catch miscompilations the profiles may have caused.
//!
//! The rustc, rust-std, cargo and rust-src tarballs are unpacked into `<build>/unpacked-dist`
//! and assembled into one sysroot; a configuration written into the stage directory makes that
//! toolchain bootstrap's stage 0, and `x.py test --stage 0` runs the suites with
//! `RUST_BOOTSTRAP_CONFIG` pointing at it. Upstream overwrites the tree's `bootstrap.toml` for
//! this (and restores it after); the tree's own file is not touched here, and a
//! `RUST_BOOTSTRAP_CONFIG` of the user's cannot shadow the test configuration.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use serde::Serialize;

use super::bootstrap::{toml_path, Bootstrap, TestConfig};
use super::cmd::{shell_quote_path, Cmd};
use super::dist::{rustc_tarball, rustc_tarball_shell};
use super::fsutil::{self, file_name};
use super::pipeline::{Action, Artifact, StageId, StagePlan, StageWork, Step};
use super::runner::StepRun;
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
    let dist_dir = tree.build_dir.join("dist");
    let config = dir.join("bootstrap.toml");
    let test = Bootstrap::test(tree, SUITES, &ctx.options.skipped_tests, &config);
    let steps = vec![
        Step::new(
            "Unpack the dist toolchain into one sysroot",
            Action::Work(Box::new(UnpackDist {
                dist_dir: dist_dir.clone(),
                unpacked: unpacked.clone(),
            })),
            "run the dist stage first: it makes the tarballs",
        ),
        Step::new(
            "Test the dist toolchain",
            Action::Work(Box::new(RunWithTestConfig {
                cmd: test.into_cmd(),
                config: config.clone(),
                dist_dir,
                unpacked,
                // Only named so bootstrap does not build an LLVM; nothing is compiled with it.
                llvm_config: tree
                    .config
                    .llvm_config
                    .clone()
                    .unwrap_or_else(|| tree.host_build().join("llvm/bin/llvm-config")),
                build_dir: tree
                    .config
                    .build_dir
                    .is_some()
                    .then(|| tree.build_dir.clone()),
            })),
            "a test suite failed on the optimized toolchain: its output above names the tests; \
             --skipped-tests <PATH> skips known failures",
        ),
    ];
    let outputs = vec![Artifact {
        kind: "test-bootstrap-config",
        path: config,
        made_by: StageId::Test,
    }];
    Ok(StagePlan {
        outputs,
        ..StagePlan::new(StageId::Test, dir, steps)
    })
}

/// Unpacks the rustc, rust-std, cargo and rust-src dist tarballs and assembles one sysroot.
#[derive(Debug, Serialize)]
pub struct UnpackDist {
    pub dist_dir: PathBuf,
    pub unpacked: PathBuf,
}

impl StageWork for UnpackDist {
    fn kind(&self) -> &'static str {
        "unpack-dist"
    }

    fn run(&self, run: &mut StepRun) -> Result<()> {
        let unpacked = &self.unpacked;
        let dist = DistToolchain::find(&self.dist_dir, unpacked, &run.ctx.tree.host)?;
        if unpacked.exists() {
            std::fs::remove_dir_all(unpacked)
                .with_context(|| format!("cannot empty {}", unpacked.display()))?;
        }
        std::fs::create_dir_all(unpacked)?;
        for tarball in &dist.tarballs {
            let untar = Cmd::new("tar", unpacked)
                .arg("-xf")
                .arg(tarball.display().to_string());
            run.run(&untar)?;
        }
        let rustlib = format!("lib/rustlib/{}/lib", run.ctx.tree.host);
        fsutil::copy_dir(&dist.std_dir.join(&rustlib), &dist.rustc_dir.join(&rustlib))?;
        fsutil::copy_dir(
            &dist.src_dir.join("lib/rustlib/src"),
            &dist.rustc_dir.join("lib/rustlib/src"),
        )?;
        eprintln!("    sysroot: {}", dist.rustc_dir.display());
        Ok(())
    }

    fn shell(&self, host: &str) -> String {
        let layout = ShellLayout::new(&self.dist_dir, &self.unpacked, host);
        let tarball =
            |stem: &str| format!("\"$(ls \"$dist\"/{stem}.tar.* | head -n 1)\"", stem = stem);
        [
            layout.variables.clone(),
            "rm -rf \"$unpacked\" && mkdir -p \"$unpacked\"".to_string(),
            format!(
                "for t in \"$rustc_tarball\" {} {} {}; do tar -xf \"$t\" -C \"$unpacked\"; done",
                tarball(&format!("rust-std-$pkgver-{host}")),
                tarball(&format!("cargo-$pkgver-{host}")),
                tarball("rust-src-$pkgver"),
            ),
            format!(
                "mkdir -p \"$sysroot/lib/rustlib/{host}/lib\" \"$sysroot/lib/rustlib/src\""
            ),
            format!(
                "cp -R \"$unpacked/rust-std-$pkgver-{host}/rust-std-{host}/lib/rustlib/{host}/lib/.\" \
                 \"$sysroot/lib/rustlib/{host}/lib/\""
            ),
            "cp -R \"$unpacked/rust-src-$pkgver/rust-src/lib/rustlib/src/.\" \"$sysroot/lib/rustlib/src/\""
                .to_string(),
        ]
        .join("\n")
    }
}

/// Writes the configuration that makes the unpacked toolchain stage 0 ([`TestConfig`]), then
/// runs `cmd`, which points bootstrap at it with `RUST_BOOTSTRAP_CONFIG`.
#[derive(Debug, Serialize)]
pub struct RunWithTestConfig {
    pub cmd: Cmd,
    pub config: PathBuf,
    pub dist_dir: PathBuf,
    pub unpacked: PathBuf,
    pub llvm_config: PathBuf,
    /// The build dir, when the user's configuration moved it (the test config replaces theirs).
    pub build_dir: Option<PathBuf>,
}

impl StageWork for RunWithTestConfig {
    fn kind(&self) -> &'static str {
        "run-with-test-config"
    }

    fn run(&self, run: &mut StepRun) -> Result<()> {
        let dist = DistToolchain::find(&self.dist_dir, &self.unpacked, &run.ctx.tree.host)?;
        let rustc = dist.rustc_dir.join("bin/rustc");
        let cargo = dist.cargo_dir.join("bin/cargo");
        for tool in [&rustc, &cargo] {
            if !tool.is_file() {
                bail!(
                    "{} is missing: unpack the dist toolchain first",
                    tool.display()
                );
            }
        }
        let build_dir = self.build_dir.as_deref().map(toml_path);
        let content = TestConfig {
            rustc: &toml_path(&rustc),
            cargo: &toml_path(&cargo),
            channel: dist.channel(),
            build_dir: build_dir.as_deref(),
            host: &run.ctx.tree.host,
            llvm_config: &toml_path(&self.llvm_config),
        }
        .render();
        fsutil::write_atomically(&self.config, content.as_bytes())?;
        eprintln!("    {}:\n{}", self.config.display(), indent(&content));
        run.run_bootstrap(&self.cmd)
    }

    fn shell(&self, host: &str) -> String {
        let layout = ShellLayout::new(&self.dist_dir, &self.unpacked, host);
        // The literal parts go into an unquoted here-document, where `$`, `` ` `` and `\`
        // would be expanded.
        let literal = |path: &Path| {
            toml_path(path)
                .replace('\\', "\\\\")
                .replace('$', "\\$")
                .replace('`', "\\`")
        };
        let build_dir = self.build_dir.as_deref().map(literal);
        let content = TestConfig {
            rustc: "$sysroot/bin/rustc",
            cargo: &format!("$unpacked/cargo-$pkgver-{host}/cargo/bin/cargo"),
            channel: "$channel",
            build_dir: build_dir.as_deref(),
            host,
            llvm_config: &literal(&self.llvm_config),
        }
        .render();
        let config = shell_quote_path(&self.config);
        [
            layout.variables,
            "case $pkgver in beta|nightly) channel=$pkgver ;; *) channel=stable ;; esac"
                .to_string(),
            format!(
                "mkdir -p {}",
                shell_quote_path(self.config.parent().unwrap_or(Path::new("/")))
            ),
            format!("cat > {config} <<OPT_DIST_TEST_CONFIG\n{content}OPT_DIST_TEST_CONFIG"),
            format!("cd {}", shell_quote_path(&self.cmd.cwd)),
            self.cmd.shell_line(),
        ]
        .join("\n")
    }
}

/// The shell variables both test-stage steps start from: `dist`, `unpacked`, the rustc
/// tarball, the package version in the tarball names, and the assembled sysroot.
struct ShellLayout {
    variables: String,
}

impl ShellLayout {
    fn new(dist_dir: &Path, unpacked: &Path, host: &str) -> ShellLayout {
        let variables = [
            format!("dist={}", shell_quote_path(dist_dir)),
            format!("unpacked={}", shell_quote_path(unpacked)),
            format!("rustc_tarball=$({})", rustc_tarball_shell(dist_dir, host)),
            "pkgver=${rustc_tarball##*/rustc-}".to_string(),
            format!("pkgver=${{pkgver%%-{host}.tar.*}}"),
            format!("sysroot=\"$unpacked/rustc-$pkgver-{host}/rustc\""),
        ]
        .join("\n");
        ShellLayout { variables }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The dist tarballs the test stage unpacks, and where their contents land.
struct DistToolchain {
    /// `1.95.0`, `beta` or `nightly`: the version part of the tarball names.
    package_version: String,
    tarballs: Vec<PathBuf>,
    rustc_dir: PathBuf,
    std_dir: PathBuf,
    cargo_dir: PathBuf,
    src_dir: PathBuf,
}

impl DistToolchain {
    fn find(dist_dir: &Path, unpacked: &Path, host: &str) -> Result<DistToolchain> {
        let rustc = rustc_tarball(dist_dir, host)
            .context("run the dist stage first: it makes the tarballs")?;
        let name = file_name(&rustc);
        let package_version = name
            .strip_prefix("rustc-")
            .and_then(|rest| rest.split_once(&format!("-{host}.tar")))
            .map(|(v, _)| v.to_string())
            .context("unexpected rustc tarball name")?;
        let stem = |component: &str, with_host: bool| {
            if with_host {
                format!("{component}-{package_version}-{host}")
            } else {
                format!("{component}-{package_version}")
            }
        };
        let mut tarballs = Vec::new();
        for (component, with_host) in [
            ("rustc", true),
            ("rust-std", true),
            ("cargo", true),
            ("rust-src", false),
        ] {
            let prefix = format!("{}.tar.", stem(component, with_host));
            let tarball = std::fs::read_dir(dist_dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| file_name(p).starts_with(&prefix))
                .with_context(|| format!("no {prefix}* (.xz or .zst) in {}", dist_dir.display()))?;
            tarballs.push(tarball);
        }
        Ok(DistToolchain {
            rustc_dir: unpacked.join(stem("rustc", true)).join("rustc"),
            std_dir: unpacked
                .join(stem("rust-std", true))
                .join(format!("rust-std-{host}")),
            cargo_dir: unpacked.join(stem("cargo", true)).join("cargo"),
            src_dir: unpacked.join(stem("rust-src", false)).join("rust-src"),
            package_version,
            tarballs,
        })
    }

    /// Tarballs are named after the release for stable, after the channel otherwise.
    fn channel(&self) -> &str {
        match self.package_version.as_str() {
            "beta" => "beta",
            "nightly" => "nightly",
            _ => "stable",
        }
    }
}
