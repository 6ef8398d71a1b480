//! `manifest.json`: what a stage made and how, written into the stage directory atomically and
//! only after every step succeeded. A stage directory without one holds nothing to rely on.
//!
//! It answers a packager's "where does this profile come from?" (tree version and commit,
//! host, bootstrap interface, options, every command with its environment and duration, the
//! tools and their versions) and gives later runs what they need to tell a current output from
//! a stale one (sizes and content hashes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub const MANIFEST_FILE: &str = "manifest.json";
/// 2: `fingerprint` added (the stage's plan by content, for staleness).
/// 3: `steps` (every step's duration) and `disk` (what the stage did to the disk) added.
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Serialize, Deserialize)]
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
    pub imported: Option<super::exchange::ImportRecord>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_secs: f64,
    pub commands: Vec<CommandRecord>,
    pub tools: Vec<ToolRecord>,
    pub raw_profiles: Vec<RawProfilesRecord>,
    pub validations: Vec<ValidationRecord>,
    pub inputs: Vec<FileRecord>,
    pub outputs: Vec<FileRecord>,
    /// Every step in order with its duration (schema 3; empty in older manifests).
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// Measured while the stage ran (schema 3; absent in older and imported manifests' copies
    /// made before it).
    #[serde(default)]
    pub disk: Option<super::disk::DiskRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub title: String,
    pub secs: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TreeRecord {
    pub src: PathBuf,
    pub version: String,
    pub commit: Option<String>,
    pub host: String,
    pub build_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandRecord {
    pub step: String,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Only what the xtask set; the rest of the environment was inherited.
    pub env: BTreeMap<String, String>,
    pub exit_code: i32,
    pub duration_secs: f64,
    /// Bootstrap's slowest steps in this call, from its metrics.json (`build.metrics = true`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_steps: Vec<super::metrics::BootstrapStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolRecord {
    pub name: String,
    pub path: PathBuf,
    pub llvm_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawProfilesRecord {
    pub dir: PathBuf,
    pub count: u64,
    pub bytes: u64,
    /// Kept on disk (`--keep-raw`) or deleted after the merge.
    pub kept: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub profile: String,
    pub functions: u64,
    pub total_count: u64,
    pub max_function_count: u64,
    /// The functions with the largest counts, as `llvm-profdata show --topn` names them.
    pub hottest_functions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    pub kind: String,
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

impl TreeRecord {
    pub fn of(tree: &super::tree::Tree) -> TreeRecord {
        TreeRecord {
            src: tree.src.clone(),
            version: tree.version.clone(),
            commit: tree.commit.clone(),
            host: tree.host.clone(),
            build_dir: tree.build_dir.clone(),
        }
    }
}

impl FileRecord {
    pub fn of(kind: &str, path: &Path) -> Result<FileRecord> {
        let size = std::fs::metadata(path)
            .with_context(|| format!("expected output {} is missing", path.display()))?
            .len();
        Ok(FileRecord {
            kind: kind.to_string(),
            name: super::fsutil::file_name(path),
            path: path.to_path_buf(),
            size,
            sha256: super::fsutil::sha256_file(path)?,
        })
    }
}

impl Manifest {
    pub fn write(&self, stage_dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        super::fsutil::write_atomically(&stage_dir.join(MANIFEST_FILE), &json)
    }
}
