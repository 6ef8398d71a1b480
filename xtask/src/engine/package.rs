//! The packaged toolchain's check (the effect `CheckPackagedToolchain`): the host's
//! rustc tarball unpacked, nothing in it instrumented, each BOLT-optimized library byte for
//! byte the sysroot's.
//!
//! Unpacking is one xz stream on one core, so it starts while `x.py dist` still packages the
//! other components, as soon as the rustc tarball is whole ([`EarlyCheck`]). The result is
//! remembered for the files it read ([`fs::remembered`]: device, inode, size, modification
//! time), and the check step after dist takes it only if none of them has changed since.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::util::cmd::Cmd;
use crate::util::elf::{self, BoltState};
use crate::util::fs::{self, file_name, OneFile};
use crate::util::process;

/// What the packaged toolchain's check reads: the host's rustc tarball in `dist_dir`, unpacked
/// into `scratch`, and the sysroot's BOLT-optimized libraries.
#[derive(Debug, Clone, Serialize)]
pub struct PackageCheck {
    pub dist_dir: PathBuf,
    pub host: String,
    pub bolt_libraries: Vec<OneFile>,
    pub scratch: PathBuf,
}

/// What the check found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Why the packaged toolchain must not ship, if it must not.
    pub refusal: Option<String>,
    pub elf_files: usize,
    /// A shared `libLLVM.so*` it ships (worth a note when BOLT is off).
    pub shared_llvm: Option<String>,
    /// `tar`, and when it started.
    pub unpack: Cmd,
    pub unpack_started: SystemTime,
    pub unpack_secs: f64,
}

impl PackageCheck {
    /// The check of the tarball as it is now, or the result of an earlier one if the tarball
    /// and the sysroot libraries are the same files.
    pub fn check(&self) -> Result<Checked> {
        let tarball = rustc_tarball(&self.dist_dir, &self.host)?;
        let sysroot: Vec<PathBuf> =
            self.bolt_libraries.iter().map(|library| library.find()).collect::<Result<_>>()?;
        let mut read: Vec<&Path> = vec![&tarball];
        read.extend(sysroot.iter().map(PathBuf::as_path));
        fs::remembered(&read, "packaged toolchain", || self.unpack_and_check(&tarball, &sysroot))
    }

    fn unpack_and_check(&self, tarball: &Path, sysroot: &[PathBuf]) -> Result<Checked> {
        let scratch = &self.scratch;
        fs::remove(scratch)?;
        fs::create_dir(scratch)?;
        let unpack = Cmd::new("tar", scratch).arg("-xf").arg(tarball);
        let (unpack_started, started) = (SystemTime::now(), Instant::now());
        let (unpacked, _, stderr) = unpack.probe(&xshell::Shell::new()?)?;
        if !unpacked {
            anyhow::bail!("`{}` failed: {}", unpack.shell_line(), stderr.trim());
        }
        let unpack_secs = started.elapsed().as_secs_f64();
        let mut checked = Checked {
            refusal: None,
            elf_files: 0,
            shared_llvm: None,
            unpack,
            unpack_started,
            unpack_secs,
        };
        checked.refusal = self.refusal(tarball, sysroot, &mut checked)?;
        fs::remove(scratch)?;
        Ok(checked)
    }

    fn refusal(
        &self,
        tarball: &Path,
        sysroot: &[PathBuf],
        checked: &mut Checked,
    ) -> Result<Option<String>> {
        let scratch = &self.scratch;
        for entry in walkdir::WalkDir::new(scratch) {
            let path =
                entry.with_context(|| format!("cannot list {}", scratch.display()))?.into_path();
            if file_name(&path).starts_with("libLLVM.so") {
                checked.shared_llvm = Some(file_name(&path));
            }
            if !path.is_file() || !elf::is_elf(&path)? {
                continue;
            }
            let instrumented: Vec<String> = elf::section_names(&path)?
                .into_iter()
                .filter(|name| elf::is_instrumentation_section(name))
                .collect();
            if !instrumented.is_empty() {
                return Ok(Some(format!(
                    "{} in {} is instrumented (sections {}): an instrumented compiler must \
                     never ship; dist rebuilt it from an instrumented build (was a --keep-stage \
                     missing from the dist arguments, or a stage interrupted?): `status` shows \
                     the stages, rerun the ones that are not done, then dist",
                    path.strip_prefix(scratch).unwrap_or(&path).display(),
                    tarball.display(),
                    instrumented.join(", ")
                )));
            }
            checked.elf_files += 1;
        }
        if self.bolt_libraries.is_empty() {
            return Ok(None);
        }
        let unpacked = walkdir::WalkDir::new(scratch)
            .into_iter()
            .filter_map(|e| e.ok())
            .map(|e| e.into_path())
            .find(|p| p.ends_with("rustc/lib"))
            .with_context(|| format!("{} has no rustc/lib", tarball.display()))?;
        for (library, sysroot) in self.bolt_libraries.iter().zip(sysroot) {
            let packaged = library.in_dir(&unpacked).find()?;
            if elf::bolt_state(&packaged)? != BoltState::Optimized {
                return Ok(Some(format!(
                    "{} in {} is not BOLT-optimized: dist rebuilt it after the BOLT step (were \
                     the dist arguments or the tree changed?); run dist again",
                    library.shown(),
                    tarball.display()
                )));
            }
            if !fs::same_contents(&packaged, sysroot)? {
                return Ok(Some(format!(
                    "{} in {} differs from the optimized {}: dist packaged another build of \
                     it; run dist again",
                    library.shown(),
                    tarball.display(),
                    sysroot.display()
                )));
            }
        }
        Ok(None)
    }

    /// Starts checking the rustc tarball as soon as dist, which starts now, has written it.
    pub fn start_early(&self) -> EarlyCheck {
        let (check, dist_started) = (self.clone(), SystemTime::now());
        let (dist_runs, dist_ended) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            process::lower_this_threads_priority();
            let poll = Duration::from_millis(100);
            while let Err(mpsc::RecvTimeoutError::Timeout) = dist_ended.recv_timeout(poll) {
                let Ok(tarball) = rustc_tarball(&check.dist_dir, &check.host) else { continue };
                if written_whole_since(&tarball, dist_started) {
                    // A failure (a tarball still written after all) is the check step's to
                    // find again: it checks anew whatever was not checked whole.
                    let _ = check.check();
                    return;
                }
            }
        });
        EarlyCheck { dist_runs, thread }
    }
}

/// The check started while dist runs.
pub struct EarlyCheck {
    /// Dropped when dist has ended.
    dist_runs: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl EarlyCheck {
    /// Once dist has ended: a check under way finishes (the step after dist needs it anyway).
    pub fn finish(self) {
        drop(self.dist_runs);
        let _ = self.thread.join();
    }
}

/// Whether `tarball` was written after `since` and ends as a whole xz stream does (its footer
/// ends with `YZ`); rust-installer writes the tarball in place, the footer last. Any other
/// compression waits for the check after dist.
fn written_whole_since(tarball: &Path, since: SystemTime) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let written = std::fs::metadata(tarball).and_then(|m| m.modified());
    if tarball.extension().is_none_or(|e| e != "xz") || !written.is_ok_and(|w| w >= since) {
        return false;
    }
    let mut footer = [0u8; 2];
    let read = std::fs::File::open(tarball).and_then(|mut file| {
        file.seek(SeekFrom::End(-2)).and_then(|_| file.read_exact(&mut footer))
    });
    read.is_ok() && footer == *b"YZ"
}

/// `rustc-<version>-<host>.tar.*` in the dist dir (not rustc-dev-… or rustc-docs-…).
fn rustc_tarball(dist_dir: &Path, host: &str) -> Result<PathBuf> {
    let suffix = format!("-{host}.tar");
    fs::files_in(dist_dir)?
        .into_iter()
        .find(|p| {
            file_name(p)
                .strip_prefix("rustc-")
                .and_then(|rest| rest.split_once(&suffix))
                .is_some_and(|(version, _)| !version.contains('-'))
        })
        .with_context(|| {
            format!(
                "no rustc-<version>{suffix}.* in {}: run the dist stage first, it makes the \
                 tarballs",
                dist_dir.display()
            )
        })
}
