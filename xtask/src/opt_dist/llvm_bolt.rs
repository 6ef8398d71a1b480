//! Stage 3, LLVM BOLT: the PGO-optimized LLVM, linked with relocations kept, BOLT-instrumented
//! in the sysroot and trained with the LLVM benchmarks.
//!
//! The optimized LLVM stays in the build dir for `dist`, which applies the profile to it.

use anyhow::Result;

use super::bolt::LibraryPattern;
use super::build_state;
use super::pipeline::{kind, Built, Need, Part, Profile, StageId, StagePlan, Step};
use super::training::{Benchmarks, BoltGathering};
use super::Ctx;

pub fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let dir = ctx.stage_dir(StageId::LlvmBolt);
    if !ctx.use_bolt {
        return Ok(StagePlan::skipped(
            StageId::LlvmBolt,
            dir,
            "BOLT is off (--use-bolt false)",
        ));
    }
    if !ctx.llvm_built_in_tree() {
        return Ok(StagePlan::skipped(
            StageId::LlvmBolt,
            dir,
            "LLVM is not built in the tree: its library is not ours to optimize",
        ));
    }
    let llvm_profile = ctx.profile(Profile::LlvmPgo);
    let output = ctx.profile(Profile::LlvmBolt);
    let mut steps = vec![optimized_llvm_build(ctx)?];
    steps.extend(
        BoltGathering {
            what: "LLVM",
            library: LibraryPattern::llvm(tree),
            part: Part::Llvm,
            built: optimized_llvm(ctx),
            benchmarks: Benchmarks::llvm(ctx),
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
            Need {
                part: Part::Llvm,
                accepted: vec![Built::Absent, optimized_llvm(ctx)],
            },
        ],
        ..StagePlan::new(StageId::LlvmBolt, dir, steps)
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
    Ok(Step::new(
        "Build the PGO-optimized LLVM, linked for BOLT",
        optimized.into_action(),
        "bootstrap failed building the optimized LLVM: its error is above",
    )
    .changing(Part::Llvm, optimized_llvm(ctx)))
}

/// How [`optimized_llvm_build`] leaves LLVM.
pub fn optimized_llvm(ctx: &Ctx) -> Built {
    Built::Optimized {
        profile: ctx.profile(Profile::LlvmPgo).path,
        bolt_ready: true,
    }
}
