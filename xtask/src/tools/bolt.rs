//! BOLT's command lines and the libraries it rewrites: the sysroot's `libLLVM.so*` and
//! `librustc_driver-*.so`. They are hard links into bootstrap's own build output, refreshed by
//! every later x.py build or dist, so a library is always rewritten in place (copied over,
//! same inode), never replaced by a new file, which the next bootstrap run would undo.

use std::path::Path;

use crate::tools::tree::Tree;
use crate::util::cmd::Cmd;
use crate::util::fs::OneFile;

/// The sysroot's `libLLVM.so*` (e.g. `libLLVM.so.22.1-rust-1.95.0-stable`).
pub fn libllvm(tree: &Tree) -> OneFile {
    OneFile { dir: tree.host_build().join("stage2/lib"), prefix: "libLLVM.so", suffix: "" }
}

pub fn librustc_driver(tree: &Tree) -> OneFile {
    OneFile { dir: tree.host_build().join("stage2/lib"), prefix: "librustc_driver", suffix: ".so" }
}

/// `llvm-bolt -instrument`, with one profile file per process.
pub fn instrument_cmd(bolt: &Path, library: &Path, profile_prefix: &Path, output: &Path) -> Cmd {
    Cmd::new(bolt, Path::new("/"))
        .arg("-instrument")
        .arg(library)
        .arg(format!("--instrumentation-file={}", profile_prefix.display()))
        .arg("--instrumentation-file-append-pid")
        .arg("-o")
        .arg(output)
}

/// Upstream's optimization settings (cdsplit on x86_64; aarch64 uses profile2).
pub fn optimize_cmd(bolt: &Path, input: &Path, profile: &Path, output: &Path, host: &str) -> Cmd {
    let split = if host.starts_with("aarch64") { "profile2" } else { "cdsplit" };
    Cmd::new(bolt, Path::new("/"))
        .arg(input)
        .arg("-data")
        .arg(profile)
        .arg("-o")
        .arg(output)
        .args(["-reorder-blocks=ext-tsp", "-reorder-functions=cdsort", "-split-functions"])
        .arg(format!("-split-strategy={split}"))
        .args([
            "-split-all-cold",
            "-jump-tables=move",
            "-icf=all",
            "-update-debug-sections",
            "-dyno-stats",
        ])
}
