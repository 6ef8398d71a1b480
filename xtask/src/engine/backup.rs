//! Files the xtask rewrites in place and must be able to put back: a sysroot library swapped
//! for its BOLT-instrumented build while it is trained, or rewritten by BOLT in dist.
//!
//! [`back_up`] copies the original into `<build-dir>/opt-dist/backups/` and then writes a
//! record of where it belongs and which part of the build dir it is ([`Part`]). While the step that
//! changes the file runs, the build state records that part as changing
//! ([`super::build_state`]). [`settle`] then decides, for each backup, what is true: if the
//! step recorded the part as finished, the file is its complete output and the backup goes;
//! otherwise the original is put back and the part is what it was before the step. It runs
//! after every step, after any failure or signal, and at the start of every run, so even a run
//! killed outright is repaired by the next one, and the record always says which of the two
//! the file is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::build_state::{BuildState, Recorded};
use super::plan::Part;
use crate::util::fs::{self, file_name, read_json, write_atomically};

#[derive(Serialize, Deserialize)]
struct BackupRecord {
    original: PathBuf,
    /// `false`: there was no file, so restoring means removing the temporary one.
    existed: bool,
    /// The part of the build dir the file belongs to, whose recorded state goes with it.
    #[serde(default)]
    part: Option<Part>,
}

pub fn backups_dir(artifacts_root: &Path) -> PathBuf {
    artifacts_root.join("backups")
}

/// Copies `original` to `backup` (in `<build-dir>/opt-dist/backups/`) and records where it
/// belongs; then marks `part` as changing. Written in that order, so a record always has a
/// complete backup behind it, and the part is marked only once there is one.
pub fn back_up(original: &Path, backup: &Path, part: Option<Part>) -> Result<()> {
    let backups = backup.parent().context("a backup has a directory")?;
    fs::create_dir(backups)?;
    let existed = original.exists();
    if existed {
        fs::copy_atomically(original, backup)?;
    }
    let record = BackupRecord { original: original.to_path_buf(), existed, part };
    write_atomically(&record_path(backup), &serde_json::to_vec_pretty(&record)?)?;
    // Only now may the file change: until the state says so, settling keeps it as it is.
    if let Some(part) = part {
        let root = backups.parent().unwrap_or(backups);
        let mut state = BuildState::load(root);
        state.mark_changing(part);
        state.save(root)?;
    }
    Ok(())
}

fn record_path(backup: &Path) -> PathBuf {
    backup.with_file_name(format!("{}.backup.json", file_name(backup)))
}

/// The backup records in `backups`, with the backup each stands for.
fn records(backups: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(backups) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|record| {
            let backup =
                file_name(&record).strip_suffix(".backup.json").map(|name| backups.join(name))?;
            Some((record, backup))
        })
        .collect();
    found.sort();
    found
}

/// The originals waiting in `backups` to be put back (by the next run), with their parts.
pub fn pending(backups: &Path) -> Vec<(PathBuf, Option<Part>)> {
    records(backups)
        .into_iter()
        .filter_map(|(record, _)| read_json::<BackupRecord>(&record).ok().flatten())
        .map(|r| (r.original, r.part))
        .collect()
}

/// The build state as it will be once the backups waiting in the build dir are settled (the
/// next run does that first): a part whose change did not finish is what it was before, where
/// its backup is there to be put back.
pub fn settled_state(artifacts_root: &Path) -> BuildState {
    let mut state = BuildState::load(artifacts_root);
    for (_, part) in pending(&backups_dir(artifacts_root)) {
        if let Some(part) = part {
            if let Recorded::Changing { was } = state.get(part) {
                state.set(part, *was);
            }
        }
    }
    state
}

/// What [`settle`] did with one backup.
pub enum Settled {
    /// The original is back, and its part is what it was before the step.
    Restored(PathBuf),
    /// The step that changed it had finished: the file is its output, the backup went.
    Finished(PathBuf),
    /// A record that could not be read, set aside for a look (its part stays unknown).
    SetAside { record: PathBuf, error: String },
}

impl Settled {
    /// One line for the log; `why` says why the originals were still backed up.
    pub fn describe(&self, why: &str) -> String {
        match self {
            Settled::Restored(path) => {
                format!("restored the original {} ({why})", path.display())
            }
            Settled::Finished(path) => format!(
                "{} is the complete output of a finished step; its backup was discarded",
                path.display()
            ),
            Settled::SetAside { record, error } => format!(
                "warning: the backup record {} is unreadable ({error}): set aside as \
                 {}.corrupt; the library it guarded counts as not known, so the plan rebuilds \
                 what needs it",
                record.display(),
                record.display()
            ),
        }
    }
}

/// Puts back every backed-up file whose change did not finish, and forgets the backups of the
/// changes that did (see the module docs). Safe to run any number of times: a record goes only
/// once its file is settled.
pub fn settle(backups: &Path) -> Result<Vec<Settled>> {
    let mut settled = Vec::new();
    let root = backups.parent().unwrap_or(backups);
    for (record_file, backup) in records(backups) {
        let record = match read_json::<BackupRecord>(&record_file) {
            Ok(Some(record)) => record,
            Ok(None) => continue,
            Err(err) => {
                let aside =
                    record_file.with_file_name(format!("{}.corrupt", file_name(&record_file)));
                std::fs::rename(&record_file, &aside)
                    .with_context(|| format!("cannot set aside {}", record_file.display()))?;
                settled.push(Settled::SetAside { record: record_file, error: format!("{err:#}") });
                continue;
            }
        };
        let mut state = BuildState::load(root);
        let changing = record.part.map(|part| state.get(part));
        if let Some(Recorded::Changing { .. }) | None = changing {
            put_back(&record, &backup)?;
            if let (Some(part), Some(Recorded::Changing { was })) = (record.part, changing) {
                state.set(part, *was);
                state.save(root)?;
            }
            settled.push(Settled::Restored(record.original.clone()));
        } else {
            settled.push(Settled::Finished(record.original.clone()));
        }
        fs::remove(&record_file)?;
        fs::remove(&backup)?;
    }
    Ok(settled)
}

fn put_back(record: &BackupRecord, backup: &Path) -> Result<()> {
    match record.existed {
        // Copy over the file, not rename: a sysroot library is a hard link that must keep its
        // inode.
        true => fs::copy(backup, &record.original).map(drop).context("copy it back by hand"),
        false => fs::remove(&record.original),
    }
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

        back_up(&library, &backups.join("libfoo.so"), None).unwrap();
        back_up(&config, &backups.join("bootstrap.toml"), None).unwrap();
        std::fs::write(&library, "instrumented").unwrap();
        std::fs::write(&config, "temporary").unwrap();

        let mut restored: Vec<PathBuf> = settle(&backups)
            .unwrap()
            .into_iter()
            .map(|s| match s {
                Settled::Restored(path) => path,
                _ => panic!("only restores"),
            })
            .collect();
        restored.sort();
        assert_eq!(restored, [config.clone(), library.clone()]);
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "original", "same inode restored");
        assert!(!config.exists());
        assert!(settle(&backups).unwrap().is_empty(), "nothing left to settle");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_finished_change_is_kept_an_unfinished_one_undone_with_its_state() {
        let root = std::env::temp_dir().join(format!("xtask-settle-{}", std::process::id()));
        let backups = backups_dir(&root);
        std::fs::create_dir_all(&root).unwrap();
        let library = root.join("libLLVM.so.22");
        let before = Recorded::Optimized { profile_sha256: "p".into(), bolt_ready: true };
        let after = Recorded::BoltOptimized {
            profile_sha256: "p".into(),
            bolt_profile_sha256: Some("b".into()),
        };

        for finished in [false, true] {
            std::fs::write(&library, "optimized").unwrap();
            let mut state = BuildState::default();
            state.set(Part::Llvm, before.clone());
            state.save(&root).unwrap();
            back_up(&library, &backups.join("libLLVM.so"), Some(Part::Llvm)).unwrap();
            assert!(matches!(BuildState::load(&root).get(Part::Llvm), Recorded::Changing { .. }));
            std::fs::write(&library, "bolted").unwrap();
            if finished {
                state.set(Part::Llvm, after.clone());
                state.save(&root).unwrap();
            }
            settle(&backups).unwrap();
            let (content, recorded) = match finished {
                true => ("bolted", &after),
                false => ("optimized", &before),
            };
            assert_eq!(std::fs::read_to_string(&library).unwrap(), content);
            assert_eq!(&BuildState::load(&root).get(Part::Llvm), recorded);
            assert!(pending(&backups).is_empty());
        }

        // A garbage record is set aside, and the next command is not stopped by it.
        std::fs::write(backups.join("libLLVM.so.backup.json"), "garbage").unwrap();
        let settled = settle(&backups).unwrap();
        assert!(matches!(settled.as_slice(), [Settled::SetAside { .. }]));
        assert!(backups.join("libLLVM.so.backup.json.corrupt").exists());
        assert!(settle(&backups).unwrap().is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
