//! What every stage needs to know, resolved once per command: the tree, bootstrap's interface,
//! the options, the host's LLVM tools and the training lists ([`Ctx`]); and the options as the
//! command line hands them over ([`Global`], [`Options`]).

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Serialize;

use super::lock;
use crate::tools::bootstrap::{self, Bootstrap, Interface};
use crate::tools::collector::{Collector, RawProfiles, TrainingLists};
use crate::tools::llvm::{self, HostLlvm};
use crate::tools::profiles::{kind, Profile, ProfileFile};
use crate::tools::tree::{Tree, TreeArgs};

/// Where the tree and its tools are: options every command takes.
#[derive(Debug, Default, Clone)]
pub struct Global {
    pub tree: TreeArgs,
    pub llvm_dir: Option<PathBuf>,
    pub interface: Option<Interface>,
    /// Wait for another run holding the build dir instead of stopping.
    pub wait: bool,
}

/// How the pipeline runs: the stages, `all`, `plan` and `doctor` take these, so `plan` shows
/// exactly what the same options would run. Recorded in every manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Options {
    /// `None`: the platform default (on for x86_64 Linux, as upstream). Recorded resolved.
    #[serde(skip_serializing)]
    pub use_bolt: Option<bool>,
    pub build_llvm: bool,
    pub llvm_shared: bool,
    pub keep_raw: bool,
    pub raw_profiles: RawProfiles,
    /// Streamed: the raw bytes on disk at which training pauses ([`crate::tools::streaming`]).
    pub raw_cap: u64,
    pub rustc_crates: Option<Vec<String>>,
    /// The collector's `--jobs` (default: what the tree's own opt-dist passes).
    pub training_jobs: Option<u32>,
    pub benchmark_cargo_config: Vec<PathBuf>,
    pub no_preflight: bool,
    pub ignore_disk_space: bool,
    /// Upstream's fast try build (`DIST_TRY_BUILD`).
    pub try_build: bool,
    /// `all` ends with the test stage (never in a try build, as upstream).
    pub run_tests: bool,
    pub skipped_tests: Vec<String>,
    /// Take profiles made for another tree (import), and build with profiles that do not fit.
    pub allow_stale: bool,
}

impl Options {
    /// The options that change no command a stage runs, so never make one stale.
    pub const NOT_IN_PLANS: [&'static str; 4] =
        ["no_preflight", "ignore_disk_space", "allow_stale", "raw_cap"];
}

impl Default for Options {
    fn default() -> Self {
        Options {
            use_bolt: None,
            build_llvm: true,
            llvm_shared: true,
            keep_raw: false,
            raw_profiles: RawProfiles::default(),
            raw_cap: 1 << 30,
            rustc_crates: None,
            training_jobs: None,
            benchmark_cargo_config: Vec::new(),
            no_preflight: false,
            ignore_disk_space: false,
            try_build: false,
            run_tests: false,
            skipped_tests: Vec::new(),
            allow_stale: false,
        }
    }
}

/// A file a stage reads or makes.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// What it is, e.g. `rustc-pgo-profile`.
    pub kind: &'static str,
    pub path: PathBuf,
    /// The stage that makes it.
    pub made_by: &'static str,
}

pub struct Ctx {
    pub tree: Tree,
    pub interface: Interface,
    pub options: Options,
    /// `--use-bolt`, resolved against the host's default.
    pub use_bolt: bool,
    pub host_llvm: HostLlvm,
    /// Arguments for the final `x.py dist`, after `--`.
    pub dist_args: Vec<String>,
    /// The tree's training crate lists.
    pub training: TrainingLists,
    /// The tree's bootstrap takes `pgo.clippy` (master since PR #159642).
    pub clippy_pgo: bool,
    pub wait_for_lock: bool,
}

impl Ctx {
    /// Finds the tree and asks its bootstrap what it needs to (remembered in the build dir,
    /// unless `remember` is false: a command that must leave the build dir as it was, import,
    /// which compares no host tool either: only then are their versions not asked ahead).
    pub fn resolve(
        global: &Global,
        options: Options,
        dist_args: Vec<String>,
        remember: bool,
        sh: &xshell::Shell,
    ) -> Result<Ctx> {
        let tree = Tree::locate(&global.tree, sh)?;
        // Before bootstrap is asked anything about it.
        if tree.build_dir.exists() && !tree.build_dir.is_dir() {
            bail!(
                "preflight: the build dir {} is not a directory; nothing was started\n\
                 fix: pass a --build-dir that is a writable directory (or can be created)",
                tree.build_dir.display()
            );
        }
        // The host LLVM tools, whose versions preflight and the checks of finished stages
        // compare, answer while bootstrap is asked.
        if remember {
            llvm::ask_versions_ahead(global.llvm_dir.clone(), tree.clone());
        }
        let interface = match global.interface {
            Some(interface) => interface,
            None => bootstrap::cached_interface(&tree, sh, remember)?,
        };
        Ctx::new(global, tree, interface, options, dist_args, remember, sh)
    }

    pub fn new(
        global: &Global,
        tree: Tree,
        interface: Interface,
        options: Options,
        dist_args: Vec<String>,
        remember: bool,
        sh: &xshell::Shell,
    ) -> Result<Ctx> {
        // Upstream builds for BOLT by default where BOLT works well: x86_64 Linux, where LLVM
        // is a shared library (static LLVM is upstream's Windows setup, without BOLT).
        let bolt_by_default = tree.host.starts_with("x86_64") && tree.host.contains("linux");
        let use_bolt = options.use_bolt.unwrap_or(bolt_by_default && options.llvm_shared);
        if use_bolt && !options.llvm_shared {
            bail!(
                "--use-bolt true needs a shared LLVM: BOLT optimizes libLLVM.so, which a static \
                 LLVM (--llvm-shared false) does not produce; pass --use-bolt false"
            );
        }
        let mut options = options;
        // Kept raw profiles are all of them: nothing may be merged away while training runs.
        if options.keep_raw && options.raw_profiles == RawProfiles::Streamed {
            options.raw_profiles = RawProfiles::PerProcess;
        }
        let host_llvm = HostLlvm::locate(global.llvm_dir.as_deref(), &tree, sh);
        let training = TrainingLists::of(&tree);
        // Only the table can name clippy; 1.95.0's bootstrap is not asked.
        let clippy_pgo = match interface {
            Interface::PgoTable => bootstrap::cached_clippy_pgo(&tree, sh, remember)?,
            Interface::Legacy => false,
        };
        Ok(Ctx {
            tree,
            interface,
            options,
            use_bolt,
            host_llvm,
            dist_args,
            training,
            clippy_pgo,
            wait_for_lock: global.wait,
        })
    }

    /// Whether clippy is instrumented, trained and optimized like rustdoc: where bootstrap takes
    /// `pgo.clippy`, except in a try build, which upstream builds without clippy's profile.
    pub fn optimizes_clippy(&self) -> bool {
        self.clippy_pgo && !self.options.try_build
    }

    /// Takes the build dir's lock, for a command that writes.
    pub fn lock(&self) -> Result<lock::Lock> {
        lock::acquire(&self.tree.artifacts_root(), self.wait_for_lock)
    }

    /// Where `profile` lives, as an input or output of a stage plan.
    pub fn profile(&self, profile: Profile) -> Artifact {
        Artifact {
            kind: profile.row().kind,
            path: self.tree.profile(profile),
            made_by: profile.row().stage,
        }
    }

    /// Where the profile of kind `K` lives, typed for handing it to bootstrap.
    pub fn profile_file<K: kind::Kind>(&self) -> ProfileFile<K> {
        ProfileFile::new(self.tree.profile(K::PROFILE))
    }

    /// Bootstrap builds LLVM itself unless told not to or pointed at an external LLVM.
    pub fn llvm_built_in_tree(&self) -> bool {
        self.options.build_llvm && self.tree.config.llvm_config.is_none()
    }

    /// `x.py build --target H --host H --stage 2 library/std`, with the try-build settings when
    /// asked: the start of every build command of every stage.
    pub fn x_build(&self) -> Bootstrap {
        Bootstrap::build(&self.tree, self.interface).for_try_build(self.options.try_build)
    }

    /// The llvm-profdata for profiles of the freshly built compiler: the one built with the
    /// in-tree LLVM when there is one (same LLVM, by construction), else the host's.
    pub fn profdata_for_built_compiler(&self) -> PathBuf {
        match self.llvm_built_in_tree() {
            true => self.tree.in_tree_llvm_profdata(),
            false => self.host_llvm.tool("llvm-profdata"),
        }
    }

    /// The tree's collector, as these options train with it.
    pub fn collector(&self) -> Collector<'_> {
        Collector {
            tree: &self.tree,
            interface: self.interface,
            jobs: self.options.training_jobs.or(self.training.jobs),
            cargo_configs: &self.options.benchmark_cargo_config,
        }
    }

    /// The benchmarks rustc trains on: `--rustc-crates`, else the tree's list.
    pub fn rustc_crates(&self) -> &[String] {
        self.options.rustc_crates.as_deref().unwrap_or(&self.training.rustc)
    }

    /// The options as recorded in manifests and plans: resolved values, not what was typed.
    pub fn options_record(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Record<'a> {
            use_bolt: bool,
            #[serde(flatten)]
            options: &'a Options,
            host_llvm: &'a HostLlvm,
            dist_args: &'a [String],
            training: &'a TrainingLists,
        }
        serde_json::to_value(Record {
            use_bolt: self.use_bolt,
            options: &self.options,
            host_llvm: &self.host_llvm,
            dist_args: &self.dist_args,
            training: &self.training,
        })
        .expect("options serialize")
    }
}
