//! Training with rustc-perf: the tree's own collector and crate lists, and how training
//! processes write their raw profiles.
//!
//! The collector is the tree's own `src/tools/rustc-perf`, built with the stage0 toolchain
//! (which needs nightly features) and run in place with its target dir under
//! `<build-dir>/opt-dist/rustc-perf`, so a read-only source tree works, nothing is copied, and
//! cargo finds the tarball's vendored crates through the tree's `.cargo/config.toml` with no
//! download.

use std::path::{Path, PathBuf};

use crate::tools::bootstrap::Interface;
use crate::tools::tree::Tree;
use crate::util::cmd::Cmd;

/// How training processes write their raw profiles (`--raw-profiles`).
///
/// Upstream gives every process its own file (`%p`): 6-20 GiB per stage on a real tree, most
/// of it the same counters written again by thousands of short compiler runs. Streamed (the
/// default) writes the same files, but merges those of ended processes into one running
/// profile while training goes on and deletes them ([`super::streaming`]): the same profile,
/// a small part of the disk (BENCHMARKS.md). LLVM's runtime can instead merge online (`%Nm`,
/// pooled): a process adds its counts to one of N pool files of its binary under a file lock
/// as it exits, which keeps the edge counts but loses most indirect-call targets (value
/// profiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawProfiles {
    #[default]
    Streamed,
    Pooled,
    PerProcess,
}

/// Pool files per instrumented binary: as LLVM's own instrumented build
/// (`LLVM_PROFILE_MERGE_POOL_SIZE`), so parallel training jobs rarely wait for a lock.
const MERGE_POOL_SIZE: u32 = 4;

impl RawProfiles {
    /// The `LLVM_PROFILE_FILE` pattern for a training run writing into `raw_dir`.
    pub fn pattern(self, raw_dir: &Path) -> PathBuf {
        match self {
            RawProfiles::Pooled => raw_dir.join(format!("default_%{MERGE_POOL_SIZE}m.profraw")),
            RawProfiles::Streamed | RawProfiles::PerProcess => {
                raw_dir.join("default_%m_%p.profraw")
            }
        }
    }

    /// The pattern for LLVM's training. Per process and streamed, none: the instrumented LLVM
    /// has upstream's per-process directory (`LLVM_PROFILE_DIR=<raw>/prof-%p`) compiled in.
    /// Pooled, the variable overrides it for the training only, so the x.py calls stay
    /// upstream's.
    pub fn llvm_pattern(self, raw_dir: &Path) -> Option<PathBuf> {
        (self == RawProfiles::Pooled).then(|| self.pattern(raw_dir))
    }
}

/// The benchmarks that train rustc when the tree does not say (src/build_helper's
/// RUSTC_PGO_CRATES at 1.95.0): stress tests that put the frontend under pressure, plus real
/// crates.
const RUSTC_PGO_CRATES_1_95: &[&str] = &[
    "externs",
    "ctfe-stress-5",
    "cargo-0.87.1",
    "token-stream-stress",
    "match-stress",
    "tuple-stress",
    "diesel-2.2.10",
    "bitmaps-3.2.1",
    "serde-1.0.219-new-solver",
];

/// The benchmarks that train LLVM when the tree does not say (LLVM_PGO_CRATES at 1.95.0): real
/// crates whose code generation keeps LLVM busy.
const LLVM_PGO_CRATES_1_95: &[&str] = &[
    "syn-2.0.101",
    "cargo-0.87.1",
    "serde-1.0.219",
    "ripgrep-14.1.1",
    "regex-automata-0.4.8",
    "clap_derive-4.5.32",
    "hyper-1.6.0",
];

/// How the tree being built trains: upstream's opt-dist takes the crate lists from the tree's
/// `src/build_helper/src/lib.rs` (`RUSTC_PGO_CRATES`, `LLVM_PGO_CRATES`), and they change
/// between releases. Where the tree has none, 1.95.0's are used, with a warning. How many
/// benchmarks run at once is what the tree's own opt-dist gives the collector.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainingLists {
    pub rustc: Vec<String>,
    pub llvm: Vec<String>,
    /// Where they came from: the file, or why the pinned lists are used.
    pub source: String,
    /// The collector's `--jobs` in the tree's opt-dist (none at 1.95.0: one benchmark at a
    /// time; 4, then 16 on master in July 2026). `--training-jobs` overrides it.
    pub jobs: Option<u32>,
    pub jobs_source: String,
}

impl TrainingLists {
    pub fn of(tree: &Tree) -> TrainingLists {
        let file = tree.src.join("src/build_helper/src/lib.rs");
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lists = const_list(&text, "RUSTC_PGO_CRATES").zip(const_list(&text, "LLVM_PGO_CRATES"));
        let (rustc, llvm, source) = match lists {
            Some((rustc, llvm)) => (rustc, llvm, file.display().to_string()),
            None => {
                let source = format!(
                    "rust 1.95.0's lists: {} has no RUSTC_PGO_CRATES and LLVM_PGO_CRATES",
                    file.display()
                );
                eprintln!("opt-dist: warning: training with {source}");
                let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
                (owned(RUSTC_PGO_CRATES_1_95), owned(LLVM_PGO_CRATES_1_95), source)
            }
        };
        // Upstream's opt-dist builds the collector's command line in its `training.rs`; the
        // collector accepts `--jobs` since 2022, so only opt-dist says whether the tree's
        // upstream trains in parallel.
        let file = tree.src.join("src/tools/opt-dist/src/training.rs");
        let jobs = std::fs::read_to_string(&file).map(|text| jobs_argument(&text));
        let jobs_source = match jobs {
            Ok(Some(_)) => file.display().to_string(),
            Ok(None) => format!("{} passes no --jobs: one benchmark at a time", file.display()),
            Err(_) => format!("{} is missing: one benchmark at a time", file.display()),
        };
        TrainingLists { rustc, llvm, source, jobs: jobs.ok().flatten(), jobs_source }
    }
}

/// The number in the first `"--jobs", "<N>"` of Rust source that has one.
fn jobs_argument(source: &str) -> Option<u32> {
    source.match_indices("\"--jobs\"").find_map(|(at, flag)| {
        let rest =
            source[at + flag.len()..].trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        let value = rest.strip_prefix('"')?;
        value[..value.find('"')?].parse().ok().filter(|&n| n > 0)
    })
}

/// The string literals of `const <name>: &[&str] = &[ ... ];` in Rust source.
fn const_list(source: &str, name: &str) -> Option<Vec<String>> {
    let start = source.find(&format!("const {name}"))?;
    let rest = &source[start..];
    let body = &rest[rest.find("= &[")? + 4..];
    let body = &body[..body.find("];")?];
    let crates: Vec<String> = body.split('"').skip(1).step_by(2).map(String::from).collect();
    (!crates.is_empty()).then_some(crates)
}

/// What one collector run exercises: rustc-perf's profiles and scenarios of the crates.
pub struct Benchmarks {
    pub profiles: &'static [&'static str],
    pub scenarios: &'static [&'static str],
    pub crates: Vec<String>,
}

impl Benchmarks {
    /// The frontend is what rustc PGO is for, so `Check` builds are included.
    pub fn rustc(crates: &[String]) -> Benchmarks {
        Benchmarks::of(&["Check", "Debug", "Opt"], &["All"], crates)
    }

    /// LLVM only works when code is generated, so no `Check` builds.
    pub fn llvm(crates: &[String]) -> Benchmarks {
        Benchmarks::of(&["Debug", "Opt"], &["Full"], crates)
    }

    pub fn rustdoc(crates: &[String]) -> Benchmarks {
        Benchmarks::of(&["Doc"], &["Full"], crates)
    }

    /// Upstream master (PR #159642) gathers a separate clippy profile; that it uses the rustc
    /// benchmarks and the `Full` scenario is inferred from its rustdoc training, not read from
    /// its source.
    pub fn clippy(crates: &[String]) -> Benchmarks {
        Benchmarks::of(&["Clippy"], &["Full"], crates)
    }

    fn of(
        profiles: &'static [&'static str],
        scenarios: &'static [&'static str],
        crates: &[String],
    ) -> Benchmarks {
        let crates = crates.to_vec();
        Benchmarks { profiles, scenarios, crates }
    }
}

/// The tree's rustc-perf collector, as the options train with it.
pub struct Collector<'a> {
    pub tree: &'a Tree,
    pub interface: Interface,
    /// `--jobs`: benchmarks at once.
    pub jobs: Option<u32>,
    /// `--cargo-config` files (offline training on vendored crates).
    pub cargo_configs: &'a [PathBuf],
}

impl Collector<'_> {
    fn cargo(&self, subcommand: &str) -> Cmd {
        let tree = self.tree;
        let target_dir = tree.artifacts_root().join("rustc-perf");
        Cmd::new(tree.stage0_cargo(), &tree.rustc_perf_dir())
            .args([subcommand, "-p", "collector"])
            .env("RUSTC", tree.stage0_rustc())
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", target_dir)
    }

    pub fn build(&self) -> Cmd {
        self.cargo("build")
    }

    /// `collector profile_local eprintln`: runs the compiler over the benchmarks without
    /// measuring, with its raw profiles going to `profile_file` (an `LLVM_PROFILE_FILE` pattern;
    /// `None` leaves the instrumented binaries' own).
    pub fn train(&self, benchmarks: &Benchmarks, profile_file: Option<&Path>) -> Cmd {
        let tree = self.tree;
        // With the [pgo] interface cargo is instrumented too, and its profile joins rustc's:
        // the collector must drive the freshly built cargo for that.
        let cargo = match self.interface {
            Interface::Legacy => tree.stage0_cargo(),
            Interface::PgoTable => tree.stage2_tool("cargo"),
        };
        let mut cmd = self
            .cargo("run")
            .args(["--bin", "collector", "--", "profile_local", "eprintln"])
            .arg(tree.stage2_rustc())
            .args(["--id", "Test", "--cargo"])
            .arg(cargo)
            .args(["--profiles", &benchmarks.profiles.join(",")])
            .args(["--scenarios", &benchmarks.scenarios.join(",")])
            .args(["--exact-match", &benchmarks.crates.join(",")]);
        if let Some(jobs) = self.jobs {
            cmd = cmd.args(["--jobs".to_string(), jobs.to_string()]);
        }
        // The collector looks for clippy-driver next to rustc, but bootstrap puts the tool
        // with cargo.
        if benchmarks.profiles.contains(&"Clippy") {
            let driver = tree.stage2_tool("clippy-driver");
            cmd = cmd.args(["--clippy".to_string(), driver.display().to_string()]);
        }
        if let Some(profile_file) = profile_file {
            cmd = cmd.env("LLVM_PROFILE_FILE", profile_file);
        }
        for config in self.cargo_configs {
            cmd = cmd.args(["--cargo-config".to_string(), config.display().to_string()]);
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_lists_are_read_from_build_helper_source() {
        let source = r#"
/// The default set of crates for opt-dist to collect LLVM profiles.
pub const LLVM_PGO_CRATES: &[&str] = &[
    "syn-2.0.101",
    "cargo-0.87.1", // a comment
];

pub const RUSTC_PGO_CRATES: &[&str] = &["externs", "match-stress"];
"#;
        assert_eq!(const_list(source, "LLVM_PGO_CRATES").unwrap(), ["syn-2.0.101", "cargo-0.87.1"]);
        assert_eq!(const_list(source, "RUSTC_PGO_CRATES").unwrap(), ["externs", "match-stress"]);
        assert_eq!(const_list(source, "CLIPPY_PGO_CRATES"), None);
    }

    #[test]
    fn jobs_are_read_from_the_collector_arguments() {
        let master = "\"--exact-match\",\n        crates.join(\",\").as_str(),\n        \"--jobs\",\n        \"16\",\n    ])";
        assert_eq!(jobs_argument(master), Some(16));
        assert_eq!(jobs_argument("\"--jobs\", \"4\""), Some(4));
        assert_eq!(jobs_argument("\"--exact-match\", crates"), None);
        assert_eq!(jobs_argument("\"--jobs\", jobs.as_str()"), None);
        assert_eq!(jobs_argument("//! `\"--jobs\", \"<N>\"`\n\"--jobs\", \"8\""), Some(8));
    }
}
