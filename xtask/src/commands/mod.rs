//! The commands of `cargo xtask opt-dist`, one module each: running stages (a stage alone, or
//! `all`), `status`, `plan`, `clean`, `export`/`import` and `doctor` (with the preflight every
//! run starts with). The command line hands them an [`Invocation`] of plain values.

mod clean;
mod doctor;
mod exchange;
mod plan;
mod run;
mod status;
mod untrusted;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::engine::context::{Ctx, Global, Options};
use crate::stages::StageId;
use crate::tools::profiles::Profile;

pub use plan::PlanFormat;

/// What the user asked for.
#[derive(Debug)]
pub struct Invocation {
    pub global: Global,
    pub options: Options,
    pub command: Command,
    /// Arguments after `--`, for the final `x.py dist`.
    pub dist_args: Vec<String>,
}

#[derive(Debug)]
pub enum Command {
    Stage(StageId),
    All {
        /// Run from this stage on, whatever the state of the ones before.
        from: Option<StageId>,
        /// Run every stage, done or not.
        force: bool,
    },
    Plan {
        target: Option<StageId>,
        format: PlanFormat,
    },
    Status {
        json: bool,
    },
    Clean {
        /// `None`: every stage's scratch; a stage: its whole directory.
        stage: Option<StageId>,
        and_later: bool,
    },
    Doctor,
    Export {
        into: PathBuf,
        /// Empty: every finished stage.
        stages: Vec<StageId>,
    },
    Import {
        from: PathBuf,
        /// A single profile file, and which one it is.
        single: Option<Profile>,
    },
}

pub fn run(invocation: Invocation) -> Result<()> {
    let sh = xshell::Shell::new().context("cannot set up the shell")?;
    if let Command::Doctor = invocation.command {
        return doctor::doctor(invocation, &sh);
    }
    // A refused import must leave the build dir as it was: it remembers nothing.
    let remember = !matches!(invocation.command, Command::Import { .. });
    let ctx =
        Ctx::resolve(&invocation.global, invocation.options, invocation.dist_args, remember, &sh)?;
    match invocation.command {
        Command::Stage(stage) => run::stage(&ctx, stage, &sh),
        Command::All { from, force } => run::all(&ctx, from, force, &sh),
        Command::Plan { target, format } => plan::plan(&ctx, target, format),
        Command::Status { json } => status::status(&ctx, json),
        Command::Clean { stage, and_later } => clean::clean(&ctx, stage, and_later),
        Command::Export { into, stages } => exchange::export(&ctx, &into, &stages),
        Command::Import { from, single } => exchange::import(&ctx, &from, single),
        Command::Doctor => unreachable!("handled above"),
    }
}
