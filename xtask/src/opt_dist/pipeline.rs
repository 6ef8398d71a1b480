//! The pipeline as data: which stages exist, in which order, what each consumes and produces,
//! and the steps a stage is made of.
//!
//! A stage is defined once, by a function that turns the resolved context into a [`StagePlan`].
//! `opt-dist <stage>` runs that plan, `plan` prints it, and `all` runs the plans in [`STAGES`]
//! order: there is no second copy of any stage.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::bolt::LibraryPattern;
use super::cmd::Cmd;
use super::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageId {
    RustcPgo,
    LlvmPgo,
    LlvmBolt,
    RustcBolt,
    Dist,
    Test,
}

impl StageId {
    pub fn from_name(name: &str) -> Option<StageId> {
        STAGES.iter().find(|s| s.id.name() == name).map(|s| s.id)
    }

    /// The command name and the directory name under `<build-dir>/opt-dist/`.
    pub fn name(self) -> &'static str {
        match self {
            StageId::RustcPgo => "rustc-pgo",
            StageId::LlvmPgo => "llvm-pgo",
            StageId::LlvmBolt => "llvm-bolt",
            StageId::RustcBolt => "rustc-bolt",
            StageId::Dist => "dist",
            StageId::Test => "test",
        }
    }

    pub fn def(self) -> &'static StageDef {
        STAGES
            .iter()
            .find(|s| s.id == self)
            .expect("every stage id has a definition")
    }
}

/// One stage of the pipeline.
pub struct StageDef {
    pub id: StageId,
    /// Upstream's name for it, kept so logs can be compared with upstream opt-dist's.
    pub title: &'static str,
    /// Turns the context into the stage's steps.
    pub plan: fn(&Ctx) -> Result<StagePlan>,
}

/// Every stage, in the order `all` runs them.
pub const STAGES: &[StageDef] = &[
    StageDef {
        id: StageId::RustcPgo,
        title: "Stage 1 (rustc PGO)",
        plan: super::rustc_pgo::plan,
    },
    StageDef {
        id: StageId::LlvmPgo,
        title: "Stage 2 (LLVM PGO)",
        plan: super::llvm_pgo::plan,
    },
    StageDef {
        id: StageId::LlvmBolt,
        title: "Stage 3 (LLVM BOLT)",
        plan: super::llvm_bolt::plan,
    },
    StageDef {
        id: StageId::RustcBolt,
        title: "Stage 3 (rustc BOLT)",
        plan: super::rustc_bolt::plan,
    },
    StageDef {
        id: StageId::Dist,
        title: "Stage 5 (dist)",
        plan: super::dist::plan,
    },
    StageDef {
        id: StageId::Test,
        title: "Tests",
        plan: super::dist_tests::plan,
    },
];

/// The profiles the pipeline makes. Each has one name, `<stem>-<version>-<host>.<extension>`,
/// in the directory of the stage that makes it, so a file says what made it and a later stage
/// (or another machine) finds it without being told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    RustcPgo,
    /// Only with the `[pgo]` interface, which instruments rustdoc too.
    RustdocPgo,
    LlvmPgo,
    LlvmBolt,
    RustcBolt,
}

impl Profile {
    pub fn made_by(self) -> StageId {
        match self {
            Profile::RustcPgo | Profile::RustdocPgo => StageId::RustcPgo,
            Profile::LlvmPgo => StageId::LlvmPgo,
            Profile::LlvmBolt => StageId::LlvmBolt,
            Profile::RustcBolt => StageId::RustcBolt,
        }
    }

    pub fn stem(self) -> &'static str {
        match self {
            Profile::RustcPgo => "rustc-pgo",
            Profile::RustdocPgo => "rustdoc-pgo",
            Profile::LlvmPgo => "llvm-pgo",
            Profile::LlvmBolt => "llvm-bolt",
            Profile::RustcBolt => "rustc-bolt",
        }
    }

    /// `profdata` for LLVM's instrumentation profiles, `fdata` for BOLT's.
    pub fn extension(self) -> &'static str {
        match self {
            Profile::LlvmBolt | Profile::RustcBolt => "fdata",
            _ => "profdata",
        }
    }

    /// The artifact kind recorded in manifests, e.g. `rustc-pgo-profile`.
    pub fn kind(self) -> &'static str {
        match self {
            Profile::RustcPgo => "rustc-pgo-profile",
            Profile::RustdocPgo => "rustdoc-pgo-profile",
            Profile::LlvmPgo => "llvm-pgo-profile",
            Profile::LlvmBolt => "llvm-bolt-profile",
            Profile::RustcBolt => "rustc-bolt-profile",
        }
    }
}

/// What a stage will do, resolved for one tree and one set of options.
#[derive(Debug, Serialize)]
pub struct StagePlan {
    pub stage: StageId,
    pub dir: PathBuf,
    /// Files from earlier stages this one reads.
    pub inputs: Vec<Artifact>,
    /// Files this stage leaves in its directory, each written only once it is complete.
    pub outputs: Vec<Artifact>,
    pub steps: Vec<Step>,
    /// Why this stage does nothing with these options (e.g. LLVM PGO without an in-tree LLVM);
    /// it is then recorded as skipped, and later stages do without its outputs.
    pub skipped: Option<String>,
}

impl Step {
    /// Training starts from an empty raw-profile directory: leftovers of an unfinished run were
    /// made by another build and would spoil the merge.
    pub fn reset_raw_profiles(raw: &std::path::Path) -> Step {
        Step {
            title: "Start with an empty raw-profile directory".to_string(),
            action: Action::ResetScratchDir {
                dir: raw.to_path_buf(),
            },
            hint: format!("make {} writable", raw.display()),
        }
    }
}

impl StagePlan {
    pub fn skipped(stage: StageId, dir: PathBuf, reason: impl Into<String>) -> StagePlan {
        StagePlan {
            stage,
            dir,
            inputs: Vec::new(),
            outputs: Vec::new(),
            steps: Vec::new(),
            skipped: Some(reason.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// What it is, e.g. `rustc-pgo-profile`.
    pub kind: &'static str,
    pub path: PathBuf,
    /// The stage that makes it.
    pub made_by: StageId,
}

/// Fails unless every input of `plans` exists or is made by an earlier plan of the same run;
/// the error names the stage to run first.
pub fn check_inputs(plans: &[StagePlan]) -> anyhow::Result<()> {
    for (i, plan) in plans.iter().enumerate() {
        for input in &plan.inputs {
            let made_in_this_run = plans[..i].iter().any(|p| p.stage == input.made_by);
            if !made_in_this_run && !input.path.is_file() {
                anyhow::bail!(
                    "the {} stage needs {} ({}), which the {} stage makes: run `cargo xtask \
                     opt-dist {}` first",
                    plan.stage.name(),
                    input.kind,
                    input.path.display(),
                    input.made_by.name(),
                    input.made_by.name()
                );
            }
        }
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub title: String,
    pub action: Action,
    /// What the user should do when this step fails.
    pub hint: String,
}

/// The kinds of work a step can do. External work is always [`Action::Run`]; the others are
/// the checks and file moves the xtask does itself, each with a shell equivalent for `plan`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    Run {
        cmd: Cmd,
    },
    /// Deletes part of bootstrap's build output that bootstrap would wrongly reuse.
    RemoveBuildOutput {
        dir: PathBuf,
    },
    /// Start training with an empty raw-profile directory: leftovers of an unfinished run were
    /// made by another compiler build and would spoil the merge.
    ResetScratchDir {
        dir: PathBuf,
    },
    /// Training must have written raw profiles; a run that wrote none is an error, not an
    /// empty profile.
    ExpectRawProfiles {
        dir: PathBuf,
        extension: &'static str,
    },
    /// llvm-profdata must be of the compiler's LLVM major version, or it cannot read (or
    /// mis-reads) the compiler's raw profiles.
    CheckProfdataMatchesCompiler {
        profdata: PathBuf,
        compiler: PathBuf,
    },
    /// rustc silently ignores a bad profile, so we check it ourselves: `llvm-profdata show`
    /// must read it and report functions with non-zero counts.
    ValidateProfile {
        profdata: PathBuf,
        profile: PathBuf,
    },
    /// Moves a complete, validated output into place with one rename.
    Publish {
        from: PathBuf,
        to: PathBuf,
    },
    /// Deletes raw profiles once their merged profile is published.
    RemoveRawProfiles {
        dir: PathBuf,
    },
    /// Backs a sysroot library up, then puts its BOLT-instrumented build in its place.
    BoltInstrument {
        library: LibraryPattern,
        bolt: PathBuf,
        /// Each trained process writes `<prefix>.<pid>.fdata`.
        profile_prefix: PathBuf,
        /// Where llvm-bolt writes the instrumented library before it is swapped in.
        scratch: PathBuf,
        backups: PathBuf,
        /// What to do when the library is already BOLT-optimized.
        rebuild_hint: String,
    },
    /// Puts the original of every BOLT-instrumented library back (also done on any failure).
    RestoreBackups {
        backups: PathBuf,
    },
    /// `merge-fdata -o <output> <raw>/*.fdata`: one BOLT profile from all trained processes.
    MergeFdata {
        merge_fdata: PathBuf,
        raw_dir: PathBuf,
        output: PathBuf,
    },
    /// A merged BOLT profile must hold branch records, or BOLT would optimize blind.
    ValidateFdata {
        profile: PathBuf,
    },
    /// BOLT-optimizes a sysroot library in place, unless it already is with this profile.
    BoltOptimize {
        library: LibraryPattern,
        bolt: PathBuf,
        profile: PathBuf,
        scratch: PathBuf,
        /// Records which library was optimized with which profile.
        record: PathBuf,
    },
    /// Records every file bootstrap's dist wrote (name, size, SHA-256) as a stage output.
    RecordDistFiles {
        dist_dir: PathBuf,
    },
    /// Unpacks the rustc dist tarball and checks that each library in it is byte for byte the
    /// BOLT-optimized one in the sysroot.
    CheckPackagedLibraries {
        dist_dir: PathBuf,
        libraries: Vec<LibraryPattern>,
        scratch: PathBuf,
    },
    /// Unpacks the rustc, rust-std, cargo and rust-src dist tarballs and assembles one sysroot.
    UnpackDist {
        dist_dir: PathBuf,
        unpacked: PathBuf,
    },
    /// Writes `config`, which makes the unpacked toolchain bootstrap's stage 0, then runs `cmd`
    /// (which points bootstrap at it with `RUST_BOOTSTRAP_CONFIG`).
    RunWithTestConfig {
        cmd: Cmd,
        config: PathBuf,
        unpacked: PathBuf,
        llvm_config: PathBuf,
    },
    /// Moves raw profiles aside for the user (`--keep-raw`), replacing those of an earlier run,
    /// so the next training starts empty without losing them.
    KeepRawProfiles {
        dir: PathBuf,
        to: PathBuf,
    },
}
