//! `clean`: deletes what the xtask made, saying what and how much, and never what a user may
//! still need without being asked: merged profiles go only with their stage named (what each
//! form deletes: its `--help`, docs/usage.md). A library a killed run left changed is put back
//! first, so its backup is never lost.

use std::path::PathBuf;

use anyhow::Result;

use crate::engine::backup::backups_dir;
use crate::engine::context::Ctx;
use crate::engine::manifest::JOURNAL_FILE;
use crate::engine::runner::settle_backups;
use crate::stages::StageId;
use crate::util::fs::{self, file_name, files_below, human_bytes};

/// What any stage's directory may hold that the engine writes as scratch.
const ENGINE_SCRATCH: &[&str] = &["*.partial", JOURNAL_FILE];

pub fn clean(ctx: &Ctx, stage: Option<StageId>, and_later: bool) -> Result<()> {
    let root = ctx.tree.artifacts_root();
    let _lock = ctx.lock()?;
    settle_backups(&backups_dir(&root), "a killed run left it changed")?;
    let doomed: Vec<PathBuf> = match stage {
        Some(stage) => StageId::ALL
            .iter()
            .skip_while(|s| **s != stage)
            .take(if and_later { StageId::ALL.len() } else { 1 })
            .map(|s| ctx.tree.stage_dir(s.name()))
            .collect(),
        None => {
            let mut scratch = Vec::new();
            for stage in StageId::ALL {
                let dir = ctx.tree.stage_dir(stage.name());
                let patterns = || ENGINE_SCRATCH.iter().chain(stage.def().scratch);
                let entries = std::fs::read_dir(&dir).into_iter().flatten().flatten();
                let mut found: Vec<PathBuf> = entries
                    .map(|e| e.path())
                    .filter(|p| patterns().any(|pattern| matches(pattern, &file_name(p))))
                    .collect();
                found.sort();
                scratch.append(&mut found);
            }
            scratch.push(root.join("rustc-perf"));
            scratch.push(ctx.tree.build_dir.join("unpacked-dist"));
            scratch
        }
    };
    let (mut total, mut removed) = (0, 0);
    for path in doomed.iter().filter(|p| p.exists()) {
        let bytes = files_below(path, None)?.1
            + path.is_file().then(|| fs::size(path)).transpose()?.unwrap_or(0);
        fs::remove(path)?;
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

/// `name` matches `pattern`: the same, or with the `*` at its start or end standing for any text.
fn matches(pattern: &str, name: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(suffix), _) => name.ends_with(suffix),
        (_, Some(prefix)) => name.starts_with(prefix),
        _ => name == pattern,
    }
}
