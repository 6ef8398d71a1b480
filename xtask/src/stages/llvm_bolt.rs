//! Stage 3, LLVM BOLT: the PGO-optimized LLVM, linked with relocations kept, BOLT-instrumented
//! in the sysroot and trained with the LLVM benchmarks.
//!
//! The optimized LLVM stays in the build dir for `dist`, which applies the profile to it.

use anyhow::Result;

use super::gather::BoltGathering;
use crate::engine::build_state;
use crate::engine::context::Ctx;
use crate::engine::plan::{Built, Effect, Need, Part, StageDef, StagePlan, Step};
use crate::tools::bolt;
use crate::tools::collector::Benchmarks;
use crate::tools::profiles::{kind, Profile};

pub const STAGE: StageDef = StageDef {
    name: "llvm-bolt",
    title: "Stage 3 (LLVM BOLT)",
    summary: "Stage 3: PGO-optimized LLVM for BOLT; BOLT profile for libLLVM",
    about: "Builds the PGO-optimized LLVM linked with -Wl,-q, BOLT-instruments the sysroot's \
            libLLVM.so* in place (the original is backed up and always put back), trains it, \
            and merges llvm-bolt-<version>-<host>.fdata with merge-fdata.",
    takes_dist_args: false,
    only_with_tests: false,
    kept_gib: 1,
    transient_gib: 2,
    raw_gib: 1,
    scratch: &["raw", "raw-*", "*.instrumented"],
    plan,
};

fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let dir = ctx.tree.stage_dir(STAGE.name);
    if !ctx.use_bolt {
        return Ok(StagePlan::skipped(&STAGE, ctx, "BOLT is off (--use-bolt false)"));
    }
    if !ctx.llvm_built_in_tree() {
        return Ok(StagePlan::skipped(
            &STAGE,
            ctx,
            "LLVM is not built in the tree: its library is not ours to optimize",
        ));
    }
    let llvm_profile = ctx.profile(Profile::LlvmPgo);
    let output = ctx.profile(Profile::LlvmBolt);
    let mut steps = vec![optimized_llvm_build(ctx)?];
    steps.extend(
        BoltGathering {
            what: "LLVM",
            library: bolt::libllvm(&ctx.tree),
            part: Part::Llvm,
            built: optimized_llvm(ctx),
            benchmarks: Benchmarks::llvm(&ctx.training.llvm),
            stage_dir: &dir,
            output: &output.path,
            rebuild_hint: "rerun this stage after `cargo xtask opt-dist llvm-pgo`, which \
                           rebuilds LLVM",
        }
        .steps(ctx),
    );
    Ok(StagePlan {
        inputs: vec![llvm_profile],
        outputs: vec![output],
        needs: vec![
            // It keeps stage 1's compiler (--keep-stage 0 --keep-stage 1)...
            build_state::optimized_compiler(ctx),
            // ...and bootstrap would keep any LLVM it finds instead of building this one.
            Need { part: Part::Llvm, accepted: vec![Built::Absent, optimized_llvm(ctx)] },
        ],
        ..StagePlan::new(&STAGE, ctx, steps)
    })
}

/// LLVM built with its profile and linked with relocations (`-Wl,-q`), while stage 1's compiler
/// is kept: what stage 3 BOLT-instruments and dist BOLT-optimizes. Bootstrap builds it only
/// where there is no LLVM build (llvm-pgo deletes its instrumented one).
pub fn optimized_llvm_build(ctx: &Ctx) -> Result<Step> {
    let llvm_profile = ctx.profile_file::<kind::LlvmPgo>();
    let optimized = ctx
        .x_build()
        .with_llvm_bolt_ldflags()
        .use_llvm_profile(&llvm_profile)?
        .keep_stages(&[0, 1]);
    let mut effects = vec![Effect::bootstrap(optimized)];
    effects.extend(super::fit_checks(ctx, &[Profile::LlvmPgo]));
    Ok(Step::of(
        "Build the PGO-optimized LLVM, linked for BOLT",
        Some("build-with-profiles"),
        effects,
        "bootstrap failed building the optimized LLVM, or libLLVM holds too little of its \
         profile: the message above says which, and what to do",
    )
    .changing(Part::Llvm, optimized_llvm(ctx)))
}

/// How [`optimized_llvm_build`] leaves LLVM.
pub fn optimized_llvm(ctx: &Ctx) -> Built {
    Built::Optimized { profile: ctx.profile(Profile::LlvmPgo).path, bolt_ready: true }
}
