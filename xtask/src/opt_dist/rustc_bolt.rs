//! Stage 3, rustc BOLT: the PGO-optimized `librustc_driver` of stage 1 (linked for BOLT there),
//! BOLT-instrumented in the sysroot and trained with the rustc benchmarks. No x.py call: the
//! library stage 1 built is the one `dist` packages.

use anyhow::Result;

use super::bolt::LibraryPattern;
use super::build_state;
use super::pipeline::{Built, Part, Profile, StageId, StagePlan};
use super::training::{Benchmarks, BoltGathering};
use super::Ctx;

pub fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let dir = ctx.stage_dir(StageId::RustcBolt);
    if !ctx.use_bolt {
        return Ok(StagePlan::skipped(
            StageId::RustcBolt,
            dir,
            "BOLT is off (--use-bolt false)",
        ));
    }
    let rustc_profile = ctx.profile(Profile::RustcPgo);
    let output = ctx.profile(Profile::RustcBolt);
    let steps = BoltGathering {
        what: "rustc",
        library: LibraryPattern::rustc_driver(tree),
        part: Part::Compiler,
        built: Built::Optimized {
            profile: rustc_profile.path.clone(),
            bolt_ready: true,
        },
        benchmarks: Benchmarks::rustc(ctx),
        stage_dir: &dir,
        output: &output.path,
        rebuild_hint: "rerun `cargo xtask opt-dist rustc-pgo`, which rebuilds it",
    }
    .steps(ctx);
    Ok(StagePlan {
        inputs: vec![rustc_profile],
        outputs: vec![output],
        // It instruments stage 1's librustc_driver in place.
        needs: vec![build_state::compiler_to_instrument(ctx)],
        ..StagePlan::new(StageId::RustcBolt, dir, steps)
    })
}
