//! Stage 5, dist: BOLT applied to the sysroot libraries that dist packages (once: a library
//! already optimized with the same profile is left alone), then the user's `x.py dist` with
//! every profile-use setting, the stages bootstrap must not rebuild, and the BOLT profiles as
//! reproducible artifacts. The dist files are recorded, and the packaged libraries are checked
//! to be the BOLT-optimized ones.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::bolt::LibraryPattern;
use super::bootstrap::{Bootstrap, Component, Interface};
use super::cmd::Cmd;
use super::elf;
use super::fsutil::{self, human_bytes};
use super::manifest::FileRecord;
use super::pipeline::{Action, Profile, StageId, StagePlan, Step};
use super::runner::StepRun;
use super::Ctx;

pub fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let dir = ctx.stage_dir(StageId::Dist);
    let rustc_pgo = ctx.profile(Profile::RustcPgo);
    let rustdoc_pgo = ctx.profile(Profile::RustdocPgo);
    let llvm_pgo = ctx
        .llvm_built_in_tree()
        .then(|| ctx.profile(Profile::LlvmPgo));
    // (profile, library it optimizes), in upstream's order: LLVM, then rustc.
    let mut bolt = Vec::new();
    if ctx.use_bolt {
        if ctx.llvm_built_in_tree() {
            bolt.push((ctx.profile(Profile::LlvmBolt), LibraryPattern::llvm(tree)));
        }
        bolt.push((
            ctx.profile(Profile::RustcBolt),
            LibraryPattern::rustc_driver(tree),
        ));
    }

    let mut steps = Vec::new();
    for (profile, library) in &bolt {
        steps.push(Step {
            title: format!("BOLT-optimize {} in place", library.shown()),
            action: Action::BoltOptimize {
                library: library.clone(),
                bolt: ctx.host_llvm.tool("llvm-bolt"),
                profile: profile.path.clone(),
                scratch: dir.join(format!("{}.bolt", library.prefix)),
                record: dir.join("bolt-optimized.json"),
            },
            hint: "llvm-bolt failed: its message is above; the library was not changed".to_string(),
        });
    }

    let mut dist =
        Bootstrap::dist(tree, ctx.interface, &ctx.dist_args).for_try_dist(ctx.options.try_build);
    if let Some(llvm_pgo) = &llvm_pgo {
        dist = dist.pgo_use(Component::Llvm, &llvm_pgo.path)?;
    }
    dist = dist.pgo_use(Component::Rustc, &rustc_pgo.path)?;
    if ctx.interface == Interface::PgoTable {
        dist = dist
            .pgo_use(Component::Cargo, &rustc_pgo.path)?
            .pgo_use(Component::Rustdoc, &rustdoc_pgo.path)?;
    }
    // A statically linked LLVM lives inside rustc: only then must bootstrap relink rustc.
    dist = if ctx.options.llvm_shared || !ctx.options.build_llvm {
        dist.keep_stages(&[0, 1])
    } else {
        dist.keep_stages(&[0])
    };
    for (profile, _) in &bolt {
        dist = dist.with_reproducible_artifact(&profile.path);
    }
    let dist_dir = tree.build_dir.join("dist");
    steps.push(Step {
        title: "Build the dist artifacts".to_string(),
        action: Action::Run {
            cmd: dist.into_cmd(),
        },
        hint: "bootstrap's dist failed: its error is above; the profiles and the optimized \
               libraries are kept, so fixing the arguments and running dist again is enough"
            .to_string(),
    });
    steps.push(Step {
        title: "Record the dist files".to_string(),
        action: Action::RecordDistFiles {
            dist_dir: dist_dir.clone(),
        },
        hint: "bootstrap wrote no dist files: check the dist arguments".to_string(),
    });
    if !bolt.is_empty() {
        steps.push(Step {
            title: "Check that the packaged libraries are the BOLT-optimized ones".to_string(),
            action: Action::CheckPackagedLibraries {
                dist_dir,
                libraries: bolt.iter().map(|(_, lib)| lib.clone()).collect(),
                scratch: dir.join("unpacked-rustc"),
            },
            hint: "dist packaged other libraries than the sysroot's optimized ones: was the \
                   compiler rebuilt (missing --keep-stage)?"
                .to_string(),
        });
    }

    let mut inputs = vec![rustc_pgo];
    if ctx.interface == Interface::PgoTable {
        inputs.push(rustdoc_pgo);
    }
    inputs.extend(llvm_pgo);
    inputs.extend(bolt.into_iter().map(|(profile, _)| profile));
    Ok(StagePlan {
        stage: StageId::Dist,
        dir,
        inputs,
        outputs: Vec::new(),
        steps,
        skipped: None,
    })
}

/// Records every file bootstrap's dist wrote, with size and SHA-256, as a stage output.
pub fn record_dist_files(run: &mut StepRun, dist_dir: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dist_dir)
        .with_context(|| format!("cannot list {}", dist_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no dist files", dist_dir.display());
    }
    for file in files {
        let output = FileRecord::of("dist-file", &file)?;
        eprintln!("    {} ({})", output.name, human_bytes(output.size));
        run.record.dist_files.push(output);
    }
    Ok(())
}

/// Unpacks the rustc tarball and checks each library in it against the optimized sysroot one.
pub fn check_packaged_libraries(
    run: &mut StepRun,
    dist_dir: &Path,
    libraries: &[LibraryPattern],
    scratch: &Path,
) -> Result<()> {
    let tarball = rustc_tarball(dist_dir, &run.ctx.tree.host)?;
    if scratch.exists() {
        std::fs::remove_dir_all(scratch)?;
    }
    std::fs::create_dir_all(scratch)?;
    let untar = Cmd::new("tar", scratch)
        .arg("-xf")
        .arg(tarball.display().to_string());
    run.run(&untar)?;
    let unpacked = walkdir::WalkDir::new(scratch)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .find(|p| p.ends_with("rustc/lib"))
        .with_context(|| format!("{} has no rustc/lib", tarball.display()))?;
    for library in libraries {
        let sysroot = library.resolve()?;
        let packaged = LibraryPattern {
            dir: unpacked.clone(),
            ..library.clone()
        }
        .resolve()?;
        if !elf::is_bolt_optimized(&packaged)? {
            bail!(
                "{} in {} is not BOLT-optimized",
                library.shown(),
                tarball.display()
            );
        }
        if fsutil::sha256_file(&packaged)? != fsutil::sha256_file(&sysroot)? {
            bail!(
                "{} in {} differs from the optimized {}",
                library.shown(),
                tarball.display(),
                sysroot.display()
            );
        }
        eprintln!(
            "    {} in the rustc tarball is the BOLT-optimized one",
            library.shown()
        );
    }
    std::fs::remove_dir_all(scratch)?;
    Ok(())
}

/// `rustc-<version>-<host>.tar.*` in the dist dir (not rustc-dev-… or rustc-docs-…).
pub fn rustc_tarball(dist_dir: &Path, host: &str) -> Result<PathBuf> {
    let suffix = format!("-{host}.tar");
    std::fs::read_dir(dist_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            name.strip_prefix("rustc-")
                .and_then(|rest| rest.split_once(&suffix))
                .is_some_and(|(version, _)| !version.contains('-'))
        })
        .with_context(|| format!("no rustc-<version>{suffix}.* in {}", dist_dir.display()))
}
