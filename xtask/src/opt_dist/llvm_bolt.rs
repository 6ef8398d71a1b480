//! Stage 3, LLVM BOLT: the PGO-optimized LLVM, linked with relocations kept, BOLT-instrumented
//! in the sysroot and trained with the LLVM benchmarks.
//!
//! The optimized LLVM stays in the build dir for `dist`, which applies the profile to it.

use anyhow::Result;

use super::bolt::LibraryPattern;
use super::bootstrap::Component;
use super::pipeline::{Action, Profile, StageId, StagePlan, Step};
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

    let optimized = ctx
        .x_build()
        .with_llvm_bolt_ldflags()
        .pgo_use(Component::Llvm, &llvm_profile.path)?
        .keep_stages(&[0, 1]);
    let mut steps = vec![Step {
        title: "Build the PGO-optimized LLVM, linked for BOLT".to_string(),
        action: Action::Run {
            cmd: optimized.into_cmd(),
        },
        hint: "bootstrap failed building the optimized LLVM: its error is above".to_string(),
    }];
    steps.extend(
        BoltGathering {
            what: "LLVM",
            library: LibraryPattern::llvm(tree),
            benchmarks: Benchmarks::llvm(),
            stage_dir: &dir,
            output: &output.path,
            rebuild_hint: "rerun this stage after `cargo xtask opt-dist llvm-pgo`, which \
                           rebuilds LLVM",
        }
        .steps(ctx),
    );
    Ok(StagePlan {
        stage: StageId::LlvmBolt,
        dir,
        inputs: vec![llvm_profile],
        outputs: vec![output],
        steps,
        skipped: None,
    })
}
