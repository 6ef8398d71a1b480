//! `cargo xtask opt-dist`: builds a PGO+BOLT optimized Rust toolchain in stages that can each be
//! run on its own, from the outputs the stages before it left.
//!
//! The pipeline is data ([`pipeline::STAGES`]); every stage turns a [`Ctx`] into a plan of steps
//! that [`runner`] executes and [`plan`] prints. Profiles and manifests live in
//! `<build-dir>/opt-dist/<stage>/`.

mod backup;
mod bolt;
pub mod bootstrap;
mod build_state;
mod clean;
mod cmd;
mod disk;
mod dist;
mod dist_tests;
mod elf;
mod exchange;
mod fsutil;
mod interrupt;
mod llvm_bolt;
mod llvm_pgo;
mod llvm_tools;
mod lock;
mod manifest;
mod metrics;
pub mod pipeline;
mod plan;
mod preflight;
mod report;
mod runner;
mod rustc_bolt;
mod rustc_pgo;
mod state;
pub mod training;
mod tree;
mod untrusted;
mod validate;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::flags::{Command, Invocation, PipelineOptions};
use bootstrap::Interface;
use llvm_tools::HostLlvm;
use pipeline::{StageId, StagePlan};
use tree::Tree;

pub use interrupt::{describe as describe_signal, signal as interrupted_by};
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
    /// The tree's training crate lists.
    pub training: training::TrainingLists,
    /// The tree's bootstrap takes `pgo.clippy` (master since PR #159642): clippy is then
    /// instrumented, trained and optimized like rustdoc.
    pub clippy_pgo: bool,
    /// `--wait`: a command that writes waits for another run holding the build dir.
    pub wait_for_lock: bool,
}

impl Ctx {
    fn resolve(invocation: &Invocation, sh: &xshell::Shell) -> Result<Ctx> {
        let tree = Tree::locate(&invocation.global, sh)?;
        // Before bootstrap is asked anything about it.
        if tree.build_dir.exists() && !tree.build_dir.is_dir() {
            bail!(
                "preflight: the build dir {} is not a directory; nothing was started\n\
                 fix: pass a --build-dir that is a writable directory (or can be created)",
                tree.build_dir.display()
            );
        }
        let interface = match invocation.global.interface {
            Some(interface) => interface,
            None => bootstrap::cached_interface(&tree, sh, may_write_caches(invocation))?,
        };
        Ctx::new(invocation, tree, interface, sh)
    }

    fn new(
        invocation: &Invocation,
        tree: Tree,
        interface: Interface,
        sh: &xshell::Shell,
    ) -> Result<Ctx> {
        let options = invocation.options.clone();
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
        let host_llvm = HostLlvm::locate(invocation.global.llvm_dir.as_deref(), &tree, sh);
        let dist_args = invocation.dist_args.clone();
        let training = training::TrainingLists::of(&tree);
        // Only the table can name clippy; 1.95.0's bootstrap is not asked.
        let clippy_pgo = match interface {
            Interface::PgoTable => {
                bootstrap::cached_clippy_pgo(&tree, sh, may_write_caches(invocation))?
            }
            Interface::Legacy => false,
        };
        Ok(Ctx {
            tree,
            interface,
            options,
            use_bolt,
            host_llvm,
            dist_args,
            training,
            clippy_pgo,
            wait_for_lock: invocation.global.wait,
        })
    }

    /// Takes the build dir's lock, for a command that writes (see [`lock`]).
    pub fn lock(&self) -> Result<lock::Lock> {
        lock::acquire(&self.tree.artifacts_root(), self.wait_for_lock)
    }

    /// The collector's `--jobs`: `--training-jobs`, else what the tree's opt-dist passes.
    pub fn training_jobs(&self) -> Option<u32> {
        self.options.training_jobs.or(self.training.jobs)
    }

    pub fn stage_dir(&self, stage: StageId) -> PathBuf {
        self.tree.artifacts_root().join(stage.name())
    }

    /// Where `profile` lives, as an input or output of a stage plan.
    pub fn profile(&self, profile: pipeline::Profile) -> pipeline::Artifact {
        let def = profile.def();
        let name = self.tree.artifact_name(def.stem, def.format.extension());
        pipeline::Artifact {
            kind: def.kind,
            path: self.stage_dir(def.made_by).join(name),
            made_by: def.made_by,
        }
    }

    /// Where the profile of kind `K` lives, typed for handing it to bootstrap.
    pub fn profile_file<K: pipeline::kind::ProfileKind>(&self) -> pipeline::ProfileFile<K> {
        pipeline::ProfileFile::new(self.profile(K::PROFILE))
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
        #[derive(serde::Serialize)]
        struct Record<'a> {
            use_bolt: bool,
            #[serde(flatten)]
            options: &'a PipelineOptions,
            host_llvm: &'a HostLlvm,
            dist_args: &'a [String],
            training: &'a training::TrainingLists,
        }
        serde_json::to_value(Record {
            use_bolt: self.use_bolt,
            options: &self.options,
            host_llvm: &self.host_llvm,
            dist_args: &self.dist_args,
            training: &self.training,
        })
        .expect("options serialize")
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

    /// Puts in front of each plan the repairs the build dir needs by then, the plans before it
    /// having run.
    fn prepare(&self, plans: &mut [StagePlan]) -> Result<()> {
        let mut simulation = build_state::Simulation::new(self);
        for plan in plans {
            simulation.prepare(self, plan)?;
        }
        Ok(())
    }
}

pub fn run(invocation: Invocation) -> Result<()> {
    let sh = xshell::Shell::new().context("cannot set up the shell")?;
    match invocation.command {
        Command::Stage(stage) => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            preflight::require_usable_build_dir(&ctx)?;
            let mut lock = ctx.lock()?;
            run_plans(&ctx, vec![ctx.stage_plan(stage)?], &sh, &mut lock)
        }
        Command::All { from, force } => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            preflight::require_usable_build_dir(&ctx)?;
            let mut lock = ctx.lock()?;
            run_all(&ctx, from, force, &sh, &mut lock)
        }
        Command::Plan { target, format } => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            let mut plans = match target {
                Some(stage) => vec![ctx.stage_plan(stage)?],
                None => ctx.all_plans()?,
            };
            ctx.prepare(&mut plans)?;
            print!("{}", plan::render(&ctx, &plans, format)?);
            Ok(())
        }
        Command::Status { json } => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            status(&ctx, json)
        }
        Command::Clean { stage, and_later } => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            clean::clean(&ctx, stage, and_later)
        }
        Command::Doctor => doctor(&invocation, &sh),
        Command::Export {
            ref into,
            ref stages,
        } => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            exchange::export(&ctx, into, stages)
        }
        Command::Import {
            ref from,
            single,
            allow_stale,
        } => {
            let ctx = Ctx::resolve(&invocation, &sh)?;
            exchange::import(&ctx, from, single, allow_stale)
        }
    }
}

/// Whether the command may remember bootstrap's answers in the build dir: not `import`, which
/// leaves the build dir as it was until everything it was given has been checked.
fn may_write_caches(invocation: &Invocation) -> bool {
    !matches!(invocation.command, Command::Import { .. })
}

/// `all`: the stages that are done and current are skipped, the first that is not runs, and
/// every one after it (`--from` names the first to run, `--force` runs them all).
fn run_all(
    ctx: &Ctx,
    from: Option<StageId>,
    force: bool,
    sh: &xshell::Shell,
    lock: &mut lock::Lock,
) -> Result<()> {
    let mut plans = ctx.all_plans()?;
    let start = first_to_run(ctx, &plans, from, force, true)?;
    if start == plans.len() {
        eprintln!(
            "opt-dist: every stage is done and current: nothing to do (`status` shows them, \
             --force runs them again)"
        );
        return Ok(());
    }
    run_plans(ctx, plans.split_off(start), sh, lock)
}

/// Where `all` starts among `plans`: at `--from`, at the first with `--force`, else at the
/// first stage that is not done and current (each one before it said so when `tell`).
fn first_to_run(
    ctx: &Ctx,
    plans: &[StagePlan],
    from: Option<StageId>,
    force: bool,
    tell: bool,
) -> Result<usize> {
    if force {
        return Ok(0);
    }
    if let Some(from) = from {
        return plans.iter().position(|p| p.stage == from).with_context(|| {
            format!(
                "--from {}: that stage is not part of this run (the test stage needs \
                 --run-tests)",
                from.name()
            )
        });
    }
    let mut hashes = state::Hashes::default();
    for (i, plan) in plans.iter().enumerate() {
        let (state, manifest) = state::assess(ctx, plan, &mut hashes, None);
        if !state.is_current() {
            return Ok(i);
        }
        if tell {
            let when = manifest.map(|m| format!(", finished {}", m.finished_at));
            eprintln!(
                "opt-dist: {}: {}{}; not run again (--from {} or --force would)",
                plan.stage.name(),
                match &state {
                    state::State::Skipped(reason) => format!("skipped: {reason}"),
                    other => format!("{} and current", other.word()),
                },
                when.unwrap_or_default(),
                plan.stage.name()
            );
        }
    }
    Ok(plans.len())
}

/// The repairs the next `all` makes before each stage it runs, as step titles.
fn planned_repairs(ctx: &Ctx) -> Result<Vec<(StageId, Vec<String>)>> {
    let mut plans = ctx.all_plans()?;
    let start = first_to_run(ctx, &plans, None, false, false)?;
    let mut plans = plans.split_off(start);
    ctx.prepare(&mut plans)?;
    Ok(plans
        .iter()
        .filter(|p| p.repairs > 0)
        .map(|p| {
            let titles = p.steps[..p.repairs].iter().map(|s| s.title.clone());
            (p.stage, titles.collect())
        })
        .collect())
}

/// Runs stage plans in order: repairs of the build dir first where a stage needs them, after
/// checking that their inputs exist and are what their producers made and, unless told not
/// to, after preflight; ends with the time each stage took.
fn run_plans(
    ctx: &Ctx,
    mut plans: Vec<StagePlan>,
    sh: &xshell::Shell,
    lock: &mut lock::Lock,
) -> Result<()> {
    ctx.prepare(&mut plans)?;
    pipeline::check_inputs(&plans)?;
    state::check_inputs_against_producers(&plans, &mut state::Hashes::default())?;
    if !ctx.options.no_preflight {
        preflight::preflight(ctx, &plans, sh)?;
    }
    let started = std::time::Instant::now();
    let mut manifests = Vec::new();
    let mut result = Ok(());
    for plan in &plans {
        lock.set_stage(Some(plan.stage.name()));
        let ran = runner::run_stage(ctx, plan, sh);
        match ran {
            Ok(manifest) => manifests.push(manifest),
            Err(err) => {
                result = Err(err);
                break;
            }
        }
    }
    report::RunSummary {
        manifests: &manifests,
        total_secs: started.elapsed().as_secs_f64(),
        failure: result.as_ref().err().map(|err| format!("{err}")),
    }
    .emit();
    result
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
    println!("opt-dist doctor: {}\n", ctx.tree.describe());
    print!("{}", preflight::render_table(&checks));
    if checks.iter().any(|c| c.outcome == preflight::Outcome::Fail) {
        bail!("doctor found problems: see the FAIL lines and their fixes above");
    }
    Ok(())
}

/// `status`: every stage's state for these options, as a table or JSON.
fn status(ctx: &Ctx, json: bool) -> Result<()> {
    let holder = lock::holder(&ctx.tree.artifacts_root());
    let plans: Vec<StagePlan> = pipeline::STAGES
        .iter()
        .map(|s| ctx.stage_plan(s.id))
        .collect::<Result<_>>()?;
    let mut hashes = state::Hashes::default();
    // Only what `all` would do first: a plan that cannot be made is `all`'s error to report.
    let repairs = planned_repairs(ctx).unwrap_or_else(|err| {
        eprintln!("opt-dist: warning: the next `all` cannot plan its repairs: {err:#}");
        Vec::new()
    });
    let repairs_of = |stage: StageId| -> &[String] {
        repairs
            .iter()
            .find(|(s, _)| *s == stage)
            .map_or(&[], |(_, titles)| titles.as_slice())
    };
    let entries: Vec<_> = plans
        .iter()
        .map(|plan| {
            let (state, manifest) = state::assess(ctx, plan, &mut hashes, holder.as_ref());
            state::StatusEntry {
                stage: plan.stage,
                state,
                manifest,
                plan,
                repairs: repairs_of(plan.stage),
            }
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&state::status_json(&entries))?
        );
        return Ok(());
    }
    println!("opt-dist status: {}\n", ctx.tree.describe());
    for state::StatusEntry {
        stage,
        state,
        manifest,
        repairs,
        ..
    } in &entries
    {
        let detail = match state {
            state::State::Done => manifest
                .as_ref()
                .map(|m| {
                    let outputs: Vec<String> = m
                        .outputs
                        .iter()
                        .filter(|o| o.kind != "dist-file")
                        .map(|o| format!("{} ({})", o.name, fsutil::human_bytes(o.size)))
                        .collect();
                    let dist_files = m.outputs.iter().filter(|o| o.kind == "dist-file").count();
                    let mut what = format!("finished {}", m.finished_at);
                    if !outputs.is_empty() {
                        what.push_str(&format!("; {}", outputs.join(", ")));
                    }
                    if dist_files > 0 {
                        what.push_str(&format!("; {dist_files} dist files"));
                    }
                    what
                })
                .unwrap_or_default(),
            state::State::Stale(reasons) => reasons.join("; "),
            state::State::Failed(failure) => format!(
                "at step {}/{}: {}\n{:14}{}\n{:14}what to do: {}",
                failure.step,
                failure.steps,
                failure.title,
                "",
                failure.error.lines().next().unwrap_or_default(),
                "",
                failure.hint
            ),
            state::State::Running(holder) => holder.describe(),
            state::State::Skipped(reason) => reason.clone(),
            state::State::NotRun => String::new(),
        };
        println!("{:<12}{:<9} {detail}", stage.name(), state.word());
        for repair in repairs.iter() {
            println!("{:22}before it, `all` makes: {repair}", "");
        }
    }
    Ok(())
}
