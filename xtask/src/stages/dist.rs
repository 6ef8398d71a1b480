//! Stage 5, dist: BOLT applied to the sysroot libraries that dist packages (once: a library
//! already optimized with the same profile is left alone), then the user's `x.py dist` with
//! every profile-use setting, the stages bootstrap must not rebuild, and the BOLT profiles as
//! reproducible artifacts. The dist files are recorded, and the packaged libraries are checked
//! to be the BOLT-optimized ones.

use std::path::Path;

use anyhow::Result;

use super::gather::backup_of;
use crate::engine::build_state;
use crate::engine::context::Ctx;
use crate::engine::plan::{
    Built, Done, Effect, FitBy, Need, PackageCheck, Part, StageDef, StagePlan, Step,
};
use crate::tools::bolt;
use crate::tools::bootstrap::Bootstrap;
use crate::tools::profiles::{kind, Format, Profile};

pub const STAGE: StageDef = StageDef {
    name: "dist",
    title: "Stage 5 (dist)",
    summary: "BOLT-optimize both libraries, then x.py dist with every profile",
    about: "BOLT-optimizes libLLVM and librustc_driver in place (once: a library already \
            optimized with the same profile is left alone), runs `x.py dist <your args>` with \
            every profile, --keep-stage as upstream and the BOLT profiles as reproducible \
            artifacts, records the dist files and checks that the packaged libraries are the \
            optimized ones.",
    takes_dist_args: true,
    only_with_tests: false,
    kept_gib: 8,
    transient_gib: 2,
    raw_gib: 0,
    scratch: &["*.bolt", "*.bolt.log", "unpacked-*", "reproducible-artifacts"],
    plan,
};

fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let dir = tree.stage_dir(STAGE.name);
    let rustc_pgo = ctx.profile_file::<kind::RustcPgo>();
    let llvm_pgo = ctx.llvm_built_in_tree().then(|| ctx.profile_file::<kind::LlvmPgo>());
    // (part, its PGO profile, BOLT profile, library), in upstream's order: LLVM, then rustc.
    let mut bolt = Vec::new();
    if let (true, Some(llvm_pgo)) = (ctx.use_bolt, &llvm_pgo) {
        bolt.push((Part::Llvm, llvm_pgo.path.clone(), Profile::LlvmBolt, bolt::libllvm(tree)));
    }
    if ctx.use_bolt {
        let library = bolt::librustc_driver(tree);
        bolt.push((Part::Compiler, rustc_pgo.path.clone(), Profile::RustcBolt, library));
    }
    let mut steps = Vec::new();
    for (part, pgo_profile, profile, library) in &bolt {
        let profile = &tree.profile(*profile);
        let backup = backup_of(ctx, library);
        let scratch = dir.join(format!("{}.bolt", library.prefix));
        let log = dir.join(format!("{}.bolt.log", library.prefix));
        let optimize = bolt::optimize_cmd(
            &ctx.host_llvm.tool("llvm-bolt"),
            &backup,
            profile,
            &scratch,
            &tree.host,
        );
        let optimized = Built::BoltOptimized {
            profile: pgo_profile.clone(),
            bolt_profile: Some(profile.clone()),
        };
        let step = Step::of(
            format!("BOLT-optimize {} in place", library.shown()),
            Some("bolt-optimize"),
            vec![
                Effect::NotBoltOutput {
                    library: library.clone(),
                    rebuild_hint: "the build state does not say with which profile; `cargo \
                                   xtask opt-dist plan dist` shows the rebuild that makes it \
                                   right, `all` runs it"
                        .to_string(),
                },
                Effect::BackUp { library: library.clone(), backup, part: *part },
                Effect::Run {
                    cmd: optimize,
                    training: false,
                    benchmarks: Vec::new(),
                    output: Some(log.clone()),
                    stream: None,
                },
                Effect::CheckFit {
                    profile: profile.clone(),
                    binaries: vec![library.clone()],
                    by: FitBy::BoltLog { log: log.clone() },
                    allow_stale: ctx.options.allow_stale,
                },
                Effect::Replace {
                    library: library.clone(),
                    with: scratch.clone(),
                    instrumented: false,
                },
            ],
            "the message above says what failed and that the library is as it was before the \
             step; fix the cause (llvm-bolt's message, a profile that does not fit, free disk) \
             and run dist again",
        )
        .changing_in_place(*part, optimized)
        .with_scratch(scratch)
        .with_scratch(log);
        steps.push(Step {
            done_if: Some(Done::BoltOptimized {
                library: library.clone(),
                part: *part,
                pgo_profile: pgo_profile.clone(),
                bolt_profile: profile.clone(),
            }),
            ..step
        });
    }

    let mut dist =
        Bootstrap::dist(tree, ctx.interface, &ctx.dist_args).for_try_dist(ctx.options.try_build);
    if let Some(llvm_pgo) = &llvm_pgo {
        dist = dist.use_llvm_profile(llvm_pgo)?;
    }
    // dist builds clippy again (its component), so it must hear of clippy's profile too.
    let (mut dist, used) = super::use_compiler_profiles(ctx, dist)?;
    let mut inputs: Vec<_> = used.into_iter().map(|profile| ctx.profile(profile)).collect();
    // A statically linked LLVM lives inside rustc: only then must bootstrap relink rustc.
    dist = match ctx.options.llvm_shared || !ctx.options.build_llvm {
        true => dist.keep_stages(&[0, 1]),
        false => dist.keep_stages(&[0]),
    };
    inputs.extend(llvm_pgo.is_some().then(|| ctx.profile(Profile::LlvmPgo)));
    // The BOLT profiles ship under upstream's names: ours stay in the stage directories.
    let named_in = dir.join("reproducible-artifacts");
    let mut links = Vec::new();
    for (_, _, profile, _) in &bolt {
        let upstream = named_in.join(profile.row().upstream_name.expect("BOLT profiles have one"));
        dist = dist.with_reproducible_artifact(&upstream);
        inputs.push(ctx.profile(*profile));
        links.push(Effect::Link { from: tree.profile(*profile), to: upstream });
    }
    if !links.is_empty() {
        steps.push(Step::of(
            "Name the BOLT profiles as upstream does, for the reproducible artifacts",
            Some("link-under-names"),
            links,
            "check permissions in the stage directory",
        ));
    }
    let dist_dir = tree.build_dir.join("dist");
    // Every PGO profile it reads, it builds with.
    let applied: Vec<Profile> = inputs
        .iter()
        .filter_map(|input| Profile::from_kind(input.kind))
        .filter(|profile| profile.row().format == Format::Profdata)
        .collect();
    let package = PackageCheck {
        dist_dir: dist_dir.clone(),
        host: tree.host.clone(),
        bolt_libraries: bolt.iter().map(|(.., lib)| lib.clone()).collect(),
        scratch: dir.join("unpacked-rustc"),
    };
    let mut dist_step = Step::new(
        "Build the dist artifacts",
        Effect::bootstrap(dist).checking_early(&package),
        "bootstrap's dist failed: the message above says why; the profiles and the optimized \
         libraries are kept, so fixing the cause and running dist again is enough",
    );
    if let Some(llvm_pgo) = &llvm_pgo {
        // Without BOLT, no stage before dist builds the optimized LLVM: dist does.
        dist_step = dist_step.building_if_absent(Part::Llvm, optimized(&llvm_pgo.path, false));
    }
    steps.push(dist_step);
    steps.push(Step::new(
        "Record the dist files",
        Effect::RecordDistFiles { dist_dir },
        "bootstrap wrote no dist files: check the dist arguments",
    ));
    let fits = super::fit_checks(ctx, &applied);
    let checks_fits = !fits.is_empty();
    if checks_fits {
        steps.push(Step::of(
            "Check that the built binaries hold the profiles they were built with",
            Some("check-fits"),
            fits,
            "a binary holds too little of its profile: the message above says which, and what \
             to do",
        ));
    }
    let check = match bolt.is_empty() {
        true => "Check that nothing in the packaged compiler is instrumented",
        false => "Check the packaged compiler: nothing instrumented, the libraries BOLT-optimized",
    };
    let check = Step::new(
        check,
        Effect::CheckPackagedToolchain(package),
        "the message above says what is wrong with the packaged toolchain and what to do",
    )
    // What it checks is what dist packaged: a stage resumed here would check it again.
    .not_resumable();
    // Unpacking the tarball (one xz stream) takes one core; the fits' tools take the other.
    steps.push(if checks_fits { check.alongside() } else { check });

    // Dist packages the libraries as they are: each BOLT-optimized one is what BOLT made of it
    // with this very profile, or not BOLT's output yet (dist's own BOLT step optimizes it).
    let to_bolt = |part: Part| -> Option<Vec<Built>> {
        let (_, pgo, bolt_profile, _) = bolt.iter().find(|(p, ..)| *p == part)?;
        Some(vec![
            optimized(pgo, true),
            Built::BoltOptimized {
                profile: pgo.clone(),
                bolt_profile: Some(tree.profile(*bolt_profile)),
            },
        ])
    };
    let mut needs = vec![match to_bolt(Part::Compiler) {
        Some(accepted) => Need { part: Part::Compiler, accepted },
        None => build_state::optimized_compiler(ctx),
    }];
    if let Some(llvm_pgo) = &llvm_pgo {
        let pgo = &llvm_pgo.path;
        let accepted = to_bolt(Part::Llvm).unwrap_or_else(|| {
            vec![
                Built::Absent,
                optimized(pgo, false),
                optimized(pgo, true),
                Built::BoltOptimized { profile: pgo.clone(), bolt_profile: None },
            ]
        });
        needs.push(Need { part: Part::Llvm, accepted });
    }
    Ok(StagePlan { inputs, needs, ..StagePlan::new(&STAGE, ctx, steps) })
}

fn optimized(profile: &Path, bolt_ready: bool) -> Built {
    Built::Optimized { profile: profile.to_path_buf(), bolt_ready }
}
