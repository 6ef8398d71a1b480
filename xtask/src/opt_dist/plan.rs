//! `opt-dist plan`: the exact steps a run would take, printed instead of run.
//!
//! The plan is the same [`StagePlan`] the runner executes, so what it prints is what runs.
//! `--format sh` renders a POSIX script that replays the run: environment assignments in front
//! of each command, `cd` wherever the working directory changes, and the xtask's own checks as
//! their shell equivalents.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::cmd::shell_quote;
use super::pipeline::{Action, StagePlan};
use super::Ctx;
use crate::flags::PlanFormat;

pub fn render(ctx: &Ctx, plans: &[StagePlan], format: PlanFormat) -> Result<String> {
    Ok(match format {
        PlanFormat::Text => text(ctx, plans),
        PlanFormat::Sh => sh(ctx, plans),
        PlanFormat::Json => {
            let value = json!({
                "tree": {
                    "src": ctx.tree.src,
                    "version": ctx.tree.version,
                    "commit": ctx.tree.commit,
                    "host": ctx.tree.host,
                    "build_dir": ctx.tree.build_dir,
                },
                "interface": ctx.interface.name(),
                "options": ctx.options_record(),
                "stages": plans,
            });
            serde_json::to_string_pretty(&value)? + "\n"
        }
    })
}

fn describe(ctx: &Ctx) -> String {
    format!(
        "rust {} ({}) at {}, host {}, {} bootstrap interface",
        ctx.tree.version,
        ctx.tree.commit.as_deref().unwrap_or("no commit recorded"),
        ctx.tree.src.display(),
        ctx.tree.host,
        ctx.interface.name()
    )
}

fn text(ctx: &Ctx, plans: &[StagePlan]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Plan for {}", describe(ctx));
    for plan in plans {
        let _ = writeln!(out, "\n{}: {}", plan.stage.name(), plan.stage.def().title);
        let _ = writeln!(out, "  directory: {}", plan.dir.display());
        if let Some(reason) = &plan.skipped {
            let _ = writeln!(out, "  skipped: {reason}");
        }
        for input in &plan.inputs {
            let _ = writeln!(out, "  input:  {} ({})", input.path.display(), input.kind);
        }
        for output in &plan.outputs {
            let _ = writeln!(out, "  output: {} ({})", output.path.display(), output.kind);
        }
        for (i, step) in plan.steps.iter().enumerate() {
            let _ = writeln!(out, "  {:>2}. {}", i + 1, step.title);
            let line = match &step.action {
                Action::Run { cmd } => format!("cd {} && {}", cmd.cwd.display(), cmd.shell_line()),
                other => shell_equivalent(other, &ctx.tree.host),
            };
            let _ = writeln!(out, "      $ {line}");
        }
    }
    out
}

fn sh(ctx: &Ctx, plans: &[StagePlan]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "#!/bin/sh");
    let _ = writeln!(
        out,
        "# Replays `cargo xtask opt-dist` for {}.",
        describe(ctx)
    );
    let _ = writeln!(
        out,
        "# Written by `cargo xtask opt-dist plan --format sh`; the xtask's own checks appear as\n\
         # shell equivalents. It stops at the first failing command."
    );
    let _ = writeln!(out, "set -eu");
    let mut cwd: Option<PathBuf> = None;
    for plan in plans {
        let _ = writeln!(
            out,
            "\n# == {}: {} ==",
            plan.stage.name(),
            plan.stage.def().title
        );
        if let Some(reason) = &plan.skipped {
            let _ = writeln!(out, "# skipped: {reason}");
            continue;
        }
        let _ = writeln!(out, "mkdir -p {}", quote_path(&plan.dir));
        for (i, step) in plan.steps.iter().enumerate() {
            let _ = writeln!(out, "# {}. {}", i + 1, step.title);
            match &step.action {
                Action::Run { cmd } => {
                    if cwd.as_deref() != Some(cmd.cwd.as_path()) {
                        let _ = writeln!(out, "cd {}", quote_path(&cmd.cwd));
                        cwd = Some(cmd.cwd.clone());
                    }
                    let _ = writeln!(out, "{}", cmd.shell_line());
                }
                other => {
                    let _ = writeln!(out, "{}", shell_equivalent(other, &ctx.tree.host));
                    // Some equivalents change directory themselves: say the next cd again.
                    cwd = None;
                }
            }
        }
    }
    out
}

fn quote_path(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

/// The shell command that does what the xtask does itself for a non-`Run` step.
fn shell_equivalent(action: &Action, host: &str) -> String {
    match action {
        Action::Run { cmd } => cmd.shell_line(),
        Action::ResetScratchDir { dir } => {
            format!("rm -rf {0} && mkdir -p {0}", quote_path(dir))
        }
        Action::ExpectRawProfiles { dir, extension } => format!(
            "test -n \"$(find {} -name '*.{extension}' -print | head -n 1)\"",
            quote_path(dir)
        ),
        Action::CheckProfdataMatchesCompiler { profdata, compiler } => format!(
            "test \"$({} merge --version | sed -n 's/.*LLVM version \\([0-9]*\\).*/\\1/p')\" = \
             \"$({} -vV | sed -n 's/^LLVM version: \\([0-9]*\\).*/\\1/p')\"",
            quote_path(profdata),
            quote_path(compiler)
        ),
        Action::ValidateProfile { profdata, profile } => format!(
            "{} show {} | grep -q '^Maximum function count: [1-9]'",
            quote_path(profdata),
            quote_path(profile)
        ),
        Action::Publish { from, to } => format!("mv -f {} {}", quote_path(from), quote_path(to)),
        Action::BoltInstrument {
            library,
            bolt,
            profile_prefix,
            scratch,
            backups,
            ..
        } => {
            let backup = format!("{}/\"$(basename \"$lib\")\"", quote_path(backups));
            let instrument =
                super::bolt::instrument_cmd(bolt, Path::new("LIB"), profile_prefix, scratch);
            format!(
                "lib={0}\nmkdir -p {1} && cp \"$lib\" {backup} && trap 'cp {backup} \"$lib\"' EXIT\n{2} && cp {3} \"$lib\" && rm {3}",
                library.shell(),
                quote_path(backups),
                instrument.shell_line().replace(" LIB ", " \"$lib\" "),
                quote_path(scratch)
            )
        }
        Action::RestoreBackups { backups } => format!(
            "cp {0}/\"$(basename \"$lib\")\" \"$lib\" && rm {0}/\"$(basename \"$lib\")\" && trap - EXIT",
            quote_path(backups)
        ),
        Action::MergeFdata {
            merge_fdata,
            raw_dir,
            output,
        } => format!(
            "{} -o {} {}/*.fdata",
            quote_path(merge_fdata),
            quote_path(output),
            quote_path(raw_dir)
        ),
        Action::ValidateFdata { profile } => format!("grep -q '^1 ' {}", quote_path(profile)),
        Action::BoltOptimize {
            library,
            bolt,
            profile,
            scratch,
            ..
        } => {
            let input = scratch.with_extension("original");
            let optimize = super::bolt::optimize_cmd(bolt, &input, profile, scratch, host);
            format!(
                "lib={0}\ncp \"$lib\" {1} && {2} && cp {3} \"$lib\" && rm {3} {1}",
                library.shell(),
                quote_path(&input),
                optimize.shell_line(),
                quote_path(scratch)
            )
        }
        Action::RecordDistFiles { dist_dir } => format!("ls -l {}", quote_path(dist_dir)),
        Action::CheckPackagedLibraries {
            dist_dir,
            libraries,
            scratch,
        } => {
            let mut lines = vec![format!(
                "rm -rf {0} && mkdir -p {0} && tar -xf {1}/rustc-*-{host}.tar.* -C {0}",
                quote_path(scratch),
                quote_path(dist_dir)
            )];
            for library in libraries {
                lines.push(format!(
                    "cmp $(find {} -path '*/rustc/lib/{}' -type f) {}",
                    quote_path(scratch),
                    library.shown(),
                    library.shell()
                ));
            }
            lines.push(format!("rm -rf {}", quote_path(scratch)));
            lines.join("\n")
        }
        Action::UnpackDist { dist_dir, unpacked } => format!(
            "rm -rf {0} && mkdir -p {0} && for t in {1}/rustc-*-{host}.tar.* {1}/rust-std-*-{host}.tar.* \
             {1}/cargo-*-{host}.tar.* {1}/rust-src-*.tar.*; do tar -xf \"$t\" -C {0}; done\n\
             # then copy rust-std-*/rust-std-{host}/lib/rustlib/{host}/lib and rust-src-*/rust-src/lib/rustlib/src\n\
             # into rustc-*-{host}/rustc/lib/rustlib/",
            quote_path(unpacked),
            quote_path(dist_dir)
        ),
        Action::RunWithTestConfig { cmd, config, .. } => format!(
            "# write the test configuration (the stage keeps it, see its manifest) to {}\ncd {}\n{}",
            quote_path(config),
            quote_path(&cmd.cwd),
            cmd.shell_line()
        ),
        Action::RemoveRawProfiles { dir } | Action::RemoveBuildOutput { dir } => {
            format!("rm -rf {}", quote_path(dir))
        }
        Action::KeepRawProfiles { dir, to } => {
            format!("rm -rf {1} && mv {0} {1}", quote_path(dir), quote_path(to))
        }
    }
}
