//! The benchmark suite: `ci/bench` (or `cargo bench --bench suite`) measures what the xtask
//! promises about time and disk on the miniature tree and writes `BENCHMARKS.md`.
//!
//! Every figure is a count or a ratio from one run, so the table compares like with like on
//! whatever machine runs it:
//! * a no-op `all` on a finished pipeline vs starting the xtask at all (`--version`);
//! * `all` resumed after a failure in each stage vs the remaining stages run alone;
//! * stage by stage vs `all` (x.py calls and wall time);
//! * a fresh build root with imported profiles vs `all` from scratch;
//! * raw profiles per process vs pooled vs streamed (bytes, files, training time, overlap of
//!   the merged profiles), and with parallel training where the xtask has `--training-jobs`;
//!   streamed vs per-process for rustc's PGO and BOLT training, five alternating rounds each
//!   (`SUITE_ONLY=streamed` measures only these, after `all`, and prints them);
//! * how much of each profile the binaries built with it hold: the pipeline's own, a previous
//!   release's, another binary's (`SUITE_ONLY_FITS=1` measures only these, after `all`, and
//!   prints them instead of writing `BENCHMARKS.md`);
//! * the miniature compiler plain vs PGO vs PGO+BOLT (`mini_compiler_speed`'s report, when
//!   `ci/bench` ran it first: `target/mini_compiler_speed/results.md`);
//! * preflight (`doctor`) on the real tree when `OPT_DIST_REAL_TREE` names one;
//! * the xtask's own time in `all` from scratch: its wall minus its tools' (see [`OwnTime`]).
//!   `SUITE_ONLY=own-time cargo bench --bench suite` measures it alone, three times, and prints
//!   the row instead of writing the table.
//!
//! It also rewrites `xtask/src/engine/disk_reference.json`, the miniature tree's measured
//! disk figures that the disk estimate scales from.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::Value;

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");
const LLVM_PROFDATA: &str = "/usr/lib/llvm-22/bin/llvm-profdata";
const STAGES: &[&str] = &["rustc-pgo", "llvm-pgo", "llvm-bolt", "rustc-bolt", "dist"];

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("suite: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A copy of the miniature tree (or of another copy, build dir and all).
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn fresh(work: &Path, name: &str) -> Result<Tree> {
        let root = work.join(name);
        let fixture = repo_root().join("tests/mini-rust-tree");
        run_ok(Command::new("cp").arg("-a").arg(&fixture).arg(&root))?;
        for generated in ["build", ".mini-tree", "src/tools/rustc-perf/target"] {
            let _ = std::fs::remove_dir_all(root.join(generated));
        }
        Ok(Tree { root })
    }

    /// `cp -a` keeps the build dir's hard links (bootstrap's sysroot links).
    fn copy(&self, work: &Path, name: &str) -> Result<Tree> {
        let root = work.join(name);
        run_ok(Command::new("cp").arg("-a").arg(&self.root).arg(&root))?;
        Ok(Tree { root })
    }

    fn xtask(&self, args: &[&str], env: &[(&str, &str)]) -> Result<(f64, Output)> {
        let mut cmd = Command::new(XTASK);
        cmd.args(["opt-dist", "--src"]).arg(&self.root).args(args);
        cmd.current_dir(&self.root);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let out = cmd.output().context("running the xtask")?;
        Ok((started.elapsed().as_secs_f64(), out))
    }

    fn xtask_ok(&self, args: &[&str]) -> Result<f64> {
        let (secs, out) = self.xtask(args, &[])?;
        if !out.status.success() {
            bail!(
                "`xtask opt-dist {}` failed in {}:\n{}",
                args.join(" "),
                self.root.display(),
                tail(&out.stderr)
            );
        }
        Ok(secs)
    }

    /// How many times the miniature tree ran `tool` (x.py or the collector) so far, not
    /// counting preflight's `--dry-run`s.
    fn calls(&self, tool: &str) -> usize {
        std::fs::read_to_string(self.root.join(".mini-tree/record.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["tool"] == tool)
            .filter(|r| !r["argv"].as_array().is_some_and(|a| a.iter().any(|w| w == "--dry-run")))
            .count()
    }

    fn manifest(&self, stage: &str) -> Result<Value> {
        let path = self.root.join("build/opt-dist").join(stage).join("manifest.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn run_ok(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("{cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?}: {status}");
    }
    Ok(())
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let middle = samples.len() / 2;
    match samples.len() % 2 {
        1 => samples[middle],
        _ => (samples[middle - 1] + samples[middle]) / 2.0,
    }
}

/// One line of the table.
struct Row {
    what: String,
    figure: String,
    goal: &'static str,
    met: Option<bool>,
}

fn row(what: impl Into<String>, figure: impl Into<String>) -> Row {
    Row { what: what.into(), figure: figure.into(), goal: "", met: None }
}

fn goal(what: impl Into<String>, figure: impl Into<String>, goal: &'static str, met: bool) -> Row {
    Row { what: what.into(), figure: figure.into(), goal, met: Some(met) }
}

fn run() -> Result<()> {
    let work = std::env::temp_dir().join(format!("opt-dist-suite-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut rows = Vec::new();
    let started = Instant::now();

    if std::env::var("SUITE_ONLY").as_deref() == Ok("own-time") {
        // This measurement alone, printed: the table is written by whole runs only.
        let (own, _) = own_time_of_runs(&work, 3)?;
        eprintln!("| {} | {} | {} | {} |", own.what, own.figure, own.goal, own.met == Some(true));
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }

    eprintln!("suite: `all` from scratch");
    let scratch = Tree::fresh(&work, "scratch")?;
    let (all_secs, all_out) = scratch.xtask(&["all"], &[])?;
    if !all_out.status.success() {
        bail!("`all` from scratch failed:\n{}", tail(&all_out.stderr));
    }
    let all_xpy = scratch.calls("x.py");
    let all_collector = scratch.calls("collector");
    rows.push(row(
        "`all` from scratch",
        format!("{all_secs:.1} s, {all_xpy} x.py calls, {all_collector} trainings"),
    ));
    // One run's own time moves with the machine's load by a tenth of a second: the median of
    // three runs of their own.
    let (own, all_walls) = own_time_of_runs(&work, 3)?;
    rows.push(own);
    if std::env::var("SUITE_ONLY").as_deref() == Ok("streamed") {
        for r in streamed_goals(&scratch, &work)? {
            eprintln!("| {} | {} | {} | {:?} |", r.what, r.figure, r.goal, r.met);
        }
        return Ok(());
    }
    if std::env::var_os("SUITE_ONLY_FITS").is_some() {
        for r in profile_fits(&scratch, &work)? {
            eprintln!("| {} | {} | {} | {:?} |", r.what, r.figure, r.goal, r.met);
        }
        return Ok(());
    }
    scratch.xtask_ok(&["test"])?;
    write_disk_reference(&scratch)?;

    eprintln!("suite: no-op `all` vs --version");
    let before_noop = scratch.calls("x.py");
    let mut noop = Vec::new();
    let mut version = Vec::new();
    for _ in 0..5 {
        noop.push(scratch.xtask_ok(&["all"])?);
        let t = Instant::now();
        run_ok(Command::new(XTASK).args(["opt-dist", "--version"]))?;
        version.push(t.elapsed().as_secs_f64());
    }
    let (noop, version) = (median(noop), median(version));
    let noop_xpy = scratch.calls("x.py") - before_noop;
    rows.push(goal(
        "no-op `all` on a finished pipeline (median of 5)",
        format!(
            "{noop:.3} s, {noop_xpy} x.py calls (`--version`: {version:.3} s, ratio {:.1})",
            noop / version
        ),
        "< 0.2 s, 0 x.py calls",
        noop < 0.2 && noop_xpy == 0,
    ));

    // One run of either moves with the machine's load by a tenth: medians, of the four runs of
    // `all` from scratch above and of two stage-by-stage runs.
    eprintln!("suite: stage by stage (2 runs)");
    let (mut staged_walls, mut staged_xpy) = (Vec::new(), Vec::new());
    for run in 0..2 {
        let staged = Tree::fresh(&work, &format!("stage-by-stage-{run}"))?;
        let mut secs = 0.0;
        for stage in STAGES {
            secs += staged.xtask_ok(&[stage])?;
        }
        staged_walls.push(secs);
        staged_xpy.push(staged.calls("x.py"));
        let _ = std::fs::remove_dir_all(&staged.root);
    }
    let all_median = median([all_walls, vec![all_secs]].concat());
    let ratio = median(staged_walls) / all_median;
    rows.push(goal(
        "stage by stage vs `all`, one build dir (medians of 2 and 4 runs)",
        format!(
            "x.py calls {} vs {all_xpy}; wall ratio {ratio:.2}",
            staged_xpy.iter().map(usize::to_string).collect::<Vec<_>>().join(" and ")
        ),
        "same x.py count, ratio ≈ 1.0",
        staged_xpy.iter().all(|&calls| calls == all_xpy) && (ratio - 1.0).abs() < 0.1,
    ));

    eprintln!("suite: fresh root with imported profiles");
    let exported = work.join("exported");
    scratch.xtask_ok(&["export", exported.to_str().unwrap()])?;
    let fresh = Tree::fresh(&work, "imported")?;
    fresh.xtask_ok(&["import", exported.to_str().unwrap()])?;
    let imported_secs = fresh.xtask_ok(&["all"])?;
    rows.push(row(
        "fresh build root with imported profiles vs `all` from scratch",
        format!(
            "{imported_secs:.1} s vs {all_secs:.1} s (ratio {:.2}); {} vs {all_xpy} x.py calls, \
             {} vs {all_collector} trainings",
            imported_secs / all_secs,
            fresh.calls("x.py"),
            fresh.calls("collector")
        ),
    ));

    for (i, stage) in STAGES.iter().enumerate() {
        eprintln!("suite: resume after a failure in {stage} (3 rounds)");
        let fault = if *stage == "dist" { "dist" } else { "collector" };
        let (mut resumed, mut alone) = (Vec::new(), Vec::new());
        for round in 0..3 {
            let failing = scratch.copy(&work, &format!("resume-{stage}-{round}"))?;
            let (_, out) =
                failing.xtask(&["all", "--from", stage], &[("MINI_TREE_FAULT", fault)])?;
            if out.status.success() {
                bail!("the injected {fault} fault did not stop {stage}");
            }
            resumed.push(failing.xtask_ok(&["all"])?);
            let alone_tree = scratch.copy(&work, &format!("alone-{stage}-{round}"))?;
            let mut secs = 0.0;
            for later in &STAGES[i..] {
                secs += alone_tree.xtask_ok(&[later])?;
            }
            alone.push(secs);
            let _ = std::fs::remove_dir_all(&failing.root);
            let _ = std::fs::remove_dir_all(&alone_tree.root);
        }
        let (resumed, alone) = (median(resumed), median(alone));
        let ratio = resumed / alone;
        rows.push(goal(
            format!(
                "resume after a failure in {stage} vs the remaining stages alone (medians of 3)"
            ),
            format!("{resumed:.1} s vs {alone:.1} s, ratio {ratio:.2}"),
            "≤ 1.02",
            ratio <= 1.02,
        ));
    }

    rows.extend(raw_profile_modes(&scratch, &work)?);
    rows.extend(streamed_goals(&scratch, &work)?);
    rows.extend(profile_fits(&scratch, &work)?);

    if let Ok(real) = std::env::var("OPT_DIST_REAL_TREE") {
        eprintln!("suite: preflight on the real tree");
        // The first x.py call in a new build dir compiles bootstrap itself: measured apart.
        let build = work.join("real-build");
        let doctor = || -> Result<(f64, bool)> {
            let t = Instant::now();
            let out = Command::new(XTASK)
                .args(["opt-dist", "--src", &real, "--build-dir"])
                .arg(&build)
                .arg("doctor")
                .output()?;
            Ok((t.elapsed().as_secs_f64(), out.status.success()))
        };
        let (cold, _) = doctor()?;
        let (warm, passed) = doctor()?;
        let verdict = match passed {
            true => "all checks passed",
            false => "some checks failed",
        };
        rows.push(goal(
            "preflight (`doctor`) on the real rustc 1.95.0 tree",
            format!(
                "{warm:.1} s ({verdict}); {cold:.1} s in a new build dir, where bootstrap \
                 first compiles itself"
            ),
            "< 10 s",
            warm < 10.0,
        ));
    }

    // Where `mini_compiler_speed` saves it: the target dir, which CARGO_TARGET_DIR may move.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let compiler = std::fs::read_to_string(target.join("mini_compiler_speed/results.md")).ok();
    write_report(&rows, compiler.as_deref(), started.elapsed().as_secs_f64())?;
    if std::env::var_os("SUITE_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

/// The xtask's own time in a run: its wall minus the wall of the tools it ran that upstream
/// runs too (x.py, the collector, llvm-profdata, llvm-bolt, merge-fdata; from the manifests'
/// command records, commands run at the same time counted once), with the overlapped pairs.
struct OwnTime {
    wall: f64,
    tools: f64,
    /// The same tools one after another, as upstream runs them.
    tools_in_sequence: f64,
    /// The instrumented compiler's build and the collector's beside it: (x.py, collector, both).
    pair: (f64, f64, f64),
    /// Preflight's dry runs, beside the first steps (from the run's log).
    dry_runs: Option<f64>,
}

impl OwnTime {
    fn of(tree: &Tree, wall: f64, out: &Output) -> Result<OwnTime> {
        let mut own = OwnTime {
            wall,
            tools: 0.0,
            tools_in_sequence: 0.0,
            pair: (0.0, 0.0, 0.0),
            dry_runs: None,
        };
        // When the pair started and ended, in rustc-pgo's time.
        let (mut pair_start, mut pair_end) = (f64::MAX, 0.0_f64);
        for stage in STAGES {
            let manifest = tree.manifest(stage)?;
            let mut spans: Vec<(f64, f64)> = Vec::new();
            for command in manifest["commands"].as_array().into_iter().flatten() {
                let argv: Vec<&str> = command["argv"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect();
                let program = argv.first().and_then(|p| p.rsplit('/').next()).unwrap_or_default();
                let upstreams = argv.get(1).is_some_and(|a| a.ends_with("x.py"))
                    || argv.windows(2).any(|w| w == ["-p", "collector"])
                    || ["llvm-profdata", "llvm-bolt", "merge-fdata"].contains(&program);
                if !upstreams {
                    continue;
                }
                let start = command["started_secs"].as_f64().unwrap_or(0.0);
                let secs = command["duration_secs"].as_f64().unwrap_or(0.0);
                own.tools_in_sequence += secs;
                spans.push((start, start + secs));
                match command["step"].as_str().unwrap_or_default() {
                    "Build the PGO-instrumented compiler" => own.pair.0 = secs,
                    "Build the rustc-perf collector" => own.pair.1 = secs,
                    _ => continue,
                }
                (pair_start, pair_end) = (pair_start.min(start), pair_end.max(start + secs));
            }
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut covered_to = f64::MIN;
            for (start, end) in spans {
                own.tools += (end - start.max(covered_to)).max(0.0);
                covered_to = covered_to.max(end);
            }
        }
        own.pair.2 = (pair_end - pair_start).max(0.0);
        let log = String::from_utf8_lossy(&out.stderr);
        own.dry_runs = log
            .lines()
            .find_map(|l| l.split("accepted by bootstrap's --dry-run, in ").nth(1))
            .and_then(|t| t.trim_end_matches('s').parse().ok());
        Ok(own)
    }

    fn secs(&self) -> f64 {
        self.wall - self.tools
    }

    fn row(&self, runs: usize) -> Row {
        let (x_py, collector, both) = self.pair;
        let dry_runs = match self.dry_runs {
            Some(secs) => format!("; preflight's dry runs {secs:.1} s beside the first steps"),
            None => String::new(),
        };
        let median = match runs {
            1 => String::new(),
            n => format!(" (median of {n})"),
        };
        goal(
            format!("the xtask's own time in `all` from scratch{median}"),
            format!(
                "{:.2} s: wall {:.1} s, its tools {:.1} s (one after another, as upstream: {:.1} \
                 s); instrumented build {x_py:.1} s and collector build {collector:.1} s at the \
                 same time: {both:.1} s{dry_runs}",
                self.secs(),
                self.wall,
                self.tools,
                self.tools_in_sequence
            ),
            "≤ 0.5 s",
            self.secs() <= 0.5,
        )
    }
}

/// [`OwnTime`] of `runs` runs of `all` from scratch: the run with the median own time; and the
/// walls of all of them.
fn own_time_of_runs(work: &Path, runs: usize) -> Result<(Row, Vec<f64>)> {
    let mut measured = Vec::new();
    for run in 0..runs {
        eprintln!("suite: `all` from scratch for the xtask's own time ({}/{runs})", run + 1);
        let tree = Tree::fresh(work, &format!("own-time-{run}"))?;
        let (wall, out) = tree.xtask(&["all"], &[])?;
        if !out.status.success() {
            bail!("`all` from scratch failed:\n{}", tail(&out.stderr));
        }
        measured.push(OwnTime::of(&tree, wall, &out)?);
        eprintln!("suite: own time {:.2} s", measured[run].secs());
        let _ = std::fs::remove_dir_all(&tree.root);
    }
    let walls = measured.iter().map(|m| m.wall).collect();
    measured.sort_by(|a, b| a.secs().total_cmp(&b.secs()));
    Ok((measured.swap_remove(runs / 2).row(runs), walls))
}

/// Training in each raw-profile mode (and with parallel jobs when the xtask has them), from a
/// finished pipeline, compared with per-process single-job training.
fn raw_profile_modes(finished: &Tree, work: &Path) -> Result<Vec<Row>> {
    let help = Command::new(XTASK).args(["opt-dist", "rustc-pgo", "--help"]).output()?;
    let jobs: &[&str] = match String::from_utf8_lossy(&help.stdout).contains("--training-jobs") {
        true => &["1", "2"],
        false => &["1"],
    };
    let mut runs = Vec::new();
    for mode in ["per-process", "pooled", "streamed"] {
        for j in jobs {
            eprintln!("suite: training with {mode} raw profiles, {j} job(s)");
            let tree = finished.copy(work, &format!("raw-{mode}-{j}"))?;
            let mut stats = Vec::new();
            for stage in ["rustc-pgo", "llvm-pgo"] {
                let mut args = vec![stage, "--raw-profiles", mode, "--no-preflight"];
                if jobs.len() > 1 {
                    args.extend(["--training-jobs", j]);
                }
                tree.xtask_ok(&args)?;
                let trained = Trained::of(&tree, stage, work, &format!("{mode}-{j}"))?;
                stats.push(trained);
            }
            runs.push((mode, *j, stats));
            let _ = std::fs::remove_dir_all(&tree.root);
        }
    }
    let mut rows = Vec::new();
    let base = &runs[0].2;
    for (mode, j, stats) in &runs {
        for (s, stage) in ["rustc", "LLVM"].iter().enumerate() {
            let t = &stats[s];
            let (edge, icall) = overlap(&base[s].profile, &t.profile)?;
            rows.push(row(
                format!("{stage} training, raw profiles {mode}, {j} job(s)"),
                format!(
                    "peak raw {:.2} MB in {} files; training {:.1} s; overlap with \
                     per-process/1 job: edges {edge}, indirect calls {icall}",
                    t.peak_bytes as f64 / 1e6,
                    t.files,
                    t.train_secs,
                ),
            ));
        }
    }
    Ok(rows)
}

/// What one stage's training left in its manifest, and a copy of its profile.
struct Trained {
    peak_bytes: u64,
    files: u64,
    train_secs: f64,
    profile: PathBuf,
}

impl Trained {
    fn of(tree: &Tree, stage: &str, work: &Path, tag: &str) -> Result<Trained> {
        let m = tree.manifest(stage)?;
        let raw = &m["raw_profiles"][0];
        let train_secs = m["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["title"].as_str().is_some_and(|t| t.starts_with("Train")))
            .filter_map(|s| s["secs"].as_f64())
            .sum();
        let output = PathBuf::from(m["outputs"][0]["path"].as_str().unwrap_or_default());
        let profile = work.join(format!("{tag}-{}", output.file_name().unwrap().to_string_lossy()));
        std::fs::copy(&output, &profile)?;
        Ok(Trained {
            peak_bytes: raw["peak_bytes"].as_u64().or(raw["bytes"].as_u64()).unwrap_or(0),
            files: raw["count"].as_u64().unwrap_or(0),
            train_secs,
            profile,
        })
    }
}

/// Streamed raw profiles against per-process ones, for rustc's PGO and BOLT training: the most
/// raw bytes on disk at once, the training time (medians of 5), and the profile (PGO: its
/// overlap with the per-process one; BOLT: validated by the stage, and the whole pipeline,
/// streamed by default, ends with BOLT-optimized libraries).
fn streamed_goals(finished: &Tree, work: &Path) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for stage in ["rustc-pgo", "rustc-bolt"] {
        // Rounds alternate between the modes, so that a machine slower for a while slows both.
        eprintln!("suite: {stage} with per-process and streamed raw profiles (5 rounds each)");
        let modes = ["per-process", "streamed"];
        let trees = modes
            .iter()
            .map(|mode| finished.copy(work, &format!("streamed-goal-{stage}-{mode}")))
            .collect::<Result<Vec<_>>>()?;
        let mut by_mode: Vec<Vec<Trained>> = vec![Vec::new(), Vec::new()];
        for round in 0..5 {
            for (m, mode) in modes.iter().enumerate() {
                trees[m].xtask_ok(&[stage, "--raw-profiles", mode, "--no-preflight"])?;
                by_mode[m].push(Trained::of(&trees[m], stage, work, &format!("{mode}-{round}"))?);
            }
        }
        for tree in trees {
            let _ = std::fs::remove_dir_all(&tree.root);
        }
        let peak = |rounds: &[Trained]| rounds.iter().map(|t| t.peak_bytes).max().unwrap_or(0);
        let secs = |rounds: &[Trained]| median(rounds.iter().map(|t| t.train_secs).collect());
        let (per_process, streamed) = (&by_mode[0], &by_mode[1]);
        let share = peak(streamed) as f64 / peak(per_process).max(1) as f64;
        let time = secs(streamed) / secs(per_process);
        let (same, shown) = match stage {
            "rustc-pgo" => {
                let (edge, icall) = overlap(&per_process[0].profile, &streamed[0].profile)?;
                let percent = |s: &str| s.trim_end_matches('%').parse::<f64>().ok();
                let same = percent(&edge).is_some_and(|e| e >= 99.9)
                    && percent(&icall).is_some_and(|i| i >= 99.0);
                (same, format!("; overlap: edges {edge}, indirect calls {icall}"))
            }
            _ => (true, "; profile validated".to_string()),
        };
        rows.push(goal(
            format!(
                "{stage} training, raw profiles streamed vs per-process (5 rounds each, \
                 alternating; peak: the largest, time: the median)"
            ),
            format!(
                "peak raw {:.2} MB vs {:.2} MB ({:.1}%); training {:.2} s vs {:.2} s (ratio \
                 {time:.3}){shown}",
                peak(streamed) as f64 / 1e6,
                peak(per_process) as f64 / 1e6,
                share * 100.0,
                secs(streamed),
                secs(per_process),
            ),
            "peak ≤ 10%, training ≤ 1.05, PGO overlap ≥ 99.9% edges, ≥ 99% indirect calls",
            share <= 0.10 && time <= 1.05 && same,
        ));
    }
    Ok(rows)
}

/// How much of each profile the binaries built with it hold (the manifests' `fit`): the finished
/// pipeline's own, and profiles that do not fit, each built with `--allow-stale` so that the
/// build goes on and records it.
fn profile_fits(finished: &Tree, work: &Path) -> Result<Vec<Row>> {
    let fits = |tree: &Tree, stage: &str| -> Result<Vec<Value>> {
        Ok(tree.manifest(stage)?["fit"].as_array().cloned().unwrap_or_default())
    };
    let n = |f: &Value, k: &str| f[k].as_u64().unwrap_or(0);
    let shown = |f: &Value| {
        let stem: Vec<&str> = f["profile"].as_str().unwrap_or("").splitn(3, '-').take(2).collect();
        let (found, functions) = (n(f, "found"), n(f, "functions"));
        let pct = (found * 100 + functions / 2) / functions.max(1);
        format!("{} {found} of {functions} ({pct}%; {} needed)", stem.join("-"), n(f, "minimum"))
    };
    let own = fits(finished, "dist")?;
    let mut rows = vec![goal(
        "fit of the pipeline's own profiles (PGO: the profile's functions in the binary; BOLT: \
         the library's functions llvm-bolt gave a profile)",
        own.iter().map(shown).collect::<Vec<_>>().join(", "),
        "each at least its minimum",
        !own.is_empty() && own.iter().all(|f| n(f, "found") >= n(f, "minimum")),
    )];
    let host = finished.manifest("dist")?["tree"]["host"].as_str().unwrap_or_default().to_string();
    let profile = |tree: &Tree, stage: &str, extension: &str| {
        tree.root.join(format!("build/opt-dist/{stage}/{stage}-1.95.0-{host}.{extension}"))
    };
    eprintln!("suite: fit of a previous release's profile, and of another binary's");
    let next = Tree::fresh(work, "fit-next-release")?;
    std::fs::write(next.root.join("version"), "1.95.1\n")?;
    let old = profile(finished, "rustc-pgo", "profdata");
    next.xtask_ok(&["import", old.to_str().unwrap(), "--as", "rustc-pgo", "--allow-stale"])?;
    next.xtask_ok(&["llvm-pgo", "--allow-stale"])?;
    let wrong = finished.copy(work, "fit-wrong-kind")?;
    replace_profile(&wrong, "llvm-pgo", &profile(&wrong, "rustc-pgo", "profdata"))?;
    wrong.xtask_ok(&["llvm-bolt", "--allow-stale"])?;
    let other = finished.copy(work, "fit-other-library")?;
    replace_profile(&other, "rustc-bolt", &profile(&other, "llvm-bolt", "fdata"))?;
    other.xtask_ok(&["dist", "--allow-stale"])?;
    for (what, tree, stage, stem) in [
        (
            "fit of a previous release's rustc profile (1.95.0's in a 1.95.1 compiler)",
            &next,
            "llvm-pgo",
            "rustc-pgo",
        ),
        (
            "fit of rustc's PGO profile given to LLVM (a stage directory copied by hand)",
            &wrong,
            "llvm-bolt",
            "llvm-pgo",
        ),
        ("fit of libLLVM's BOLT profile given to librustc_driver", &other, "dist", "rustc-bolt"),
    ] {
        let found = fits(tree, stage)?
            .into_iter()
            .find(|f| f["profile"].as_str().is_some_and(|p| p.starts_with(stem)));
        let fit = found.with_context(|| format!("no {stem} fit in the {stage} manifest"))?;
        let caught = n(&fit, "found") < n(&fit, "minimum");
        rows.push(goal(what, shown(&fit), "below its minimum: the build stops", caught));
    }
    Ok(rows)
}

/// Puts `with` in place of a stage's profile and makes its manifest list it, as a stage
/// directory copied by hand would be (`import` refuses a profile of another binary).
fn replace_profile(tree: &Tree, stage: &str, with: &Path) -> Result<()> {
    let mut manifest = tree.manifest(stage)?;
    let dir = tree.root.join("build/opt-dist").join(stage);
    let output = &mut manifest["outputs"][0];
    let path = dir.join(output["name"].as_str().unwrap_or_default());
    std::fs::copy(with, &path)?;
    let sum = Command::new("sha256sum").arg(&path).output()?;
    let sum = String::from_utf8_lossy(&sum.stdout);
    output["sha256"] = sum.split_whitespace().next().unwrap_or_default().into();
    output["size"] = std::fs::metadata(&path)?.len().into();
    std::fs::write(dir.join("manifest.json"), manifest.to_string())?;
    Ok(())
}

/// `llvm-profdata overlap`: the edge and indirect-call overlap lines.
fn overlap(base: &Path, test: &Path) -> Result<(String, String)> {
    let out = Command::new(LLVM_PROFDATA)
        .arg("overlap")
        .arg(base)
        .arg(test)
        .output()
        .context("llvm-profdata overlap")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let find = |label: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "n/a".to_string())
    };
    Ok((find("Edge profile overlap"), find("IndirectCall profile overlap")))
}

/// The miniature tree's measured disk figures, for the estimate of trees of its size.
fn write_disk_reference(tree: &Tree) -> Result<()> {
    let mut stages = serde_json::Map::new();
    for stage in STAGES.iter().chain(&["test"]) {
        let manifest = tree.manifest(stage)?;
        let disk = &manifest["disk"];
        let n = |k: &str| disk[k].as_u64().unwrap_or(0);
        let kept = n("build_dir_after").saturating_sub(n("build_dir_before"));
        let peak =
            n("free_before").saturating_sub(n("lowest_free")).max(kept).max(n("peak_raw_bytes"));
        // All the raw bytes its training wrote: what per-process training keeps at once.
        let raw = manifest["raw_profiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["bytes"].as_u64())
            .max()
            .unwrap_or(0);
        let figures = serde_json::json!({ "kept": kept, "peak": peak, "raw": raw });
        stages.insert(stage.to_string(), figures);
    }
    let compiler: u64 = walkdir::WalkDir::new(tree.root.join("compiler"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let reference = serde_json::json!({
        "measured_on": format!(
            "the miniature tree's measured figures (`ci/bench`, {})",
            today()
        ),
        "compiler_source_bytes": compiler,
        "stages": stages,
    });
    std::fs::write(
        repo_root().join("xtask/src/engine/disk_reference.json"),
        serde_json::to_string_pretty(&reference)? + "\n",
    )?;
    Ok(())
}

fn today() -> String {
    let out = Command::new("date").arg("-u").arg("+%Y-%m-%d").output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

fn write_report(rows: &[Row], compiler: Option<&str>, secs: f64) -> Result<()> {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo_root())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut md = String::new();
    md.push_str(
        "# Benchmarks\n\nWritten by `ci/bench` (the suite `cargo bench --bench suite`, after \
         `cargo bench --bench mini_compiler_speed`); every figure is from one run on the \
         miniature tree (`tests/mini-rust-tree`) unless it says otherwise. Reproduce:\n\n\
         ```sh\nci/setup-debian.sh && apt-get install -y valgrind\nci/bench\n```\n\n",
    );
    let _ = writeln!(
        md,
        "Run of {} at commit `{commit}` on {cores} cores, {:.0} min.\n",
        today(),
        secs / 60.0
    );
    md.push_str("| what | figure | goal | met |\n|---|---|---|---|\n");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let _ = writeln!(md, "| {} | {} | {} | {met} |", r.what, r.figure, r.goal);
    }
    md.push_str(
        "\nHow to read it:\n\n\
         * *resume*: a copy of the finished pipeline runs `all --from <stage>` with the \
         miniature tree's injected fault (`MINI_TREE_FAULT=collector`, or `dist`), then `all` \
         resumes; another copy runs the same stages one command each. The resumed run skips \
         the steps the failed one finished.\n\
         * *raw profiles*: `rustc-pgo` and `llvm-pgo` (and, streamed vs per-process, \
         `rustc-bolt`) rerun on a copy of the finished pipeline in each `--raw-profiles` mode; \
         peak raw is the manifest's `peak_bytes`: per-process and pooled, the raw directory \
         when training ended; streamed, the most seen on disk at once, sampled while the \
         instrumented binaries ran. Overlap is `llvm-profdata overlap` of the merged profile \
         with the per-process, one-job one (two per-process runs differ by a few thousandths in \
         edges, as training is not perfectly deterministic).\n\
         * *own time*: the wall of `all` from scratch minus the wall of the calls upstream makes \
         too (x.py builds and dist, the collector's build and trainings, llvm-profdata, \
         llvm-bolt, merge-fdata), from the manifests' command records, calls that ran at the \
         same time counted once; what is left is the xtask's: the interface probe, preflight, \
         the fit checks' llvm-nm, dist's package check, its records. The run with the median \
         own time of three from scratch. \"One after another\" is the same calls' walls summed, \
         upstream's sequence.\n\
         * *fit*: the manifests' `fit`. A previous release's profile: the finished pipeline's \
         rustc profile imported (`--allow-stale`) into a fresh copy whose `version` says \
         1.95.1, where `llvm-pgo --allow-stale` builds the compiler with it; another binary's: a \
         copy of the finished pipeline with the profile swapped by hand (`import` refuses it), \
         then the stage that builds with it, with `--allow-stale` so that it records the fit.\n\
         * the miniature tree's x.py builds take seconds where the real tree's take hours: \
         ratios carry over, absolute times do not.\n",
    );
    match compiler {
        Some(report) => {
            md.push_str("\n## The miniature compiler: plain vs PGO vs PGO+BOLT\n\n");
            md.push_str(
                "From `cargo bench --bench mini_compiler_speed` (method in its module docs).\n\n",
            );
            md.push_str(report);
        }
        None => md.push_str(
            "\n(The compiler speed table needs `cargo bench --bench mini_compiler_speed` \
             first; `ci/bench` runs it.)\n",
        ),
    }
    std::fs::write(repo_root().join("BENCHMARKS.md"), md)?;
    eprintln!("suite: wrote BENCHMARKS.md");
    Ok(())
}
