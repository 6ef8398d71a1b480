//! Stage 3, rustc BOLT: the PGO-optimized `librustc_driver` of stage 1 (linked for BOLT there),
//! BOLT-instrumented in the sysroot and trained with the rustc benchmarks. No x.py call: the
//! library stage 1 built is the one `dist` packages.

use anyhow::Result;

use super::bolt::LibraryPattern;
use super::pipeline::{Artifact, StageId, StagePlan};
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
    let rustc_profile = Artifact {
        kind: "rustc-pgo-profile",
        path: ctx
            .stage_dir(StageId::RustcPgo)
            .join(tree.artifact_name("rustc-pgo", "profdata")),
        made_by: StageId::RustcPgo,
    };
    let output = dir.join(tree.artifact_name("rustc-bolt", "fdata"));
    let steps = BoltGathering {
        what: "rustc",
        library: LibraryPattern {
            dir: tree.host_build().join("stage2/lib"),
            prefix: "librustc_driver",
            suffix: ".so",
        },
        benchmarks: Benchmarks::rustc(ctx),
        stage_dir: &dir,
        output: &output,
        rebuild_hint: "rerun `cargo xtask opt-dist rustc-pgo`, which rebuilds it",
    }
    .steps(ctx);
    Ok(StagePlan {
        stage: StageId::RustcBolt,
        dir,
        inputs: vec![rustc_profile],
        outputs: vec![Artifact {
            kind: "rustc-bolt-profile",
            path: output,
            made_by: StageId::RustcBolt,
        }],
        steps,
        skipped: None,
    })
}
