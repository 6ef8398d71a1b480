//! Streamed raw profiles (`--raw-profiles streamed`): while the collector trains, the raw
//! profiles of processes that have exited are merged into one running profile and deleted, so
//! the raw bytes on disk stay a small part of what per-process training leaves at its end.
//!
//! A training process's raw profile is whole once the process has exited (LLVM's profile
//! runtime writes it as the process exits; BOLT's runtime may start it earlier and finishes it
//! at exit), and every file names its process: the
//! `%p` of `default_%m_%p.profraw`, BOLT's `prof.fdata.<pid>.fdata`, the `prof-<pid>/`
//! directory an instrumented LLVM writes into. A file whose process has ended is complete; one
//! whose process still runs (or that names none) is left alone; what is left when the command
//! ends is merged with the running profile by the merge step after it, as per-process files
//! are. The running profile is replaced with one rename after each merge, and a batch's files
//! are deleted only once it holds them. A run killed at any instant leaves a raw directory that the
//! training step, which never resumes, empties before it trains again.
//!
//! A pid cannot name a newer process before the kernel has gone through its whole pid space
//! (`kernel.pid_max`, 4 million on current distributions), far more processes than a training
//! starts between a file's check and its deletion.
//!
//! When the raw bytes on disk reach the cap (`--raw-cap`), the training is paused (SIGSTOP to
//! its process group) while the files of ended processes are merged. What processes still
//! running hold cannot be merged yet (BOLT's runtime writes its file as the process runs), so
//! the bytes on disk stay under the cap plus what the running processes write.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::util::cmd::Cmd;
use crate::util::fs::{self, file_name, human_bytes, human_duration};
use crate::util::process;

/// How often the raw directory is looked at.
const POLL: Duration = Duration::from_millis(25);

/// The fewest bytes of ended processes' files a merge waits for, unless the cap is reached or
/// [`MOST_WAIT`] has passed since the last merge: a merge costs its tool's start and a read and
/// write of the running profile, so files of a few KiB each (the miniature tree's) go in
/// batches. Once the running profile is bigger, a merge waits for as many bytes as it holds,
/// which keeps all merges together within about twice the raw bytes' reading.
const LEAST_PER_MERGE: u64 = 128 << 10;
const MOST_WAIT: Duration = Duration::from_secs(1);

/// The most files one merge takes (each is a command-line argument).
const MOST_PER_MERGE: usize = 512;

/// What streams during a training: its raw directory, how a batch is merged, and the cap.
#[derive(Debug, Clone)]
pub struct Stream {
    pub raw_dir: PathBuf,
    pub merger: Merger,
    pub cap: u64,
}

/// The tool that merges a batch into the running profile.
#[derive(Debug, Clone)]
pub enum Merger {
    /// `llvm-profdata merge`: raw `.profraw` files into an indexed profile.
    Profdata(PathBuf),
    /// `merge-fdata`: BOLT's `.fdata` files.
    Fdata(PathBuf),
}

impl Merger {
    fn tool(&self) -> &Path {
        match self {
            Merger::Profdata(tool) | Merger::Fdata(tool) => tool,
        }
    }

    fn extension(&self) -> &'static str {
        match self {
            Merger::Profdata(_) => "profraw",
            Merger::Fdata(_) => "fdata",
        }
    }

    /// The running profile in the raw directory: the final merge of the directory takes it in
    /// with whatever is left (`llvm-profdata` reads indexed and raw inputs alike).
    pub fn running_profile(&self, raw_dir: &Path) -> PathBuf {
        raw_dir.join(match self {
            Merger::Profdata(_) => "streamed.profdata",
            Merger::Fdata(_) => "streamed.fdata",
        })
    }

    fn command(&self, inputs: &[PathBuf], output: &Path) -> Cmd {
        let (tool, args) = match self {
            Merger::Profdata(tool) => (tool, vec!["merge", "-o"]),
            Merger::Fdata(tool) => (tool, vec!["-o"]),
        };
        Cmd::new(tool, Path::new("/")).args(args).arg(output).args(inputs)
    }
}

/// What streaming did, for the manifest and the log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StreamedRecord {
    /// Raw files merged, and their bytes: what per-process training would have left.
    pub files: u64,
    pub bytes: u64,
    /// The most raw bytes (and files) seen on disk at once, sampled every 0.1 s.
    pub peak_bytes: u64,
    pub peak_files: u64,
    pub batches: u64,
    pub merge_secs: f64,
    /// How long the training was paused at the cap.
    pub paused_secs: f64,
    pub cap: u64,
}

impl StreamedRecord {
    /// What streamed in one line, for the log.
    pub fn describe(&self) -> String {
        let paused = match self.paused_secs > 0.0 {
            true => format!(", training paused {} at the cap", human_duration(self.paused_secs)),
            false => String::new(),
        };
        format!(
            "streamed: {} raw profiles ({}) merged in {} batches ({} of merging), at most {} on \
             disk at once{paused}",
            self.files,
            human_bytes(self.bytes),
            self.batches,
            human_duration(self.merge_secs),
            human_bytes(self.peak_bytes),
        )
    }

    /// Adds a later streaming into the same directory (training after the build that ran the
    /// instrumented binaries first).
    pub fn add(&mut self, later: &StreamedRecord) {
        self.files += later.files;
        self.bytes += later.bytes;
        // Nothing of the first is left on disk when the next starts: all of it was merged.
        self.peak_bytes = self.peak_bytes.max(later.peak_bytes);
        self.peak_files = self.peak_files.max(later.peak_files);
        self.batches += later.batches;
        self.merge_secs += later.merge_secs;
        self.paused_secs += later.paused_secs;
        self.cap = later.cap;
    }
}

/// Streaming under way beside a command.
pub struct Streaming {
    /// Dropped when the command has ended.
    command_runs: mpsc::Sender<()>,
    thread: JoinHandle<Result<StreamedRecord>>,
}

impl Stream {
    /// Starts streaming beside `command`, by its shell line (whose processes a pause stops).
    pub fn start(&self, command: &str) -> Streaming {
        let (command_runs, ended) = mpsc::channel();
        let (stream, command) = (self.clone(), command.to_string());
        let thread = std::thread::spawn(move || {
            let streamed = stream.run(&command, &ended);
            if let Err(err) = &streamed {
                process::pause_command(&command, false);
                process::stop_commands(&format!("streaming raw profiles failed: {err:#}"));
            }
            streamed
        });
        Streaming { command_runs, thread }
    }

    fn run(&self, command: &str, ended: &mpsc::Receiver<()>) -> Result<StreamedRecord> {
        let mut record = StreamedRecord { cap: self.cap, ..StreamedRecord::default() };
        let mut pause = Pause { command, since: None };
        let mut last_merge = Instant::now();
        // What is left when the command ends goes to the merge after it, with the running
        // profile: waiting for one more merge here would only make the command's step longer.
        while let Err(mpsc::TryRecvError::Empty) = ended.try_recv() {
            let files = self.look(&mut record, &mut pause)?;
            // The build that makes the merging tool may run instrumented binaries before it
            // has made it: their files wait for it, or for the next streaming.
            let can_merge = self.merger.tool().exists();
            let mut ready: Vec<&RawFile> =
                files.iter().filter(|f| can_merge && f.process_ended()).collect();
            let ready_bytes: u64 = ready.iter().map(|f| f.bytes).sum();
            let running = std::fs::metadata(self.merger.running_profile(&self.raw_dir));
            let least = LEAST_PER_MERGE.max(running.map_or(0, |m| m.len()));
            let worth_it = ready_bytes >= least || last_merge.elapsed() >= MOST_WAIT;
            if !worth_it && pause.since.is_none() {
                ready.clear();
            }
            if !ready.is_empty() {
                last_merge = Instant::now();
            }
            // A merge takes only the CPU the training leaves idle, unless it has fallen behind
            // (the training's own work starved the merges) or the training waits for it.
            let urgent = ready_bytes >= 2 * least || pause.since.is_some();
            let merged = ready
                .chunks(MOST_PER_MERGE)
                .try_for_each(|batch| self.merge(batch, urgent, &mut record, &mut pause, ended));
            pause.end(&mut record);
            merged?;
            // After a merge, more files have ended while it ran: look again at once.
            if ready.is_empty() {
                let _ = ended.recv_timeout(POLL);
            }
        }
        Ok(record)
    }

    /// The raw files on disk now, noted in the record; at the cap, the command is paused
    /// while what can be merged is (until [`Pause::end`]).
    fn look(&self, record: &mut StreamedRecord, pause: &mut Pause) -> Result<Vec<RawFile>> {
        let files = self.raw_files()?;
        let on_disk: u64 = files.iter().map(|f| f.bytes).sum();
        record.peak_bytes = record.peak_bytes.max(on_disk);
        record.peak_files = record.peak_files.max(files.len() as u64);
        // Only for files that can be merged: pausing for those of processes still running
        // (BOLT's runtime writes as the process runs) would wait for ever.
        let mergeable = self.merger.tool().exists() && files.iter().any(|f| f.process_ended());
        if on_disk >= self.cap && mergeable && pause.since.is_none() {
            if record.paused_secs == 0.0 {
                eprintln!(
                    "    {} of raw profiles reached the cap ({}): the training pauses while they \
                     are merged",
                    human_bytes(on_disk),
                    human_bytes(self.cap)
                );
            }
            process::pause_command(pause.command, true);
            pause.since = Some(Instant::now());
        }
        Ok(files)
    }

    /// Merges `batch` into the running profile, then deletes it. While the merge runs, the
    /// files that keep coming are watched, so that the cap holds during a long merge too. A
    /// merge under way when the command ends is given up: its files go to the merge step.
    fn merge(
        &self,
        batch: &[&RawFile],
        urgent: bool,
        record: &mut StreamedRecord,
        pause: &mut Pause,
        ended: &mpsc::Receiver<()>,
    ) -> Result<()> {
        let started = Instant::now();
        let running = self.merger.running_profile(&self.raw_dir);
        let partial = fs::partial(&running);
        let mut inputs: Vec<PathBuf> = batch.iter().map(|f| f.path.clone()).collect();
        if running.exists() {
            inputs.push(running.clone());
        }
        let cmd = self.merger.command(&inputs, &partial);
        // Its messages go to a file: a pipe read only at its end could fill and stall it.
        let log = self.raw_dir.with_file_name(format!("{}-merge.log", file_name(&self.raw_dir)));
        let mut merge = std::process::Command::new(cmd.program());
        if !urgent {
            process::at_lowest_priority(&mut merge);
        }
        let mut child = merge
            .args(&cmd.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(&log)
                    .with_context(|| format!("cannot write {}", log.display()))?,
            )
            .spawn()
            .with_context(|| format!("could not start `{}`", cmd.program()))?;
        let mut looked = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().context("lost the merge")? {
                break status;
            }
            if let Err(mpsc::TryRecvError::Disconnected) = ended.try_recv() {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(&partial);
                let _ = std::fs::remove_file(&log);
                return Ok(());
            }
            if looked.elapsed() >= POLL {
                self.look(record, pause)?;
                looked = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        if !status.success() {
            let _ = std::fs::remove_file(&partial);
            bail!(
                "`{}` could not merge {} raw profiles: {}\n  They are kept in {} for a look. A raw \
                 profile no tool can read was left by a process killed while it wrote it, or \
                 written by another LLVM version. Rerun the stage to train again from an empty \
                 raw-profile directory.",
                cmd.shell_line(),
                batch.len(),
                stderr.trim(),
                self.raw_dir.display(),
            );
        }
        fs::rename(&partial, &running)?;
        let mut bytes = 0;
        for file in batch {
            fs::remove(&file.path).with_context(|| {
                format!("{} is merged but cannot be deleted", file.path.display())
            })?;
            bytes += file.bytes;
            // An instrumented LLVM's per-process directory goes with its last file.
            if let Some(dir) = file.path.parent().filter(|d| *d != self.raw_dir) {
                let _ = std::fs::remove_dir(dir);
            }
        }
        record.files += batch.len() as u64;
        record.bytes += bytes;
        record.batches += 1;
        record.merge_secs += started.elapsed().as_secs_f64();
        Ok(())
    }

    /// The raw files below the raw directory, the running profile and merges under way aside.
    fn raw_files(&self) -> Result<Vec<RawFile>> {
        let extension = self.merger.extension();
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(&self.raw_dir).min_depth(1).max_depth(2) {
            let entry = match entry {
                Ok(entry) => entry,
                // Deleted between the listing and the look: a directory the last merge emptied.
                Err(err)
                    if err.io_error().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
                {
                    continue
                }
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("cannot list {}", self.raw_dir.display()))
                }
            };
            let path = entry.path();
            if !entry.file_type().is_file()
                || path.extension().is_none_or(|e| e != extension)
                || *path == self.merger.running_profile(&self.raw_dir)
            {
                continue;
            }
            let Ok(metadata) = entry.metadata() else { continue };
            files.push(RawFile {
                pid: writer_pid(path, &self.raw_dir),
                path: path.to_path_buf(),
                bytes: metadata.len(),
            });
        }
        Ok(files)
    }
}

impl Streaming {
    /// Ends streaming once the command has ended (a merge under way finishes first), and
    /// returns what streamed.
    pub fn finish(self) -> Result<StreamedRecord> {
        drop(self.command_runs);
        self.thread.join().map_err(|_| anyhow::anyhow!("streaming raw profiles panicked"))?
    }
}

/// The raw files `raw_dir` holds beside a running profile, and their bytes: what streaming had
/// not merged when its command ended.
pub fn left_unmerged(raw_dir: &Path, extension: &str) -> Result<(u64, u64)> {
    let (files, bytes) = fs::files_below(raw_dir, Some(extension))?;
    let running = [Merger::Profdata(PathBuf::new()), Merger::Fdata(PathBuf::new())]
        .map(|m| m.running_profile(raw_dir))
        .into_iter()
        .filter(|r| r.extension().is_some_and(|e| e == extension))
        .find_map(|r| std::fs::metadata(r).ok());
    Ok(match running {
        Some(running) => (files.saturating_sub(1), bytes.saturating_sub(running.len())),
        None => (files, bytes),
    })
}

/// The command paused at the cap, since when.
struct Pause<'a> {
    command: &'a str,
    since: Option<Instant>,
}

impl Pause<'_> {
    /// Lets the command go on, its pause counted in the record.
    fn end(&mut self, record: &mut StreamedRecord) {
        if let Some(since) = self.since.take() {
            process::pause_command(self.command, false);
            record.paused_secs += since.elapsed().as_secs_f64().max(f64::MIN_POSITIVE);
        }
    }
}

struct RawFile {
    path: PathBuf,
    bytes: u64,
    /// The process that writes it, where its name says.
    pid: Option<u32>,
}

impl RawFile {
    fn process_ended(&self) -> bool {
        self.pid.is_some_and(|pid| process::process_start(pid).is_none())
    }
}

/// The process a raw file names: its `prof-<pid>` directory (an instrumented LLVM), else the
/// digits its name ends with before the extension (`default_<m>_<pid>`, `prof.fdata.<pid>`).
fn writer_pid(path: &Path, raw_dir: &Path) -> Option<u32> {
    let parent = path.parent().filter(|p| *p != raw_dir);
    if let Some(dir) = parent {
        return file_name(dir).strip_prefix("prof-")?.parse().ok();
    }
    let stem = path.file_stem()?.to_str()?;
    let digits = stem.rsplit(['_', '.']).next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_file_names_the_process_that_writes_it() {
        let raw = Path::new("/b/raw");
        assert_eq!(writer_pid(&raw.join("default_1234567_42.profraw"), raw), Some(42));
        assert_eq!(writer_pid(&raw.join("prof.fdata.314.fdata"), raw), Some(314));
        assert_eq!(writer_pid(&raw.join("prof-77/default_99999.profraw"), raw), Some(77));
        assert_eq!(writer_pid(&raw.join("default_.profraw"), raw), None);
        assert_eq!(writer_pid(&raw.join("other/default_1_2.profraw"), raw), None);
    }
}
