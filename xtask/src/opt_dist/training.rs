//! Training: running the instrumented compiler over rustc-perf's benchmarks.
//!
//! The collector is the tree's own `src/tools/rustc-perf`, built with the stage0 toolchain. It
//! is built and run in place with its target dir under `<build-dir>/opt-dist/rustc-perf`, so
//! a read-only source tree works, nothing is copied, and cargo finds the tarball's vendored
//! crates through the tree's `.cargo/config.toml` with no download.

use std::path::{Path, PathBuf};

use super::backup;
use super::bolt::{InstrumentedTraining, LibraryPattern, MergeFdata};
use super::bootstrap::Interface;
use super::cmd::Cmd;
use super::fsutil::file_name;
use super::pipeline::{Action, Built, Part, ProfileCheck, Step};
use super::validate::ProfdataMatchesCompiler;
use super::Ctx;

/// How training processes write their raw profiles (`--raw-profiles`).
///
/// Upstream gives every process its own file (`%p`): 6-20 GiB per stage on a real tree, most
/// of it the same counters written again by thousands of short compiler runs. LLVM's runtime
/// can instead merge online (`%Nm`): a process adds its counts to one of N pool files of its
/// binary under a file lock as it exits. Measured on the miniature tree (BENCHMARKS.md): 26x
/// fewer bytes, same training time, the same edge counts, but the indirect-call targets
/// (value profiles) lose most of their counts in the online merge, so the default stays
/// upstream's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawProfiles {
    Pooled,
    #[default]
    PerProcess,
}

/// Pool files per instrumented binary: as LLVM's own instrumented build
/// (`LLVM_PROFILE_MERGE_POOL_SIZE`), so parallel training jobs rarely wait for a lock.
const MERGE_POOL_SIZE: u32 = 4;

impl RawProfiles {
    pub fn from_name(name: &str) -> Option<RawProfiles> {
        match name {
            "pooled" => Some(RawProfiles::Pooled),
            "per-process" => Some(RawProfiles::PerProcess),
            _ => None,
        }
    }

    /// The `LLVM_PROFILE_FILE` pattern for a training run writing into `raw_dir`.
    pub fn pattern(self, raw_dir: &Path) -> PathBuf {
        match self {
            RawProfiles::Pooled => raw_dir.join(format!("default_%{MERGE_POOL_SIZE}m.profraw")),
            RawProfiles::PerProcess => raw_dir.join("default_%m_%p.profraw"),
        }
    }

    /// The pattern for LLVM's training. Per process, none: the instrumented LLVM has upstream's
    /// per-process directory (`LLVM_PROFILE_DIR=<raw>/prof-%p`) compiled in. Pooled, the
    /// variable overrides it for the training only, so the x.py calls stay upstream's.
    pub fn llvm_pattern(self, raw_dir: &Path) -> Option<PathBuf> {
        match self {
            RawProfiles::Pooled => Some(self.pattern(raw_dir)),
            RawProfiles::PerProcess => None,
        }
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
    /// Where `jobs` came from.
    pub jobs_source: String,
}

impl TrainingLists {
    pub fn of(tree: &super::tree::Tree) -> TrainingLists {
        let file = tree.src.join("src/build_helper/src/lib.rs");
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let (jobs, jobs_source) = upstream_jobs(tree);
        match (
            const_list(&text, "RUSTC_PGO_CRATES"),
            const_list(&text, "LLVM_PGO_CRATES"),
        ) {
            (Some(rustc), Some(llvm)) => TrainingLists {
                rustc,
                llvm,
                source: file.display().to_string(),
                jobs,
                jobs_source,
            },
            _ => {
                let source = format!(
                    "rust 1.95.0's lists: {} has no RUSTC_PGO_CRATES and LLVM_PGO_CRATES",
                    file.display()
                );
                eprintln!("opt-dist: warning: training with {source}");
                TrainingLists {
                    rustc: owned(RUSTC_PGO_CRATES_1_95),
                    llvm: owned(LLVM_PGO_CRATES_1_95),
                    source,
                    jobs,
                    jobs_source,
                }
            }
        }
    }
}

/// The `--jobs` the tree's own opt-dist passes to the collector, read from its
/// `src/tools/opt-dist/src/training.rs` (where upstream builds the collector's command line):
/// the string literal after `"--jobs"`. The collector itself accepts `--jobs` since 2022, so
/// only opt-dist says whether the tree's upstream trains in parallel.
fn upstream_jobs(tree: &super::tree::Tree) -> (Option<u32>, String) {
    let file = tree.src.join("src/tools/opt-dist/src/training.rs");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return (
            None,
            format!("{} is missing: one benchmark at a time", file.display()),
        );
    };
    match jobs_argument(&text) {
        Some(jobs) => (Some(jobs), file.display().to_string()),
        None => (
            None,
            format!(
                "{} passes no --jobs: one benchmark at a time",
                file.display()
            ),
        ),
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
    let crates: Vec<String> = body
        .split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect();
    (!crates.is_empty()).then_some(crates)
}

/// What one collector run exercises.
pub struct Benchmarks<'a> {
    pub profiles: &'a [&'a str],
    pub scenarios: &'a [&'a str],
    pub crates: Vec<String>,
}

impl Benchmarks<'_> {
    /// The frontend is what rustc PGO is for, so `Check` builds are included.
    pub fn rustc(ctx: &Ctx) -> Benchmarks<'static> {
        Benchmarks {
            profiles: &["Check", "Debug", "Opt"],
            scenarios: &["All"],
            crates: ctx
                .options
                .rustc_crates
                .clone()
                .unwrap_or_else(|| ctx.training.rustc.clone()),
        }
    }

    /// LLVM only works when code is generated, so no `Check` builds.
    pub fn llvm(ctx: &Ctx) -> Benchmarks<'static> {
        Benchmarks {
            profiles: &["Debug", "Opt"],
            scenarios: &["Full"],
            crates: ctx.training.llvm.clone(),
        }
    }

    /// clippy's own profile, trained with rustc-perf's `Clippy` builds of the rustc benchmarks,
    /// as rustdoc's is with `Doc` builds. Upstream master (PR #159642) gathers a separate clippy
    /// profile; that it uses these benchmarks and the `Full` scenario is inferred from its
    /// rustdoc training, not read from its source.
    pub fn clippy(ctx: &Ctx) -> Benchmarks<'static> {
        Benchmarks {
            profiles: &["Clippy"],
            scenarios: &["Full"],
            ..Benchmarks::rustc(ctx)
        }
    }

    /// rustdoc's own profile (the `[pgo]` interface instruments rustdoc too).
    pub fn rustdoc(ctx: &Ctx) -> Benchmarks<'static> {
        Benchmarks {
            profiles: &["Doc"],
            scenarios: &["Full"],
            ..Benchmarks::rustc(ctx)
        }
    }
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Environment shared by building and running the collector: it is built with the stage0
/// compiler, which needs nightly features.
fn collector_cargo(ctx: &Ctx, subcommand: &str) -> Cmd {
    let tree = &ctx.tree;
    Cmd::new(
        tree.stage0_cargo().display().to_string(),
        &tree.rustc_perf_dir(),
    )
    .args([subcommand, "-p", "collector"])
    .env("RUSTC", tree.stage0_rustc().display().to_string())
    .env("RUSTC_BOOTSTRAP", "1")
    .env(
        "CARGO_TARGET_DIR",
        tree.artifacts_root()
            .join("rustc-perf")
            .display()
            .to_string(),
    )
}

pub fn build_collector(ctx: &Ctx) -> Cmd {
    collector_cargo(ctx, "build")
}

/// `collector profile_local eprintln`: runs the compiler over the benchmarks without measuring,
/// with rustc's raw profiles going to `profile_file` (an `LLVM_PROFILE_FILE` pattern).
pub fn run_collector(ctx: &Ctx, benchmarks: &Benchmarks, profile_file: Option<&Path>) -> Cmd {
    let tree = &ctx.tree;
    // With the [pgo] interface cargo is instrumented too, and its profile joins rustc's: the
    // collector must drive the freshly built cargo for that.
    let cargo = match ctx.interface {
        Interface::Legacy => tree.stage0_cargo(),
        Interface::PgoTable => tree.stage2_tool("cargo"),
    };
    let mut cmd = collector_cargo(ctx, "run")
        .args(["--bin", "collector", "--", "profile_local", "eprintln"])
        .arg(tree.stage2_rustc().display().to_string())
        .args(["--id", "Test", "--cargo"])
        .arg(cargo.display().to_string())
        .args(["--profiles", &benchmarks.profiles.join(",")])
        .args(["--scenarios", &benchmarks.scenarios.join(",")])
        .args(["--exact-match", &benchmarks.crates.join(",")]);
    if let Some(jobs) = ctx.training_jobs() {
        cmd = cmd.args(["--jobs".to_string(), jobs.to_string()]);
    }
    // The collector looks for clippy-driver next to rustc, but bootstrap puts the tool with
    // cargo.
    if benchmarks.profiles.contains(&"Clippy") {
        cmd = cmd
            .arg("--clippy")
            .arg(tree.stage2_tool("clippy-driver").display().to_string());
    }
    if let Some(profile_file) = profile_file {
        cmd = cmd.env("LLVM_PROFILE_FILE", profile_file.display().to_string());
    }
    for config in &ctx.options.benchmark_cargo_config {
        cmd = cmd.arg("--cargo-config").arg(config.display().to_string());
    }
    cmd
}

/// Everything from training to a validated, published `.profdata` (the stage empties the raw
/// directory before its instrumented build, since build-time runs of the instrumented
/// binaries count too, as upstream's):
/// train, check that raw profiles appeared, merge with an `llvm-profdata` of the compiler's
/// LLVM major, validate, move into place, and drop (or keep) the raw files.
pub struct PgoGathering<'a> {
    pub what: &'a str,
    pub benchmarks: Benchmarks<'a>,
    pub raw_dir: &'a Path,
    /// The `LLVM_PROFILE_FILE` pattern for the training (see [`RawProfiles`]); `None` leaves
    /// the instrumented binaries' compiled-in pattern.
    pub profile_file: Option<PathBuf>,
    pub profdata: &'a Path,
    /// The instrumented binary whose LLVM version the profiles carry.
    pub compiler: &'a Path,
    pub output: &'a Path,
}

impl PgoGathering<'_> {
    pub fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        let what = self.what;
        let raw = self.raw_dir.to_path_buf();
        let unpublished = self.output.with_extension("profdata.partial");
        let mut steps = vec![
            Step::new(
                format!("Train the instrumented {what} with rustc-perf"),
                Action::training(run_collector(
                    ctx,
                    &self.benchmarks,
                    self.profile_file.as_deref(),
                )),
                "the collector failed while training: its output above names the benchmark; \
                 --rustc-crates picks other benchmarks, --benchmark-cargo-config lets offline \
                 builds use vendored crates",
            )
            .not_resumable(),
            Step::new(
                format!("Check that training wrote {what} raw profiles"),
                Action::ExpectRawProfiles {
                    dir: raw.clone(),
                    extension: "profraw",
                },
                format!(
                    "was {} built instrumented, and did the collector run it? rerun the stage: \
                     it rebuilds the instrumented compiler first",
                    self.compiler.display()
                ),
            ),
            Step::new(
                "Check that llvm-profdata matches the compiler's LLVM",
                Action::Work(Box::new(ProfdataMatchesCompiler {
                    profdata: self.profdata.to_path_buf(),
                    compiler: self.compiler.to_path_buf(),
                })),
                "install the llvm-profdata of the compiler's LLVM major version (Debian: \
                 apt-get install llvm-<major>) and pass --llvm-dir /usr/lib/llvm-<major> (with \
                 --build-llvm false; an in-tree LLVM build brings its own)",
            ),
            Step::new(
                format!("Merge the {what} raw profiles"),
                Action::run(
                    Cmd::new(self.profdata.display().to_string(), &ctx.tree.src)
                        .args(["merge", "-o"])
                        .arg(unpublished.display().to_string())
                        .arg(raw.display().to_string()),
                ),
                "llvm-profdata could not merge the raw profiles: its message is above",
            ),
            Step::new(
                format!("Validate the merged {what} profile"),
                Action::Validate {
                    profile: unpublished.clone(),
                    check: ProfileCheck::LlvmProfdata {
                        tool: self.profdata.to_path_buf(),
                    },
                },
                "rustc would silently ignore this profile; rerun the stage to train again",
            ),
        ];
        steps.extend(publish_steps(ctx, what, unpublished, self.output, raw));
        steps
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Everything from a built library to a validated, published `.fdata` BOLT profile: train the
/// library BOLT-instrumented in place (its original backed up and put back), merge the
/// per-process profiles with `merge-fdata`, validate, publish, drop (or keep) the raw files.
pub struct BoltGathering<'a> {
    pub what: &'a str,
    pub library: LibraryPattern,
    /// The part of the build dir the library belongs to, and how it is built: what it is
    /// again once training is over.
    pub part: Part,
    pub built: Built,
    pub benchmarks: Benchmarks<'a>,
    pub stage_dir: &'a Path,
    pub output: &'a Path,
    pub rebuild_hint: &'a str,
}

impl BoltGathering<'_> {
    pub fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        let what = self.what;
        let raw = self.stage_dir.join("raw");
        let unpublished = self.output.with_extension("fdata.partial");
        let mut steps = vec![
            Step::reset_raw_profiles(&raw),
            Step::new(
                format!(
                    "Train {} BOLT-instrumented in place with rustc-perf",
                    self.library.shown()
                ),
                Action::Work(Box::new(InstrumentedTraining {
                    library: self.library.clone(),
                    bolt: ctx.host_llvm.tool("llvm-bolt"),
                    profile_prefix: raw.join("prof.fdata"),
                    scratch: self
                        .stage_dir
                        .join(format!("{}.instrumented", self.library.prefix)),
                    backups: backup::backups_dir(&ctx.tree.artifacts_root()),
                    part: self.part,
                    rebuild_hint: self.rebuild_hint.to_string(),
                    training: run_collector(ctx, &self.benchmarks, None),
                })),
                "if llvm-bolt failed: it needs a library linked with relocations (-Wl,-q), built \
                 with BOLT settings (--use-bolt true); if the collector failed, its output above \
                 names the benchmark",
            )
            .changing_in_place(self.part, self.built.clone())
            .not_resumable(),
            Step::new(
                format!("Check that training wrote {what} BOLT profiles"),
                Action::ExpectRawProfiles {
                    dir: raw.clone(),
                    extension: "fdata",
                },
                "the instrumented library did not run: did the collector use this build's \
                 compiler?",
            ),
            Step::new(
                format!("Merge the {what} BOLT profiles"),
                Action::Work(Box::new(MergeFdata {
                    merge_fdata: ctx.host_llvm.tool("merge-fdata"),
                    raw_dir: raw.clone(),
                    output: unpublished.clone(),
                })),
                "merge-fdata failed: its message is above",
            ),
            Step::new(
                format!("Validate the merged {what} BOLT profile"),
                Action::Validate {
                    profile: unpublished.clone(),
                    check: ProfileCheck::Fdata,
                },
                "rerun the stage to train again",
            ),
        ];
        steps.extend(publish_steps(ctx, what, unpublished, self.output, raw));
        steps
    }
}

/// After a validated merge: move the profile into place, then delete the raw profiles, or with
/// `--keep-raw` move them beside it.
fn publish_steps(
    ctx: &Ctx,
    what: &str,
    unpublished: PathBuf,
    output: &Path,
    raw: PathBuf,
) -> [Step; 2] {
    let publish = Step::new(
        format!("Publish {}", file_name(output)),
        Action::Move {
            from: unpublished,
            to: output.to_path_buf(),
        },
        "check free space and permissions in the stage directory",
    );
    let raw_profiles = if ctx.options.keep_raw {
        let kept = raw.with_file_name(format!("raw-{}", file_stem(output)));
        Step::new(
            format!("Keep the {what} raw profiles (--keep-raw)"),
            Action::Move {
                from: raw,
                to: kept,
            },
            "check permissions in the stage directory",
        )
    } else {
        Step::new(
            format!("Delete the merged {what} raw profiles"),
            Action::RemoveDir { dir: raw },
            "check permissions in the stage directory",
        )
    };
    [publish, raw_profiles]
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
        assert_eq!(
            const_list(source, "LLVM_PGO_CRATES").unwrap(),
            ["syn-2.0.101", "cargo-0.87.1"]
        );
        assert_eq!(
            const_list(source, "RUSTC_PGO_CRATES").unwrap(),
            ["externs", "match-stress"]
        );
        assert_eq!(const_list(source, "CLIPPY_PGO_CRATES"), None);
    }

    #[test]
    fn jobs_are_read_from_the_collector_arguments() {
        let master = "\"--exact-match\",\n        crates.join(\",\").as_str(),\n        \"--jobs\",\n        \"16\",\n    ])";
        assert_eq!(jobs_argument(master), Some(16));
        assert_eq!(jobs_argument("\"--jobs\", \"4\""), Some(4));
        assert_eq!(jobs_argument("\"--exact-match\", crates"), None);
        assert_eq!(jobs_argument("\"--jobs\", jobs.as_str()"), None);
        assert_eq!(
            jobs_argument("//! `\"--jobs\", \"<N>\"`\n\"--jobs\", \"8\""),
            Some(8)
        );
    }
}
