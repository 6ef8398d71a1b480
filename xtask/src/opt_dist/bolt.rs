//! BOLT on the sysroot libraries: instrumenting one for training while keeping the original
//! safe, and optimizing one in place exactly once.
//!
//! The sysroot's `libLLVM.so*` and `librustc_driver-*.so` are hard links into bootstrap's own
//! build output, refreshed by every later x.py build or dist. So a library is always rewritten
//! in place (copied over, same inode), never replaced by a new file, which the next bootstrap
//! run would undo.
//!
//! Before a library is instrumented its original is backed up ([`super::backup`]); it goes
//! back after training, after any failure or signal, and, should the xtask have been killed
//! outright, at the start of the next run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::backup::{self, back_up};
use super::build_state::Recorded;
use super::cmd::{shell_quote_path, Cmd};
use super::elf::{bolt_state, BoltState};
use super::fsutil::{self, file_name, sha256_file};
use super::llvm_tools::llvm_tool_version;
use super::pipeline::{Part, StageWork};
use super::runner::StepRun;
use super::tree::Tree;

/// A library found by name in a directory: `<prefix>*<suffix>`, which must match exactly one file.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryPattern {
    pub dir: PathBuf,
    pub prefix: &'static str,
    pub suffix: &'static str,
}

impl LibraryPattern {
    /// The sysroot's `libLLVM.so*` (e.g. `libLLVM.so.22.1-rust-1.95.0-stable`).
    pub fn llvm(tree: &Tree) -> LibraryPattern {
        LibraryPattern {
            dir: tree.host_build().join("stage2/lib"),
            prefix: "libLLVM.so",
            suffix: "",
        }
    }

    /// The sysroot's `librustc_driver-<hash>.so`.
    pub fn rustc_driver(tree: &Tree) -> LibraryPattern {
        LibraryPattern {
            dir: tree.host_build().join("stage2/lib"),
            prefix: "librustc_driver",
            suffix: ".so",
        }
    }

    pub fn resolve(&self) -> Result<PathBuf> {
        let entries = std::fs::read_dir(&self.dir).with_context(|| {
            format!(
                "cannot list {}: was the compiler built?",
                self.dir.display()
            )
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let name = file_name(&path);
            if name.starts_with(self.prefix) && name.ends_with(self.suffix) && path.is_file() {
                found.push(path);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => bail!("no {} in {}", self.shown(), self.dir.display()),
            _ => {
                bail!(
                "more than one {} in {}: {}; remove the stale ones (or the build dir) and rebuild",
                self.shown(),
                self.dir.display(),
                found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )
            }
        }
    }

    /// `libLLVM.so*` / `librustc_driver*.so`, as a user would glob it.
    pub fn shown(&self) -> String {
        format!("{}*{}", self.prefix, self.suffix)
    }

    /// A shell expression for the one matching file.
    pub fn shell(&self) -> String {
        format!(
            "\"$(find {} -maxdepth 1 -type f -name '{}' | head -n 1)\"",
            shell_quote_path(&self.dir),
            self.shown()
        )
    }
}

/// `llvm-bolt -instrument`, with one profile file per process.
pub fn instrument_cmd(bolt: &Path, library: &Path, profile_prefix: &Path, output: &Path) -> Cmd {
    Cmd::new(bolt.display().to_string(), Path::new("/"))
        .arg("-instrument")
        .arg(library.display().to_string())
        .arg(format!(
            "--instrumentation-file={}",
            profile_prefix.display()
        ))
        .arg("--instrumentation-file-append-pid")
        .arg("-o")
        .arg(output.display().to_string())
}

/// Upstream's optimization settings (cdsplit on x86_64; aarch64 uses profile2).
pub fn optimize_cmd(bolt: &Path, input: &Path, profile: &Path, output: &Path, host: &str) -> Cmd {
    let split = if host.starts_with("aarch64") {
        "profile2"
    } else {
        "cdsplit"
    };
    Cmd::new(bolt.display().to_string(), Path::new("/"))
        .arg(input.display().to_string())
        .arg("-data")
        .arg(profile.display().to_string())
        .arg("-o")
        .arg(output.display().to_string())
        .args([
            "-reorder-blocks=ext-tsp",
            "-reorder-functions=cdsort",
            "-split-functions",
        ])
        .arg(format!("-split-strategy={split}"))
        .args([
            "-split-all-cold",
            "-jump-tables=move",
            "-icf=all",
            "-update-debug-sections",
            "-dyno-stats",
        ])
}

/// Records a BOLT tool with its LLVM version in the stage's manifest (a later run compares it).
fn record_tool(run: &mut StepRun, name: &str, path: &Path) {
    if let Ok(version) = llvm_tool_version(path, run.sh) {
        run.record.tool(name, path, version);
    }
}

/// Swaps the instrumented build of `library` in, after backing the original up.
fn swap_in_instrumented(
    library: &Path,
    instrumented: &Path,
    backups: &Path,
    part: Part,
) -> Result<()> {
    back_up(library, backups, Some(part))?;
    std::fs::copy(instrumented, library)
        .with_context(|| format!("cannot put the instrumented {} in place", library.display()))?;
    std::fs::remove_file(instrumented)
        .with_context(|| format!("cannot remove {}", instrumented.display()))?;
    Ok(())
}

/// Refuses a library BOLT already rewrote: BOLT cannot process its own output again. The plan
/// rebuilds such a library first wherever the build state knows it; this is the last guard.
fn ensure_not_bolt_output(library: &Path, how_to_rebuild: &str) -> Result<()> {
    match bolt_state(library)? {
        BoltState::Untouched => Ok(()),
        BoltState::Optimized => bail!(
            "{} is already BOLT-optimized (it has a .bolt.org.text section), and BOLT cannot \
             instrument its own output: {how_to_rebuild}",
            library.display()
        ),
        BoltState::Instrumented => bail!(
            "{} is BOLT-instrumented (it has .bolt.instr sections): a run was stopped while it \
             was trained, and its backup in {} is gone, so the original cannot be put back: \
             {how_to_rebuild}",
            library.display(),
            "<build-dir>/opt-dist/backups"
        ),
    }
}

/// Training a library BOLT-instrumented, as one scope: back the original up, put the
/// instrumented build in its place, run the training, and put the original back whatever the
/// training did. The backup is on disk before the library changes, so a run killed in between
/// is repaired by the next one ([`super::backup`]).
#[derive(Debug, Serialize)]
pub struct InstrumentedTraining {
    pub library: LibraryPattern,
    pub bolt: PathBuf,
    /// Each trained process writes `<prefix>.<pid>.fdata`.
    pub profile_prefix: PathBuf,
    /// Where llvm-bolt writes the instrumented library before it is swapped in.
    pub scratch: PathBuf,
    pub backups: PathBuf,
    /// The part of the build dir the library belongs to.
    pub part: Part,
    /// What to do when the library is already BOLT's output.
    pub rebuild_hint: String,
    pub training: Cmd,
}

impl StageWork for InstrumentedTraining {
    fn kind(&self) -> &'static str {
        "bolt-instrumented-training"
    }

    fn run(&self, run: &mut StepRun) -> Result<()> {
        let library = self.library.resolve()?;
        ensure_not_bolt_output(&library, &self.rebuild_hint)?;
        record_tool(run, "llvm-bolt", &self.bolt);
        run.run(&instrument_cmd(
            &self.bolt,
            &library,
            &self.profile_prefix,
            &self.scratch,
        ))?;
        swap_in_instrumented(&library, &self.scratch, &self.backups, self.part)?;
        eprintln!(
            "    {} is instrumented; its original is in {}",
            library.display(),
            self.backups.display()
        );
        let trained = run.run_training(&self.training);
        let restored = backup::settle(&self.backups);
        match (trained, restored) {
            (trained, Ok(settled)) => {
                for settled in settled {
                    eprintln!("    {}", settled.describe("training is over"));
                }
                trained
            }
            (Ok(()), Err(restore)) => Err(restore),
            (Err(training), Err(restore)) => Err(training.context(format!("{restore:#}"))),
        }
    }

    fn shell(&self, _host: &str) -> String {
        let backups = shell_quote_path(&self.backups);
        let backup = format!("{backups}/\"$(basename \"$lib\")\"");
        let instrument = instrument_cmd(
            &self.bolt,
            Path::new("LIB"),
            &self.profile_prefix,
            &self.scratch,
        );
        [
            format!("lib={}", self.library.shell()),
            format!(
                "mkdir -p {backups} && cp \"$lib\" {backup} && trap 'cp {backup} \"$lib\"' EXIT"
            ),
            format!(
                "{} && cp {1} \"$lib\" && rm {1}",
                instrument.shell_line().replace(" LIB ", " \"$lib\" "),
                shell_quote_path(&self.scratch)
            ),
            format!("cd {}", shell_quote_path(&self.training.cwd)),
            self.training.shell_line(),
            format!("cp {backup} \"$lib\" && rm {backup} && trap - EXIT"),
        ]
        .join("\n")
    }
}

/// `merge-fdata -o <output>` over every per-process `.fdata` in `raw_dir`.
#[derive(Debug, Serialize)]
pub struct MergeFdata {
    pub merge_fdata: PathBuf,
    pub raw_dir: PathBuf,
    pub output: PathBuf,
}

impl StageWork for MergeFdata {
    fn kind(&self) -> &'static str {
        "merge-fdata"
    }

    fn run(&self, run: &mut StepRun) -> Result<()> {
        let mut inputs: Vec<String> = std::fs::read_dir(&self.raw_dir)
            .with_context(|| format!("cannot list {}", self.raw_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "fdata"))
            .map(|p| p.display().to_string())
            .collect();
        inputs.sort();
        record_tool(run, "merge-fdata", &self.merge_fdata);
        let cmd = Cmd::new(self.merge_fdata.display().to_string(), &self.raw_dir)
            .arg("-o")
            .arg(self.output.display().to_string())
            .args(inputs);
        run.run(&cmd)
    }

    fn shell(&self, _host: &str) -> String {
        format!(
            "{} -o {} {}/*.fdata",
            shell_quote_path(&self.merge_fdata),
            shell_quote_path(&self.output),
            shell_quote_path(&self.raw_dir)
        )
    }
}

/// BOLT-optimizes a sysroot library in place with a profile, unless the build state says it
/// already is, with this very profile (so `dist` can run again, also after `clean dist`). The
/// library either ends up optimized and checked or as it was: its original is backed up first
/// (and is what BOLT reads), the free space the rewrite needs is checked before the library is
/// touched, the rewritten file is checked (an ELF file with BOLT's sections, of the size BOLT
/// wrote), and on any failure, a full disk included, the original is put back; after a SIGKILL
/// the next run puts it back ([`backup::settle`]).
#[derive(Debug, Serialize)]
pub struct OptimizeInPlace {
    pub library: LibraryPattern,
    pub part: Part,
    pub bolt: PathBuf,
    /// The PGO profile the library was built with, and the BOLT profile to apply.
    pub pgo_profile: PathBuf,
    pub profile: PathBuf,
    pub scratch: PathBuf,
    pub backups: PathBuf,
}

impl StageWork for OptimizeInPlace {
    fn kind(&self) -> &'static str {
        "bolt-optimize"
    }

    fn run(&self, run: &mut StepRun) -> Result<()> {
        let library = self.library.resolve()?;
        match bolt_state(&library)? {
            BoltState::Untouched => {}
            BoltState::Optimized if self.already_done(run)? => {
                eprintln!(
                    "    {} is already optimized with this profile",
                    library.display()
                );
                return Ok(());
            }
            // The plan rebuilds a library optimized with another profile first, so this is a
            // library changed behind the build state's back.
            _ => ensure_not_bolt_output(
                &library,
                "the build state does not say with which profile; `cargo xtask opt-dist plan \
                 dist` shows the rebuild that makes it right, `all` runs it",
            )?,
        }
        record_tool(run, "llvm-bolt", &self.bolt);
        let original = back_up(&library, &self.backups, Some(self.part))
            .with_context(|| format!("{} was not changed", library.display()))?;
        let rewritten = self.rewrite(run, &library, &original);
        let _ = std::fs::remove_file(&self.scratch);
        if let Err(err) = rewritten {
            return Err(match backup::settle(&self.backups) {
                Ok(_) => err.context(format!(
                    "{} is as it was before this step (put back from its backup)",
                    library.display()
                )),
                Err(restore) => err.context(format!(
                    "{restore:#}; the original is in {}",
                    original.display()
                )),
            });
        }
        // The backup goes once the runner has recorded the part as optimized.
        eprintln!("    {} is BOLT-optimized", library.display());
        Ok(())
    }

    fn shell(&self, host: &str) -> String {
        let backups = shell_quote_path(&self.backups);
        let backup = format!("{backups}/\"$(basename \"$lib\")\"");
        let optimize = optimize_cmd(
            &self.bolt,
            Path::new("BACKUP"),
            &self.profile,
            &self.scratch,
            host,
        );
        [
            format!("lib={}", self.library.shell()),
            "if ! readelf -S -W \"$lib\" | grep -q '\\.bolt\\.org\\.text'; then".to_string(),
            format!(
                "mkdir -p {backups} && cp \"$lib\" {backup} && trap 'cp {backup} \"$lib\"' EXIT"
            ),
            optimize
                .shell_line()
                .replace(" BACKUP ", &format!(" {backup} ")),
            format!(
                "cp {0} \"$lib\" && rm {0} {backup} && trap - EXIT",
                shell_quote_path(&self.scratch)
            ),
            "fi".to_string(),
        ]
        .join("\n")
    }
}

impl OptimizeInPlace {
    /// Whether the build state, as it was before this step, records the library as optimized
    /// with this PGO profile and this BOLT profile.
    fn already_done(&self, run: &StepRun) -> Result<bool> {
        Ok(match run.parts_before.get(self.part) {
            Recorded::BoltOptimized {
                profile_sha256,
                bolt_profile_sha256: Some(bolt_profile_sha256),
            } => {
                profile_sha256 == sha256_file(&self.pgo_profile)?
                    && bolt_profile_sha256 == sha256_file(&self.profile)?
            }
            _ => false,
        })
    }

    /// BOLT reads the backup and writes the scratch file, which is then copied over the
    /// library (in place: it is a hard link bootstrap refreshes) and checked.
    fn rewrite(&self, run: &mut StepRun, library: &Path, original: &Path) -> Result<()> {
        let cmd = optimize_cmd(
            &self.bolt,
            original,
            &self.profile,
            &self.scratch,
            &run.ctx.tree.host,
        );
        run.run(&cmd).context("llvm-bolt failed")?;
        let size = std::fs::metadata(&self.scratch)?.len();
        // Copying truncates the library first: its blocks are free again before the new
        // ones are written.
        let old = std::fs::metadata(library)?.len();
        if let Some(free) = fsutil::free_bytes(library, run.sh) {
            if free + old < size {
                bail!(
                    "rewriting {} needs {} free, {} is: free some space (the BOLT output was \
                     written; the library was not touched)",
                    library.display(),
                    fsutil::human_bytes(size),
                    fsutil::human_bytes(free)
                );
            }
        }
        std::fs::copy(&self.scratch, library)
            .with_context(|| format!("cannot write {}", library.display()))?;
        let written = std::fs::metadata(library)?.len();
        if written != size || !matches!(bolt_state(library), Ok(BoltState::Optimized)) {
            bail!(
                "{} is not what llvm-bolt wrote after the copy ({} of {})",
                library.display(),
                fsutil::human_bytes(written),
                fsutil::human_bytes(size)
            );
        }
        Ok(())
    }
}
