//! Fail in seconds, not hours: checks that run before any real work.
//!
//! [`checks`] looks at the machine and the tree (python, rustc-perf, the stage0 toolchain, the
//! LLVM tools and their major version, free disk); `doctor` prints them as a table. [`preflight`]
//! runs the failing ones as errors, then puts every `x.py` command the run will issue through
//! the tree's own bootstrap with `--dry-run` (a fraction of a second each), the final dist
//! command first since it carries the user's arguments.

use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};

use super::cmd::Cmd;
use super::fsutil::{self, human_bytes, human_duration};
use super::llvm_tools::{llvm_major, llvm_tool_version};
use super::pipeline::{Action, StageId, StagePlan};
use super::training::Benchmarks;
use super::Ctx;

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
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn note(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Note,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            outcome: Outcome::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A problem is only fatal for runs that need the thing checked.
    fn needed_by_this_run(self, needed: bool) -> Check {
        match (self.outcome, needed) {
            (Outcome::Fail, false) => Check {
                outcome: Outcome::Note,
                ..self
            },
            _ => self,
        }
    }
}

pub fn checks(ctx: &Ctx, stages: &[StageId], sh: &xshell::Shell) -> Vec<Check> {
    let tree = &ctx.tree;
    let mut checks = Vec::new();

    let python = Cmd::new(tree.python.clone(), &tree.src).arg("--version");
    checks.push(match python.probe(sh) {
        Ok((true, out, err)) => Check::ok(
            "python",
            format!("{} ({})", tree.python, (out + &err).trim()),
        ),
        _ => Check::fail(
            "python",
            format!("`{} --version` failed", tree.python),
            "install python3, or pass --python <PATH>",
        ),
    });
    checks.push(Check::ok("x.py", tree.x_py().display().to_string()));

    let perf = tree.rustc_perf_dir();
    checks.push(
        if perf.join("collector").is_dir() && perf.join("Cargo.toml").is_file() {
            Check::ok("rustc-perf", perf.display().to_string())
        } else {
            Check::fail(
                "rustc-perf",
                format!("{} is missing or incomplete", perf.display()),
                "in a git checkout: git submodule update --init src/tools/rustc-perf; the \
             rustc-src tarball ships it",
            )
        },
    );

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

    checks.push(profdata_check(ctx, stages, sh));
    let bolt_stages = ctx.use_bolt
        && stages
            .iter()
            .any(|s| matches!(s, StageId::LlvmBolt | StageId::RustcBolt | StageId::Dist));
    let trains_bolt = ctx.use_bolt
        && stages
            .iter()
            .any(|s| matches!(s, StageId::LlvmBolt | StageId::RustcBolt));
    for (tool, needed) in [("llvm-bolt", bolt_stages), ("merge-fdata", trains_bolt)] {
        checks.push(host_tool_check(ctx, tool, bolt_fix(ctx), sh).needed_by_this_run(needed));
    }
    checks.extend(training_checks(ctx, stages));
    checks.push(build_dir_check(ctx));

    let waiting = super::backup::pending(&super::backup::backups_dir(&tree.artifacts_root()));
    if !waiting.is_empty() {
        let files: Vec<String> = waiting
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        checks.push(Check::note(
            "backups",
            format!("a killed run left changed: {}", files.join(", ")),
            "the next stage that runs puts the originals back first",
        ));
    }
    checks.push(disk_check(ctx, stages, sh));
    checks.push(Check::ok(
        "build.metrics",
        "not required; with build.metrics = true bootstrap's slowest steps are shown and recorded",
    ));
    checks
}

fn profdata_fix(ctx: &Ctx) -> String {
    match ctx.host_llvm.expected_major {
        Some(major) => format!(
            "install LLVM {major}'s tools (Debian: apt-get install llvm-{major}) or pass --llvm-dir"
        ),
        None => "install the LLVM tools of the compiler's LLVM version, or pass --llvm-dir".into(),
    }
}

fn bolt_fix(ctx: &Ctx) -> String {
    match ctx.host_llvm.expected_major {
        Some(major) => format!("Debian: apt-get install bolt-{major}; or pass --use-bolt false"),
        None => "install BOLT of the compiler's LLVM version, or pass --use-bolt false".into(),
    }
}

/// llvm-profdata: the in-tree LLVM's when LLVM is built (it merges rustc's profiles), and the
/// host's whenever it merges anything (LLVM's profiles, or everything without an in-tree
/// LLVM); the host's must be of the compiler's LLVM major, or the merge fails after the build
/// and training it follows.
fn profdata_check(ctx: &Ctx, stages: &[StageId], sh: &xshell::Shell) -> Check {
    const NAME: &str = "llvm-profdata";
    let host_merges =
        !ctx.llvm_built_in_tree() || stages.iter().any(|s| matches!(s, StageId::LlvmPgo));
    if !host_merges {
        return Check::ok(
            NAME,
            "built with the in-tree LLVM (same version as the compiler's)",
        );
    }
    let check = host_tool_check(ctx, NAME, profdata_fix(ctx), sh);
    match (&check.outcome, ctx.llvm_built_in_tree()) {
        (Outcome::Ok, true) => Check::ok(
            NAME,
            format!(
                "{} for LLVM's profiles; rustc's are merged by the in-tree LLVM's",
                check.detail
            ),
        ),
        _ => check,
    }
}

/// A host LLVM tool: there, and of the compiler's LLVM major version.
fn host_tool_check(ctx: &Ctx, name: &'static str, fix: String, sh: &xshell::Shell) -> Check {
    let path = ctx.host_llvm.tool(name);
    let version = match llvm_tool_version(&path, sh) {
        Ok(version) => version,
        Err(_) if !path.is_file() => {
            return Check::fail(
                name,
                format!(
                    "not found ({} looked up via {})",
                    path.display(),
                    ctx.host_llvm.found_by
                ),
                fix,
            )
        }
        Err(err) => return Check::fail(name, format!("{err:#}"), fix),
    };
    match ctx.host_llvm.expected_major {
        Some(major) if llvm_major(&version) != Some(major) => Check::fail(
            name,
            format!(
                "{} is LLVM {version}, the compiler's LLVM is {major}",
                path.display()
            ),
            fix,
        ),
        _ => Check::ok(name, format!("{} (LLVM {version})", path.display())),
    }
}

/// What the stages will train with: every benchmark in the tree's rustc-perf, and every
/// `--benchmark-cargo-config` file there. Otherwise training fails after the instrumented
/// build, hours into a real run.
fn training_checks(ctx: &Ctx, stages: &[StageId]) -> Vec<Check> {
    let trains_rustc = stages.iter().any(|s| match s {
        StageId::RustcPgo => true,
        StageId::RustcBolt => ctx.use_bolt,
        _ => false,
    });
    let trains_llvm = ctx.llvm_built_in_tree()
        && stages.iter().any(|s| match s {
            StageId::LlvmPgo => true,
            StageId::LlvmBolt => ctx.use_bolt,
            _ => false,
        });
    let benchmarks = ctx
        .tree
        .rustc_perf_dir()
        .join("collector/compile-benchmarks");
    let mut checks = Vec::new();
    for (name, wanted, crates) in [
        (
            "rustc benchmarks",
            trains_rustc,
            Benchmarks::rustc(ctx).crates,
        ),
        ("LLVM benchmarks", trains_llvm, Benchmarks::llvm(ctx).crates),
    ] {
        if !wanted {
            continue;
        }
        let missing: Vec<&String> = crates
            .iter()
            .filter(|c| !benchmarks.join(c).is_dir())
            .collect();
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
                format!(
                    "not in {}: {}",
                    benchmarks.display(),
                    missing
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "name benchmarks the tree's rustc-perf has (--rustc-crates)",
            )
        });
    }
    for config in &ctx.options.benchmark_cargo_config {
        if !config.is_file() {
            checks.push(Check::fail(
                "cargo config",
                format!("{} does not exist", config.display()),
                "give --benchmark-cargo-config an existing file",
            ));
        }
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
    if dir.exists() && !dir.is_dir() {
        return Check::fail(NAME, format!("{} is not a directory", dir.display()), fix);
    }
    let Some(existing) = dir.ancestors().find(|d| d.exists()) else {
        return Check::fail(NAME, format!("no part of {} exists", dir.display()), fix);
    };
    if !existing.is_dir() {
        return Check::fail(
            NAME,
            format!("{} is not a directory", existing.display()),
            fix,
        );
    }
    // Writable as this user, on this file system (a read-only mount says no to root too).
    let probe = existing.join(format!(".opt-dist-write-probe-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Check::ok(NAME, dir.display().to_string())
        }
        Err(err) => Check::fail(
            NAME,
            format!("cannot write in {}: {err}", existing.display()),
            fix,
        ),
    }
}

/// Bytes of the files below `dir` (0 when it does not exist).
fn source_bytes(dir: &Path) -> u64 {
    super::fsutil::files_below(dir, None)
        .map(|(_, bytes)| bytes)
        .unwrap_or(0)
}

fn disk_check(ctx: &Ctx, stages: &[StageId], sh: &xshell::Shell) -> Check {
    const NAME: &str = "free disk";
    // What every stage keeps, plus the largest of what one needs only while it runs, from
    // measured figures. Rough by nature: it catches a disk that is clearly too small.
    let compiler = source_bytes(&ctx.tree.src.join("compiler"));
    let estimate = super::disk::estimate(ctx, stages, compiler);
    let needed = estimate.bytes;
    let Some(free) = fsutil::free_bytes(&ctx.tree.build_dir, sh) else {
        return Check::note(
            NAME,
            "could not be measured (`df` failed)",
            "check it by hand",
        );
    };
    let detail = format!(
        "{} free below {}, about {} needed ({})",
        human_bytes(free),
        ctx.tree.build_dir.display(),
        human_bytes(needed),
        estimate.basis.join("; ")
    );
    if free >= needed || ctx.options.ignore_disk_space {
        Check::ok(NAME, detail)
    } else {
        Check::fail(
            NAME,
            detail,
            "free some space, use another --build-dir, or pass --ignore-disk-space",
        )
    }
}

/// The checks as a table, for `doctor`.
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

/// Runs the checks and the bootstrap dry runs; any failure stops the run before it starts.
pub fn preflight(ctx: &Ctx, plans: &[StagePlan], sh: &xshell::Shell) -> Result<()> {
    let started = Instant::now();
    let stages: Vec<StageId> = plans.iter().map(|p| p.stage).collect();
    let failed: Vec<Check> = checks(ctx, &stages, sh)
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

    // Every bootstrap call of the run. The test stage's `x.py test` is not among them: it runs
    // under a configuration that exists only once the dist toolchain is unpacked.
    let mut planned: Vec<(String, &Cmd, bool)> = Vec::new();
    for plan in plans {
        for (i, step) in plan.steps.iter().enumerate() {
            if let Action::Bootstrap { cmd } = &step.action {
                let what = format!("{} step {}: {}", plan.stage.name(), i + 1, step.title);
                planned.push((what, cmd, plan.stage == StageId::Dist));
            }
        }
    }
    // The final dist carries the user's arguments, the likeliest typo: check it first.
    planned.sort_by_key(|(_, _, dist)| !dist);
    for (what, cmd, _) in &planned {
        let dry = (*cmd).clone().arg("--dry-run");
        let (ok, _stdout, stderr) = dry.probe(sh)?;
        if !ok {
            let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = tail[tail.len().saturating_sub(15)..].join("\n");
            bail!(
                "preflight: bootstrap rejects the command for {what}; nothing was started\n\
                 command: {}\nbootstrap said:\n{tail}",
                cmd.shell_line()
            );
        }
    }
    eprintln!(
        "opt-dist: preflight passed in {}: tools and tree checked, {} x.py command(s) accepted by \
         bootstrap's --dry-run",
        human_duration(started.elapsed().as_secs_f64()),
        planned.len()
    );
    Ok(())
}
