//! What a run tells the people and CI systems watching it: log groups on GitHub Actions, the
//! training's progress, and at the end a table of where the time and the disk went (also
//! appended to the job's step summary on GitHub Actions).
//!
//! Everything here reads the environment only to decide how to say things, never what to do:
//! `GITHUB_ACTIONS` turns on `::group::` lines, `GITHUB_STEP_SUMMARY` names the file the
//! markdown table is appended to, and a terminal on stderr gets the progress redrawn in place
//! (a log file gets plain lines, no escape codes).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::Instant;

use super::manifest::{DiskRecord, Manifest};
use crate::util::fs::{human_bytes, human_duration};

fn on_github_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// A collapsible section of a GitHub Actions log, closed when dropped; elsewhere just the
/// step's heading.
pub struct LogGroup {
    github: bool,
}

impl LogGroup {
    pub fn open(title: &str) -> LogGroup {
        let github = on_github_actions();
        if github {
            // Workflow commands are read from stdout; stderr is flushed first so that the
            // group holds what belongs to it.
            let _ = std::io::stderr().flush();
            println!("::group::{title}");
            let _ = std::io::stdout().flush();
        } else {
            eprintln!("\n==> {title}");
        }
        LogGroup { github }
    }
}

impl Drop for LogGroup {
    fn drop(&mut self) {
        if self.github {
            let _ = std::io::stderr().flush();
            println!("::endgroup::");
            let _ = std::io::stdout().flush();
        }
    }
}

/// One line about a stage's disk use.
pub fn disk_line(disk: &DiskRecord) -> String {
    let growth = disk.growth();
    let sign = if growth < 0 { "-" } else { "+" };
    let mut line = format!(
        "build dir {sign}{}, peak use {}, free {} -> {}",
        human_bytes(growth.unsigned_abs()),
        human_bytes(disk.peak_use()),
        human_bytes(disk.free_before),
        human_bytes(disk.free_after)
    );
    if disk.raw_files > 0 {
        let _ = write!(
            line,
            "; raw profiles {} in {} files, merged {}",
            human_bytes(disk.peak_raw_bytes),
            disk.raw_files,
            human_bytes(disk.merged_bytes)
        );
    }
    line
}

/// The training's progress, from the collector's `Finished benchmark <name> (<i>/<n>)` lines.
pub struct TrainingProgress {
    started: Instant,
    /// How long the same training took last time (the stage's previous manifest).
    previous_secs: Option<f64>,
    terminal: bool,
    /// A status line is on screen (terminal only) and must be cleared before other output.
    drawn: bool,
    last: Option<(usize, usize)>,
}

impl TrainingProgress {
    pub fn new(previous_secs: Option<f64>) -> TrainingProgress {
        TrainingProgress {
            started: Instant::now(),
            previous_secs,
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
            last: None,
        }
    }

    /// Passes one line of the collector's stderr through, and reports progress after it.
    pub fn line(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        if self.drawn {
            let _ = write!(err, "\r\x1b[2K");
            self.drawn = false;
        }
        let _ = writeln!(err, "{line}");
        if let Some(done) = finished_benchmark(line) {
            self.last = Some(done);
            let status = self.status(done);
            match self.terminal {
                true => {
                    let _ = write!(err, "{status}");
                    self.drawn = true;
                }
                false => {
                    let _ = writeln!(err, "{status}");
                }
            }
        }
        let _ = err.flush();
    }

    /// Leaves the terminal on a fresh line.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }

    fn status(&self, (done, total): (usize, usize)) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = match self.previous_secs {
            Some(previous) => format!(
                "about {} left (the previous run took {})",
                human_duration((previous - elapsed).max(0.0)),
                human_duration(previous)
            ),
            None if done > 0 => format!(
                "about {} left",
                human_duration(elapsed / done as f64 * (total - done.min(total)) as f64)
            ),
            None => String::new(),
        };
        format!(
            "    training: benchmark {done} of {total} done, {} elapsed, {left}",
            human_duration(elapsed)
        )
    }
}

/// `Finished benchmark syn-2.0.101 (3/7)` -> (3, 7): the line rustc-perf's collector prints
/// as each benchmark ends (in any order with `--jobs`).
fn finished_benchmark(line: &str) -> Option<(usize, usize)> {
    let rest = line.trim().strip_prefix("Finished benchmark ")?;
    let counts = rest.rsplit_once('(')?.1.strip_suffix(')')?;
    let (i, n) = counts.split_once('/')?;
    Some((i.trim().parse().ok()?, n.trim().parse().ok()?))
}

/// The end-of-run table: every stage and step with its time and share of the run, bootstrap's
/// slowest steps, the disk per stage and the artifacts made. Printed, and appended as markdown
/// to `GITHUB_STEP_SUMMARY` when that is set.
pub struct RunSummary<'a> {
    pub manifests: &'a [Manifest],
    pub total_secs: f64,
    /// How the run ended, when it did not succeed.
    pub failure: Option<String>,
}

struct Row {
    stage: String,
    step: String,
    secs: f64,
}

impl RunSummary<'_> {
    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for m in self.manifests {
            rows.push(Row {
                stage: m.stage.clone(),
                step: match m.status.as_str() {
                    "skipped" => "(skipped)".to_string(),
                    _ => String::new(),
                },
                secs: m.duration_secs,
            });
            for step in &m.steps {
                let step_title = match step.alongside {
                    true => format!("{} (at the same time as the step before)", step.title),
                    false => step.title.clone(),
                };
                rows.push(Row { stage: String::new(), step: step_title, secs: step.secs });
            }
        }
        rows
    }

    fn share(&self, secs: f64) -> String {
        match self.total_secs > 0.0 {
            true => format!("{:.0}%", 100.0 * secs / self.total_secs),
            false => "-".to_string(),
        }
    }

    fn slowest_bootstrap_steps(&self) -> Vec<(String, f64)> {
        let mut steps: Vec<(String, f64)> = self
            .manifests
            .iter()
            .flat_map(|m| &m.commands)
            .flat_map(|c| &c.bootstrap_steps)
            .map(|s| (s.step.clone(), s.secs))
            .collect();
        steps.sort_by(|a, b| b.1.total_cmp(&a.1));
        steps.truncate(5);
        steps
    }

    /// `opt-dist: finished after 1m 02s`.
    fn headline(&self) -> String {
        let verdict = match &self.failure {
            None => "finished",
            Some(_) => "stopped",
        };
        format!("opt-dist: {verdict} after {}", human_duration(self.total_secs))
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n{}", self.headline());
        let rows = self.rows();
        let width = rows.iter().map(|r| r.stage.len().max(r.step.len() + 2)).max().unwrap_or(0);
        for row in &rows {
            let name = match row.stage.is_empty() {
                true => format!("  {}", row.step),
                false => format!("{} {}", row.stage, row.step).trim_end().to_string(),
            };
            let _ = writeln!(
                out,
                "  {name:<width$}  {:>9}  {:>4}",
                human_duration(row.secs),
                self.share(row.secs)
            );
        }
        let slowest = self.slowest_bootstrap_steps();
        if !slowest.is_empty() {
            let shown: Vec<String> = slowest
                .iter()
                .map(|(step, secs)| format!("{step} {}", human_duration(*secs)))
                .collect();
            let _ = writeln!(out, "  bootstrap's slowest steps: {}", shown.join(", "));
        }
        for m in self.manifests {
            if let Some(disk) = &m.disk {
                let _ = writeln!(out, "  disk, {}: {}", m.stage, disk_line(disk));
            }
        }
        for m in self.manifests.iter().filter(|m| !m.fit.is_empty()) {
            let fits: Vec<String> = m.fit.iter().map(|f| f.short()).collect();
            let _ = writeln!(out, "  fit, {}: {}", m.stage, fits.join(", "));
        }
        for low in self.manifests.iter().flat_map(|m| &m.fit).filter(|f| !f.fits()) {
            let _ = writeln!(out, "  WARNING (--allow-stale): {}", low.describe());
        }
        if let Some(failure) = &self.failure {
            let _ = writeln!(out, "  {failure}");
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.headline());
        if let Some(failure) = &self.failure {
            let _ = writeln!(out, "**{}**\n", failure.replace('\n', " "));
        }
        out.push_str("| stage | step | seconds | share |\n|---|---|---:|---:|\n");
        for row in self.rows() {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {} |",
                row.stage,
                row.step.replace('|', "\\|"),
                row.secs,
                self.share(row.secs)
            );
        }
        let slowest = self.slowest_bootstrap_steps();
        if !slowest.is_empty() {
            out.push_str("\nBootstrap's slowest steps (metrics.json):\n\n| bootstrap step | seconds |\n|---|---:|\n");
            for (step, secs) in slowest {
                let _ = writeln!(out, "| {} | {secs:.1} |", step.replace('|', "\\|"));
            }
        }
        if self.manifests.iter().any(|m| m.disk.is_some()) {
            out.push_str(
                "\n| stage | raw profiles (peak) | merged | build dir growth | free before | free after |\n|---|---:|---:|---:|---:|---:|\n",
            );
            for m in self.manifests {
                if let Some(d) = &m.disk {
                    let growth = d.growth();
                    let _ = writeln!(
                        out,
                        "| {} | {} ({} files) | {} | {}{} | {} | {} |",
                        m.stage,
                        human_bytes(d.peak_raw_bytes),
                        d.raw_files,
                        human_bytes(d.merged_bytes),
                        if growth < 0 { "-" } else { "" },
                        human_bytes(growth.unsigned_abs()),
                        human_bytes(d.free_before),
                        human_bytes(d.free_after)
                    );
                }
            }
        }
        let fits: Vec<_> =
            self.manifests.iter().flat_map(|m| m.fit.iter().map(move |f| (m, f))).collect();
        if !fits.is_empty() {
            out.push_str(
                "\n| stage | profile | binary | found | of | fits |\n|---|---|---|---:|---:|---|\n",
            );
            for (m, f) in fits {
                let verdict = match f.fits() {
                    true => format!("{}%", f.percent()),
                    false => format!("**{}%: too little, taken with --allow-stale**", f.percent()),
                };
                let _ = writeln!(
                    out,
                    "| {} | `{}` | `{}` | {} | {} | {verdict} |",
                    m.stage, f.profile, f.binary, f.found, f.functions
                );
            }
        }
        let artifacts: Vec<_> = self.manifests.iter().flat_map(|m| &m.outputs).collect();
        if !artifacts.is_empty() {
            out.push_str("\n| artifact | size |\n|---|---:|\n");
            for a in artifacts {
                let _ = writeln!(out, "| `{}` | {} |", a.name, human_bytes(a.size));
            }
        }
        out
    }

    /// Prints the table and, on GitHub Actions, appends it to the job's step summary.
    pub fn emit(&self) {
        eprint!("{}", self.text());
        let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
            return;
        };
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(self.markdown().as_bytes()));
        if let Err(err) = appended {
            eprintln!(
                "opt-dist: could not append the summary to GITHUB_STEP_SUMMARY ({}): {err}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collectors_finished_lines_are_read() {
        assert_eq!(finished_benchmark("Finished benchmark syn-2.0.101 (3/7)"), Some((3, 7)));
        assert_eq!(
            finished_benchmark("Finished benchmark cargo-0.87.1 (0.87) (10/12)"),
            Some((10, 12))
        );
        assert_eq!(finished_benchmark("Executing benchmark syn (3/7)"), None);
        assert_eq!(finished_benchmark("Finished profiling 3 benchmark(s)"), None);
    }
}
