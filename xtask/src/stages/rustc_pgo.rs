//! Stage 1, rustc PGO: the same bootstrap calls as upstream's Stage 1 for the tree's interface
//! (its steps one by one: docs/usage.md, "`rustc-pgo`").

use anyhow::Result;

use super::gather::{streamed, PgoGathering};
use crate::engine::context::Ctx;
use crate::engine::plan::{Built, Effect, Part, StageDef, StagePlan, Step};
use crate::tools::bootstrap::{Component, Interface};
use crate::tools::collector::Benchmarks;
use crate::tools::profiles::{kind, Profile};
use crate::tools::streaming::Merger;

pub const STAGE: StageDef = StageDef {
    name: "rustc-pgo",
    title: "Stage 1 (rustc PGO)",
    summary: "Stage 1: instrument rustc, train it, merge and validate the profile, rebuild rustc \
              with it",
    about: "Builds a PGO-instrumented compiler with the tree's own bootstrap, trains it with the \
            tree's rustc-perf collector, merges the raw profiles with an llvm-profdata of the \
            compiler's LLVM major version, validates the result, and rebuilds the compiler with \
            it. Leaves <build-dir>/opt-dist/rustc-pgo/rustc-pgo-<version>-<host>.profdata and \
            manifest.json (how it was made).",
    takes_dist_args: false,
    only_with_tests: false,
    kept_gib: 25,
    transient_gib: 20,
    raw_gib: 20,
    scratch: &["raw", "raw-*"],
    plan,
};

fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let raw = tree.stage_dir(STAGE.name).join("raw");
    let with_table = ctx.interface == Interface::PgoTable;
    let mut instrumented = ctx.x_build();
    let components = match with_table {
        true => {
            instrumented = instrumented.with_paths(&table_tools(ctx));
            let mut all = vec![Component::Rustc, Component::Cargo, Component::Rustdoc];
            all.extend(ctx.optimizes_clippy().then_some(Component::Clippy));
            all
        }
        false => vec![Component::Rustc],
    };
    for component in components {
        instrumented = instrumented.pgo_generate(component, &raw)?;
    }
    if ctx.options.llvm_shared {
        instrumented = instrumented.without_llvm_lto();
    }
    let mut steps = vec![
        Step::reset_raw_profiles(&raw),
        Step::new(
            "Build the PGO-instrumented compiler",
            // Its runs while it builds count too: they stream like training's, once the
            // build has made its llvm-profdata.
            Effect::bootstrap(instrumented).streaming(streamed(
                ctx,
                &raw,
                Merger::Profdata(ctx.profdata_for_built_compiler()),
            )),
            "bootstrap failed building the instrumented compiler: its error is above; fix it \
             and rerun this stage",
        )
        .changing(Part::Compiler, Built::Instrumented)
        .building_if_absent(Part::Llvm, Built::Plain),
        Step::new(
            "Build the rustc-perf collector",
            Effect::run(ctx.collector().build()),
            format!(
                "the collector did not build: {} must be complete (a git checkout needs \
                 `git submodule update --init src/tools/rustc-perf`) and its crates vendored or \
                 reachable",
                tree.rustc_perf_dir().display()
            ),
        )
        // Upstream builds it before the compiler; it needs nothing of the compiler's build.
        .alongside(),
    ];
    // Each tool's own profile, from its own training (upstream's choice for rustdoc: better
    // than one profile for all), after its own reset, so that an interrupted training resumes
    // there, not with rustc's.
    let crates = ctx.rustc_crates();
    let mut trainings = vec![("rustc", Benchmarks::rustc(crates), Profile::RustcPgo)];
    if with_table {
        trainings.push(("rustdoc", Benchmarks::rustdoc(crates), Profile::RustdocPgo));
    }
    if with_table && ctx.optimizes_clippy() {
        trainings.push(("clippy", Benchmarks::clippy(crates), Profile::ClippyPgo));
    }
    let mut outputs = Vec::new();
    for (i, (what, benchmarks, profile)) in trainings.into_iter().enumerate() {
        let output = ctx.profile(profile);
        if i > 0 {
            steps.push(Step::reset_raw_profiles(&raw));
        }
        let gathering = PgoGathering {
            what,
            benchmarks,
            raw_dir: &raw,
            profile_file: Some(ctx.options.raw_profiles.pattern(&raw)),
            profdata: &ctx.profdata_for_built_compiler(),
            compiler: &tree.stage2_rustc(),
            output: &output.path,
        };
        steps.extend(gathering.steps(ctx));
        outputs.push(output);
    }
    steps.push(optimized_build(ctx, false)?);
    Ok(StagePlan { outputs, ..StagePlan::new(&STAGE, ctx, steps) })
}

/// The compiler built with the rustc profile (and, with the `[pgo]` table, rustdoc and cargo
/// with theirs), linked for BOLT when BOLT follows: what stage 1 leaves for every later stage,
/// and what they rebuild when the build dir holds another compiler. `with_llvm`: LLVM too, with
/// its profile (linked for BOLT when BOLT is on), where neither is in the build dir (a fresh
/// build root with imported profiles): one build makes both as upstream's stages 1 to 3 leave
/// them. Bootstrap builds LLVM only where there is none, so the caller deletes it first.
pub fn optimized_build(ctx: &Ctx, with_llvm: bool) -> Result<Step> {
    let mut optimized = ctx.x_build();
    if ctx.interface == Interface::PgoTable {
        optimized = optimized.with_paths(&table_tools(ctx));
    }
    let (mut optimized, mut applied) = super::use_compiler_profiles(ctx, optimized)?;
    if ctx.use_bolt {
        optimized = optimized.with_rustc_bolt_settings();
    }
    let llvm_profile = ctx.profile_file::<kind::LlvmPgo>();
    if with_llvm {
        applied.push(Profile::LlvmPgo);
        optimized = optimized.use_llvm_profile(&llvm_profile)?;
        if ctx.use_bolt {
            optimized = optimized.with_llvm_bolt_ldflags();
        }
    }
    let (title, llvm) = match with_llvm {
        true => (
            "Build the PGO-optimized compiler and LLVM",
            Built::Optimized { profile: llvm_profile.path.clone(), bolt_ready: ctx.use_bolt },
        ),
        // An LLVM bootstrap builds on the way is built without a profile.
        false => ("Build the PGO-optimized compiler", Built::Plain),
    };
    let mut effects = vec![Effect::bootstrap(optimized)];
    effects.extend(super::fit_checks(ctx, &applied));
    let step = Step::of(
        title,
        Some("build-with-profiles"),
        effects,
        "bootstrap failed building the optimized compiler, or a binary holds too little of its \
         profile: the message above says which, and what to do; the validated profiles stay in \
         their stage directories",
    )
    .changing(
        Part::Compiler,
        Built::Optimized { profile: ctx.profile(Profile::RustcPgo).path, bolt_ready: ctx.use_bolt },
    );
    Ok(match with_llvm {
        true => step.changing(Part::Llvm, llvm),
        false => step.building_if_absent(Part::Llvm, llvm),
    })
}

/// The tools built with the compiler where the `[pgo]` table gives them profiles of their own.
fn table_tools(ctx: &Ctx) -> Vec<&'static str> {
    let mut tools = vec!["rustdoc", "cargo"];
    if ctx.optimizes_clippy() {
        tools.push("clippy");
    }
    tools
}
