//! Stage 1, rustc PGO: the same bootstrap calls as upstream's Stage 1 for the tree's interface.
//!
//! 1. build an instrumented compiler (with the `[pgo]` table also rustdoc and cargo, all
//!    writing into one raw-profile directory); the LLVM built alongside it is thrown away by
//!    stage 2, so it is built without ThinLTO;
//! 2. build the tree's rustc-perf collector and train the compiler with it;
//! 3. merge, validate and publish `rustc-pgo-<version>-<host>.profdata` (and with the table,
//!    a separate rustdoc profile trained on `Doc` builds);
//! 4. rebuild the compiler with the profile, with BOLT link settings when BOLT follows.

use anyhow::Result;

use super::bootstrap::{Component, Interface};
use super::pipeline::{Action, Profile, StageId, StagePlan, Step};
use super::training::{build_collector, Benchmarks, PgoGathering};
use super::Ctx;

pub fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let dir = ctx.stage_dir(StageId::RustcPgo);
    let raw = dir.join("raw");
    let rustc = ctx.profile(Profile::RustcPgo);
    let rustdoc = ctx.profile(Profile::RustdocPgo);
    let (rustc_profile, rustdoc_profile) = (rustc.path.clone(), rustdoc.path.clone());
    let with_table = ctx.interface == Interface::PgoTable;
    let profdata = ctx.profdata_for_built_compiler();
    let compiler = tree.stage2_rustc();
    // One file per process and binary, as upstream: merging many small files loses nothing,
    // while processes appending to one shared file can.
    let raw_profile_file = raw.join("default_%m_%p.profraw");

    let mut instrumented = ctx.x_build();
    if with_table {
        instrumented = instrumented
            .with_paths(&["rustdoc", "cargo"])
            .pgo_generate(Component::Rustc, &raw)?
            .pgo_generate(Component::Cargo, &raw)?
            .pgo_generate(Component::Rustdoc, &raw)?;
    } else {
        instrumented = instrumented.pgo_generate(Component::Rustc, &raw)?;
    }
    if ctx.options.llvm_shared {
        instrumented = instrumented.without_llvm_lto();
    }

    let mut steps = vec![
        Step::reset_raw_profiles(&raw),
        Step {
            title: "Build the PGO-instrumented compiler".to_string(),
            action: Action::Run {
                cmd: instrumented.into_cmd(),
            },
            hint: "bootstrap failed building the instrumented compiler: its error is above; \
                   fix it and rerun this stage"
                .to_string(),
        },
        Step {
            title: "Build the rustc-perf collector".to_string(),
            action: Action::Run {
                cmd: build_collector(ctx),
            },
            hint: format!(
                "the collector did not build: {} must be complete (a git checkout needs \
                 `git submodule update --init src/tools/rustc-perf`) and its crates vendored \
                 or reachable",
                tree.rustc_perf_dir().display()
            ),
        },
    ];
    steps.extend(
        PgoGathering {
            what: "rustc",
            benchmarks: Benchmarks::rustc(ctx),
            raw_dir: &raw,
            profile_file: Some(raw_profile_file.clone()),
            profdata: &profdata,
            compiler: &compiler,
            output: &rustc_profile,
        }
        .steps(ctx),
    );
    let mut outputs = vec![rustc];
    if with_table {
        steps.extend(
            PgoGathering {
                what: "rustdoc",
                benchmarks: Benchmarks::rustdoc(ctx),
                raw_dir: &raw,
                profile_file: Some(raw_profile_file.clone()),
                profdata: &profdata,
                compiler: &compiler,
                output: &rustdoc_profile,
            }
            .steps(ctx),
        );
        outputs.push(rustdoc);
    }

    let mut optimized = ctx.x_build();
    if with_table {
        // cargo ran during rustc's training, so its counts are in rustc's profile.
        optimized = optimized
            .with_paths(&["rustdoc", "cargo"])
            .pgo_use(Component::Rustc, &rustc_profile)?
            .pgo_use(Component::Cargo, &rustc_profile)?
            .pgo_use(Component::Rustdoc, &rustdoc_profile)?;
    } else {
        optimized = optimized.pgo_use(Component::Rustc, &rustc_profile)?;
    }
    if ctx.use_bolt {
        optimized = optimized.with_rustc_bolt_settings();
    }
    steps.push(Step {
        title: "Build the PGO-optimized compiler".to_string(),
        action: Action::Run {
            cmd: optimized.into_cmd(),
        },
        hint: "bootstrap failed building the optimized compiler: its error is above; the \
               validated profile stays in the stage directory"
            .to_string(),
    });

    Ok(StagePlan {
        stage: StageId::RustcPgo,
        dir,
        inputs: Vec::new(),
        outputs,
        steps,
        skipped: None,
    })
}
