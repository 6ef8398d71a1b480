//! The pipeline as data: which stages exist, in which order, what each consumes and produces,
//! and the steps a stage is made of.
//!
//! A stage is defined once, in [`STAGES`]: its name, help, disk needs, and a function that turns
//! the resolved context into a [`StagePlan`]. `opt-dist <stage>` runs that plan, `plan` prints
//! it, `--help` describes it, and `all` runs the plans in [`STAGES`] order: there is no second
//! copy of any stage, and adding one means a module with its `plan` and an entry here.
//!
//! A step's [`Action`] is one of the few generic things the runner knows (run a command, run
//! bootstrap, reset, remove or move files, expect raw profiles, validate a profile) or a
//! [`StageWork`]: work that belongs to one stage, defined in that stage's module together with
//! its shell equivalent.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Serialize, Serializer};

use super::cmd::Cmd;
use super::runner::StepRun;
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
        STAGES.iter().find(|s| s.name == name).map(|s| s.id)
    }

    /// The command name and the directory name under `<build-dir>/opt-dist/`.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn def(self) -> &'static StageDef {
        STAGES
            .iter()
            .find(|s| s.id == self)
            .expect("every stage id has a definition")
    }
}

/// Disk a stage needs below the build dir for a tree the size of rustc 1.95.0, in GiB, from
/// what upstream reports of its own CI runs: what stays (build output, dist files) and what it
/// needs only while it runs (raw profiles, 6-20 GiB per PGO stage; unpacked tarballs). The
/// reference for trees of that size that never ran here (see [`super::disk`]).
#[derive(Debug, Clone, Copy)]
pub struct DiskNeed {
    pub kept_gib: u64,
    pub transient_gib: u64,
}

/// One stage of the pipeline: everything the tool knows about it, in one place.
pub struct StageDef {
    pub id: StageId,
    /// The command, and the directory under `<build-dir>/opt-dist/`.
    pub name: &'static str,
    /// Upstream's name for it, kept so logs can be compared with upstream opt-dist's.
    pub title: &'static str,
    /// One line for the command list of `--help`.
    pub summary: &'static str,
    /// What `<stage> --help` says the stage does.
    pub about: &'static str,
    /// Whether arguments after `--` (for the final `x.py dist`) mean anything to it.
    pub takes_dist_args: bool,
    pub disk: DiskNeed,
    /// Turns the context into the stage's steps.
    pub plan: fn(&Ctx) -> Result<StagePlan>,
}

/// Every stage, in the order `all` runs them.
pub const STAGES: &[StageDef] = &[
    StageDef {
        id: StageId::RustcPgo,
        name: "rustc-pgo",
        title: "Stage 1 (rustc PGO)",
        summary: "Stage 1: instrument rustc, train it, merge and validate the profile, rebuild \
                  rustc with it",
        about: "Builds a PGO-instrumented compiler with the tree's own bootstrap, trains it with \
                the tree's rustc-perf collector, merges the raw profiles with an llvm-profdata of \
                the compiler's LLVM major version, validates the result, and rebuilds the \
                compiler with it. Leaves <build-dir>/opt-dist/rustc-pgo/\
                rustc-pgo-<version>-<host>.profdata and manifest.json (how it was made).",
        takes_dist_args: false,
        disk: DiskNeed {
            kept_gib: 25,
            transient_gib: 20,
        },
        plan: super::rustc_pgo::plan,
    },
    StageDef {
        id: StageId::LlvmPgo,
        name: "llvm-pgo",
        title: "Stage 2 (LLVM PGO)",
        summary: "Stage 2: instrument the in-tree LLVM, train it, merge its profile",
        about: "Deletes the in-tree LLVM build (bootstrap would not rebuild it for new PGO \
                options), builds it instrumented while keeping stage 1's rustc (--keep-stage 0 \
                --keep-stage 1), trains it with the LLVM benchmarks, merges and validates \
                llvm-pgo-<version>-<host>.profdata, and deletes the instrumented LLVM. Skipped, \
                with the reason recorded, when LLVM is not built in the tree.",
        takes_dist_args: false,
        disk: DiskNeed {
            kept_gib: 2,
            transient_gib: 20,
        },
        plan: super::llvm_pgo::plan,
    },
    StageDef {
        id: StageId::LlvmBolt,
        name: "llvm-bolt",
        title: "Stage 3 (LLVM BOLT)",
        summary: "Stage 3: PGO-optimized LLVM for BOLT; BOLT profile for libLLVM",
        about: "Builds the PGO-optimized LLVM linked with -Wl,-q, BOLT-instruments the sysroot's \
                libLLVM.so* in place (the original is backed up and always put back), trains it, \
                and merges llvm-bolt-<version>-<host>.fdata with merge-fdata.",
        takes_dist_args: false,
        disk: DiskNeed {
            kept_gib: 1,
            transient_gib: 2,
        },
        plan: super::llvm_bolt::plan,
    },
    StageDef {
        id: StageId::RustcBolt,
        name: "rustc-bolt",
        title: "Stage 3 (rustc BOLT)",
        summary: "Stage 3: BOLT profile for librustc_driver",
        about: "BOLT-instruments the sysroot's librustc_driver*.so in place (the original is \
                backed up and always put back), trains it, and merges \
                rustc-bolt-<version>-<host>.fdata.",
        takes_dist_args: false,
        disk: DiskNeed {
            kept_gib: 1,
            transient_gib: 2,
        },
        plan: super::rustc_bolt::plan,
    },
    StageDef {
        id: StageId::Dist,
        name: "dist",
        title: "Stage 5 (dist)",
        summary: "BOLT-optimize both libraries, then x.py dist with every profile",
        about: "BOLT-optimizes libLLVM and librustc_driver in place (once: a library already \
                optimized with the same profile is left alone), runs `x.py dist <your args>` \
                with every profile, --keep-stage as upstream and the BOLT profiles as \
                reproducible artifacts, records the dist files and checks that the packaged \
                libraries are the optimized ones.",
        takes_dist_args: true,
        disk: DiskNeed {
            kept_gib: 8,
            transient_gib: 2,
        },
        plan: super::dist::plan,
    },
    StageDef {
        id: StageId::Test,
        name: "test",
        title: "Tests",
        summary: "run upstream's test subset on the dist toolchain",
        about: "Unpacks the dist toolchain into one sysroot and runs upstream's test subset with \
                it as stage 0. The test configuration is written to \
                <build-dir>/opt-dist/test/bootstrap.toml and handed to x.py test with \
                RUST_BOOTSTRAP_CONFIG; the tree's own bootstrap.toml is never touched.",
        takes_dist_args: false,
        disk: DiskNeed {
            kept_gib: 5,
            transient_gib: 0,
        },
        plan: super::dist_tests::plan,
    },
];

/// The two file formats of the profiles the pipeline makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileFormat {
    /// LLVM's indexed instrumentation profile, read by `-Cprofile-use` and clang.
    Profdata,
    /// BOLT's branch profile, as written by `merge-fdata`.
    Fdata,
}

impl ProfileFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ProfileFormat::Profdata => "profdata",
            ProfileFormat::Fdata => "fdata",
        }
    }
}

/// The profiles the pipeline makes. Each has one name, `<stem>-<version>-<host>.<extension>`,
/// in the directory of the stage that makes it, so a file says what made it and a later stage
/// (or another machine) finds it without being told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    RustcPgo,
    /// Only with the `[pgo]` interface, which instruments rustdoc too.
    RustdocPgo,
    /// Only where the `[pgo]` table has the `clippy` key.
    ClippyPgo,
    LlvmPgo,
    LlvmBolt,
    RustcBolt,
}

/// The language of the binary a profile was trained on, which the names of the functions in the
/// profile show: a profile of the wrong binary is taken without complaint and optimizes
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// rustc, rustdoc, clippy, cargo, librustc_driver.
    Rust,
    /// LLVM (on the miniature tree, a C library standing in for it).
    Cxx,
}

/// What a profile is: one row per profile.
pub struct ProfileDef {
    pub profile: Profile,
    /// The start of its file name, e.g. `rustc-pgo`.
    pub stem: &'static str,
    /// The artifact kind recorded in manifests, e.g. `rustc-pgo-profile`.
    pub kind: &'static str,
    pub format: ProfileFormat,
    pub made_by: StageId,
    /// The binary it profiles, as messages name it.
    pub binary: &'static str,
    pub language: Language,
}

pub const PROFILES: &[ProfileDef] = &[
    ProfileDef {
        profile: Profile::RustcPgo,
        stem: "rustc-pgo",
        kind: "rustc-pgo-profile",
        format: ProfileFormat::Profdata,
        made_by: StageId::RustcPgo,
        binary: "rustc",
        language: Language::Rust,
    },
    ProfileDef {
        profile: Profile::RustdocPgo,
        stem: "rustdoc-pgo",
        kind: "rustdoc-pgo-profile",
        format: ProfileFormat::Profdata,
        made_by: StageId::RustcPgo,
        binary: "rustdoc",
        language: Language::Rust,
    },
    ProfileDef {
        profile: Profile::ClippyPgo,
        stem: "clippy-pgo",
        kind: "clippy-pgo-profile",
        format: ProfileFormat::Profdata,
        made_by: StageId::RustcPgo,
        binary: "clippy",
        language: Language::Rust,
    },
    ProfileDef {
        profile: Profile::LlvmPgo,
        stem: "llvm-pgo",
        kind: "llvm-pgo-profile",
        format: ProfileFormat::Profdata,
        made_by: StageId::LlvmPgo,
        binary: "LLVM",
        language: Language::Cxx,
    },
    ProfileDef {
        profile: Profile::LlvmBolt,
        stem: "llvm-bolt",
        kind: "llvm-bolt-profile",
        format: ProfileFormat::Fdata,
        made_by: StageId::LlvmBolt,
        binary: "libLLVM",
        language: Language::Cxx,
    },
    ProfileDef {
        profile: Profile::RustcBolt,
        stem: "rustc-bolt",
        kind: "rustc-bolt-profile",
        format: ProfileFormat::Fdata,
        made_by: StageId::RustcBolt,
        binary: "librustc_driver",
        language: Language::Rust,
    },
];

impl Profile {
    pub fn def(self) -> &'static ProfileDef {
        PROFILES
            .iter()
            .find(|p| p.profile == self)
            .expect("every profile has a definition")
    }
}

/// The kinds of profile as types, so that the code handing profiles to bootstrap cannot pass
/// one kind where another is expected (a rustc profile as LLVM's builds without complaint and
/// without PGO).
pub mod kind {
    use super::Profile;

    pub trait ProfileKind {
        const PROFILE: Profile;
    }
    /// The BOLT profiles, which dist ships as reproducible artifacts.
    pub trait BoltKind: ProfileKind {
        /// The file name upstream's opt-dist gives it, and so the name consumers of the
        /// reproducible-artifacts tarball find it under.
        const UPSTREAM_NAME: &'static str;
    }

    pub enum RustcPgo {}
    pub enum RustdocPgo {}
    pub enum ClippyPgo {}
    pub enum LlvmPgo {}
    pub enum LlvmBolt {}
    pub enum RustcBolt {}

    impl ProfileKind for RustcPgo {
        const PROFILE: Profile = Profile::RustcPgo;
    }
    impl ProfileKind for RustdocPgo {
        const PROFILE: Profile = Profile::RustdocPgo;
    }
    impl ProfileKind for ClippyPgo {
        const PROFILE: Profile = Profile::ClippyPgo;
    }
    impl ProfileKind for LlvmPgo {
        const PROFILE: Profile = Profile::LlvmPgo;
    }
    impl ProfileKind for LlvmBolt {
        const PROFILE: Profile = Profile::LlvmBolt;
    }
    impl ProfileKind for RustcBolt {
        const PROFILE: Profile = Profile::RustcBolt;
    }
    impl BoltKind for LlvmBolt {
        const UPSTREAM_NAME: &'static str = "LLVM-bolt.profdata";
    }
    impl BoltKind for RustcBolt {
        const UPSTREAM_NAME: &'static str = "rustc-bolt.profdata";
    }
}

/// A profile of kind `K` where this tree keeps it.
pub struct ProfileFile<K: kind::ProfileKind> {
    pub artifact: Artifact,
    kind: PhantomData<K>,
}

impl<K: kind::ProfileKind> ProfileFile<K> {
    pub fn new(artifact: Artifact) -> ProfileFile<K> {
        ProfileFile {
            artifact,
            kind: PhantomData,
        }
    }

    pub fn path(&self) -> &Path {
        &self.artifact.path
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
    /// What the stage relies on in the build dir (it keeps stages, or works on a library in
    /// place); where the build dir holds something else, repair steps come first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Need>,
    /// The first `repairs` steps make the build dir what the stage needs; the stage's own steps
    /// follow.
    pub repairs: usize,
    pub steps: Vec<Step>,
    /// Why this stage does nothing with these options (e.g. LLVM PGO without an in-tree LLVM);
    /// it is then recorded as skipped, and later stages do without its outputs.
    pub skipped: Option<String>,
}

impl StagePlan {
    pub fn new(stage: StageId, dir: PathBuf, steps: Vec<Step>) -> StagePlan {
        StagePlan {
            stage,
            dir,
            inputs: Vec::new(),
            outputs: Vec::new(),
            needs: Vec::new(),
            repairs: 0,
            steps,
            skipped: None,
        }
    }

    pub fn skipped(stage: StageId, dir: PathBuf, reason: impl Into<String>) -> StagePlan {
        StagePlan {
            skipped: Some(reason.into()),
            ..StagePlan::new(stage, dir, Vec::new())
        }
    }

    /// The stage's own steps, without repairs.
    pub fn own_steps(&self) -> &[Step] {
        &self.steps[self.repairs..]
    }
}

/// A part of the toolchain in the build dir that stages build and later stages rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// rustc and librustc_driver (the sysroot's copies are hard links to them).
    Compiler,
    /// The in-tree LLVM build (`<build>/<host>/llvm`).
    Llvm,
}

/// How a part was built, as a plan says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Built {
    /// Not there: bootstrap builds it with the options of the next call that needs it.
    Absent,
    /// Built without PGO: stage 1's throw-away LLVM.
    Plain,
    /// Built to write profiles: for training only.
    Instrumented,
    /// Built with `profile`; `bolt_ready`: linked with relocations, for BOLT.
    Optimized { profile: PathBuf, bolt_ready: bool },
    /// Built with `profile`, then BOLT-optimized in place by dist with `bolt_profile`: fine to
    /// keep and to ship, but BOLT cannot instrument or optimize it again. A need without a
    /// BOLT profile accepts any.
    BoltOptimized {
        profile: PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        bolt_profile: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildChange {
    pub part: Part,
    pub to: Built,
    pub only_if_absent: bool,
    /// Made by rewriting a file in place after backing it up: the part is marked changing
    /// when the backup is made, not before the step (a step that fails before it changed
    /// nothing).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_place: bool,
}

/// A stage relies on `part` being built one of the ways in `accepted`.
#[derive(Debug, Clone, Serialize)]
pub struct Need {
    pub part: Part,
    pub accepted: Vec<Built>,
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
    /// Whether a stage interrupted during this step may resume at it. Training may not: the
    /// raw profiles it left would be counted again, so the stage resumes at the reset of the
    /// raw-profile directory before it.
    pub resumable: bool,
    /// What this step does to the compiler or LLVM in the build dir (see [`super::build_state`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<BuildChange>,
}

impl Step {
    pub fn new(title: impl Into<String>, action: Action, hint: impl Into<String>) -> Step {
        Step {
            title: title.into(),
            action,
            hint: hint.into(),
            resumable: true,
            changes: Vec::new(),
        }
    }

    /// See [`Step::resumable`].
    pub fn not_resumable(mut self) -> Step {
        self.resumable = false;
        self
    }

    /// Declares what the step leaves in the build dir.
    pub fn changing(mut self, part: Part, to: Built) -> Step {
        self.changes.push(BuildChange {
            part,
            to,
            only_if_absent: false,
            in_place: false,
        });
        self
    }

    /// Declares what the step leaves in the build dir by rewriting a library in place, backed
    /// up first ([`super::backup`]).
    pub fn changing_in_place(mut self, part: Part, to: Built) -> Step {
        self.changes.push(BuildChange {
            part,
            to,
            only_if_absent: false,
            in_place: true,
        });
        self
    }

    /// Declares what the step builds where there is nothing yet (bootstrap keeps an LLVM it
    /// already built, whatever the new options).
    pub fn building_if_absent(mut self, part: Part, to: Built) -> Step {
        self.changes.push(BuildChange {
            part,
            to,
            only_if_absent: true,
            in_place: false,
        });
        self
    }

    /// Training starts from an empty raw-profile directory: leftovers of an unfinished run were
    /// made by another build and would spoil the merge.
    pub fn reset_raw_profiles(raw: &Path) -> Step {
        Step::new(
            "Start with an empty raw-profile directory",
            Action::ResetDir {
                dir: raw.to_path_buf(),
            },
            format!("make {} writable", raw.display()),
        )
    }
}

/// What a step does. The runner knows these few generic actions; anything else is a
/// [`StageWork`] of the stage it belongs to.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// An external command; `training`: the collector, whose progress is reported.
    Run {
        cmd: Cmd,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        training: bool,
    },
    /// A call of the tree's `x.py`: preflight checks it with `--dry-run` before the run, and
    /// bootstrap's own step timings are recorded when it writes metrics.
    Bootstrap { cmd: Cmd },
    /// Empties a scratch directory (or creates it).
    ResetDir { dir: PathBuf },
    /// Deletes a directory: build output bootstrap would wrongly reuse, or raw profiles that
    /// were merged.
    RemoveDir { dir: PathBuf },
    /// Moves a complete file or directory into place with one rename, replacing what was
    /// there: how a validated output is published.
    Move { from: PathBuf, to: PathBuf },
    /// Training must have written raw profiles; a run that wrote none is an error, not an
    /// empty profile.
    ExpectRawProfiles {
        dir: PathBuf,
        extension: &'static str,
    },
    /// rustc and BOLT silently ignore a bad profile, so every merged one is read back.
    Validate {
        profile: PathBuf,
        check: ProfileCheck,
    },
    /// Work that belongs to one stage.
    #[serde(untagged, serialize_with = "serialize_work")]
    Work(Box<dyn StageWork>),
}

impl Action {
    pub fn run(cmd: Cmd) -> Action {
        Action::Run {
            cmd,
            training: false,
        }
    }

    /// The collector's run: its output is watched for the progress through the benchmarks.
    pub fn training(cmd: Cmd) -> Action {
        Action::Run {
            cmd,
            training: true,
        }
    }
}

/// How a merged profile is read back.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileCheck {
    /// `llvm-profdata show` must read it and report functions with non-zero counts.
    LlvmProfdata { tool: PathBuf },
    /// A BOLT profile is parsed: it must hold branch records.
    Fdata,
}

/// Work that belongs to one stage (BOLT in place, unpacking the dist, ...), defined in that
/// stage's module: what it does, and the shell commands that do the same for `plan --format sh`.
/// Its fields (serialized) and [`StageWork::kind`] describe it in `plan --format json`.
pub trait StageWork: fmt::Debug + WorkFields {
    /// Its `kind` in JSON plans, e.g. `bolt-optimize`.
    fn kind(&self) -> &'static str;
    fn run(&self, run: &mut StepRun) -> Result<()>;
    /// POSIX shell commands that do what [`StageWork::run`] does.
    fn shell(&self, host: &str) -> String;
}

/// A work's fields as JSON; every serializable work has it.
pub trait WorkFields {
    fn fields(&self) -> serde_json::Value;
}

impl<T: Serialize> WorkFields for T {
    fn fields(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[allow(clippy::borrowed_box)]
fn serialize_work<S: Serializer>(work: &Box<dyn StageWork>, s: S) -> Result<S::Ok, S::Error> {
    let mut value = serde_json::json!({ "kind": work.kind() });
    if let serde_json::Value::Object(fields) = work.fields() {
        value.as_object_mut().unwrap().extend(fields);
    }
    value.serialize(s)
}
