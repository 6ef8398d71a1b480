//! Whether a profile fits the binary built or optimized with it. rustc, clang and BOLT apply a
//! profile silently: what they cannot match to the binary's functions is left unoptimized, so a
//! profile of another release, another build or another binary gives a toolchain close to one
//! without it. A PGO profile's fit is the share of its functions (as `llvm-profdata show
//! --all-functions` names them) found in the built binary's symbol table (`llvm-nm`); a BOLT
//! profile's is llvm-bolt's own count of the library's functions that got a profile, against the
//! functions the training reached (those of the profile).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::bolt;
use super::llvm::{profile_functions, profile_summary_from, read_fdata};
use super::profiles::Profile;
use super::tree::Tree;
use crate::util::cmd::Cmd;
use crate::util::fs::{file_name, OneFile};

/// The share of a PGO profile's functions a binary built with it must hold. Measured on the
/// miniature tree (see the README): a fitting profile 82-100% (inlining removes a fifth of
/// rustc's), a previous release's rustc profile 3%, another binary's 0%.
pub const MIN_PGO_PERCENT: u64 = 20;

/// How much of a profile a binary holds, as a manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fit {
    pub profile: String,
    pub binary: String,
    /// PGO: the profile's functions; BOLT: the binary's functions (llvm-bolt's count).
    pub functions: u64,
    /// PGO: those in the binary's symbol table; BOLT: those llvm-bolt found a usable profile for.
    pub found: u64,
    /// The fewest `found` that fits: below it the step fails, unless `--allow-stale`.
    pub minimum: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bolt: Option<BoltFigures>,
}

/// What else llvm-bolt says about the profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoltFigures {
    /// Profiled functions and objects it found nowhere in the binary.
    pub ignored_objects: u64,
    /// Functions whose profile no longer matches their code (not counted in `found`).
    pub stale: u64,
}

impl Fit {
    pub fn fits(&self) -> bool {
        self.found >= self.minimum
    }

    pub fn percent(&self) -> u64 {
        (self.found * 100 + self.functions / 2).checked_div(self.functions).unwrap_or(0)
    }

    /// `rustc-pgo 82%`, with a warning when it does not fit.
    pub fn short(&self) -> String {
        let stem: Vec<&str> = self.profile.splitn(3, '-').take(2).collect();
        let low = if self.fits() { "" } else { " (too little, taken with --allow-stale)" };
        format!("{} {}%{low}", stem.join("-"), self.percent())
    }

    pub fn describe(&self) -> String {
        let (binary, profile, found, n) = (&self.binary, &self.profile, self.found, self.functions);
        let pct = self.percent();
        match &self.bolt {
            None => format!(
                "{binary} holds {found} of the {n} functions of {profile} ({pct}%; at least {} \
                 needed)",
                self.minimum
            ),
            Some(b) => format!(
                "llvm-bolt matched {profile} to {found} of the {n} functions of {binary} ({pct}%; \
                 at least {} needed, half of those its training reached; {} stale, profile of \
                 {} objects ignored)",
                self.minimum, b.stale, b.ignored_objects
            ),
        }
    }

    /// Why a fit this low stops the step, and what to do; `stage` made the profile.
    pub fn refusal(&self, stage: &str) -> String {
        let (what, how) = match self.bolt {
            None => (
                "rustc and clang optimize only the functions that match and build the rest \
                 without PGO. Likely causes: the profile is from another release or build \
                 (rustc's symbol names carry a hash of the release; LLVM's C++ names do not, so \
                 for LLVM it is a profile of another binary), or of the wrong kind (rustc's \
                 imported as LLVM's)",
                "builds with it anyway",
            ),
            Some(_) => (
                "BOLT lays out only the functions that match. Likely causes: the BOLT profile \
                 was trained on another build of the library (another release, or before a \
                 rebuild), or on the other library",
                "ships it anyway",
            ),
        };
        format!(
            "{}: too little for the profile to fit. {what}. Make the profile again in this \
             build (`cargo xtask opt-dist clean {stage}`, then `cargo xtask opt-dist {stage}`), \
             or import the right one; --allow-stale {how}",
            self.describe()
        )
    }
}

/// The binaries built with `profile` whose symbols tell its fit, those of them that exist: the
/// ones the profiled processes ran, whose functions the profile holds. librustc_driver for
/// rustc's profile; for rustdoc's and clippy's the tool and librustc_driver, which it loads;
/// libLLVM for LLVM's, and librustc_driver where LLVM is linked into it (then this catches only
/// a profile that fits neither).
pub fn binaries(tree: &Tree, profile: Profile, llvm_shared: bool) -> Vec<OneFile> {
    let in_dir = |dir, prefix| OneFile { dir: tree.host_build().join(dir), prefix, suffix: "" };
    let driver = bolt::librustc_driver(tree);
    match profile {
        Profile::RustdocPgo => vec![in_dir("stage2/bin", "rustdoc"), driver],
        Profile::ClippyPgo => vec![in_dir("stage2-tools-bin", "clippy-driver"), driver],
        Profile::LlvmPgo | Profile::LlvmBolt if llvm_shared => vec![bolt::libllvm(tree)],
        Profile::LlvmPgo | Profile::LlvmBolt => vec![bolt::libllvm(tree), driver],
        Profile::RustcPgo | Profile::RustcBolt => vec![driver],
    }
}

/// The share of the PGO profile's functions that the binary's symbol table holds.
pub fn pgo(profdata: &Path, profile: &Path, nm: &Path, binaries: &[PathBuf]) -> Result<Fit> {
    let list = Cmd::new(nm, Path::new("/")).args(["--defined-only", "-j"]).args(binaries);
    // The two tools at once; dist checks again a profile an earlier stage of the run checked.
    let (functions, symbols) = std::thread::scope(|scope| {
        let symbols = scope.spawn(|| list.read(&xshell::Shell::new()?));
        let functions = profile_functions(profile, || {
            let mut file = std::fs::File::open(profile)
                .with_context(|| format!("cannot read {}", profile.display()))?;
            Ok(profile_summary_from(profdata, &mut file, profile)?.functions)
        });
        (
            functions,
            symbols.join().unwrap_or_else(|_| Err(anyhow::anyhow!("llvm-nm's reader panicked"))),
        )
    });
    let (functions, symbols) = (functions?, symbols?);
    let symbols: HashSet<&str> = symbols.lines().collect();
    let found = functions.iter().filter(|f| symbols.contains(f.as_str())).count() as u64;
    let total = functions.len() as u64;
    Ok(Fit {
        profile: file_name(profile),
        binary: binaries.iter().map(|b| file_name(b)).collect::<Vec<_>>().join(" + "),
        functions: total,
        found,
        minimum: (total * MIN_PGO_PERCENT).div_ceil(100),
        bolt: None,
    })
}

/// llvm-bolt's figures in its output `log`: the binary's functions, those with a profile (less
/// the stale ones), the objects ignored; it fits when at least half of the functions the BOLT
/// profile holds (what its training reached) got their profile.
pub fn bolt(log: &str, profile: &Path, binary: &Path) -> Result<Fit> {
    let reader = std::fs::File::open(profile)
        .with_context(|| format!("cannot read {}", profile.display()))?;
    let reached = read_fdata(std::io::BufReader::new(reader), profile)?.functions.len() as u64;
    // `BOLT-INFO: 33 out of 39 functions in the binary (84.6%) have non-empty execution
    // profile`, `BOLT-INFO: profile for 1 objects was ignored`, `BOLT-WARNING: 2 (5.0% of all
    // profiled) functions have invalid (possibly stale) profile. ...`.
    let first_number = |line: &str| {
        let words = line.split_whitespace().skip(1);
        words.filter_map(|w| w.parse::<u64>().ok()).next().unwrap_or(0)
    };
    let line = |text: &str| log.lines().find(|l| l.contains(text));
    let profiled = line("functions in the binary").filter(|l| l.contains("execution profile"));
    let (with_profile, functions) = profiled.map_or((0, 0), |l| {
        let numbers: Vec<u64> = l.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        (numbers.first().copied().unwrap_or(0), numbers.get(1).copied().unwrap_or(0))
    });
    let stale = line("possibly stale) profile").map_or(0, first_number);
    let ignored_objects = line("objects was ignored").map_or(0, first_number);
    Ok(Fit {
        profile: file_name(profile),
        binary: file_name(binary),
        functions,
        found: with_profile.saturating_sub(stale),
        minimum: reached.div_ceil(2),
        bolt: Some(BoltFigures { ignored_objects, stale }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bolts_own_figures_are_read() {
        let dir = std::env::temp_dir().join(format!("xtask-fit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fdata = dir.join("p.fdata");
        std::fs::write(&fdata, "1 a 0 1 b 4 0 9\n1 c 0 1 malloc@PLT 0 0 3\n1 d 0 1 e 0 0 1\n")
            .unwrap();
        let log = "BOLT-INFO: pre-processing profile using branch profile reader\n\
                   BOLT-INFO: 4 out of 210 functions in the binary (1.9%) have non-empty \
                   execution profile\nBOLT-WARNING: 1 (25.0% of all profiled) function have \
                   invalid (possibly stale) profile. Use -report-stale to see the list.\n\
                   BOLT-INFO: profile for 58 objects was ignored\n";
        let fit = bolt(log, &fdata, Path::new("/lib/libLLVM.so.22")).unwrap();
        assert_eq!((fit.functions, fit.found, fit.minimum), (210, 3, 3));
        let figures = fit.bolt.as_ref().unwrap();
        assert_eq!((figures.stale, figures.ignored_objects), (1, 58));
        assert!(fit.fits());
        let none = bolt("BOLT-INFO: nothing\n", &fdata, Path::new("lib")).unwrap();
        assert!(!none.fits(), "{none:?}");
        assert!(none.refusal("llvm-bolt").contains("clean llvm-bolt"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
