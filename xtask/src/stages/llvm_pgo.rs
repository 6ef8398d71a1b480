//! Stage 2, LLVM PGO: an instrumented LLVM under the PGO-optimized rustc of stage 1, trained
//! with the LLVM benchmarks, merged with the host llvm-profdata.
//!
//! Bootstrap does not rebuild LLVM when only PGO options change, so the stage deletes the
//! in-tree LLVM build before (the non-LTO LLVM of stage 1) and after (the instrumented one, so
//! no later build can pick it up by accident). `--keep-stage 0 --keep-stage 1` keeps rustc.

use anyhow::Result;

use super::gather::{streamed, PgoGathering};
use crate::engine::build_state;
use crate::engine::context::Ctx;
use crate::engine::plan::{Built, Effect, Part, StageDef, StagePlan, Step};
use crate::tools::bootstrap::Component;
use crate::tools::collector::Benchmarks;
use crate::tools::profiles::Profile;
use crate::tools::streaming::Merger;

pub const STAGE: StageDef = StageDef {
    name: "llvm-pgo",
    title: "Stage 2 (LLVM PGO)",
    summary: "Stage 2: instrument the in-tree LLVM, train it, merge its profile",
    about: "Deletes the in-tree LLVM build (bootstrap would not rebuild it for new PGO options), \
            builds it instrumented while keeping stage 1's rustc (--keep-stage 0 --keep-stage \
            1), trains it with the LLVM benchmarks, merges and validates \
            llvm-pgo-<version>-<host>.profdata, and deletes the instrumented LLVM. Skipped, with \
            the reason recorded, when LLVM is not built in the tree.",
    takes_dist_args: false,
    only_with_tests: false,
    kept_gib: 2,
    transient_gib: 20,
    raw_gib: 20,
    scratch: &["raw", "raw-*"],
    plan,
};

fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    if !ctx.llvm_built_in_tree() {
        let why = if ctx.options.build_llvm {
            "the tree uses an external LLVM (target.<host>.llvm-config in bootstrap.toml)"
        } else {
            "LLVM is not built in the tree (--build-llvm false)"
        };
        return Ok(StagePlan::skipped(
            &STAGE,
            ctx,
            format!("{why}: there is no LLVM of ours to optimize"),
        ));
    }
    let raw = tree.stage_dir(STAGE.name).join("raw");
    let output = ctx.profile(Profile::LlvmPgo);
    let profdata = ctx.host_llvm.tool("llvm-profdata");
    let compiler = tree.stage2_rustc();
    // The PGO-optimized rustc that this stage keeps (--keep-stage) was built from it.
    let rustc_profile = ctx.profile(Profile::RustcPgo);
    let llvm_build = tree.host_build().join("llvm");
    let lld_build = tree.host_build().join("lld");

    let remove_llvm = |title: &str| -> Vec<Step> {
        [&llvm_build, &lld_build]
            .into_iter()
            .map(|dir| {
                let step = Step::new(
                    format!("{title} ({})", dir.file_name().unwrap().to_string_lossy()),
                    Effect::RemoveDir { dir: dir.clone() },
                    format!("make {} writable", dir.display()),
                );
                match dir == &llvm_build {
                    true => step.changing(Part::Llvm, Built::Absent),
                    false => step,
                }
            })
            .collect()
    };

    let mut steps = vec![Step::reset_raw_profiles(&raw)];
    steps.extend(remove_llvm("Delete stage 1's LLVM build so bootstrap rebuilds it instrumented"));
    // Each LLVM process writes its own directory: `%p` is expanded by LLVM's runtime.
    let instrumented =
        ctx.x_build().pgo_generate(Component::Llvm, &raw.join("prof-%p"))?.keep_stages(&[0, 1]);
    steps.push(
        Step::new(
            "Build the PGO-instrumented LLVM",
            // Its runs while it builds count too, and stream like training's.
            Effect::bootstrap(instrumented).streaming(streamed(
                ctx,
                &raw,
                Merger::Profdata(profdata.clone()),
            )),
            "bootstrap failed building the instrumented LLVM: its error is above",
        )
        .changing(Part::Llvm, Built::Instrumented),
    );
    steps.extend(
        PgoGathering {
            what: "LLVM",
            benchmarks: Benchmarks::llvm(&ctx.training.llvm),
            raw_dir: &raw,
            profile_file: ctx.options.raw_profiles.llvm_pattern(&raw),
            profdata: &profdata,
            compiler: &compiler,
            output: &output.path,
        }
        .steps(ctx),
    );
    steps.extend(remove_llvm("Delete the instrumented LLVM build so nothing later uses it"));

    Ok(StagePlan {
        inputs: vec![rustc_profile],
        outputs: vec![output],
        // It keeps stage 1's compiler (--keep-stage 0 --keep-stage 1).
        needs: vec![build_state::optimized_compiler(ctx)],
        ..StagePlan::new(&STAGE, ctx, steps)
    })
}
