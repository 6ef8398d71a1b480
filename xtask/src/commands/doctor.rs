//! Fail in seconds, not hours: the checks that run before any real work, taken from the plans
//! themselves (what each one checks: docs/usage.md, "Preflight and `doctor`"). `doctor` prints
//! them as a table; a run's preflight stops at a failing one ([`preflight`] says when the slow
//! ones go on beside the first steps).

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};

use super::Invocation;
use crate::engine::context::Ctx;
use crate::engine::disk;
use crate::engine::plan::{Effect, FitBy, ProfileCheck, StagePlan};
use crate::stages::StageId;
use crate::tools::bootstrap::{self, Interface};
use crate::tools::llvm::{llvm_major, llvm_tool_version, HOST_TOOLS};
use crate::tools::tree::Tree;
use crate::util::cmd::Cmd;
use crate::util::fs::{self, human_bytes, human_duration};
use crate::util::process;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Worth knowing, not in the way of this run.
    Note,
    /// This run cannot succeed.
    Fail,
}

#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, outcome: Outcome::Ok, detail: detail.into(), fix: None }
    }

    fn note(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, outcome: Outcome::Note, detail: detail.into(), fix: Some(fix.into()) }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, outcome: Outcome::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// `doctor`: every check for a full run, as a table; bootstrap's interface is one of them, so
/// a tree whose bootstrap cannot answer still gets the rest of the table.
pub fn doctor(invocation: Invocation, sh: &xshell::Shell) -> Result<()> {
    let tree = Tree::locate(&invocation.global.tree, sh)?;
    let asked = match invocation.global.interface {
        Some(interface) => Ok((interface, "--interface")),
        None => bootstrap::detect_interface(&tree, sh).map(|i| (i, "asked bootstrap")),
    };
    let (interface, interface_check) = match asked {
        Ok((i, how)) => (i, Check::ok("interface", format!("{} ({how})", i.name()))),
        Err(err) => {
            let fix = "fix the tree's bootstrap configuration or pass --interface";
            (Interface::Legacy, Check::fail("interface", format!("{err:#}"), fix))
        }
    };
    let ctx = Ctx::new(
        &invocation.global,
        tree,
        interface,
        invocation.options,
        invocation.dist_args,
        true,
        sh,
    )?;
    let plans: Vec<StagePlan> = StageId::ALL.iter().map(|s| s.plan(&ctx)).collect::<Result<_>>()?;
    let mut checks = vec![interface_check];
    checks.extend(checks_for(&ctx, &plans, sh, true));
    println!("opt-dist doctor: {}\n", ctx.tree.describe());
    print!("{}", render_table(&checks));
    if checks.iter().any(|c| c.outcome == Outcome::Fail) {
        bail!("doctor found problems: see the FAIL lines and their fixes above");
    }
    Ok(())
}

/// Python answers `--version`.
fn python_check(tree: &Tree, sh: &xshell::Shell) -> Check {
    let python = Cmd::new(tree.python.clone(), &tree.src).arg("--version");
    match python.probe(sh) {
        Ok((true, out, err)) => {
            Check::ok("python", format!("{} ({})", tree.python, (out + &err).trim()))
        }
        _ => Check::fail(
            "python",
            format!("`{} --version` failed", tree.python),
            "install python3, or pass --python <PATH>",
        ),
    }
}

/// The checks for running `plans` (python's too with `python`: a run checks it with
/// bootstrap's dry runs).
fn checks_for(ctx: &Ctx, plans: &[StagePlan], sh: &xshell::Shell, python: bool) -> Vec<Check> {
    let tree = &ctx.tree;
    let mut checks = Vec::new();
    if python {
        checks.push(python_check(tree, sh));
    }
    checks.push(Check::ok("x.py", tree.x_py().display().to_string()));
    let perf = tree.rustc_perf_dir();
    checks.push(match perf.join("collector").is_dir() && perf.join("Cargo.toml").is_file() {
        true => Check::ok("rustc-perf", perf.display().to_string()),
        false => Check::fail(
            "rustc-perf",
            format!("{} is missing or incomplete", perf.display()),
            "in a git checkout: git submodule update --init src/tools/rustc-perf; the rustc-src \
             tarball ships it",
        ),
    });
    let cargo = tree.stage0_cargo();
    checks.push(match (&tree.config.cargo, cargo.is_file()) {
        (_, true) => Check::ok("stage0 cargo", cargo.display().to_string()),
        (Some(_), false) => Check::fail(
            "stage0 cargo",
            format!("build.cargo = {} does not exist", cargo.display()),
            "fix build.cargo in bootstrap.toml",
        ),
        (None, false) => Check::note(
            "stage0 cargo",
            format!("{} appears with bootstrap's first build", cargo.display()),
            "bootstrap downloads stage0; offline, set build.rustc and build.cargo in bootstrap.toml",
        ),
    });
    checks.extend(tool_checks(ctx, plans, sh));
    checks.extend(training_checks(ctx, plans));
    checks.push(build_dir_check(ctx));
    let waiting =
        crate::engine::backup::pending(&crate::engine::backup::backups_dir(&tree.artifacts_root()));
    if !waiting.is_empty() {
        let files: Vec<String> = waiting.iter().map(|(p, _)| p.display().to_string()).collect();
        checks.push(Check::note(
            "backups",
            format!("a killed run left changed: {}", files.join(", ")),
            "the next stage that runs puts the originals back first",
        ));
    }
    checks.push(disk_check(ctx, plans));
    checks.push(Check::ok(
        "build.metrics",
        "not required; with build.metrics = true bootstrap's slowest steps are shown and recorded",
    ));
    checks
}

/// The host LLVM tools the plans run: each must be there and of the compiler's LLVM major, or
/// the step that uses it fails after the builds and training before it. Tools the build itself
/// makes (the in-tree llvm-profdata) appear with it.
fn tool_checks(ctx: &Ctx, plans: &[StagePlan], sh: &xshell::Shell) -> Vec<Check> {
    let mut used: Vec<PathBuf> = Vec::new();
    for effect in plans.iter().flat_map(|p| &p.steps).flat_map(|s| &s.effects) {
        let tools = match effect {
            Effect::Run { cmd, .. } => vec![PathBuf::from(cmd.program())],
            Effect::CheckProfdata { profdata: tool, .. }
            | Effect::MergeFdata { merge_fdata: tool, .. }
            | Effect::Validate { check: ProfileCheck::LlvmProfdata { tool }, .. } => {
                vec![tool.clone()]
            }
            Effect::CheckFit { by: FitBy::Symbols { profdata, nm }, .. } => {
                vec![profdata.clone(), nm.clone()]
            }
            _ => continue,
        };
        for tool in tools {
            let host_llvm = HOST_TOOLS.iter().any(|(name, _)| fs::file_name(&tool) == *name);
            if host_llvm && !tool.starts_with(&ctx.tree.build_dir) && !used.contains(&tool) {
                used.push(tool);
            }
        }
    }
    let in_tree = ctx.llvm_built_in_tree();
    let mut checks = Vec::new();
    if in_tree && !used.iter().any(|t| t.ends_with("llvm-profdata")) {
        checks.push(Check::ok(
            "llvm-profdata",
            "built with the in-tree LLVM (same version as the compiler's)",
        ));
    }
    let major = ctx.host_llvm.expected_major;
    for tool in used {
        let file = fs::file_name(&tool);
        let Some(&(name, bolt)) = HOST_TOOLS.iter().find(|(name, _)| file == *name) else {
            continue;
        };
        let fix = match (bolt, major) {
            (false, Some(m)) => format!(
                "install LLVM {m}'s tools (Debian: apt-get install llvm-{m}) or pass --llvm-dir"
            ),
            (false, None) => {
                "install the LLVM tools of the compiler's LLVM version, or pass --llvm-dir".into()
            }
            (true, Some(m)) => {
                format!("Debian: apt-get install bolt-{m}; or pass --use-bolt false")
            }
            (true, None) => {
                "install BOLT of the compiler's LLVM version, or pass --use-bolt false".into()
            }
        };
        checks.push(match llvm_tool_version(&tool, sh) {
            Err(_) if !tool.is_file() => {
                let how = &ctx.host_llvm.found_by;
                Check::fail(
                    name,
                    format!("not found ({} looked up via {how})", tool.display()),
                    fix,
                )
            }
            Err(err) => Check::fail(name, format!("{err:#}"), fix),
            Ok(version) if major.is_some() && llvm_major(&version) != major => {
                let compiler = major.unwrap_or_default();
                let detail = format!(
                    "{} is LLVM {version}, the compiler's LLVM is {compiler}",
                    tool.display()
                );
                Check::fail(name, detail, fix)
            }
            Ok(version) if name == "llvm-profdata" && in_tree => Check::ok(
                name,
                format!(
                    "{} (LLVM {version}) for LLVM's profiles; rustc's are merged by the in-tree \
                     LLVM's",
                    tool.display()
                ),
            ),
            Ok(version) => Check::ok(name, format!("{} (LLVM {version})", tool.display())),
        });
    }
    checks
}

/// What the plans train with: every benchmark in the tree's rustc-perf, and every
/// `--benchmark-cargo-config` file there. Otherwise training fails after the instrumented
/// build, hours into a real run.
fn training_checks(ctx: &Ctx, plans: &[StagePlan]) -> Vec<Check> {
    let benchmarks = ctx.tree.rustc_perf_dir().join("collector/compile-benchmarks");
    let mut checks: Vec<Check> = Vec::new();
    for effect in plans.iter().flat_map(|p| &p.steps).flat_map(|s| &s.effects) {
        let Effect::Run { training: true, benchmarks: crates, .. } = effect else {
            continue;
        };
        let name = match *crates == ctx.training.llvm {
            true => "LLVM benchmarks",
            false => "rustc benchmarks",
        };
        if checks.iter().any(|c| c.name == name) {
            continue;
        }
        let missing: Vec<&str> =
            crates.iter().filter(|c| !benchmarks.join(c).is_dir()).map(String::as_str).collect();
        checks.push(if crates.is_empty() {
            Check::fail(
                name,
                "the list is empty: training would run nothing",
                "name at least one benchmark with --rustc-crates, or leave it out for upstream's",
            )
        } else if missing.is_empty() {
            Check::ok(name, crates.join(","))
        } else {
            Check::fail(
                name,
                format!("not in {}: {}", benchmarks.display(), missing.join(", ")),
                "name benchmarks the tree's rustc-perf has (--rustc-crates)",
            )
        });
    }
    for config in ctx.options.benchmark_cargo_config.iter().filter(|c| !c.is_file()) {
        checks.push(Check::fail(
            "cargo config",
            format!("{} does not exist", config.display()),
            "give --benchmark-cargo-config an existing file",
        ));
    }
    checks
}

/// Before a run that writes takes the build dir's lock: it must be able to hold it.
pub fn require_usable_build_dir(ctx: &Ctx) -> Result<()> {
    let check = build_dir_check(ctx);
    if check.outcome == Outcome::Fail {
        bail!(
            "preflight: this run cannot succeed, nothing was started:\n{}",
            render_table(&[check])
        );
    }
    Ok(())
}

/// The build dir: a directory, or one that can be made, and writable.
fn build_dir_check(ctx: &Ctx) -> Check {
    const NAME: &str = "build dir";
    let dir = &ctx.tree.build_dir;
    let fix = "pass a --build-dir that is a writable directory (or can be created)";
    let existing = dir.ancestors().find(|d| d.exists());
    match existing {
        None => Check::fail(NAME, format!("no part of {} exists", dir.display()), fix),
        Some(existing) if !existing.is_dir() => {
            Check::fail(NAME, format!("{} is not a directory", existing.display()), fix)
        }
        Some(existing) => {
            // Writable as this user, on this file system (a read-only mount says no to root too).
            let probe = existing.join(format!(".opt-dist-write-probe-{}", std::process::id()));
            match std::fs::write(&probe, b"") {
                Ok(()) => {
                    let _ = std::fs::remove_file(&probe);
                    Check::ok(NAME, dir.display().to_string())
                }
                Err(err) => {
                    Check::fail(NAME, format!("cannot write in {}: {err}", existing.display()), fix)
                }
            }
        }
    }
}

fn disk_check(ctx: &Ctx, plans: &[StagePlan]) -> Check {
    const NAME: &str = "free disk";
    // What every stage keeps, plus the largest of what one needs only while it runs, from
    // measured figures. Rough by nature: it catches a disk that is clearly too small.
    let compiler = fs::files_below(&ctx.tree.src.join("compiler"), None).map_or(0, |(_, b)| b);
    let defs: Vec<_> = plans.iter().map(|p| p.stage).collect();
    let estimate = disk::estimate(ctx, &defs, compiler);
    let Some(free) = fs::free_bytes(&ctx.tree.build_dir) else {
        return Check::note(NAME, "could not be measured (`df` failed)", "check it by hand");
    };
    let detail = format!(
        "{} free below {}, about {} needed ({})",
        human_bytes(free),
        ctx.tree.build_dir.display(),
        human_bytes(estimate.bytes),
        estimate.basis.join("; ")
    );
    match free >= estimate.bytes || ctx.options.ignore_disk_space {
        true => Check::ok(NAME, detail),
        false => Check::fail(
            NAME,
            detail,
            "free some space, use another --build-dir, or pass --ignore-disk-space",
        ),
    }
}

/// The checks as a table.
pub fn render_table(checks: &[Check]) -> String {
    let mut out = String::new();
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for check in checks {
        let mark = match check.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Note => "note",
            Outcome::Fail => "FAIL",
        };
        let _ = writeln!(out, "{mark}  {:<width$}  {}", check.name, check.detail);
        if let (Some(fix), false) = (&check.fix, check.outcome == Outcome::Ok) {
            let _ = writeln!(out, "      {:<width$}  fix: {fix}", "");
        }
    }
    out
}

/// Runs the checks; any failure stops the run before it starts. Then bootstrap's dry runs of
/// every x.py call of the run: here, before anything starts, when bootstrap has not run in this
/// build dir yet (concurrent first calls would each download its stage0 toolchain); else they
/// are left to [`bootstrap_dry_runs`] beside the first steps, and the answer is true.
pub fn preflight(ctx: &Ctx, plans: &[StagePlan], sh: &xshell::Shell) -> Result<bool> {
    let started = Instant::now();
    let failed: Vec<Check> = checks_for(ctx, plans, sh, false)
        .into_iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .collect();
    if !failed.is_empty() {
        bail!(
            "preflight: this run cannot succeed, nothing was started:\n{}(--no-preflight skips \
             these checks)",
            render_table(&failed)
        );
    }
    if bootstrap::has_run_here(&ctx.tree) {
        eprintln!(
            "opt-dist: preflight: tools and tree checked in {}; python and bootstrap's dry runs go \
             on in the background: only steps that touch no profile and no library start before \
             they end",
            human_duration(started.elapsed().as_secs_f64())
        );
        return Ok(true);
    }
    bootstrap_dry_runs(ctx, plans, true)?;
    Ok(false)
}

/// Python, then every bootstrap call of the run that can be tried in advance through the
/// tree's bootstrap with `--dry-run`, as many at once as there are cores; the final dist
/// carries the user's arguments, the likeliest typo: it goes first. `before_anything`: nothing
/// started yet, and bootstrap may first download its stage0 toolchain, so the first dry run
/// goes alone.
pub fn bootstrap_dry_runs(ctx: &Ctx, plans: &[StagePlan], before_anything: bool) -> Result<()> {
    let started = Instant::now();
    let sh = xshell::Shell::new()?;
    let python = python_check(&ctx.tree, &sh);
    if python.outcome == Outcome::Fail {
        bail!("preflight: this run cannot succeed:\n{}", render_table(&[python]));
    }
    let mut planned: Vec<(String, &Cmd, bool)> = Vec::new();
    for plan in plans {
        for (i, step) in plan.steps.iter().enumerate() {
            for effect in &step.effects {
                if let Effect::Bootstrap { cmd, preflight: true, .. } = effect {
                    let what = format!("{} step {}: {}", plan.stage.name, i + 1, step.title);
                    planned.push((what, cmd, plan.stage.takes_dist_args));
                }
            }
        }
    }
    planned.sort_by_key(|(_, _, dist)| !dist);
    let nothing_started = if before_anything { "; nothing was started" } else { "" };
    // The rejection of a planned call, if bootstrap rejects it.
    let dry_run = |(what, cmd, _): &(String, &Cmd, bool)| {
        let answer = xshell::Shell::new()
            .map_err(anyhow::Error::from)
            .and_then(|sh| (*cmd).clone().arg("--dry-run").probe(&sh));
        let said = match answer {
            Ok((true, ..)) => return None,
            Ok((false, _, stderr)) => {
                let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
                tail[tail.len().saturating_sub(15)..].join("\n")
            }
            Err(err) => format!("{err:#}"),
        };
        Some(format!(
            "preflight: bootstrap rejects the command for {what}{nothing_started}\ncommand: {}\n\
             bootstrap said:\n{said}",
            cmd.shell_line()
        ))
    };
    // As many at once as there are cores; not after a rejection, nor after a signal (a step
    // that fails meanwhile waits for them: a rejection is the likelier cause).
    let alone = usize::from(before_anything).min(planned.len());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut answers: Vec<Option<String>> = Vec::new();
    for batch in planned[..alone].chunks(1).chain(planned[alone..].chunks(cores)) {
        if answers.iter().any(Option::is_some) || process::signal().is_some() {
            break;
        }
        answers.extend(std::thread::scope(|scope| {
            let running: Vec<_> = batch.iter().map(|call| scope.spawn(|| dry_run(call))).collect();
            let joined = running.into_iter().map(|r| r.join().unwrap_or(Some("panicked".into())));
            joined.collect::<Vec<_>>()
        }));
    }
    if let Some(rejection) = answers.iter().flatten().next() {
        bail!("{rejection}");
    }
    if answers.len() == planned.len() {
        eprintln!(
            "opt-dist: preflight passed: {} x.py command(s) accepted by bootstrap's --dry-run, in \
             {}",
            planned.len(),
            human_duration(started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}
