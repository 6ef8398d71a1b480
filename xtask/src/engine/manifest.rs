//! The records a stage leaves in its directory. `manifest.json` says what the stage made and
//! how, written atomically and only after every step succeeded: a stage directory without one
//! holds nothing to rely on. It answers a packager's "where does this profile come from?" (tree,
//! host, interface, options, every command with its environment and duration, the tools and
//! their versions) and gives later runs what they need to tell a current output from a stale
//! one (sizes and content hashes). While a stage runs, `journal.json` holds what its finished
//! steps recorded, and `failed.json` says why a run stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::tools::bootstrap::Interface;
use crate::tools::fit::Fit;
use crate::tools::llvm::{llvm_major, Validation};
use crate::tools::metrics::BootstrapStep;
use crate::tools::streaming::StreamedRecord;
use crate::tools::tree::Tree;
use crate::util::fs::{self, file_name, read_record, sha256_file};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const FAILED_FILE: &str = "failed.json";
pub const JOURNAL_FILE: &str = "journal.json";
/// Left, empty, by a run that failed and could not write `failed.json` (a full disk).
pub const UNRECORDED_FILE: &str = "failed.unrecorded";
/// The kind of output a file dist made is recorded as: it stays in `<build-dir>/dist`, and its
/// size (gigabytes in all) stands for its content.
pub const DIST_FILE_KIND: &str = "dist-file";
/// 2: `fingerprint` added (the stage's plan by content, for staleness).
/// 3: `steps` (every step's duration) and `disk` (what the stage did to the disk) added.
/// 4: `fit` (how much of each profile the binaries built with it hold) added.
pub const SCHEMA_VERSION: u32 = 4;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub stage: String,
    pub title: String,
    /// `done`, or `skipped` with `skip_reason` when the options leave the stage nothing to do.
    pub status: String,
    pub skip_reason: Option<String>,
    pub xtask_version: String,
    pub tree: TreeRecord,
    pub interface: String,
    pub options: serde_json::Value,
    /// The stage's plan by content (see `state::fingerprint`): a different one makes it stale.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Set when the stage was imported from another build instead of made here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportRecord>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_secs: f64,
    pub commands: Vec<CommandRecord>,
    pub tools: Vec<ToolRecord>,
    pub raw_profiles: Vec<RawProfilesRecord>,
    pub validations: Vec<Validation>,
    pub inputs: Vec<FileRecord>,
    pub outputs: Vec<FileRecord>,
    /// Every step in order with its duration (schema 3; empty in older manifests).
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// Measured while the stage ran (schema 3).
    #[serde(default)]
    pub disk: Option<DiskRecord>,
    /// How much of each profile it applied the binaries hold (schema 4).
    #[serde(default)]
    pub fit: Vec<Fit>,
}

impl Manifest {
    /// A manifest for `stage` of this tree, empty but for its provenance.
    pub fn new(stage: &str, title: &str, tree: &Tree, interface: Interface) -> Manifest {
        let now = fs::now();
        Manifest {
            schema: SCHEMA_VERSION,
            stage: stage.to_string(),
            title: title.to_string(),
            status: "done".to_string(),
            skip_reason: None,
            xtask_version: env!("CARGO_PKG_VERSION").to_string(),
            tree: TreeRecord::of(tree),
            interface: interface.name().to_string(),
            started_at: now.clone(),
            finished_at: now,
            ..Manifest::default()
        }
    }

    pub fn read(stage_dir: &Path) -> Option<Manifest> {
        read_record(&stage_dir.join(MANIFEST_FILE), "the stage counts as not run, and runs again")
    }

    pub fn write(&self, stage_dir: &Path) -> Result<()> {
        fs::write_json(&stage_dir.join(MANIFEST_FILE), self)
    }

    /// The facts of the tree this was made for that differ from `tree`'s, each as
    /// `(what, there, here)`: version, commit, host, interface, and the LLVM major of the
    /// llvm-profdata it merged with (when both are known).
    pub fn tree_differences(
        &self,
        tree: &Tree,
        interface: Interface,
        llvm_major_here: Option<u32>,
    ) -> Vec<(&'static str, String, String)> {
        let shown = |v: Option<&String>| v.cloned().unwrap_or_else(|| "none".to_string());
        let made_with = self
            .tools
            .iter()
            .find(|t| t.name == "llvm-profdata")
            .and_then(|t| llvm_major(&t.llvm_version));
        let pairs = [
            ("version", Some(&self.tree.version), Some(&tree.version)),
            ("commit", self.tree.commit.as_ref(), tree.commit.as_ref()),
            ("host", Some(&self.tree.host), Some(&tree.host)),
        ];
        let mut differences: Vec<_> = pairs
            .into_iter()
            .filter(|(_, there, here)| there != here)
            .map(|(what, there, here)| (what, shown(there), shown(here)))
            .collect();
        if self.interface != interface.name() {
            differences.push(("interface", self.interface.clone(), interface.name().into()));
        }
        if let (Some(there), Some(here)) = (made_with, llvm_major_here) {
            if there != here {
                differences.push(("LLVM major", there.to_string(), here.to_string()));
            }
        }
        differences
    }
}

/// What a stage did to the disk, in bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskRecord {
    /// Free disk below the build dir when the stage started and when it finished.
    pub free_before: u64,
    pub free_after: u64,
    /// The lowest free disk seen after any step: the stage's peak use is `free_before` minus
    /// this (sampled between steps, so a step's own scratch may have been larger).
    pub lowest_free: u64,
    /// The build dir's size (allocated, hard links once) before and after.
    pub build_dir_before: u64,
    pub build_dir_after: u64,
    /// The largest raw-profile directory the stage's training left before merging.
    pub peak_raw_bytes: u64,
    pub raw_files: u64,
    /// The profiles the stage published.
    pub merged_bytes: u64,
}

impl DiskRecord {
    /// What the stage leaves behind (negative when it deleted more than it made).
    pub fn growth(&self) -> i64 {
        self.build_dir_after as i64 - self.build_dir_before as i64
    }

    /// The most the stage needed at once, beyond what was there when it started.
    pub fn peak_use(&self) -> u64 {
        let seen = self.free_before.saturating_sub(self.lowest_free);
        seen.max(self.growth().max(0) as u64).max(self.peak_raw_bytes)
    }
}

/// How a stage came to be here, when it was not made here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRecord {
    /// The directory or file it was imported from.
    pub from: PathBuf,
    pub at: String,
    /// The facts that differ from this tree, each as `what: there, here` (accepted with
    /// `--allow-stale`); empty when it matched.
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub title: String,
    pub secs: f64,
    /// It ran at the same time as the step before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alongside: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TreeRecord {
    pub src: PathBuf,
    pub version: String,
    pub commit: Option<String>,
    pub host: String,
    pub build_dir: PathBuf,
}

impl TreeRecord {
    pub fn of(tree: &Tree) -> TreeRecord {
        TreeRecord {
            src: tree.src.clone(),
            version: tree.version.clone(),
            commit: tree.commit.clone(),
            host: tree.host.clone(),
            build_dir: tree.build_dir.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandRecord {
    pub step: String,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Only what the xtask set; the rest of the environment was inherited.
    pub env: BTreeMap<String, String>,
    pub exit_code: i32,
    /// When it started, in seconds after the stage started.
    #[serde(default)]
    pub started_secs: f64,
    pub duration_secs: f64,
    /// Bootstrap's slowest steps in this call, from its metrics.json (`build.metrics = true`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_steps: Vec<BootstrapStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolRecord {
    pub name: String,
    pub path: PathBuf,
    pub llvm_version: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawProfilesRecord {
    pub dir: PathBuf,
    pub count: u64,
    pub bytes: u64,
    /// Kept on disk (`--keep-raw`) or deleted after the merge.
    pub kept: bool,
    /// The most raw bytes on disk at once: all of them, unless they streamed.
    #[serde(default)]
    pub peak_bytes: u64,
    /// How they streamed (`--raw-profiles streamed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streamed: Option<StreamedRecord>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FileRecord {
    pub kind: String,
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

impl FileRecord {
    pub fn of(kind: &str, path: &Path) -> Result<FileRecord> {
        Ok(FileRecord {
            kind: kind.to_string(),
            name: file_name(path),
            path: path.to_path_buf(),
            size: fs::size(path)?,
            sha256: sha256_file(path)?,
        })
    }
}

/// What the steps leave for the manifest (kept in the journal while the stage runs).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Record {
    pub commands: Vec<CommandRecord>,
    pub tools: Vec<ToolRecord>,
    pub raw_profiles: Vec<RawProfilesRecord>,
    pub validations: Vec<Validation>,
    /// Outputs found while the stage ran (the files bootstrap's dist wrote).
    pub found_outputs: Vec<FileRecord>,
    /// Every finished step and how long it took (also those of an interrupted earlier run).
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    #[serde(default)]
    pub fit: Vec<Fit>,
}

impl Record {
    /// Records a tool the stage used, once (a stage that merges twice checks its tools twice).
    pub fn tool(&mut self, name: &str, path: &Path, llvm_version: String) {
        if !self.tools.iter().any(|t| t.name == name && t.path == path) {
            self.tools.push(ToolRecord {
                name: name.to_string(),
                path: path.to_path_buf(),
                llvm_version,
            });
        }
    }
}

/// Why the last run of a stage stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    /// 1-based, among the stage's steps (repairs included) of that run.
    pub step: usize,
    pub steps: usize,
    pub title: String,
    pub error: String,
    pub hint: String,
    pub at: String,
}

/// The steps of a stage's own plan done so far, for resuming it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub fingerprint: String,
    /// The input profiles the run started from, by content: other inputs, another run.
    pub inputs: BTreeMap<String, String>,
    /// Own steps (not repairs) done, from the first.
    pub completed: usize,
    /// Own steps after those done too: one that ran alongside a step that failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done_ahead: Vec<usize>,
    pub record: Record,
    pub started_at: String,
}

impl Journal {
    pub fn read(dir: &Path) -> Option<Journal> {
        read_record(&dir.join(JOURNAL_FILE), "the stage starts again from its first step")
    }
}

impl Failure {
    pub fn read(dir: &Path) -> Option<Failure> {
        read_record(&dir.join(FAILED_FILE), "the stage's last failure is not known")
    }
}
