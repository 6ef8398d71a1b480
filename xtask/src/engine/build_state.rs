//! What the xtask left in bootstrap's build dir: how the compiler and the in-tree LLVM there
//! were built (instrumented, plain, or optimized with which profile and whether linked for
//! BOLT), recorded in `<build-dir>/opt-dist/build-state.json`.
//!
//! Stages after the first rely on the build dir: they keep stage 1's compiler
//! (`--keep-stage 0 --keep-stage 1`), or BOLT a library in place. Bootstrap cannot tell that a
//! compiler was built for training, so a stage that kept it after an interrupted `rustc-pgo`
//! would ship an instrumented compiler. So every step that builds or removes a part declares
//! it ([`super::plan::Step::changes`]), the runner records the part as changing before the
//! step and as built after it, and every plan states what it needs
//! ([`super::plan::StagePlan::needs`]). Where the build dir holds something else, the plan
//! starts with the smallest rebuild that makes it right: the very step of the stage that
//! normally builds that part (the stages hand it over as a [`Rebuild`] function). In a run
//! from the start nothing needs repair, so the x.py calls stay upstream's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::context::Ctx;
use super::plan::{BuildChange, Built, Effect, Need, Part, StagePlan, Step};
use crate::tools::bolt;
use crate::tools::profiles::Profile;
use crate::util::fs::{self, sha256_file};

/// How a part was built, as recorded: profiles by content, so a profile made again is another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Recorded {
    Absent,
    Plain,
    Instrumented,
    Optimized {
        profile_sha256: String,
        bolt_ready: bool,
    },
    /// Optimized with the PGO profile `profile_sha256`, then BOLT-optimized in place with the
    /// BOLT profile `bolt_profile_sha256` (unknown in records of older xtasks).
    BoltOptimized {
        profile_sha256: String,
        #[serde(default)]
        bolt_profile_sha256: Option<String>,
    },
    /// A step that changes it has not finished. Where that step backed up what it rewrites in
    /// place, putting the backup back makes it `was` again (`backup::settle`);
    /// otherwise it is not known.
    Changing {
        was: Box<Recorded>,
    },
    /// Built by someone else, or by a step that did not finish.
    Unknown,
}

const FILE: &str = "build-state.json";

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct BuildState {
    pub parts: BTreeMap<String, Recorded>,
}

fn key(part: Part) -> &'static str {
    match part {
        Part::Compiler => "compiler",
        Part::Llvm => "llvm",
    }
}

impl BuildState {
    pub fn load(artifacts_root: &Path) -> BuildState {
        fs::read_record(
            &artifacts_root.join(FILE),
            "the compiler and LLVM in the build dir count as not known, so the plan rebuilds \
             what a stage needs of them",
        )
        .unwrap_or_default()
    }

    pub fn save(&self, artifacts_root: &Path) -> Result<()> {
        fs::create_dir(artifacts_root)?;
        fs::write_json(&artifacts_root.join(FILE), self)
    }

    pub fn get(&self, part: Part) -> Recorded {
        self.parts.get(key(part)).cloned().unwrap_or(Recorded::Unknown)
    }

    pub fn set(&mut self, part: Part, state: Recorded) {
        self.parts.insert(key(part).to_string(), state);
    }

    /// Before a step that changes parts: they are changing until it finishes. Returns the
    /// state before, which the step may rely on.
    pub fn before(artifacts_root: &Path, changes: &[BuildChange]) -> Result<BuildState> {
        let mut state = BuildState::load(artifacts_root);
        let before = state.clone();
        // A change in place is marked when its backup is made (`backup::back_up`).
        let marked: Vec<&BuildChange> = changes
            .iter()
            .filter(|c| !c.in_place && (!c.only_if_absent || state.get(c.part) == Recorded::Absent))
            .collect();
        if marked.is_empty() {
            return Ok(before);
        }
        for change in marked {
            state.mark_changing(change.part);
        }
        state.save(artifacts_root)?;
        Ok(before)
    }

    /// Marks `part` as changing, remembering what it was.
    pub fn mark_changing(&mut self, part: Part) {
        // A change still under way from an earlier step left nothing to go back to.
        let was = match self.get(part) {
            Recorded::Changing { .. } => Recorded::Unknown,
            other => other,
        };
        self.set(part, Recorded::Changing { was: Box::new(was) });
    }

    /// After a step that changed parts succeeded: they are what it built.
    pub fn after(artifacts_root: &Path, changes: &[BuildChange]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut state = BuildState::load(artifacts_root);
        for change in changes {
            let current = state.get(change.part);
            // An LLVM bootstrap kept stays what it was: only one it found missing (or did not
            // know) was built with this step's options.
            let absent = matches!(current, Recorded::Changing { ref was } if **was == Recorded::Absent)
                || matches!(current, Recorded::Absent | Recorded::Unknown);
            if change.only_if_absent && !absent {
                continue;
            }
            state.set(change.part, record(&change.to)?);
        }
        state.save(artifacts_root)
    }
}

fn record(built: &Built) -> Result<Recorded> {
    let hash = |profile: &PathBuf| {
        sha256_file(profile).with_context(|| format!("cannot hash {}", profile.display()))
    };
    Ok(match built {
        Built::Absent => Recorded::Absent,
        Built::Plain => Recorded::Plain,
        Built::Instrumented => Recorded::Instrumented,
        Built::Optimized { profile, bolt_ready } => {
            Recorded::Optimized { profile_sha256: hash(profile)?, bolt_ready: *bolt_ready }
        }
        Built::BoltOptimized { profile, bolt_profile } => Recorded::BoltOptimized {
            profile_sha256: hash(profile)?,
            bolt_profile_sha256: bolt_profile.as_ref().map(hash).transpose()?,
        },
    })
}

/// The compiler as the stages that keep it need it: built with the rustc profile, and linked
/// for BOLT when BOLT is on (a compiler linked for BOLT serves without it too); one that dist
/// already BOLT-optimized, with any BOLT profile, serves as well.
pub fn optimized_compiler(ctx: &Ctx) -> Need {
    let profile = ctx.profile(Profile::RustcPgo).path;
    let mut need = compiler_to_instrument(ctx);
    if !ctx.use_bolt {
        need.accepted.push(Built::Optimized { profile: profile.clone(), bolt_ready: false });
    }
    need.accepted.push(Built::BoltOptimized { profile, bolt_profile: None });
    need
}

/// The compiler as rustc-bolt needs it: built with the rustc profile, linked for BOLT, and not
/// BOLT-optimized yet (BOLT cannot instrument its own output).
pub fn compiler_to_instrument(ctx: &Ctx) -> Need {
    Need {
        part: Part::Compiler,
        accepted: vec![Built::Optimized {
            profile: ctx.profile(Profile::RustcPgo).path,
            bolt_ready: true,
        }],
    }
}

/// Whether a part built as `built` is what `accepted` asks for: a BOLT-optimized part asked for
/// without a BOLT profile may have been optimized with any.
fn accepts(accepted: &Built, built: &Built) -> bool {
    match (accepted, built) {
        (
            Built::BoltOptimized { profile, bolt_profile: None },
            Built::BoltOptimized { profile: built, .. },
        ) => profile == built,
        _ => accepted == built,
    }
}

/// A part as a plan sees it: either built by an earlier plan of this run (as that plan says),
/// or as the build dir records it.
#[derive(Debug, Clone)]
enum Expected {
    ByThisRun(Built),
    OnDisk(Recorded),
}

/// The rebuilds a repair can ask the stages for: the steps that normally build the part.
pub enum Rebuild {
    /// The PGO-optimized compiler (stage 1's last step).
    Compiler,
    /// The compiler and LLVM in one build, each with its profile (a fresh build root).
    CompilerAndLlvm,
    /// The PGO-optimized LLVM, linked for BOLT (stage 3's first step).
    Llvm,
}

/// The build dir as it will be while a run's plans execute one after the other.
pub struct Simulation<'a> {
    parts: BTreeMap<&'static str, Expected>,
    on_disk: BuildState,
    rebuild: &'a dyn Fn(&Ctx, Rebuild) -> Result<Step>,
}

impl<'a> Simulation<'a> {
    fn new(on_disk: BuildState, rebuild: &'a dyn Fn(&Ctx, Rebuild) -> Result<Step>) -> Self {
        Simulation { parts: BTreeMap::new(), on_disk, rebuild }
    }

    fn expected(&self, part: Part) -> Expected {
        self.parts
            .get(key(part))
            .cloned()
            .unwrap_or_else(|| Expected::OnDisk(self.on_disk.get(part)))
    }

    fn satisfies(&mut self, part: Part, accepted: &Built) -> bool {
        match (self.expected(part), accepted) {
            (Expected::ByThisRun(built), accepted) => accepts(accepted, &built),
            (Expected::OnDisk(Recorded::Absent), Built::Absent) => true,
            (Expected::OnDisk(Recorded::Plain), Built::Plain) => true,
            (Expected::OnDisk(Recorded::Instrumented), Built::Instrumented) => true,
            (
                Expected::OnDisk(Recorded::Optimized { profile_sha256, bolt_ready }),
                Built::Optimized { profile, bolt_ready: wanted },
            ) => {
                bolt_ready == *wanted
                    && fs::sha256_remembered(profile).as_ref() == Some(&profile_sha256)
            }
            (
                Expected::OnDisk(Recorded::BoltOptimized { profile_sha256, bolt_profile_sha256 }),
                Built::BoltOptimized { profile, bolt_profile },
            ) => {
                fs::sha256_remembered(profile).as_ref() == Some(&profile_sha256)
                    && match bolt_profile {
                        None => true,
                        Some(bolt_profile) => {
                            bolt_profile_sha256.is_some()
                                && fs::sha256_remembered(bolt_profile) == bolt_profile_sha256
                        }
                    }
            }
            _ => false,
        }
    }

    /// What `part` is, in words, for the plan's explanation of a repair.
    fn describe(&self, part: Part) -> String {
        match self.expected(part) {
            Expected::ByThisRun(built) => format!("{built:?} (by this run)"),
            Expected::OnDisk(Recorded::Optimized { bolt_ready, .. }) => format!(
                "optimized with another profile{}",
                if bolt_ready { ", linked for BOLT" } else { "" }
            ),
            Expected::OnDisk(Recorded::BoltOptimized { bolt_profile_sha256, .. }) => {
                match bolt_profile_sha256 {
                    Some(_) => "BOLT-optimized in place by an earlier dist, with another BOLT \
                            profile or after another PGO profile"
                        .to_string(),
                    None => "BOLT-optimized in place by an earlier dist with a BOLT profile it \
                         did not record (an older xtask)"
                        .to_string(),
                }
            }
            Expected::OnDisk(Recorded::Changing { .. }) => {
                "not known (a step that changed it did not finish, and nothing it backed up \
                 is left to put back)"
                    .to_string()
            }
            Expected::OnDisk(Recorded::Unknown) => {
                "not known (a fresh build dir, a build by something else, or one that did not \
                 finish)"
                    .to_string()
            }
            Expected::OnDisk(other) => format!("{other:?}").to_lowercase(),
        }
    }

    /// Puts the repairs `plan` needs in front of its steps, then applies its changes.
    pub fn prepare(&mut self, ctx: &Ctx, plan: &mut StagePlan) -> Result<()> {
        let unmet: Vec<Need> =
            plan.needs.iter().filter(|need| !self.satisfied(need)).cloned().collect();
        let mut repairs = Vec::new();
        if !unmet.is_empty() {
            let why: Vec<String> = unmet
                .iter()
                .map(|need| {
                    format!("the build dir's {} is {}", key(need.part), self.describe(need.part))
                })
                .collect();
            // An LLVM the stage relies on, which the compiler's rebuild would build without a
            // profile: there is none, or none known.
            let llvm_at_risk =
                plan.needs.iter().any(|n| n.part == Part::Llvm) && self.may_be_absent(Part::Llvm);
            for (i, step) in self.repair(ctx, &unmet, llvm_at_risk)?.into_iter().enumerate() {
                self.apply(&step.changes);
                // Why the build dir needs repair, said once, with the first repair.
                let title = match i {
                    0 => format!("Repair: {} ({})", step.title, why.join("; ")),
                    _ => format!("Repair: {}", step.title),
                };
                repairs.push(Step { title, ..step });
            }
            if let Some(need) = plan.needs.iter().find(|need| !self.satisfied(need)) {
                bail!(
                    "cannot plan a rebuild that gives the {} stage the {} it needs ({})",
                    plan.stage.name,
                    key(need.part),
                    self.describe(need.part)
                );
            }
        }
        for step in plan.own_steps() {
            self.apply(&step.changes);
        }
        plan.repairs = repairs.len();
        repairs.append(&mut plan.steps);
        plan.steps = repairs;
        Ok(())
    }

    fn satisfied(&mut self, need: &Need) -> bool {
        need.accepted.iter().any(|accepted| self.satisfies(need.part, accepted))
    }

    /// `part` is not there, or what is there is not known.
    fn may_be_absent(&self, part: Part) -> bool {
        matches!(
            self.expected(part),
            Expected::ByThisRun(Built::Absent)
                | Expected::OnDisk(
                    Recorded::Absent | Recorded::Unknown | Recorded::Changing { .. }
                )
        )
    }

    fn apply(&mut self, changes: &[BuildChange]) {
        for change in changes {
            if !change.only_if_absent || self.may_be_absent(change.part) {
                self.parts.insert(key(change.part), Expected::ByThisRun(change.to.clone()));
            }
        }
    }

    /// The smallest rebuild that gives the `unmet` needs what they accept: the step of the
    /// stage that normally builds the part. LLVM is deleted first, since bootstrap keeps an LLVM
    /// it already built whatever the options; where no LLVM will do (the next bootstrap call
    /// builds it), that is all. Where the compiler is rebuilt while LLVM needs a rebuild too, or
    /// is not there for a stage that relies on it (`llvm_at_risk`), both are built in one call
    /// with both profiles: the compiler's build alone would make an LLVM without one.
    fn repair(&self, ctx: &Ctx, unmet: &[Need], llvm_at_risk: bool) -> Result<Vec<Step>> {
        let llvm = ctx.tree.host_build().join("llvm");
        let remove_llvm = Step::new(
            "Delete the LLVM build so bootstrap builds it again",
            Effect::RemoveDir { dir: llvm.clone() },
            format!("make {} writable", llvm.display()),
        )
        .changing(Part::Llvm, Built::Absent);
        let compiler = unmet.iter().any(|n| n.part == Part::Compiler);
        let llvm_need = unmet.iter().find(|n| n.part == Part::Llvm);
        // Bootstrap keeps a compiler whose sources and flags did not change, BOLT's output or
        // not: its built library goes first.
        let unbolt = Step::new(
            "Delete the BOLT-optimized compiler library so bootstrap builds it again",
            Effect::RemoveBoltOutput {
                library: bolt::librustc_driver(&ctx.tree),
                build_dirs: vec![
                    ctx.tree.host_build().join("stage1-rustc"),
                    ctx.tree.host_build().join("stage2"),
                ],
            },
            "make the build dir writable",
        )
        .changing(Part::Compiler, Built::Absent);
        let rebuild = |which| (self.rebuild)(ctx, which);
        Ok(match (compiler, llvm_need) {
            (true, need) if need.is_some() || llvm_at_risk => {
                vec![unbolt, remove_llvm, rebuild(Rebuild::CompilerAndLlvm)?]
            }
            (true, _) => vec![unbolt, rebuild(Rebuild::Compiler)?],
            (false, Some(need)) if need.accepted.contains(&Built::Absent) => vec![remove_llvm],
            (false, Some(_)) => vec![remove_llvm, rebuild(Rebuild::Llvm)?],
            (false, None) => Vec::new(),
        })
    }
}

/// Puts in front of each plan the repairs the build dir needs by then, the plans before it
/// having run, the build dir being `on_disk` (see `settled_state` in backup.rs).
pub fn prepare(
    ctx: &Ctx,
    plans: &mut [StagePlan],
    on_disk: BuildState,
    rebuild: &dyn Fn(&Ctx, Rebuild) -> Result<Step>,
) -> Result<()> {
    let mut simulation = Simulation::new(on_disk, rebuild);
    for plan in plans {
        simulation.prepare(ctx, plan)?;
    }
    Ok(())
}
