//! Files: the one atomic write, the one JSON reader, content hashes, sizes, free disk, and the
//! file-system calls the xtask makes, each with the path it failed on in its error.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::sha256::Sha256;

/// Writes `contents` to `path` through a temporary file in the same directory and one rename,
/// so a reader never sees half a file and a crash leaves the previous version intact; a failed
/// write (a full disk) leaves no temporary file either.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = partial(path);
    let written = std::fs::write(&tmp, contents)
        .with_context(|| format!("cannot write {}", tmp.display()))
        .and_then(|()| rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// [`write_atomically`] of a value as pretty JSON.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_atomically(path, &serde_json::to_vec_pretty(value)?)
}

/// `<path>.partial`: where a file is written before it is complete.
pub fn partial(path: &Path) -> PathBuf {
    path.with_file_name(format!("{}.partial", file_name(path)))
}

/// A JSON file: `None` when there is none; an error naming the file when it cannot be read or
/// does not parse.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .with_context(|| format!("{} is not a valid record", path.display()))
}

/// A record the xtask keeps (a manifest, a journal, the build state...): `None` when there is
/// none. One that cannot be read is never a dead end: it is set aside as `<name>.corrupt` (kept
/// for a look, never deleted), named in a warning that says what follows from it
/// (`consequence`), and taken as absent.
pub fn read_record<T: serde::de::DeserializeOwned>(path: &Path, consequence: &str) -> Option<T> {
    read_json(path).unwrap_or_else(|err| {
        let aside = path.with_file_name(format!("{}.corrupt", file_name(path)));
        let moved = match std::fs::rename(path, &aside) {
            Ok(()) => format!("set aside as {}", aside.display()),
            Err(_) => "ignored".to_string(),
        };
        eprintln!("opt-dist: warning: {err:#}; {moved}; {consequence}");
        None
    })
}

/// The last component of `path`, as text (empty for a path without one).
pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Removes a file or a directory tree; nothing there is fine.
pub fn remove(path: &Path) -> Result<()> {
    let removed = match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    removed.with_context(|| format!("cannot delete {}", path.display()))
}

pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))
}

/// Copies a file's content over `to`: a file that is there keeps its inode (a sysroot library
/// is a hard link bootstrap refreshes).
pub fn copy(from: &Path, to: &Path) -> Result<u64> {
    std::fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
}

/// Copies `from` to `to` through `<to>.partial` and a rename: `to` is whole or not there.
pub fn copy_atomically(from: &Path, to: &Path) -> Result<()> {
    let tmp = partial(to);
    let copied = copy(from, &tmp).and_then(|_| rename(&tmp, to));
    if copied.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    copied
}

pub fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("cannot read the size of {}", path.display()))?
        .len())
}

/// The files in `dir` (not below it), sorted.
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Files below `dir` (only those named `*.<extension>` when one is given): (count, total
/// bytes). A directory that does not exist holds nothing.
pub fn files_below(dir: &Path, extension: Option<&str>) -> Result<(u64, u64)> {
    let (mut count, mut bytes) = (0, 0);
    if !dir.exists() {
        return Ok((0, 0));
    }
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let wanted = extension.is_none_or(|ext| entry.path().extension().is_some_and(|e| e == ext));
        if entry.file_type().is_file() && wanted {
            count += 1;
            bytes += entry
                .metadata()
                .with_context(|| format!("cannot read {}", entry.path().display()))?
                .len();
        }
    }
    Ok((count, bytes))
}

/// Free bytes on the file system that holds `dir` (or its nearest existing ancestor), as `df`
/// counts them: the blocks an unprivileged process may use.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let existing = dir.ancestors().find(|d| d.exists())?;
    let path = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs(3) fills the zeroed struct from a valid C string, and touches nothing else.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0;
    ok.then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// `ask`'s answer to `question`, remembered for the rest of this process for as long as the
/// files `of` are the same ones (device, inode, size, modification time; a rename keeps
/// them): a tool's version or a profile's function list, which several steps of one run need.
/// A question being asked (by a thread that asks ahead) is waited for, not asked again.
pub fn remembered<T: Clone + Send + 'static>(
    of: &[&Path],
    question: &str,
    ask: impl FnOnce() -> Result<T>,
) -> Result<T> {
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Arc, Mutex, PoisonError};
    type Answer = Arc<Mutex<Option<Box<dyn std::any::Any + Send>>>>;
    static ANSWERS: Mutex<std::collections::BTreeMap<String, Answer>> =
        Mutex::new(std::collections::BTreeMap::new());
    let stamps: Vec<_> = of
        .iter()
        .map(|file| {
            let meta = std::fs::metadata(file).ok();
            meta.map(|m| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
        })
        .collect();
    let key = format!("{question}\t{stamps:?}");
    let slot =
        ANSWERS.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().clone();
    let mut answer = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = answer.as_ref().and_then(|a| a.downcast_ref::<T>()) {
        return Ok(known.clone());
    }
    // A failure is not remembered: the next asker tries again.
    let fresh = ask()?;
    *answer = Some(Box::new(fresh.clone()));
    Ok(fresh)
}

/// Whether two files hold the same bytes (compared, not hashed: twice as fast).
pub fn same_contents(a: &Path, b: &Path) -> Result<bool> {
    let open = |path: &Path| {
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))
    };
    let (mut file_a, mut file_b) = (open(a)?, open(b)?);
    if file_a.metadata()?.len() != file_b.metadata()?.len() {
        return Ok(false);
    }
    let (mut buf_a, mut buf_b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = file_a.read(&mut buf_a).with_context(|| format!("cannot read {}", a.display()))?;
        if n == 0 {
            return Ok(true);
        }
        file_b
            .read_exact(&mut buf_b[..n])
            .with_context(|| format!("cannot read {}", b.display()))?;
        if buf_a[..n] != buf_b[..n] {
            return Ok(false);
        }
    }
}

/// SHA-256 of a file's contents, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    Ok(copy_hashed(path, &mut std::io::sink())?.1)
}

/// Writes a file's contents to `to` as it hashes them: (bytes, SHA-256 as lowercase hex).
pub fn copy_hashed(path: &Path, to: &mut impl std::io::Write) -> Result<(u64, String)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (mut hasher, mut size) = (Sha256::default(), 0);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok((size, hasher.finish_hex()));
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])
            .with_context(|| format!("cannot write the copy of {}", path.display()))?;
        size += n as u64;
    }
}

/// The file's SHA-256, `None` when it cannot be read; hashed once per run while it is the same
/// file ([`remembered`]): a profile is an input of several stages.
pub fn sha256_remembered(path: &Path) -> Option<String> {
    remembered(&[path], "sha256", || sha256_file(path)).ok()
}

/// The one file named `<prefix>*<suffix>` in a directory (a sysroot library whose name holds a
/// hash), found when it is needed: after the build that makes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OneFile {
    pub dir: PathBuf,
    pub prefix: &'static str,
    pub suffix: &'static str,
}

impl OneFile {
    pub fn in_dir(&self, dir: &Path) -> OneFile {
        OneFile { dir: dir.to_path_buf(), ..self.clone() }
    }

    pub fn find(&self) -> Result<PathBuf> {
        let found: Vec<PathBuf> = files_in(&self.dir)
            .with_context(|| format!("was {} built?", self.shown()))?
            .into_iter()
            .filter(|p| {
                let name = file_name(p);
                name.starts_with(self.prefix) && name.ends_with(self.suffix)
            })
            .collect();
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!("no {} in {}", self.shown(), self.dir.display()),
            many => bail!(
                "more than one {} in {}: {}; remove the stale ones (or the build dir) and rebuild",
                self.shown(),
                self.dir.display(),
                many.iter().map(|p| file_name(p)).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// `libLLVM.so*`, as a user would glob it.
    pub fn shown(&self) -> String {
        format!("{}*{}", self.prefix, self.suffix)
    }
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

pub fn human_duration(secs: f64) -> String {
    let whole = secs.round() as u64;
    match whole {
        _ if secs < 60.0 => format!("{secs:.1}s"),
        ..3600 => format!("{}m {:02}s", whole / 60, whole % 60),
        _ => format!("{}h {:02}m {:02}s", whole / 3600, whole % 3600 / 60, whole % 60),
    }
}

/// `2026-11-27T22:27:53Z`.
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Gregorian date of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn now() -> String {
    utc_timestamp(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_file_equals_sha256sum() {
        let dir = std::env::temp_dir().join(format!("xtask-sha-{}", std::process::id()));
        create_dir(&dir).unwrap();
        let file = dir.join("data");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&file, &data).unwrap();
        let out = std::process::Command::new("sha256sum").arg(&file).output().unwrap();
        let expected = String::from_utf8(out.stdout).unwrap();
        assert_eq!(sha256_file(&file).unwrap(), expected.split_whitespace().next().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_that_fails_leaves_no_partial_file() {
        let dir = std::env::temp_dir().join(format!("xtask-atomic-{}", std::process::id()));
        create_dir(&dir.join("record.json/in-the-way")).unwrap();
        assert!(write_atomically(&dir.join("record.json"), b"{}").is_err());
        assert!(!dir.join("record.json.partial").exists());
        write_atomically(&dir.join("other.json"), b"{}").unwrap();
        assert_eq!(std::fs::read(dir.join("other.json")).unwrap(), b"{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_731_673);
        assert_eq!(utc_timestamp(t), "2026-11-26T22:21:13Z");
    }
}
