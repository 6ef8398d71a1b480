//! Stage 5, dist: BOLT applied to the sysroot libraries that dist packages (once: a library
//! already optimized with the same profile is left alone), then the user's `x.py dist` with
//! every profile-use setting, the stages bootstrap must not rebuild, and the BOLT profiles as
//! reproducible artifacts. The dist files are recorded, and the packaged libraries are checked
//! to be the BOLT-optimized ones.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use serde::Serialize;

use super::backup;
use super::bolt::{LibraryPattern, OptimizeInPlace};
use super::bootstrap::{Bootstrap, Interface};
use super::build_state;
use super::cmd::{shell_quote_path, Cmd};
use super::elf;
use super::fsutil::{self, file_name, human_bytes};
use super::manifest::FileRecord;
use super::pipeline::{
    kind, Action, Artifact, Built, Need, Part, Profile, ProfileFile, StageId, StagePlan, StageWork,
    Step,
};
use super::runner::StepRun;
use super::Ctx;

pub fn plan(ctx: &Ctx) -> Result<StagePlan> {
    let tree = &ctx.tree;
    let dir = ctx.stage_dir(StageId::Dist);
    let rustc_pgo = ctx.profile_file::<kind::RustcPgo>();
    let rustdoc_pgo = ctx.profile_file::<kind::RustdocPgo>();
    let clippy_pgo = ctx.profile_file::<kind::ClippyPgo>();
    let llvm_pgo = ctx
        .llvm_built_in_tree()
        .then(|| ctx.profile_file::<kind::LlvmPgo>());
    let llvm_bolt =
        (ctx.use_bolt && ctx.llvm_built_in_tree()).then(|| ctx.profile_file::<kind::LlvmBolt>());
    let rustc_bolt = ctx.use_bolt.then(|| ctx.profile_file::<kind::RustcBolt>());
    // (profile, library it optimizes), in upstream's order: LLVM, then rustc.
    let bolt: Vec<(&Artifact, LibraryPattern)> = llvm_bolt
        .iter()
        .map(|p| (&p.artifact, LibraryPattern::llvm(tree)))
        .chain(
            rustc_bolt
                .iter()
                .map(|p| (&p.artifact, LibraryPattern::rustc_driver(tree))),
        )
        .collect();

    let mut steps = Vec::new();
    for (profile, library) in &bolt {
        let (part, pgo_profile) = bolt_target(ctx, library);
        steps.push(
            Step::new(
                format!("BOLT-optimize {} in place", library.shown()),
                Action::Work(Box::new(OptimizeInPlace {
                    library: library.clone(),
                    part,
                    bolt: ctx.host_llvm.tool("llvm-bolt"),
                    pgo_profile: pgo_profile.clone(),
                    profile: profile.path.clone(),
                    scratch: dir.join(format!("{}.bolt", library.prefix)),
                    backups: backup::backups_dir(&tree.artifacts_root()),
                })),
                "the message above says what failed and that the library is as it was before the \
             step; fix the cause (llvm-bolt's message, free disk) and run dist again",
            )
            .changing_in_place(
                part,
                Built::BoltOptimized {
                    profile: pgo_profile,
                    bolt_profile: Some(profile.path.clone()),
                },
            ),
        );
    }

    let mut dist =
        Bootstrap::dist(tree, ctx.interface, &ctx.dist_args).for_try_dist(ctx.options.try_build);
    if let Some(llvm_pgo) = &llvm_pgo {
        dist = dist.use_llvm_profile(llvm_pgo)?;
    }
    dist = dist.use_rustc_profile(&rustc_pgo)?;
    if ctx.interface == Interface::PgoTable {
        dist = dist
            .use_cargo_profile(&rustc_pgo)?
            .use_rustdoc_profile(&rustdoc_pgo)?;
        // dist builds clippy again (its component), so it must hear of clippy's profile too.
        if ctx.clippy_pgo {
            dist = dist.use_clippy_profile(&clippy_pgo)?;
        }
    }
    // A statically linked LLVM lives inside rustc: only then must bootstrap relink rustc.
    dist = if ctx.options.llvm_shared || !ctx.options.build_llvm {
        dist.keep_stages(&[0, 1])
    } else {
        dist.keep_stages(&[0])
    };
    // The BOLT profiles ship under upstream's names: ours stay in the stage directories.
    let named_in = dir.join("reproducible-artifacts");
    let mut links = Vec::new();
    if let Some(profile) = &llvm_bolt {
        dist = dist.with_reproducible_artifact(profile, &named_in);
        links.push(upstream_named(profile, &named_in));
    }
    if let Some(profile) = &rustc_bolt {
        dist = dist.with_reproducible_artifact(profile, &named_in);
        links.push(upstream_named(profile, &named_in));
    }
    if !links.is_empty() {
        steps.push(Step::new(
            "Name the BOLT profiles as upstream does, for the reproducible artifacts",
            Action::Work(Box::new(LinkUnderNames { links })),
            "check permissions in the stage directory",
        ));
    }
    let dist_dir = tree.build_dir.join("dist");
    let mut dist_step = Step::new(
        "Build the dist artifacts",
        dist.into_action(),
        "bootstrap's dist failed: its error is above; the profiles and the optimized libraries \
         are kept, so fixing the arguments and running dist again is enough",
    );
    if let Some(llvm_pgo) = &llvm_pgo {
        // Without BOLT, no stage before dist builds the optimized LLVM: dist does.
        dist_step = dist_step.building_if_absent(
            Part::Llvm,
            Built::Optimized {
                profile: llvm_pgo.path().to_path_buf(),
                bolt_ready: false,
            },
        );
    }
    steps.push(dist_step);
    steps.push(Step::new(
        "Record the dist files",
        Action::Work(Box::new(RecordDistFiles {
            dist_dir: dist_dir.clone(),
        })),
        "bootstrap wrote no dist files: check the dist arguments",
    ));
    let check = match bolt.is_empty() {
        true => "Check that nothing in the packaged compiler is instrumented",
        false => "Check the packaged compiler: nothing instrumented, the libraries BOLT-optimized",
    };
    steps.push(Step::new(
        check,
        Action::Work(Box::new(CheckPackagedToolchain {
            dist_dir,
            bolt_libraries: bolt.iter().map(|(_, lib)| lib.clone()).collect(),
            scratch: dir.join("unpacked-rustc"),
        })),
        "the message above says what is wrong with the packaged toolchain and what to do",
    ));

    let mut inputs = vec![rustc_pgo.artifact.clone()];
    if ctx.interface == Interface::PgoTable {
        inputs.push(rustdoc_pgo.artifact.clone());
        if ctx.clippy_pgo {
            inputs.push(clippy_pgo.artifact.clone());
        }
    }
    inputs.extend(llvm_pgo.as_ref().map(|p| p.artifact.clone()));
    inputs.extend(bolt.into_iter().map(|(profile, _)| profile.clone()));
    // Dist packages the libraries as they are: each BOLT-optimized one is what BOLT made of it
    // with this very profile, or not BOLT's output yet (dist's own BOLT step optimizes it).
    let to_bolt = |pgo: &Path, bolt: &Path| -> Vec<Built> {
        vec![
            optimized(pgo, true),
            Built::BoltOptimized {
                profile: pgo.to_path_buf(),
                bolt_profile: Some(bolt.to_path_buf()),
            },
        ]
    };
    let mut needs = vec![match &rustc_bolt {
        Some(bolt) => Need {
            part: Part::Compiler,
            accepted: to_bolt(rustc_pgo.path(), bolt.path()),
        },
        None => build_state::optimized_compiler(ctx),
    }];
    if let Some(llvm_pgo) = &llvm_pgo {
        let pgo = llvm_pgo.path();
        needs.push(Need {
            part: Part::Llvm,
            accepted: match &llvm_bolt {
                Some(bolt) => to_bolt(pgo, bolt.path()),
                None => vec![
                    Built::Absent,
                    optimized(pgo, false),
                    optimized(pgo, true),
                    Built::BoltOptimized {
                        profile: pgo.to_path_buf(),
                        bolt_profile: None,
                    },
                ],
            },
        });
    }
    Ok(StagePlan {
        inputs,
        needs,
        ..StagePlan::new(StageId::Dist, dir, steps)
    })
}

/// The part of the build dir a BOLT-optimized library belongs to, and the PGO profile it was
/// built with.
fn bolt_target(ctx: &Ctx, library: &LibraryPattern) -> (Part, PathBuf) {
    match library.prefix {
        "libLLVM.so" => (Part::Llvm, ctx.profile(Profile::LlvmPgo).path),
        _ => (Part::Compiler, ctx.profile(Profile::RustcPgo).path),
    }
}

fn optimized(profile: &Path, bolt_ready: bool) -> Built {
    Built::Optimized {
        profile: profile.to_path_buf(),
        bolt_ready,
    }
}

/// (our file, the same under upstream's name in `dir`).
fn upstream_named<K: kind::BoltKind>(profile: &ProfileFile<K>, dir: &Path) -> (PathBuf, PathBuf) {
    (profile.path().to_path_buf(), dir.join(K::UPSTREAM_NAME))
}

/// Gives files a second name (a hard link, else a copy), replacing what had that name.
#[derive(Debug, Serialize)]
pub struct LinkUnderNames {
    /// (existing file, new name)
    pub links: Vec<(PathBuf, PathBuf)>,
}

impl StageWork for LinkUnderNames {
    fn kind(&self) -> &'static str {
        "link-under-names"
    }

    fn run(&self, _run: &mut StepRun) -> Result<()> {
        for (from, to) in &self.links {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let partial = to.with_file_name(format!("{}.partial", file_name(to)));
            let _ = std::fs::remove_file(&partial);
            if std::fs::hard_link(from, &partial).is_err() {
                std::fs::copy(from, &partial).with_context(|| {
                    format!("cannot copy {} to {}", from.display(), partial.display())
                })?;
            }
            std::fs::rename(&partial, to)
                .with_context(|| format!("cannot name {} {}", from.display(), to.display()))?;
            eprintln!("    {} is {}", file_name(to), from.display());
        }
        Ok(())
    }

    fn shell(&self, _host: &str) -> String {
        self.links
            .iter()
            .map(|(from, to)| {
                format!(
                    "mkdir -p {} && ln -f {} {}",
                    shell_quote_path(to.parent().unwrap_or(Path::new("."))),
                    shell_quote_path(from),
                    shell_quote_path(to)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Records every file bootstrap's dist wrote, with size and SHA-256, as a stage output.
#[derive(Debug, Serialize)]
pub struct RecordDistFiles {
    pub dist_dir: PathBuf,
}

impl StageWork for RecordDistFiles {
    fn kind(&self) -> &'static str {
        "record-dist-files"
    }

    fn run(&self, run: &mut StepRun) -> Result<()> {
        let dist_dir = &self.dist_dir;
        let mut files: Vec<PathBuf> = std::fs::read_dir(dist_dir)
            .with_context(|| format!("cannot list {}", dist_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        // Only what this dist wrote: a file an earlier dist left (say, reproducible artifacts
        // of a run with BOLT) is not this one's.
        let slack = std::time::Duration::from_secs(2);
        let since = run
            .stage_started
            .checked_sub(slack)
            .unwrap_or(run.stage_started);
        let (files, earlier): (Vec<PathBuf>, Vec<PathBuf>) = files.into_iter().partition(|f| {
            std::fs::metadata(f)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified >= since)
        });
        for file in &earlier {
            eprintln!(
                "    {} is an earlier dist's: not recorded",
                file.file_name().unwrap_or_default().to_string_lossy()
            );
        }
        if files.is_empty() {
            bail!("bootstrap wrote no dist files to {}", dist_dir.display());
        }
        for file in files {
            let output = FileRecord::of("dist-file", &file)?;
            eprintln!("    {} ({})", output.name, human_bytes(output.size));
            run.record.found_outputs.push(output);
        }
        Ok(())
    }

    fn shell(&self, _host: &str) -> String {
        format!("ls -l {}", shell_quote_path(&self.dist_dir))
    }
}

/// Unpacks the rustc dist tarball and checks every ELF file in it: none may carry PGO
/// (`__llvm_prf_*`) or BOLT (`.bolt.instr*`) instrumentation, and each BOLT-optimized library
/// must be byte for byte the optimized one in the sysroot.
#[derive(Debug, Serialize)]
pub struct CheckPackagedToolchain {
    pub dist_dir: PathBuf,
    pub bolt_libraries: Vec<LibraryPattern>,
    pub scratch: PathBuf,
}

impl StageWork for CheckPackagedToolchain {
    fn kind(&self) -> &'static str {
        "check-packaged-toolchain"
    }

    fn run(&self, run: &mut StepRun) -> Result<()> {
        let scratch = &self.scratch;
        let tarball = rustc_tarball(&self.dist_dir, &run.ctx.tree.host)?;
        if scratch.exists() {
            std::fs::remove_dir_all(scratch)?;
        }
        std::fs::create_dir_all(scratch)?;
        let untar = Cmd::new("tar", scratch)
            .arg("-xf")
            .arg(tarball.display().to_string());
        run.run(&untar)?;
        let mut checked = 0;
        for entry in walkdir::WalkDir::new(scratch) {
            let path = entry?.into_path();
            if !path.is_file() || !elf::is_elf(&path)? {
                continue;
            }
            let instrumented: Vec<String> = elf::section_names(&path)?
                .into_iter()
                .filter(|name| elf::is_instrumentation_section(name))
                .collect();
            if !instrumented.is_empty() {
                bail!(
                    "{} in {} is instrumented (sections {}): an instrumented compiler must \
                     never ship; dist rebuilt it from an instrumented build (was a --keep-stage \
                     missing from the dist arguments, or a stage interrupted?): `status` shows \
                     the stages, rerun the ones that are not done, then dist",
                    path.strip_prefix(scratch).unwrap_or(&path).display(),
                    tarball.display(),
                    instrumented.join(", ")
                );
            }
            checked += 1;
        }
        eprintln!("    {checked} ELF files in the rustc tarball, none instrumented");
        if self.bolt_libraries.is_empty() {
            let llvm = walkdir::WalkDir::new(scratch)
                .into_iter()
                .filter_map(|e| e.ok())
                .find(|e| e.file_name().to_string_lossy().starts_with("libLLVM.so"));
            if let Some(llvm) = llvm {
                eprintln!(
                    "    note: the dist ships a shared {} without BOLT (BOLT is off{}); with \
                     --use-bolt true it would be BOLT-optimized",
                    llvm.file_name().to_string_lossy(),
                    match run.ctx.options.llvm_shared {
                        true => "",
                        false =>
                            ", and --llvm-shared false was given although bootstrap \
                                 builds LLVM as a shared library",
                    }
                );
            }
        }
        let unpacked = walkdir::WalkDir::new(scratch)
            .into_iter()
            .filter_map(|e| e.ok())
            .map(|e| e.into_path())
            .find(|p| p.ends_with("rustc/lib"))
            .with_context(|| format!("{} has no rustc/lib", tarball.display()))?;
        for library in &self.bolt_libraries {
            let sysroot = library.resolve()?;
            let packaged = LibraryPattern {
                dir: unpacked.clone(),
                ..library.clone()
            }
            .resolve()?;
            if elf::bolt_state(&packaged)? != elf::BoltState::Optimized {
                bail!(
                    "{} in {} is not BOLT-optimized: dist rebuilt it after the BOLT step (were \
                     the dist arguments or the tree changed?); run dist again",
                    library.shown(),
                    tarball.display()
                );
            }
            if fsutil::sha256_file(&packaged)? != fsutil::sha256_file(&sysroot)? {
                bail!(
                    "{} in {} differs from the optimized {}: dist packaged another build of \
                     it; run dist again",
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

    fn shell(&self, host: &str) -> String {
        let scratch = shell_quote_path(&self.scratch);
        let mut lines = vec![
            format!("rm -rf {scratch} && mkdir -p {scratch}"),
            format!(
                "tar -xf \"$({})\" -C {scratch}",
                rustc_tarball_shell(&self.dist_dir, host)
            ),
            format!(
                "! find {scratch} -type f -exec sh -c 'head -c 4 \"$1\" | grep -q ELF && \
                 readelf -S -W \"$1\"' sh {{}} \\; | grep -E '__llvm_prf_|\\.bolt\\.instr'"
            ),
        ];
        for library in &self.bolt_libraries {
            lines.push(format!(
                "cmp \"$(find {scratch} -path '*/rustc/lib/{}' -type f)\" {}",
                library.shown(),
                library.shell()
            ));
        }
        lines.push(format!("rm -rf {scratch}"));
        lines.join("\n")
    }
}

/// A shell command printing the path of the rustc tarball: the one whose version part, between
/// `rustc-` and `-<host>`, has no `-` (so not rustc-dev-… or rustc-docs-…).
pub fn rustc_tarball_shell(dist_dir: &Path, host: &str) -> String {
    format!(
        "ls {}/rustc-*-{host}.tar.* | grep -E '/rustc-[^-/]+-{}\\.tar\\.' | head -n 1",
        shell_quote_path(dist_dir),
        host.replace('.', "\\.")
    )
}

/// `rustc-<version>-<host>.tar.*` in the dist dir (not rustc-dev-… or rustc-docs-…).
pub fn rustc_tarball(dist_dir: &Path, host: &str) -> Result<PathBuf> {
    let suffix = format!("-{host}.tar");
    std::fs::read_dir(dist_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = file_name(p);
            name.strip_prefix("rustc-")
                .and_then(|rest| rest.split_once(&suffix))
                .is_some_and(|(version, _)| !version.contains('-'))
        })
        .with_context(|| format!("no rustc-<version>{suffix}.* in {}", dist_dir.display()))
}
