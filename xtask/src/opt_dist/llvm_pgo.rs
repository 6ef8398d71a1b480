//! Stage 2, LLVM PGO: an instrumented LLVM under the PGO-optimized rustc of stage 1, trained
//! with the LLVM benchmarks, merged with the host llvm-profdata.
//!
//! Bootstrap does not rebuild LLVM when only PGO options change, so the stage deletes the
//! in-tree LLVM build before (the non-LTO LLVM of stage 1) and after (the instrumented one, so
//! no later build can pick it up by accident). `--keep-stage 0 --keep-stage 1` keeps rustc.

use anyhow::Result;

use super::bootstrap::Component;
use super::build_state;
use super::pipeline::{Action, Built, Part, Profile, StageId, StagePlan, Step};
use super::training::{Benchmarks, PgoGathering};
use super::Ctx;

pub fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let dir = ctx.stage_dir(StageId::LlvmPgo);
    if !ctx.llvm_built_in_tree() {
        let why = if ctx.options.build_llvm {
            "the tree uses an external LLVM (target.<host>.llvm-config in bootstrap.toml)"
        } else {
            "LLVM is not built in the tree (--build-llvm false)"
        };
        return Ok(StagePlan::skipped(
            StageId::LlvmPgo,
            dir,
            format!("{why}: there is no LLVM of ours to optimize"),
        ));
    }
    let raw = dir.join("raw");
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
                    Action::RemoveDir { dir: dir.clone() },
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
    steps.extend(remove_llvm(
        "Delete stage 1's LLVM build so bootstrap rebuilds it instrumented",
    ));
    // Each LLVM process writes its own directory: `%p` is expanded by LLVM's runtime.
    let instrumented = ctx
        .x_build()
        .pgo_generate(Component::Llvm, &raw.join("prof-%p"))?
        .keep_stages(&[0, 1]);
    steps.push(
        Step::new(
            "Build the PGO-instrumented LLVM",
            instrumented.into_action(),
            "bootstrap failed building the instrumented LLVM: its error is above",
        )
        .changing(Part::Llvm, Built::Instrumented),
    );
    steps.extend(
        PgoGathering {
            what: "LLVM",
            benchmarks: Benchmarks::llvm(ctx),
            raw_dir: &raw,
            profile_file: ctx.options.raw_profiles.llvm_pattern(&raw),
            profdata: &profdata,
            compiler: &compiler,
            output: &output.path,
        }
        .steps(ctx),
    );
    steps.extend(remove_llvm(
        "Delete the instrumented LLVM build so nothing later uses it",
    ));

    Ok(StagePlan {
        inputs: vec![rustc_profile],
        outputs: vec![output],
        // It keeps stage 1's compiler (--keep-stage 0 --keep-stage 1).
        needs: vec![build_state::optimized_compiler(ctx)],
        ..StagePlan::new(StageId::LlvmPgo, dir, steps)
    })
}
