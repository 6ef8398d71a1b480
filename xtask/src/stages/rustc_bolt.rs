//! Stage 3, rustc BOLT: the PGO-optimized `librustc_driver` of stage 1 (linked for BOLT there),
//! BOLT-instrumented in the sysroot and trained with the rustc benchmarks. No x.py call: the
//! library stage 1 built is the one `dist` packages.

use anyhow::Result;

use super::gather::BoltGathering;
use crate::engine::build_state;
use crate::engine::context::Ctx;
use crate::engine::plan::{Built, Part, StageDef, StagePlan};
use crate::tools::bolt;
use crate::tools::collector::Benchmarks;
use crate::tools::profiles::Profile;

pub const STAGE: StageDef = StageDef {
    name: "rustc-bolt",
    title: "Stage 3 (rustc BOLT)",
    summary: "Stage 3: BOLT profile for librustc_driver",
    about: "BOLT-instruments the sysroot's librustc_driver*.so in place (the original is backed \
            up and always put back), trains it, and merges rustc-bolt-<version>-<host>.fdata.",
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
    let rustc_profile = ctx.profile(Profile::RustcPgo);
    let output = ctx.profile(Profile::RustcBolt);
    let steps = BoltGathering {
        what: "rustc",
        library: bolt::librustc_driver(&ctx.tree),
        part: Part::Compiler,
        built: Built::Optimized { profile: rustc_profile.path.clone(), bolt_ready: true },
        benchmarks: Benchmarks::rustc(ctx.rustc_crates()),
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
        ..StagePlan::new(&STAGE, ctx, steps)
    })
}
