//! `cargo xtask`: automation that lives beside the Rust source tree.
//!
//! Today it has one command, `opt-dist`: the staged pipeline that builds a PGO+BOLT optimized
//! toolchain. `main` only parses the command line ([`cli`]) and dispatches ([`commands`]). The
//! layers, each using only those below it: [`cli`], [`commands`], [`stages`], [`engine`],
//! [`tools`], [`util`] (see docs/contributing.md).

mod cli;
mod commands;
mod engine;
mod stages;
mod tools;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let invocation = match cli::parse(args) {
        Ok(cli::Parsed::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(cli::Parsed::Run(invocation)) => invocation,
        Err(usage) => {
            eprintln!("error: {}", usage.message);
            eprintln!();
            eprint!("{}", usage.help);
            return ExitCode::from(2);
        }
    };
    match commands::run(*invocation) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report_error(&err);
            match util::process::signal() {
                // As a process killed by the signal would: 130 for Ctrl-C, 143 for SIGTERM.
                Some(signum) => {
                    eprintln!("opt-dist: interrupted by {}", util::process::describe(signum));
                    ExitCode::from((128 + signum) as u8)
                }
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// Prints an error chain as one headline and its causes, so the step that failed and the advice
/// attached to it stand on their own lines.
fn report_error(err: &anyhow::Error) {
    let mut chain = err.chain();
    if let Some(head) = chain.next() {
        eprintln!("error: {head}");
    }
    for cause in chain {
        for (i, line) in cause.to_string().lines().enumerate() {
            match i {
                0 => eprintln!("  caused by: {line}"),
                _ => eprintln!("    {line}"),
            }
        }
    }
    if let Some(failed) = err.downcast_ref::<engine::runner::StepFailed>() {
        eprintln!("  what to do: {}", failed.failure.hint);
        eprintln!(
            "  the stage is not recorded as done, and its earlier outputs are untouched; the \
             steps that finished are in its journal, so running it (or `all`) again resumes \
             after them"
        );
    }
}
