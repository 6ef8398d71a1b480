//! `clean`: deletes what the xtask made, saying what and how much, and never what a user may
//! still need without being asked.
//!
//! - `clean` (or `clean all`) deletes the scratch of every stage: raw profiles (also those kept
//!   with `--keep-raw`), unpublished merges, step journals, the collector's build, the unpacked
//!   dist toolchain. Merged profiles and their manifests stay, so every stage stays done.
//! - `clean <stage>` deletes that stage's directory, its merged profiles included (they are
//!   named by naming the stage); `--and-later` also the directories of the stages after it.
//!
//! Bootstrap's own output (the compiler, the dist tarballs) is bootstrap's to clean. A library
//! a killed run left BOLT-instrumented is put back first, so its backup is never lost.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::fsutil::{file_name, files_below, human_bytes};
use super::pipeline::{StageId, STAGES};
use super::{backup, Ctx};

pub fn clean(ctx: &Ctx, stage: Option<StageId>, and_later: bool) -> Result<()> {
    let root = ctx.tree.artifacts_root();
    let _lock = ctx.lock()?;
    super::runner::settle_backups(&backup::backups_dir(&root), "a killed run left it changed")?;
    let doomed: Vec<PathBuf> = match stage {
        Some(stage) => STAGES
            .iter()
            .skip_while(|s| s.id != stage)
            .take(if and_later { STAGES.len() } else { 1 })
            .map(|s| ctx.stage_dir(s.id))
            .collect(),
        None => {
            let mut scratch = Vec::new();
            for s in STAGES {
                scratch.extend(stage_scratch(&ctx.stage_dir(s.id))?);
            }
            scratch.push(root.join("rustc-perf"));
            scratch.push(ctx.tree.build_dir.join("unpacked-dist"));
            scratch
        }
    };
    let mut total = 0;
    let mut removed = 0;
    for path in doomed.iter().filter(|p| p.exists()) {
        let bytes = match path.is_dir() {
            true => files_below(path, None)?.1,
            false => std::fs::metadata(path)?.len(),
        };
        match path.is_dir() {
            true => std::fs::remove_dir_all(path),
            false => std::fs::remove_file(path),
        }
        .with_context(|| format!("cannot delete {}", path.display()))?;
        println!("deleted {} ({})", path.display(), human_bytes(bytes));
        total += bytes;
        removed += 1;
    }
    match removed {
        0 => println!("nothing to delete"),
        _ => println!("deleted {removed} paths, {} in all", human_bytes(total)),
    }
    if stage.is_none() {
        println!("merged profiles and manifests are kept: `clean <stage>` deletes a stage's too");
    }
    Ok(())
}

/// The scratch a stage directory may hold: everything but its merged profiles, its manifest
/// and its records (`failed.json`, `bolt-optimized.json`, the test configuration).
fn stage_scratch(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut scratch = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = file_name(&path);
        let is_scratch = name == "raw"
            || name.starts_with("raw-")
            || name.ends_with(".partial")
            || name == super::state::JOURNAL_FILE
            || name.ends_with(".instrumented")
            || name.ends_with(".original")
            || name.ends_with(".bolt")
            || name.starts_with("unpacked-")
            || name == "reproducible-artifacts";
        if is_scratch {
            scratch.push(path);
        }
    }
    scratch.sort();
    Ok(scratch)
}
