//! `cargo xtask`: automation that lives beside the Rust source tree.
//!
//! Today it has one command, `opt-dist`: the staged pipeline that builds a PGO+BOLT
//! optimized toolchain. `main` only parses the command line and dispatches; each command lives in
//! its own module.

mod flags;
mod opt_dist;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let invocation = match flags::parse(args) {
        Ok(flags::Parsed::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(flags::Parsed::Run(invocation)) => invocation,
        Err(usage) => {
            eprintln!("error: {}", usage.message);
            eprintln!();
            eprint!("{}", usage.help);
            return ExitCode::from(2);
        }
    };
    match opt_dist::run(*invocation) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report_error(&err);
            match opt_dist::interrupted_by() {
                // As a process killed by the signal would: 130 for Ctrl-C, 143 for SIGTERM.
                Some(signum) => {
                    eprintln!(
                        "opt-dist: interrupted by {}",
                        opt_dist::describe_signal(signum)
                    );
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
            if i == 0 {
                eprintln!("  caused by: {line}");
            } else {
                eprintln!("    {line}");
            }
        }
    }
    if let Some(failed) = err.downcast_ref::<opt_dist::StepFailed>() {
        eprintln!("  what to do: {}", failed.hint);
        eprintln!(
            "  the stage is not recorded as done, and its earlier outputs are untouched; the \
             steps that finished are in its journal, so running it (or `all`) again resumes \
             after them"
        );
    }
}
