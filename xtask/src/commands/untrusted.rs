//! Reading what `import` is given, as hostile input: profiles reach a build through artifact
//! stores, which hold whatever a job (or anyone who can write there) put in them.
//!
//! - Every file is opened inside a directory already open (through `/proc/self/fd`), so a stage
//!   directory swapped for a link while the import runs leads nowhere else.
//! - Nothing is followed: a stage directory, manifest or profile that is a symbolic link is
//!   refused, and the open itself uses `O_NOFOLLOW`, in case one appears after the check.
//! - Only regular files are read, and that is known before anything is opened (a FIFO would
//!   block the open, a device can have effects when opened); the open is `O_NONBLOCK` in case
//!   one is swapped in at the last moment, and what was opened must be what was looked at.
//! - A file is read no further than the size it had when opened (which its reader compares with
//!   the size it expects first), and hashed as it is read: what is checked is what is read.
//!
//! The flags come from `libc` (see docs/contributing.md, "Dependencies"): their values differ between
//! architectures (`O_NOFOLLOW` is 0o400000 on x86_64, 0o100000 on aarch64).

use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{Read, Take};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::util::fs::human_bytes;
use crate::util::sha256::Sha256;

/// A stage manifest is some KiB (a few hundred with every command's environment recorded); one
/// beyond this is no manifest `export` wrote, and is not read into memory.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// Why `name` is not a plain file name (one entry of a directory), if it is not one.
pub fn not_a_plain_name(name: &[u8]) -> Option<&'static str> {
    match name {
        b"" => Some("it is empty"),
        b"." | b".." => Some("it names a directory, not a file in it"),
        [b'/', ..] => Some("it is an absolute path"),
        _ if name.contains(&b'/') => Some("it is a path (it has a `/`)"),
        _ if name.contains(&0) => Some("it has a NUL byte"),
        _ => None,
    }
}

/// A directory of the import source, open: what is in it is opened through this descriptor.
pub struct Dir {
    fd: File,
    pub shown: PathBuf,
}

impl Dir {
    /// The directory named on the command line (a link to it is the user's own, so it is
    /// followed); the empty path is the current directory.
    pub fn open(path: &Path) -> Result<Dir> {
        let at = Some(path).filter(|p| !p.as_os_str().is_empty());
        let at = at.unwrap_or(Path::new("."));
        let fd = open(at, libc::O_DIRECTORY)
            .with_context(|| format!("cannot open the directory {}", at.display()))?;
        let shown = path.to_path_buf();
        Ok(Dir { fd, shown })
    }

    /// The open directory, for a lock on it.
    pub fn handle(&self) -> &File {
        &self.fd
    }

    /// The directory `name` in this one: `None` when there is none, refused (saying `fix`) when
    /// it is a link or no directory.
    pub fn dir(&self, name: &str, fix: &str) -> Result<Option<Dir>> {
        let opened = self.open_in(name.as_ref(), true, fix)?;
        Ok(opened.map(|(fd, shown, _)| Dir { fd, shown }))
    }

    /// The regular file `name` in this directory, open for reading: `None` when there is none,
    /// refused (saying `fix`) when it is a link, a directory, a FIFO, a device or a socket.
    pub fn file(&self, name: impl AsRef<OsStr>, fix: &str) -> Result<Option<Source>> {
        let opened = self.open_in(name.as_ref(), false, fix)?;
        Ok(opened.map(|(file, shown, meta)| Source {
            file: file.take(meta.len()),
            shown,
            size: meta.len(),
            hasher: Sha256::default(),
        }))
    }

    /// The one way anything in the source is opened: looked at without following a link,
    /// refused unless it is of the type wanted, then opened without following or blocking.
    fn open_in(
        &self,
        name: &OsStr,
        dir: bool,
        fix: &str,
    ) -> Result<Option<(File, PathBuf, Metadata)>> {
        let shown = self.shown.join(name);
        if let Some(why) = not_a_plain_name(name.as_bytes()) {
            bail!("{name:?} is no name of a file in {}: {why}", self.shown.display());
        }
        // Without procfs, by its path: this directory was checked when it was opened.
        let fds = Path::new("/proc/self/fd");
        let path = match fds.is_dir() {
            true => fds.join(self.fd.as_raw_fd().to_string()).join(name),
            false => shown.clone(),
        };
        let before = match std::fs::symlink_metadata(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            looked => looked.with_context(|| format!("cannot look at {}", shown.display()))?,
        };
        let expected = if dir { "a directory" } else { "a regular file" };
        let refused = || anyhow!("{}; {fix}", wrong_type(&path, &shown, expected));
        if !(dir && before.is_dir() || !dir && before.is_file()) {
            return Err(refused());
        }
        let flags = libc::O_NOFOLLOW | if dir { libc::O_DIRECTORY } else { 0 };
        let file = open(&path, flags).map_err(|err| match err.raw_os_error() {
            // A link, or no directory: swapped in since the look.
            Some(libc::ELOOP | libc::ENOTDIR) => refused(),
            _ => anyhow!(err).context(format!("cannot open {}", shown.display())),
        })?;
        let after = file
            .metadata()
            .with_context(|| format!("cannot read the metadata of {}", shown.display()))?;
        let identity = |m: &Metadata| (m.dev(), m.ino(), m.file_type());
        if identity(&before) != identity(&after) {
            bail!(
                "{} was replaced while it was being opened; import again once nothing writes to \
                 the directory",
                shown.display()
            );
        }
        Ok(Some((file, shown, after)))
    }
}

/// Opens for reading without blocking on a FIFO or taking a terminal.
fn open(path: &Path, flags: libc::c_int) -> std::io::Result<File> {
    let flags = flags | libc::O_NONBLOCK | libc::O_NOCTTY;
    OpenOptions::new().read(true).custom_flags(flags).open(path)
}

/// `<shown> is <what is there now>, not <expected>`.
fn wrong_type(path: &Path, shown: &Path, expected: &str) -> String {
    let found = match std::fs::symlink_metadata(path).map(|meta| meta.file_type()) {
        Ok(t) if t.is_symlink() => {
            let target = std::fs::read_link(path).map(|to| format!(" (to {})", to.display()));
            return format!(
                "{} is a symbolic link{}, not {expected}: import follows no link in what it \
                 imports",
                shown.display(),
                target.unwrap_or_default()
            );
        }
        Ok(t) if t.is_dir() => "a directory",
        Ok(t) if t.is_file() => "a regular file",
        Ok(t) if t.is_fifo() => "a FIFO (named pipe)",
        Ok(t) if t.is_char_device() => "a character device",
        Ok(t) if t.is_block_device() => "a block device",
        Ok(t) if t.is_socket() => "a socket",
        Ok(_) => "of an unknown type",
        Err(_) => "gone",
    };
    format!("{} is {found}, not {expected}", shown.display())
}

/// A regular file of the import source, open, read no further than the `size` it had when it
/// was opened, and hashed as it is read.
pub struct Source {
    file: Take<File>,
    pub shown: PathBuf,
    pub size: u64,
    hasher: Sha256,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl Source {
    /// Reads what is left of its size, then gives the SHA-256 of all of it; an error when the
    /// file ended before (it changed while it was read).
    pub fn finish(mut self) -> Result<String> {
        let shown = self.shown.display().to_string();
        std::io::copy(&mut self, &mut std::io::sink())
            .with_context(|| format!("cannot read {shown}"))?;
        let (read, size) = (self.size - self.file.limit(), self.size);
        if read != size {
            bail!(
                "{shown} ended after {read} bytes, {size} were expected: it changed while it was \
                 read; import again once nothing writes to it"
            );
        }
        Ok(self.hasher.finish_hex())
    }

    /// The whole file, when it is at most `limit` bytes (a manifest).
    pub fn read_all(mut self, limit: u64, what: &str) -> Result<Vec<u8>> {
        let (shown, size) = (self.shown.display().to_string(), human_bytes(self.size));
        if self.size > limit {
            bail!(
                "{shown} is {size}, more than the {} {what} can be: it is not one `export` wrote; \
                 export the stage again from the build that made it",
                human_bytes(limit)
            );
        }
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes).with_context(|| format!("cannot read {shown}"))?;
        self.finish().map(|_| bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_names() {
        for name in ["", ".", "..", "/etc/passwd", "../x", "a/b", "a/", "nul\0"] {
            assert!(not_a_plain_name(name.as_bytes()).is_some(), "{name:?}");
        }
        for name in ["rustc-pgo-1.95.0-x86_64-unknown-linux-gnu.profdata", "..x", "a b", ".x"] {
            assert_eq!(not_a_plain_name(name.as_bytes()), None, "{name:?}");
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
        let fifo = std::process::Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap();
        assert!(fifo.success());

        let source = Dir::open(&dir).unwrap();
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
        let err = source.dir("sublink", "fix it").err().expect("a link");
        assert!(format!("{err:#}").contains("is a symbolic link"), "{err:#}");
        let err = source.dir("regular", "fix it").err().expect("a file");
        assert!(format!("{err:#}").contains("is a regular file, not a directory"));
        assert!(source.file("absent", "").unwrap().is_none());
        for name in ["../regular", "/etc/passwd", ".."] {
            assert!(source.file(name, "").is_err(), "{name}");
        }
        assert!(source.dir("absent", "").unwrap().is_none());

        // The size it had when opened, and no further: a file that grows is read no further.
        let mut file = source.file("regular", "").unwrap().unwrap();
        assert_eq!(file.size, 10);
        std::fs::write(dir.join("regular"), b"0123456789abcdef").unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"0123456789");
        assert_eq!(file.finish().unwrap(), crate::util::sha256::hex(b"0123456789"));
        // A file that shrinks after it was opened.
        let file = source.file("regular", "").unwrap().unwrap();
        std::fs::write(dir.join("regular"), b"0123").unwrap();
        let err = file.finish().unwrap_err();
        assert!(format!("{err:#}").contains("ended after 4 bytes, 16 were expected"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_manifest_beyond_the_limit_is_not_read() {
        let dir = scratch("limit");
        std::fs::File::create(dir.join("manifest.json"))
            .unwrap()
            .set_len(MAX_MANIFEST_BYTES + 1)
            .unwrap();
        let err = Dir::open(&dir)
            .unwrap()
            .file("manifest.json", "")
            .unwrap()
            .unwrap()
            .read_all(MAX_MANIFEST_BYTES, "a stage manifest")
            .unwrap_err();
        assert!(format!("{err:#}").contains("more than the 16.0 MiB"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
