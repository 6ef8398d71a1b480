//! The stages, in the order `all` runs them. Each is one module holding every fact about it:
//! its [`StageDef`] (name, title, help, disk needs, scratch, whether `all` runs it by default)
//! and its plan (what it needs and makes, its steps, the tools it runs, what it trains). The
//! table below is the only other place a stage appears: one row each, and [`StageId::def`]
//! is an exhaustive match the compiler checks.

use anyhow::Result;

use crate::engine::build_state::Rebuild;
use crate::engine::context::Ctx;
use crate::engine::plan::{Effect, FitBy, StageDef, StagePlan, Step};
use crate::tools::bootstrap::{Bootstrap, Interface};
use crate::tools::fit;
use crate::tools::profiles::{kind, Profile};

mod gather;

macro_rules! stages {
    ($($id:ident => $module:ident),* $(,)?) => {
        $(pub mod $module;)*

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum StageId { $($id),* }

        impl StageId {
            /// Every stage, in the order `all` runs them.
            pub const ALL: &'static [StageId] = &[$(StageId::$id),*];

            pub fn def(self) -> &'static StageDef {
                match self { $(StageId::$id => &$module::STAGE),* }
            }
        }
    };
}

stages! {
    RustcPgo => rustc_pgo,
    LlvmPgo => llvm_pgo,
    LlvmBolt => llvm_bolt,
    RustcBolt => rustc_bolt,
    Dist => dist,
    Test => test,
}

impl StageId {
    pub fn from_name(name: &str) -> Option<StageId> {
        StageId::ALL.iter().copied().find(|s| s.def().name == name)
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn plan(self, ctx: &Ctx) -> Result<StagePlan> {
        (self.def().plan)(ctx)
    }
}

/// Every stage `all` runs with these options, in order: the test stage only with `--run-tests`
/// and never in a try build, as upstream.
pub fn all_plans(ctx: &Ctx) -> Result<Vec<StagePlan>> {
    StageId::ALL
        .iter()
        .filter(|s| !s.def().only_with_tests || (ctx.options.run_tests && !ctx.options.try_build))
        .map(|s| s.plan(ctx))
        .collect()
}

/// The step of the stage that normally builds a part, for the engine's repairs.
pub fn rebuild(ctx: &Ctx, which: Rebuild) -> Result<Step> {
    match which {
        Rebuild::Compiler => rustc_pgo::optimized_build(ctx, false),
        Rebuild::CompilerAndLlvm => rustc_pgo::optimized_build(ctx, true),
        Rebuild::Llvm => llvm_bolt::optimized_llvm_build(ctx),
    }
}

/// The compiler's profiles on an x.py call: rustc's, and with the `[pgo]` table cargo's (rustc's
/// profile: cargo ran during rustc's training), rustdoc's and, where bootstrap takes it,
/// clippy's. Gives the call and the profiles it uses.
pub fn use_compiler_profiles(ctx: &Ctx, call: Bootstrap) -> Result<(Bootstrap, Vec<Profile>)> {
    let rustc = ctx.profile_file::<kind::RustcPgo>();
    let (mut call, mut used) = (call.use_rustc_profile(&rustc)?, vec![Profile::RustcPgo]);
    if ctx.interface == Interface::PgoTable {
        let rustdoc = ctx.profile_file::<kind::RustdocPgo>();
        call = call.use_cargo_profile(&rustc)?.use_rustdoc_profile(&rustdoc)?;
        used.push(Profile::RustdocPgo);
        if ctx.optimizes_clippy() {
            call = call.use_clippy_profile(&ctx.profile_file::<kind::ClippyPgo>())?;
            used.push(Profile::ClippyPgo);
        }
    }
    Ok((call, used))
}

/// For a step that builds with `profiles`: the checks that the binaries built hold them.
pub fn fit_checks(ctx: &Ctx, profiles: &[Profile]) -> Vec<Effect> {
    let tool = |name| ctx.host_llvm.tool(name);
    let by = FitBy::Symbols { profdata: tool("llvm-profdata"), nm: tool("llvm-nm") };
    let check = |&profile: &Profile| Effect::CheckFit {
        profile: ctx.tree.profile(profile),
        binaries: fit::binaries(&ctx.tree, profile, ctx.options.llvm_shared),
        by: by.clone(),
        allow_stale: ctx.options.allow_stale,
    };
    profiles.iter().map(check).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_is_made_by_a_stage_and_the_disk_figures_are_of_stages() {
        for profile in Profile::ALL {
            assert!(StageId::from_name(profile.row().stage).is_some(), "{profile:?}");
        }
        // A stage may lack figures (until `ci/bench` runs again); a name there is a stage's.
        let miniature: serde_json::Value =
            serde_json::from_str(crate::engine::disk::MINIATURE_REFERENCE).unwrap();
        for name in miniature["stages"].as_object().unwrap().keys() {
            assert!(StageId::from_name(name).is_some(), "disk_reference.json names {name}");
        }
    }
}
