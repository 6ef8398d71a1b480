//! One writer per build dir: two runs on one tree would train into the same raw-profile
//! directory and put each other's libraries back, so a run that would write takes
//! `<build-dir>/opt-dist/lock` first, and a second one stops at once, naming the holder.
//!
//! The lock file is created with `create_new` (atomic) and holds the holder's pid, the start
//! time of that process (so a recycled pid is not mistaken for the holder), its command line
//! and when it started. A lock whose holder is gone (a run killed outright) is taken over; the
//! state that run left is repaired by the stage start as after any kill (backups put back).
//! `status`, `plan` and `doctor` only read, and take no lock.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::fsutil;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The holder's start time in clock ticks since boot (`/proc/<pid>/stat`, field 22).
    pub process_start: Option<u64>,
    pub command: String,
    pub started_at: String,
    /// The stage it is running, for `status`.
    #[serde(default)]
    pub stage: Option<String>,
}

impl Holder {
    fn is_alive(&self) -> bool {
        match process_start(self.pid) {
            Some(start) => self.process_start.is_none_or(|recorded| recorded == start),
            // Without procfs nothing tells; with it, the process has ended.
            None => !Path::new("/proc/self/stat").exists(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "pid {} (`{}`, started {})",
            self.pid, self.command, self.started_at
        )
    }
}

/// Held for the life of a run; the file goes when it is dropped.
pub struct Lock {
    path: PathBuf,
    holder: Holder,
}

impl Lock {
    /// Says which stage the holder is in. The file is replaced by a rename, so at every moment
    /// it exists and names a live holder.
    pub fn set_stage(&mut self, stage: Option<&str>) -> Result<()> {
        self.holder.stage = stage.map(String::from);
        fsutil::write_atomically(&self.path, &serde_json::to_vec_pretty(&self.holder)?)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn lock_path(artifacts_root: &Path) -> PathBuf {
    artifacts_root.join("lock")
}

/// The live holder of the lock, if any: for `status`.
pub fn holder(artifacts_root: &Path) -> Option<Holder> {
    read_holder(&lock_path(artifacts_root)).filter(Holder::is_alive)
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Takes the lock of the build dir, or fails naming the run that holds it.
pub fn acquire(artifacts_root: &Path) -> Result<Lock> {
    std::fs::create_dir_all(artifacts_root)
        .with_context(|| format!("cannot create {}", artifacts_root.display()))?;
    let path = lock_path(artifacts_root);
    let me = Holder {
        pid: std::process::id(),
        process_start: process_start(std::process::id()),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_at: fsutil::utc_timestamp(std::time::SystemTime::now()),
        stage: None,
    };
    let content = serde_json::to_vec_pretty(&me)?;
    // Twice at most: once more after taking over a dead holder's lock.
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(&content)
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                return Ok(Lock { path, holder: me });
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                match read_holder(&path) {
                    Some(holder) if holder.is_alive() => bail!(
                        "another opt-dist run is using this build dir: {}; wait for it to \
                         finish (`cargo xtask opt-dist status` shows what it does), or use \
                         another --build-dir",
                        holder.describe()
                    ),
                    Some(holder) => eprintln!(
                        "opt-dist: taking over the lock of a run that is gone: {}",
                        holder.describe()
                    ),
                    // Written by a run killed between creating and filling it, or garbage:
                    // no live holder can be named.
                    None => eprintln!(
                        "opt-dist: taking over an unreadable lock {}",
                        path.display()
                    ),
                }
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove the stale lock {}", path.display()))?;
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create {}", path.display()))
            }
        }
    }
    bail!(
        "could not take the lock {}: another run took it at the same moment",
        path.display()
    )
}

/// Field 22 of `/proc/<pid>/stat`, the process's start time; `None` where there is no procfs
/// or the process has ended (a zombie, killed but not yet reaped, counts as ended).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if matches!(fields.next(), Some("Z" | "X")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_and_a_dead_holder_is_replaced() {
        let root = std::env::temp_dir().join(format!("xtask-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let first = acquire(&root).unwrap();
        let err = acquire(&root).err().expect("the second taker is refused");
        assert!(
            format!("{err:#}").contains(&format!("pid {}", std::process::id())),
            "{err:#}"
        );
        drop(first);
        assert!(!lock_path(&root).exists(), "dropping releases the lock");

        // A holder whose process is gone: a child that already exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = Holder {
            pid: dead,
            process_start: Some(1),
            command: "opt-dist all".to_string(),
            started_at: "then".to_string(),
            stage: None,
        };
        std::fs::write(lock_path(&root), serde_json::to_vec(&stale).unwrap()).unwrap();
        assert!(holder(&root).is_none(), "a dead holder does not count");
        let taken = acquire(&root).expect("a dead holder's lock is taken over");
        assert_eq!(holder(&root).unwrap().pid, std::process::id());
        drop(taken);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
