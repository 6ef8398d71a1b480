//! Finding the LLVM tools that match the compiler: `llvm-profdata` (and later `llvm-bolt`,
//! `merge-fdata`).
//!
//! The raw profile format changes between LLVM major versions: Debian's LLVM 14 llvm-profdata
//! cannot read rustc 1.95's (LLVM 22) profiles. So a tool is looked up for the compiler's LLVM
//! major version and checked against it before it touches a profile.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::cmd::Cmd;
use super::tree::{llvm_version_of_rustc, Tree};

/// The host LLVM installation, as found.
#[derive(Debug, Clone, Serialize)]
pub struct HostLlvm {
    /// `<dir>/bin` holding the tools, when one was found; otherwise tools come from PATH.
    pub bin_dir: Option<PathBuf>,
    pub found_by: String,
    /// The LLVM major version the tools should have, if anything could tell it yet.
    pub expected_major: Option<u32>,
}

impl HostLlvm {
    pub fn locate(llvm_dir: Option<&Path>, tree: &Tree, sh: &xshell::Shell) -> HostLlvm {
        let expected_major = expected_llvm_major(tree, sh);
        if let Some(dir) = llvm_dir {
            return HostLlvm {
                bin_dir: Some(dir.join("bin")),
                found_by: "--llvm-dir".to_string(),
                expected_major,
            };
        }
        if let Some(llvm_config) = &tree.config.llvm_config {
            let bindir = Cmd::new(llvm_config.display().to_string(), &tree.src).arg("--bindir");
            if let Ok((true, out, _)) = bindir.probe(sh) {
                return HostLlvm {
                    bin_dir: Some(PathBuf::from(out.trim())),
                    found_by: format!("llvm-config {}", llvm_config.display()),
                    expected_major,
                };
            }
        }
        if let Some(major) = expected_major {
            let debian = PathBuf::from(format!("/usr/lib/llvm-{major}/bin"));
            if debian.is_dir() {
                return HostLlvm {
                    bin_dir: Some(debian),
                    found_by: format!("the LLVM {major} installation"),
                    expected_major,
                };
            }
        }
        HostLlvm {
            bin_dir: None,
            found_by: "PATH".to_string(),
            expected_major,
        }
    }

    /// The path of tool `name`: in the found installation, else `name-<major>` or `name` from
    /// PATH (the name alone when nothing is found, so the error says what was looked for).
    pub fn tool(&self, name: &str) -> PathBuf {
        if let Some(dir) = &self.bin_dir {
            return dir.join(name);
        }
        let versioned = self.expected_major.map(|m| format!("{name}-{m}"));
        for candidate in versioned.iter().map(String::as_str).chain([name]) {
            if let Some(found) = search_path(candidate) {
                return found;
            }
        }
        PathBuf::from(name)
    }
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The best early guess of the compiler's LLVM major version: the built compiler's own answer,
/// else the configured external LLVM, else the in-tree LLVM sources, else the stage0 compiler.
/// The merge step checks against the built compiler again; this only picks a default tool.
fn expected_llvm_major(tree: &Tree, sh: &xshell::Shell) -> Option<u32> {
    let stage2 = tree.stage2_rustc();
    if stage2.exists() {
        if let Some(major) = llvm_version_of_rustc(&stage2, sh)
            .ok()
            .and_then(|v| llvm_major(&v))
        {
            return Some(major);
        }
    }
    if let Some(llvm_config) = &tree.config.llvm_config {
        let version = Cmd::new(llvm_config.display().to_string(), &tree.src).arg("--version");
        if let Ok((true, out, _)) = version.probe(sh) {
            return llvm_major(&out);
        }
    }
    let cmake = tree
        .src
        .join("src/llvm-project/cmake/Modules/LLVMVersion.cmake");
    if let Ok(text) = std::fs::read_to_string(cmake) {
        let major = text.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("set(LLVM_VERSION_MAJOR")?;
            rest.trim().trim_end_matches(')').trim().parse().ok()
        });
        if major.is_some() {
            return major;
        }
    }
    let stage0 = tree.stage0_rustc();
    let rustc = if stage0.exists() {
        stage0
    } else {
        PathBuf::from("rustc")
    };
    llvm_version_of_rustc(&rustc, sh)
        .ok()
        .and_then(|v| llvm_major(&v))
}

/// `22` from `22.1.8`, `Debian LLVM version 22.1.8` or `22.1.2-rust-1.95.0-stable`.
pub fn llvm_major(text: &str) -> Option<u32> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The full LLVM version an llvm-profdata reports, e.g. `22.1.8`.
pub fn profdata_llvm_version(tool: &Path, sh: &xshell::Shell) -> Result<String> {
    // `llvm-profdata --version` is rejected by older releases; `merge --version` works on all.
    tool_llvm_version(tool, &["merge", "--version"], sh)
}

/// The full LLVM version an LLVM tool (llvm-bolt, merge-fdata, ...) reports.
pub fn llvm_tool_version(tool: &Path, sh: &xshell::Shell) -> Result<String> {
    match tool.file_name().and_then(|n| n.to_str()) {
        Some(name) if name.starts_with("llvm-profdata") => profdata_llvm_version(tool, sh),
        _ => tool_llvm_version(tool, &["--version"], sh),
    }
}

fn tool_llvm_version(tool: &Path, version_args: &[&str], sh: &xshell::Shell) -> Result<String> {
    if !tool.is_file() {
        bail!("{} does not exist", tool.display());
    }
    let version =
        Cmd::new(tool.display().to_string(), Path::new(".")).args(version_args.iter().copied());
    let (_, stdout, stderr) = version.probe(sh)?;
    let text = format!("{stdout}{stderr}");
    text.lines()
        .find_map(|l| l.split("LLVM version ").nth(1))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("`{}` did not report an LLVM version", version.shell_line()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_from_every_shape() {
        assert_eq!(llvm_major("22.1.8"), Some(22));
        assert_eq!(llvm_major("Debian LLVM version 14.0.6"), Some(14));
        assert_eq!(llvm_major("22.1.2-rust-1.95.0-stable"), Some(22));
        assert_eq!(llvm_major("none"), None);
    }
}
