//! `cargo xtask opt-dist`: builds a PGO+BOLT optimized Rust toolchain in stages that can each be
//! run on its own, from the outputs the stages before it left.
//!
//! The pipeline is data ([`pipeline::STAGES`]); every stage turns a [`Ctx`] into a plan of steps
//! that [`runner`] executes and [`plan`] prints. Profiles and manifests live in
//! `<build-dir>/opt-dist/<stage>/`.

mod backup;
mod bolt;
pub mod bootstrap;
mod cmd;
mod dist;
mod dist_tests;
mod elf;
mod fsutil;
mod interrupt;
mod llvm_bolt;
mod llvm_pgo;
mod llvm_tools;
mod manifest;
mod metrics;
pub mod pipeline;
mod plan;
mod preflight;
mod runner;
mod rustc_bolt;
mod rustc_pgo;
mod training;
mod tree;
mod validate;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::flags::{Command, Invocation, PipelineOptions};
use bootstrap::Interface;
use llvm_tools::HostLlvm;
use pipeline::{StageId, StagePlan};
use tree::Tree;

pub use runner::StepFailed;

/// Everything a stage needs to know, resolved once per invocation.
pub struct Ctx {
    pub tree: Tree,
    pub interface: Interface,
    pub options: PipelineOptions,
    /// `--use-bolt`, resolved against the host's default.
    pub use_bolt: bool,
    pub host_llvm: HostLlvm,
    /// Arguments for the final `x.py dist`, after `--`.
    pub dist_args: Vec<String>,
}

impl Ctx {
    fn resolve(invocation: &Invocation, sh: &xshell::Shell) -> Result<Ctx> {
        let tree = Tree::locate(&invocation.global, sh)?;
        let interface = match invocation.global.interface {
            Some(interface) => interface,
            None => bootstrap::detect_interface(&tree, sh)?,
        };
        Ctx::new(invocation, tree, interface, sh)
    }

    fn new(
        invocation: &Invocation,
        tree: Tree,
        interface: Interface,
        sh: &xshell::Shell,
    ) -> Result<Ctx> {
        let mut options = invocation.options.clone();
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        // The collector runs in rustc-perf's directory: make the user's paths absolute first.
        options.benchmark_cargo_config = options
            .benchmark_cargo_config
            .iter()
            .map(|p| cwd.join(p))
            .collect();
        // Upstream builds for BOLT by default where BOLT works well: x86_64 Linux, where LLVM
        // is a shared library (static LLVM is upstream's Windows setup, without BOLT).
        let bolt_by_default = tree.host.starts_with("x86_64") && tree.host.contains("linux");
        let use_bolt = options
            .use_bolt
            .unwrap_or(bolt_by_default && options.llvm_shared);
        if use_bolt && !options.llvm_shared {
            bail!(
                "--use-bolt true needs a shared LLVM: BOLT optimizes libLLVM.so, which a static \
                 LLVM (--llvm-shared false) does not produce; pass --use-bolt false"
            );
        }
        let llvm_dir = invocation
            .global
            .llvm_dir
            .as_deref()
            .map(tree::absolute)
            .transpose()?;
        let host_llvm = HostLlvm::locate(llvm_dir.as_deref(), &tree, sh);
        let dist_args = invocation.dist_args.clone();
        Ok(Ctx {
            tree,
            interface,
            options,
            use_bolt,
            host_llvm,
            dist_args,
        })
    }

    pub fn stage_dir(&self, stage: StageId) -> PathBuf {
        self.tree.artifacts_root().join(stage.name())
    }

    /// Where `profile` lives, as an input or output of a stage plan.
    pub fn profile(&self, profile: pipeline::Profile) -> pipeline::Artifact {
        let name = self.tree.artifact_name(profile.stem(), profile.extension());
        pipeline::Artifact {
            kind: profile.kind(),
            path: self.stage_dir(profile.made_by()).join(name),
            made_by: profile.made_by(),
        }
    }

    /// Bootstrap builds LLVM itself unless told not to or pointed at an external LLVM.
    pub fn llvm_built_in_tree(&self) -> bool {
        self.options.build_llvm && self.tree.config.llvm_config.is_none()
    }

    /// `x.py build --target H --host H --stage 2 library/std`, with the try-build settings when
    /// asked: the start of every build command of every stage.
    pub fn x_build(&self) -> bootstrap::Bootstrap {
        bootstrap::Bootstrap::build(&self.tree, self.interface)
            .for_try_build(self.options.try_build)
    }

    /// The llvm-profdata for profiles of the freshly built compiler: the one built with the
    /// in-tree LLVM when there is one (same LLVM, by construction), else the host's.
    pub fn profdata_for_built_compiler(&self) -> PathBuf {
        if self.llvm_built_in_tree() {
            self.tree.in_tree_llvm_profdata()
        } else {
            self.host_llvm.tool("llvm-profdata")
        }
    }

    /// The options as recorded in manifests and plans: resolved values, not what was typed.
    pub fn options_record(&self) -> serde_json::Value {
        serde_json::json!({
            "use_bolt": self.use_bolt,
            "build_llvm": self.options.build_llvm,
            "llvm_shared": self.options.llvm_shared,
            "keep_raw": self.options.keep_raw,
            "try_build": self.options.try_build,
            "run_tests": self.options.run_tests,
            "skipped_tests": self.options.skipped_tests,
            "rustc_crates": self.options.rustc_crates,
            "benchmark_cargo_config": self.options.benchmark_cargo_config,
            "host_llvm": self.host_llvm,
            "dist_args": self.dist_args,
        })
    }

    /// Every stage of a full run, in order; the test stage only with `--run-tests` and never
    /// in a try build, as upstream.
    fn all_plans(&self) -> Result<Vec<StagePlan>> {
        pipeline::STAGES
            .iter()
            .filter(|s| {
                s.id != StageId::Test || (self.options.run_tests && !self.options.try_build)
            })
            .map(|s| self.stage_plan(s.id))
            .collect()
    }

    fn stage_plan(&self, stage: StageId) -> Result<StagePlan> {
        (stage.def().plan)(self)
    }
}

pub fn run(invocation: Invocation) -> Result<()> {
    let sh = xshell::Shell::new().context("cannot set up the shell")?;
    match invocation.command {
        Command::Stage(stage) => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            run_plans(&ctx, vec![ctx.stage_plan(stage)?], &sh)
        }
        Command::All => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            run_plans(&ctx, ctx.all_plans()?, &sh)
        }
        Command::Plan { target, format } => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            let plans = match target {
                Some(stage) => vec![ctx.stage_plan(stage)?],
                None => ctx.all_plans()?,
            };
            print!("{}", plan::render(&ctx, &plans, format)?);
            Ok(())
        }
        Command::Status { json: false } => not_built_yet("status"),
        Command::Status { json: true } => not_built_yet("status --json"),
        Command::Clean { stage: None } => not_built_yet("clean"),
        Command::Clean { stage: Some(stage) } => not_built_yet(&format!("clean {}", stage.name())),
        Command::Doctor => doctor(&invocation, &sh),
    }
}

/// Runs stage plans in order, after checking that their inputs exist and, unless told not to,
/// after preflight; ends with the time each stage took.
fn run_plans(ctx: &Ctx, plans: Vec<StagePlan>, sh: &xshell::Shell) -> Result<()> {
    pipeline::check_inputs(&plans)?;
    if !ctx.options.no_preflight {
        preflight::preflight(ctx, &plans, sh)?;
    }
    let started = std::time::Instant::now();
    let mut timings = Vec::new();
    for plan in &plans {
        let stage_started = std::time::Instant::now();
        runner::run_stage(ctx, plan, sh)?;
        timings.push((
            plan.stage,
            plan.skipped.is_some(),
            stage_started.elapsed().as_secs_f64(),
        ));
    }
    if plans.len() > 1 {
        eprintln!(
            "\nopt-dist: all stages finished in {}",
            fsutil::human_duration(started.elapsed().as_secs_f64())
        );
        for (stage, skipped, secs) in timings {
            let what = if skipped {
                "skipped".to_string()
            } else {
                fsutil::human_duration(secs)
            };
            eprintln!("  {:<12} {:<22} {what:>9}", stage.name(), stage.def().title);
        }
    }
    Ok(())
}

/// `doctor`: every check for a full run, as a table; bootstrap's interface is one of them, so
/// a tree whose bootstrap cannot answer still gets the rest of the table.
fn doctor(invocation: &Invocation, sh: &xshell::Shell) -> Result<()> {
    let tree = Tree::locate(&invocation.global, sh)?;
    let (interface, interface_check) = match invocation.global.interface {
        Some(interface) => (
            interface,
            preflight::Check::ok("interface", format!("{} (--interface)", interface.name())),
        ),
        None => match bootstrap::detect_interface(&tree, sh) {
            Ok(interface) => (
                interface,
                preflight::Check::ok(
                    "interface",
                    format!("{} (asked bootstrap)", interface.name()),
                ),
            ),
            Err(err) => (
                Interface::Legacy,
                preflight::Check::fail(
                    "interface",
                    format!("{err:#}"),
                    "fix the tree's bootstrap configuration or pass --interface",
                ),
            ),
        },
    };
    let ctx = Ctx::new(invocation, tree, interface, sh)?;
    let stages: Vec<StageId> = pipeline::STAGES.iter().map(|s| s.id).collect();
    let mut checks = vec![interface_check];
    checks.extend(preflight::checks(&ctx, &stages, sh));
    println!(
        "opt-dist doctor: rust {} at {}, host {}, build dir {}\n",
        ctx.tree.version,
        ctx.tree.src.display(),
        ctx.tree.host,
        ctx.tree.build_dir.display()
    );
    print!("{}", preflight::render_table(&checks));
    if checks.iter().any(|c| c.outcome == preflight::Outcome::Fail) {
        bail!("doctor found problems: see the FAIL lines and their fixes above");
    }
    Ok(())
}

fn not_built_yet(command: &str) -> Result<()> {
    bail!("`opt-dist {command}` is not built yet: the stages, `all`, `plan` and `doctor` run today")
}
