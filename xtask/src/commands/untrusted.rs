//! Reading what `import` is given. Profiles reach a build through artifact stores, which hold
//! whatever a job (or anyone who can write there) put in them, so an import source is read as
//! hostile input:
//!
//! - every file is opened inside a directory that is already open (through `/proc/self/fd`),
//!   so a stage directory swapped for a link while the import runs leads nowhere else;
//! - nothing is followed: a stage directory, manifest or profile that is a symbolic link is
//!   refused, and the open itself uses `O_NOFOLLOW`, in case one appears after the check;
//! - only regular files are read, and that is known before anything is opened for reading (a
//!   FIFO would block the open, a device can have effects when opened); the open is
//!   `O_NONBLOCK`, so one swapped in at the last moment cannot hang the import either, and the
//!   file is checked again, by the descriptor, before a byte is read;
//! - a file is read no further than the size it is expected to have, and hashed as it is read,
//!   so what is checked and what is installed are the bytes the manifest lists.
//!
//! The flags come from `libc` (see docs/contributing.md, "Dependencies"): their values differ between
//! architectures (`O_NOFOLLOW` is 0o400000 on x86_64, 0o100000 on aarch64).

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::util::fs::human_bytes;
use crate::util::sha256::Sha256;

/// A stage manifest is some KiB (a few hundred with every command's environment recorded); one
/// beyond this is no manifest `export` wrote, and is not read into memory.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// Why `name` is not a plain file name (one entry of a directory), if it is not one.
pub fn not_a_plain_name(name: &str) -> Option<&'static str> {
    match name {
        "" => Some("it is empty"),
        "." | ".." => Some("it names a directory, not a file in it"),
        _ if name.starts_with('/') => Some("it is an absolute path"),
        _ if name.contains('/') => Some("it is a path (it has a `/`)"),
        _ if name.contains('\0') => Some("it has a NUL byte"),
        _ => None,
    }
}

/// A directory of the import source, open: what is in it is opened through this descriptor.
pub struct SourceDir {
    dir: File,
    shown: PathBuf,
}

impl SourceDir {
    /// The directory named on the command line (a link to it is the user's own, so it is
    /// followed).
    pub fn open(path: &Path) -> Result<SourceDir> {
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .with_context(|| format!("cannot open the directory {}", path.display()))?;
        Ok(SourceDir {
            dir,
            shown: path.to_path_buf(),
        })
    }

    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// Where `name` in this directory is reached through the open descriptor; without procfs,
    /// by its path (this directory was checked when it was opened, a swap since is not seen).
    fn inside(&self, name: &str) -> Result<PathBuf> {
        if let Some(why) = not_a_plain_name(name) {
            bail!(
                "{:?} is no name of a file in {}: {why}",
                name,
                self.shown.display()
            );
        }
        let fds = Path::new("/proc/self/fd");
        Ok(match fds.is_dir() {
            true => fds.join(self.dir.as_raw_fd().to_string()).join(name),
            false => self.shown.join(name),
        })
    }

    /// Whether there is anything called `name` here (a link counts).
    pub fn has(&self, name: &str) -> bool {
        self.inside(name)
            .is_ok_and(|path| std::fs::symlink_metadata(path).is_ok())
    }

    /// The directory `name` in this one: `None` when there is none; refused when it is a link or
    /// not a directory.
    pub fn subdir(&self, name: &str, fix: &str) -> Result<Option<SourceDir>> {
        let path = self.inside(name)?;
        let shown = self.shown.join(name);
        let Some(before) = lstat(&path, &shown)? else {
            return Ok(None);
        };
        if !before.file_type().is_dir() {
            bail!(
                "{}; {fix}",
                describe_wrong_type(&path, &shown, "a directory")
            );
        }
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(|err| refused_open(err, &path, &shown, "a directory", fix))?;
        let after = dir
            .metadata()
            .with_context(|| format!("cannot read the metadata of {}", shown.display()))?;
        same_file(&before, &after, &shown)?;
        Ok(Some(SourceDir { dir, shown }))
    }

    /// The regular file `name` in this directory, open for reading: `None` when there is none;
    /// refused when it is a link, a directory, a FIFO, a device or a socket.
    pub fn file(&self, name: &str, fix: &str) -> Result<Option<SourceFile>> {
        SourceFile::open_at(&self.inside(name)?, self.shown.join(name), fix)
    }
}

/// A regular file of the import source, open for reading, with its size when opened.
pub struct SourceFile {
    file: File,
    pub shown: PathBuf,
    pub size: u64,
}

impl SourceFile {
    /// A file named on the command line (`import <FILE> --as`): refused, as in a directory,
    /// when it is a link or not a regular file.
    pub fn open(path: &Path, fix: &str) -> Result<SourceFile> {
        SourceFile::open_at(path, path.to_path_buf(), fix)?
            .with_context(|| format!("{} does not exist", path.display()))
    }

    fn open_at(path: &Path, shown: PathBuf, fix: &str) -> Result<Option<SourceFile>> {
        let Some(before) = lstat(path, &shown)? else {
            return Ok(None);
        };
        if !before.file_type().is_file() {
            bail!(
                "{}; {fix}",
                describe_wrong_type(path, &shown, "a regular file")
            );
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|err| refused_open(err, path, &shown, "a regular file", fix))?;
        let after = file
            .metadata()
            .with_context(|| format!("cannot read the metadata of {}", shown.display()))?;
        same_file(&before, &after, &shown)?;
        Ok(Some(SourceFile {
            file,
            size: after.len(),
            shown,
        }))
    }

    /// Reads the first `size` bytes and no more, hashing them.
    pub fn read_exactly(self, size: u64) -> Verified {
        Verified {
            file: self.file,
            shown: self.shown,
            expected: size,
            read: 0,
            hasher: Sha256::new(),
        }
    }

    /// The whole file, when it is at most `limit` bytes (a manifest).
    pub fn read_all(self, limit: u64, what: &str) -> Result<Vec<u8>> {
        if self.size > limit {
            bail!(
                "{} is {}, more than the {} {what} can be: it is not one `export` wrote; export \
                 the stage again from the build that made it",
                self.shown.display(),
                human_bytes(self.size),
                human_bytes(limit)
            );
        }
        let size = self.size;
        let mut reader = self.read_exactly(size);
        let mut bytes = Vec::with_capacity(size as usize);
        reader
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", reader.shown.display()))?;
        reader.finish()?;
        Ok(bytes)
    }
}

/// A file being read up to the size it should have, hashed on the way.
pub struct Verified {
    file: File,
    shown: PathBuf,
    expected: u64,
    read: u64,
    hasher: Sha256,
}

impl Read for Verified {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.expected - self.read;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read(&mut buf[..want])?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

impl Verified {
    /// Reads what is left of the expected size, then gives the SHA-256 of all of it; an error
    /// when the file ended before (it changed while it was read).
    pub fn finish(mut self) -> Result<String> {
        std::io::copy(&mut self, &mut std::io::sink())
            .with_context(|| format!("cannot read {}", self.shown.display()))?;
        if self.read != self.expected {
            bail!(
                "{} ended after {} bytes, {} were expected: it changed while it was read; \
                 import again once nothing writes to it",
                self.shown.display(),
                self.read,
                self.expected
            );
        }
        Ok(self.hasher.finish_hex())
    }
}

/// The metadata of `path` itself (not of what a link points to); `None` when there is nothing.
fn lstat(path: &Path, shown: &Path) -> Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot look at {}", shown.display())),
    }
}

fn type_name(file_type: FileType) -> &'static str {
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_file() {
        "a regular file"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "of an unknown type"
    }
}

fn describe_wrong_type(path: &Path, shown: &Path, expected: &str) -> String {
    let found = std::fs::symlink_metadata(path).map(|m| m.file_type());
    match found {
        Ok(file_type) if file_type.is_symlink() => {
            let target = std::fs::read_link(path)
                .map(|t| format!(" (to {})", t.display()))
                .unwrap_or_default();
            format!(
                "{} is a symbolic link{target}, not {expected}: import follows no link in what \
                 it imports",
                shown.display()
            )
        }
        Ok(file_type) => format!(
            "{} is {}, not {expected}",
            shown.display(),
            type_name(file_type)
        ),
        Err(_) => format!("{} is not {expected}", shown.display()),
    }
}

/// An open refused by the kernel: `ELOOP` means a link appeared since the check.
fn refused_open(
    err: std::io::Error,
    path: &Path,
    shown: &Path,
    expected: &str,
    fix: &str,
) -> anyhow::Error {
    match err.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
            anyhow::anyhow!("{}; {fix}", describe_wrong_type(path, shown, expected))
        }
        _ => anyhow::Error::new(err).context(format!("cannot open {}", shown.display())),
    }
}

/// The file opened is the one looked at: not replaced in between.
fn same_file(before: &Metadata, after: &Metadata, shown: &Path) -> Result<()> {
    if (before.dev(), before.ino()) != (after.dev(), after.ino())
        || before.file_type() != after.file_type()
    {
        bail!(
            "{} was replaced while it was being opened; import again once nothing writes to \
             the directory",
            shown.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_names() {
        for name in ["", ".", "..", "/etc/passwd", "../x", "a/b", "a/", "nul\0"] {
            assert!(not_a_plain_name(name).is_some(), "{name:?}");
        }
        for name in [
            "rustc-pgo-1.95.0-x86_64-unknown-linux-gnu.profdata",
            "..x",
            "a b",
            ".x",
        ] {
            assert_eq!(not_a_plain_name(name), None, "{name:?}");
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-untrusted-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn links_fifos_and_devices_are_refused_without_reading() {
        let dir = scratch("types");
        std::fs::write(dir.join("regular"), b"0123456789").unwrap();
        std::os::unix::fs::symlink(dir.join("regular"), dir.join("link")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::os::unix::fs::symlink(dir.join("sub"), dir.join("sublink")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo"))
            .status()
            .unwrap();
        assert!(fifo.success());

        let source = SourceDir::open(&dir).unwrap();
        for (name, found) in [
            ("link", "a symbolic link (to "),
            ("zero", "a symbolic link (to /dev/zero)"),
            ("fifo", "is a FIFO (named pipe), not a regular file"),
            ("sub", "is a directory, not a regular file"),
        ] {
            let err = source.file(name, "fix it").err().expect(name);
            let err = format!("{err:#}");
            assert!(err.contains(found), "{name}: {err}");
            assert!(err.contains(&dir.join(name).display().to_string()), "{err}");
            assert!(err.ends_with("fix it"), "{err}");
        }
        let err = source.subdir("sublink", "fix it").err().expect("a link");
        assert!(format!("{err:#}").contains("is a symbolic link"), "{err:#}");
        assert!(source.file("absent", "").unwrap().is_none());
        for name in ["../regular", "/etc/passwd", ".."] {
            assert!(source.file(name, "").is_err(), "{name}");
        }
        assert!(source.subdir("absent", "").unwrap().is_none());

        // Exactly the size asked for, and no further.
        let file = source.file("regular", "").unwrap().unwrap();
        assert_eq!(file.size, 10);
        let mut reader = file.read_exactly(4);
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"0123");
        assert_eq!(reader.finish().unwrap(), crate::util::sha256::hex(b"0123"));
        // A file shorter than expected.
        let file = source.file("regular", "").unwrap().unwrap();
        let err = file.read_exactly(11).finish().unwrap_err();
        assert!(format!("{err:#}").contains("ended after 10 bytes, 11 were expected"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_manifest_beyond_the_limit_is_not_read() {
        let dir = scratch("limit");
        let file = dir.join("manifest.json");
        std::fs::File::create(&file)
            .unwrap()
            .set_len(MAX_MANIFEST_BYTES + 1)
            .unwrap();
        let err = SourceFile::open(&file, "")
            .unwrap()
            .read_all(MAX_MANIFEST_BYTES, "a stage manifest")
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("more than the 16.0 MiB"),
            "{err:#}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
