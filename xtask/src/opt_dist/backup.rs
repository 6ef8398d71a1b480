//! Files the xtask changes for a while and must put back: a sysroot library swapped for its
//! BOLT-instrumented build while it is trained.
//!
//! [`back_up`] copies the original to `<build-dir>/opt-dist/backups/` and then writes a record
//! of where it belongs (or that there was no file); [`restore_leftovers`] puts everything back.
//! It runs after the temporary change, after any failure or signal, and at the start of every
//! stage, so even a run killed outright is repaired by the next one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::fsutil::write_atomically;

#[derive(Serialize, Deserialize)]
struct BackupRecord {
    original: PathBuf,
    /// `false`: there was no file, so restoring means removing the temporary one.
    existed: bool,
}

pub fn backups_dir(artifacts_root: &Path) -> PathBuf {
    artifacts_root.join("backups")
}

/// Copies `original` into `backups` and records where it belongs. Written in that order, so
/// a record always has a complete backup behind it. Returns the backup's path.
pub fn back_up(original: &Path, backups: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(backups)
        .with_context(|| format!("cannot create {}", backups.display()))?;
    let name = original
        .file_name()
        .context("a backed-up path has a file name")?;
    let backup = backups.join(name);
    let existed = original.exists();
    if existed {
        let partial = backups.join(format!("{}.partial", name.to_string_lossy()));
        std::fs::copy(original, &partial)
            .with_context(|| format!("cannot back up {}", original.display()))?;
        std::fs::rename(&partial, &backup)?;
    }
    let record = BackupRecord {
        original: original.to_path_buf(),
        existed,
    };
    write_atomically(&record_path(&backup), &serde_json::to_vec_pretty(&record)?)?;
    Ok(backup)
}

/// Forgets the backup of `original` once the change is complete and checked: the record goes
/// first, so no later start puts back an original the run meant to replace.
pub fn discard(original: &Path, backups: &Path) -> Result<()> {
    let name = original
        .file_name()
        .context("a backed-up path has a file name")?;
    let backup = backups.join(name);
    std::fs::remove_file(record_path(&backup))
        .with_context(|| format!("cannot remove the backup record of {}", original.display()))?;
    let _ = std::fs::remove_file(&backup);
    Ok(())
}

fn record_path(backup: &Path) -> PathBuf {
    let mut name = backup.file_name().unwrap_or_default().to_os_string();
    name.push(".backup.json");
    backup.with_file_name(name)
}

/// The originals waiting in `backups` to be put back (by the next stage that runs).
pub fn pending(backups: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(backups) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".backup.json"))
        .filter_map(|p| serde_json::from_slice::<BackupRecord>(&std::fs::read(p).ok()?).ok())
        .map(|r| r.original)
        .collect()
}

/// Puts every backed-up file back; returns what it restored. Safe to run any number of times:
/// a record goes only once its original is back.
pub fn restore_leftovers(backups: &Path) -> Result<Vec<PathBuf>> {
    let mut restored = Vec::new();
    let Ok(entries) = std::fs::read_dir(backups) else {
        return Ok(restored);
    };
    for entry in entries {
        let record_file = entry?.path();
        let Some(name) = record_file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(backup_name) = name.strip_suffix(".backup.json") else {
            continue;
        };
        let record: BackupRecord = serde_json::from_slice(&std::fs::read(&record_file)?)
            .with_context(|| format!("unreadable backup record {}", record_file.display()))?;
        let backup = backups.join(backup_name);
        if record.existed {
            // Copy over the file, not rename: a sysroot library is a hard link that must
            // keep its inode.
            std::fs::copy(&backup, &record.original).with_context(|| {
                format!(
                    "cannot restore {} from {}: copy it back by hand",
                    record.original.display(),
                    backup.display()
                )
            })?;
        } else if record.original.exists() {
            std::fs::remove_file(&record.original)
                .with_context(|| format!("cannot remove {}", record.original.display()))?;
        }
        std::fs::remove_file(&record_file)?;
        if record.existed {
            std::fs::remove_file(&backup)?;
        }
        restored.push(record.original);
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_comes_back_in_place_and_an_absent_one_goes_away() {
        let dir = std::env::temp_dir().join(format!("xtask-backup-{}", std::process::id()));
        let backups = dir.join("backups");
        std::fs::create_dir_all(&dir).unwrap();
        let library = dir.join("libfoo.so");
        std::fs::write(&library, "original").unwrap();
        let link = dir.join("hard-link-to-libfoo.so");
        std::fs::hard_link(&library, &link).unwrap();
        let config = dir.join("bootstrap.toml");

        back_up(&library, &backups).unwrap();
        back_up(&config, &backups).unwrap();
        std::fs::write(&library, "instrumented").unwrap();
        std::fs::write(&config, "temporary").unwrap();

        let mut restored = restore_leftovers(&backups).unwrap();
        restored.sort();
        assert_eq!(restored, [config.clone(), library.clone()]);
        assert_eq!(
            std::fs::read_to_string(&link).unwrap(),
            "original",
            "same inode restored"
        );
        assert!(!config.exists());
        assert!(
            restore_leftovers(&backups).unwrap().is_empty(),
            "nothing left to restore"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
