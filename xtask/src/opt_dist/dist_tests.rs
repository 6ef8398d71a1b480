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

use super::cmd::Cmd;
use super::dist::rustc_tarball;
use super::fsutil;
use super::pipeline::{Action, Artifact, StageId, StagePlan, Step};
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

/// Unpacks the rustc, rust-std, cargo and rust-src tarballs and assembles one sysroot.
pub fn unpack(run: &mut StepRun, dist_dir: &Path, unpacked: &Path) -> Result<()> {
    let dist = DistToolchain::find(dist_dir, unpacked, &run.ctx.tree.host)?;
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

/// Writes the configuration that makes the unpacked toolchain stage 0, then runs `cmd`.
pub fn run_with_config(
    run: &mut StepRun,
    cmd: &Cmd,
    config: &Path,
    unpacked: &Path,
    llvm_config: &Path,
) -> Result<()> {
    let dist = DistToolchain::find(
        &run.ctx.tree.build_dir.join("dist"),
        unpacked,
        &run.ctx.tree.host,
    )?;
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
    let toml_path = |p: &Path| p.display().to_string().replace('\\', "/");
    let mut content = format!(
        "# Written by cargo xtask opt-dist for its test stage.\n\
         profile = \"user\"\nchange-id = 115898\n\n[rust]\nchannel = \"{}\"\n\
         verbose-tests = true\n# rust-lld cannot be combined with an external LLVM\nlld = false\n\n\
         [build]\nrustc = \"{}\"\ncargo = \"{}\"\nlocal-rebuild = true\n\
         compiletest-allow-stage0 = true\n",
        dist.channel(),
        toml_path(&rustc),
        toml_path(&cargo)
    );
    if run.ctx.tree.config.build_dir.is_some() {
        content.push_str(&format!(
            "build-dir = \"{}\"\n",
            toml_path(&run.ctx.tree.build_dir)
        ));
    }
    content.push_str(&format!(
        "\n[target.{}]\nllvm-config = \"{}\"\n",
        run.ctx.tree.host,
        toml_path(llvm_config)
    ));
    fsutil::write_atomically(config, content.as_bytes())?;
    eprintln!("    {}:\n{}", config.display(), indent(&content));
    run.run(cmd)?;
    Ok(())
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
        let name = rustc
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
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
                .find(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .starts_with(&prefix)
                })
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
