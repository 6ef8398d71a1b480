//! One writer per build dir: two runs on one tree would train into the same raw-profile
//! directory and put each other's libraries back, so a run that writes holds an exclusive
//! kernel lock (`flock`) on `<build-dir>/opt-dist/lock` for its whole life, as cargo locks its
//! build directory. The kernel decides who holds it and releases it when the holder dies,
//! however it dies; nothing here guesses whether a holder is alive.
//!
//! The lock file is never removed or replaced (a new file would be a second lock): its content
//! only names the holder (pid, command, start, the stage it runs) for the messages of a run
//! that is refused or waits (`--wait`), and for `status`. `status`, `plan`, `doctor` and
//! `export` only read, and take no lock of the build dir; `export` and `import` lock the
//! directory of exported stages they write or read ([`store`]).

use std::fs::{File, TryLockError};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::util::{fs, process};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The holder's start time in clock ticks since boot (`/proc/<pid>/stat`, field 22): with
    /// the pid, it tells `status` whether the process named is still the holder.
    pub process_start: Option<u64>,
    pub command: String,
    pub started_at: String,
    /// The stage it is running, for `status`.
    #[serde(default)]
    pub stage: Option<String>,
}

impl Holder {
    pub fn describe(&self) -> String {
        format!("pid {} (`{}`, started {})", self.pid, self.command, self.started_at)
    }

    fn me() -> Holder {
        Holder {
            pid: std::process::id(),
            process_start: process::process_start(std::process::id()),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            started_at: fs::now(),
            stage: None,
        }
    }
}

/// Held for the life of a run: the kernel lock goes with the file handle.
pub struct Lock {
    file: File,
    path: PathBuf,
    holder: Holder,
}

impl Lock {
    /// Says which stage the holder is in.
    pub fn set_stage(&mut self, stage: Option<&str>) {
        self.holder.stage = stage.map(String::from);
        self.write_holder();
    }

    /// Rewrites the content in place: renaming a new file over it would make a second lock.
    /// Only messages and `status` read it, so a run goes on without it (on a full disk, the
    /// run's own steps say what is wrong).
    fn write_holder(&mut self) {
        let written = serde_json::to_vec_pretty(&self.holder)
            .map_err(std::io::Error::other)
            .and_then(|content| {
                self.file.set_len(0)?;
                self.file.rewind()?;
                self.file.write_all(&content)
            });
        if let Err(err) = written {
            eprintln!("opt-dist: warning: cannot name this run in {}: {err}", self.path.display());
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // A lock that is free names nobody; the kernel lock goes when the file is closed.
        let _ = self.file.set_len(0);
    }
}

pub fn lock_path(artifacts_root: &Path) -> PathBuf {
    artifacts_root.join("lock")
}

/// The run holding the lock, if its record names a live process: for `status`, which does not
/// touch the lock itself.
pub fn holder(artifacts_root: &Path) -> Option<Holder> {
    let holder = read_holder(&lock_path(artifacts_root))?;
    let alive = process::process_start(holder.pid)
        .is_some_and(|start| holder.process_start.is_none_or(|recorded| recorded == start));
    alive.then_some(holder)
}

fn read_holder(path: &Path) -> Option<Holder> {
    fs::read_json(path).ok().flatten()
}

/// Takes the lock of the build dir, or fails at once naming the run that holds it; with `wait`,
/// waits for that run to finish.
pub fn acquire(artifacts_root: &Path, wait: bool) -> Result<Lock> {
    fs::create_dir(artifacts_root)?;
    let path = lock_path(artifacts_root);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) if wait => {
            eprintln!(
                "opt-dist: waiting for {} to finish: it is using this build dir (--wait)",
                describe_other(&path)
            );
            file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Err(TryLockError::WouldBlock) => bail!(
            "another opt-dist run is using this build dir: {}; wait for it to finish (--wait \
             waits for it, `cargo xtask opt-dist status` shows what it does), or use another \
             --build-dir",
            describe_other(&path)
        ),
        Err(TryLockError::Error(err)) => {
            return Err(err).with_context(|| {
                format!(
                    "cannot lock {}: the build dir's file system must support file locks \
                     (flock)",
                    path.display()
                )
            })
        }
    }
    let mut lock = Lock { file, path, holder: Holder::me() };
    lock.write_holder();
    // A run killed outright may have left its training processes running; they must not
    // write into directories this run uses.
    process::stop_leftover_children(&artifacts_root.join("children.json"))?;
    Ok(lock)
}

/// A directory of exported stages, held while `export` writes into it (exclusive) or `import`
/// reads from it (shared): builders sharing an artifact store take turns, as two exports write
/// their files under the same `.partial` names and each removes the manifest the other just
/// wrote, and an import would find a stage half exported. The kernel lock is on the directory
/// itself (`handle`, held by the caller), so nothing is left in the store. Where the file system
/// locks no directory (some network mounts), they go on without it: an export's hash checks and
/// import's still refuse a mix.
pub fn store(handle: &File, dir: &Path, export: bool) -> Result<()> {
    let taken = match export {
        true => handle.try_lock(),
        false => handle.try_lock_shared(),
    };
    if let Err(TryLockError::WouldBlock) = taken {
        eprintln!("opt-dist: waiting for the export or import using {} to finish", dir.display());
        let waited = match export {
            true => handle.lock(),
            false => handle.lock_shared(),
        };
        waited.with_context(|| format!("cannot lock {}", dir.display()))?;
    }
    Ok(())
}

/// The holder named by the lock file. A holder that has just taken the lock may not have
/// written its record yet (the file may still name a run that was killed): it is read again
/// for a moment before it is called unknown.
fn describe_other(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        let holder = read_holder(path).filter(|h| process::process_start(h.pid).is_some());
        if let Some(holder) = holder {
            return holder.describe();
        }
        if Instant::now() > deadline {
            return "a run that is just starting".to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_until_the_first_lets_go() {
        let root = std::env::temp_dir().join(format!("xtask-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let first = acquire(&root, false).unwrap();
        let err = acquire(&root, false).err().expect("the second taker is refused");
        assert!(format!("{err:#}").contains(&format!("pid {}", std::process::id())), "{err:#}");
        assert_eq!(holder(&root).unwrap().pid, std::process::id());
        drop(first);
        assert!(holder(&root).is_none(), "a free lock names nobody");
        assert!(lock_path(&root).exists(), "the lock file stays");
        let again = acquire(&root, false).expect("a released lock is taken");
        drop(again);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn exports_into_a_store_take_turns_and_imports_wait_for_them() {
        use std::sync::mpsc::{channel, Receiver, Sender};
        let dir = std::env::temp_dir().join(format!("xtask-store-turn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A thread that takes the store's lock, says so, and holds it until it is let go.
        let taker = |export: bool| -> (Receiver<()>, Sender<()>) {
            let (dir, (taken, has_taken), (let_go, go)) = (dir.clone(), channel(), channel());
            std::thread::spawn(move || {
                let handle = File::open(&dir).unwrap();
                store(&handle, &dir, export).unwrap();
                taken.send(()).unwrap();
                let _ = go.recv();
            });
            (has_taken, let_go)
        };
        let (soon, forever) =
            (std::time::Duration::from_millis(300), std::time::Duration::from_secs(30));
        let (first, first_done) = taker(true);
        first.recv_timeout(forever).expect("a free store is taken");
        let (second, second_done) = taker(true);
        assert!(second.recv_timeout(soon).is_err(), "a second export went on at once");
        drop(first_done);
        second.recv_timeout(forever).expect("the second export has its turn");
        let (import, import_done) = taker(false);
        assert!(import.recv_timeout(soon).is_err(), "an import read a store being written");
        drop(second_done);
        import.recv_timeout(forever).expect("the import has its turn");
        let (other_import, _other_done) = taker(false);
        other_import.recv_timeout(forever).expect("imports read together");
        let (export, _export_done) = taker(true);
        assert!(export.recv_timeout(soon).is_err(), "an export wrote while imports read");
        drop(import_done);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn of_many_simultaneous_takers_exactly_one_wins_each_round() {
        let root = std::env::temp_dir().join(format!("xtask-lock-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for _ in 0..50 {
            // Another test of this binary that starts a process at that moment holds a copy of
            // the winner's descriptor until its exec, so a round may find the lock still taken.
            while acquire(&root, false).is_err() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let barrier = std::sync::Barrier::new(8);
            let winners = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        barrier.wait();
                        let taken = acquire(&root, false);
                        if taken.is_ok() {
                            winners.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        // Everyone holds what they got until all have tried.
                        barrier.wait();
                        drop(taken);
                    });
                }
            });
            assert_eq!(winners.into_inner(), 1);
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
