//! Disk accounting: what each stage used and left, measured while it runs, and the estimate for
//! a run made from those measurements.
//!
//! A stage's manifest records free disk before and after, the lowest free disk seen between
//! its steps, the build dir's size before and after (allocated blocks, hard links counted once:
//! bootstrap links every sysroot file into several places), the raw profiles at their peak and
//! the merged profiles. The estimate preflight checks free disk against uses, per stage, the
//! figures measured in this build dir by an earlier run of the stage; for a stage that never
//! ran here, a reference measurement scaled to the size of the tree's compiler sources.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Deserialize;

use super::context::Ctx;
use super::manifest::{DiskRecord, Manifest};
use super::plan::StageDef;
use crate::tools::collector::RawProfiles;
use crate::util::fs::{self as fsutil, human_bytes};

/// Measures a stage while it runs.
pub struct DiskMeter<'a> {
    build_dir: &'a Path,
    free_before: u64,
    lowest_free: u64,
    build_dir_before: u64,
}

impl<'a> DiskMeter<'a> {
    pub fn start(build_dir: &'a Path) -> DiskMeter<'a> {
        let free_before = fsutil::free_bytes(build_dir).unwrap_or(0);
        DiskMeter {
            build_dir,
            free_before,
            lowest_free: free_before,
            build_dir_before: usage(build_dir),
        }
    }

    /// Called after every step; returns the free disk it saw.
    pub fn sample(&mut self) -> Option<u64> {
        let free = fsutil::free_bytes(self.build_dir)?;
        self.lowest_free = self.lowest_free.min(free);
        Some(free)
    }

    pub fn finish(mut self, raw: &[(u64, u64)], merged_bytes: u64) -> DiskRecord {
        let free_after = self.sample().unwrap_or(0);
        let (raw_files, peak_raw_bytes) =
            raw.iter().copied().max_by_key(|&(_, bytes)| bytes).unwrap_or_default();
        DiskRecord {
            free_before: self.free_before,
            free_after,
            lowest_free: self.lowest_free,
            build_dir_before: self.build_dir_before,
            build_dir_after: usage(self.build_dir),
            peak_raw_bytes,
            raw_files,
            merged_bytes,
        }
    }
}

/// Allocated bytes below `dir`, each inode once (0 when it does not exist).
pub fn usage(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| !m.is_dir() && seen.insert((m.dev(), m.ino())))
        .map(|m| m.blocks() * 512)
        .sum()
}

/// A stage's disk figures: what it keeps, the most it needs at once beside its raw profiles,
/// and the raw profiles its training writes per process (0 where the peak holds them).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Figures {
    pub kept: u64,
    pub peak: u64,
    #[serde(default)]
    pub raw: u64,
}

impl Figures {
    /// The most the stage needs at once, its raw profiles kept as `mode` keeps them: streamed,
    /// at most the cap; pooled, about a 25th (BENCHMARKS.md).
    fn peak_with(self, mode: RawProfiles, cap: u64) -> u64 {
        let raw = match mode {
            RawProfiles::PerProcess => self.raw,
            RawProfiles::Pooled => self.raw / 25,
            RawProfiles::Streamed => self.raw.min(cap),
        };
        self.peak.max(self.kept + raw)
    }

    fn scaled(self, factor: f64) -> Figures {
        let scale = |bytes: u64| (bytes as f64 * factor) as u64;
        Figures { kept: scale(self.kept), peak: scale(self.peak), raw: scale(self.raw) }
    }
}

/// A measured run to scale from, for stages that never ran in this build dir.
#[derive(Debug, Deserialize)]
struct Reference {
    /// Where and how it was measured, for the message.
    measured_on: String,
    compiler_source_bytes: u64,
    stages: std::collections::BTreeMap<String, Figures>,
}

/// The miniature tree's figures, measured by the benchmark suite (`ci/bench` rewrites it).
pub const MINIATURE_REFERENCE: &str = include_str!("disk_reference.json");

/// A full tree's figures: each stage's own ([`StageDef::kept_gib`]).
fn full_tree_reference(stages: &[&StageDef]) -> Reference {
    const GIB: u64 = 1 << 30;
    Reference {
        measured_on: "upstream's reported figures for a full rustc 1.95.0 tree".to_string(),
        // rustc 1.95.0's `compiler/` holds about 35 MB of sources.
        compiler_source_bytes: 35_000_000,
        stages: stages
            .iter()
            .map(|s| {
                let figures = Figures {
                    kept: s.kept_gib * GIB,
                    peak: (s.kept_gib + s.transient_gib - s.raw_gib) * GIB,
                    raw: s.raw_gib * GIB,
                };
                (s.name.to_string(), figures)
            })
            .collect(),
    }
}

/// The estimate for running `stages`: everything they keep, plus the largest peak of one.
pub struct Estimate {
    pub bytes: u64,
    /// Where each stage's figures came from, in a few words.
    pub basis: Vec<String>,
}

pub fn estimate(ctx: &Ctx, stages: &[&StageDef], compiler_source_bytes: u64) -> Estimate {
    let miniature: Reference =
        serde_json::from_str(MINIATURE_REFERENCE).expect("disk_reference.json parses");
    let full = full_tree_reference(stages);
    let (reference, scale) = scaled_reference(&miniature, &full, compiler_source_bytes);
    let (mut kept, mut peak) = (0u64, 0u64);
    // A stage with no figures in the nearer reference (one added since `ci/bench` last ran)
    // takes the full tree's, scaled the same way.
    let full_scale = compiler_source_bytes as f64 / full.compiler_source_bytes as f64;
    let (mut measured_here, mut scaled, mut from_full) = (Vec::new(), Vec::new(), Vec::new());
    for stage in stages {
        let name = stage.name;
        let manifest = Manifest::read(&ctx.tree.stage_dir(name));
        let figures = match manifest.as_ref().and_then(|m| m.disk.as_ref().map(|d| (m, d))) {
            Some((manifest, record)) => {
                measured_here.push(name);
                // All the raw bytes its training wrote, however they were kept then.
                let raw = manifest.raw_profiles.iter().map(|r| r.bytes).max().unwrap_or(0);
                Figures { kept: record.growth().max(0) as u64, peak: record.peak_use(), raw }
            }
            None => {
                let (f, factor, names) = match reference.stages.get(name) {
                    Some(f) => (*f, scale, &mut scaled),
                    None => (full.stages[name], full_scale, &mut from_full),
                };
                names.push(name);
                f.scaled(factor)
            }
        };
        kept += figures.kept;
        let stage_peak = figures.peak_with(ctx.options.raw_profiles, ctx.options.raw_cap);
        peak = peak.max(stage_peak.saturating_sub(figures.kept));
    }
    let sources = human_bytes(compiler_source_bytes);
    let mut basis = Vec::new();
    for (names, how) in [
        (measured_here, "measured by their last run (manifest.json)".to_string()),
        (
            scaled,
            format!(
                "{} scaled x{scale:.3} to this tree's compiler sources ({sources})",
                reference.measured_on
            ),
        ),
        (from_full, format!("{} scaled x{full_scale:.3}", full.measured_on)),
    ] {
        if !names.is_empty() {
            basis.push(format!("{}: {how}", names.join(", ")));
        }
    }
    Estimate { bytes: kept + peak, basis }
}

/// The reference nearer in size to the tree, and the factor from it to the tree.
fn scaled_reference<'r>(
    miniature: &'r Reference,
    full: &'r Reference,
    compiler_source_bytes: u64,
) -> (&'r Reference, f64) {
    let distance = |r: &Reference| {
        ((compiler_source_bytes.max(1) as f64) / (r.compiler_source_bytes.max(1) as f64)).ln().abs()
    };
    let reference = match distance(miniature) <= distance(full) {
        true => miniature,
        false => full,
    };
    let scale = compiler_source_bytes as f64 / reference.compiler_source_bytes.max(1) as f64;
    (reference, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_scaled_from_the_reference_nearer_its_size() {
        let miniature: Reference = serde_json::from_str(MINIATURE_REFERENCE).unwrap();
        let full = full_tree_reference(&[]);
        let (r, scale) = scaled_reference(&miniature, &full, 36_000_000);
        assert_eq!(r.compiler_source_bytes, full.compiler_source_bytes);
        assert!((scale - 36.0 / 35.0).abs() < 1e-9);
        let (r, _) = scaled_reference(&miniature, &full, miniature.compiler_source_bytes);
        assert_eq!(r.measured_on, miniature.measured_on);
    }

    #[test]
    fn peak_use_is_never_below_what_the_stage_keeps_or_its_raw_profiles() {
        let record = DiskRecord {
            free_before: 100,
            free_after: 60,
            lowest_free: 90,
            build_dir_before: 10,
            build_dir_after: 50,
            peak_raw_bytes: 45,
            raw_files: 3,
            merged_bytes: 1,
        };
        assert_eq!(record.growth(), 40);
        assert_eq!(record.peak_use(), 45);
    }

    #[test]
    fn raw_profiles_count_as_the_mode_keeps_them() {
        const GIB: u64 = 1 << 30;
        // Upstream's figures for rustc-pgo: 25 GiB kept, 20 GiB of raw profiles on top while
        // it trains.
        let figures = Figures { kept: 25 * GIB, peak: 25 * GIB, raw: 20 * GIB };
        assert_eq!(figures.peak_with(RawProfiles::PerProcess, GIB), 45 * GIB);
        assert_eq!(figures.peak_with(RawProfiles::Streamed, GIB), 26 * GIB);
        assert_eq!(figures.peak_with(RawProfiles::Streamed, 64 * GIB), 45 * GIB);
        assert!(figures.peak_with(RawProfiles::Pooled, GIB) < 26 * GIB);
    }
}
