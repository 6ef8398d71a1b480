//! Gathering a profile, the part the PGO and BOLT stages share: train, check that raw profiles
//! appeared, merge, validate, publish, and drop (or keep) the raw files.

use std::path::{Path, PathBuf};

use crate::engine::context::Ctx;
use crate::engine::plan::{Built, Effect, Part, ProfileCheck, Step};
use crate::tools::collector::{Benchmarks, RawProfiles};
use crate::tools::streaming::{Merger, Stream};
use crate::util::cmd::Cmd;
use crate::util::fs::{file_name, OneFile};

/// Everything from training to a validated, published `.profdata` (the stage empties the raw
/// directory before its instrumented build, since build-time runs of the instrumented binaries
/// count too, as upstream's).
pub struct PgoGathering<'a> {
    pub what: &'a str,
    pub benchmarks: Benchmarks,
    pub raw_dir: &'a Path,
    /// The `LLVM_PROFILE_FILE` pattern for the training; `None` leaves the instrumented
    /// binaries' compiled-in pattern.
    pub profile_file: Option<PathBuf>,
    pub profdata: &'a Path,
    /// The instrumented binary whose LLVM version the profiles carry.
    pub compiler: &'a Path,
    pub output: &'a Path,
}

impl PgoGathering<'_> {
    pub fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        let what = self.what;
        let raw = self.raw_dir.to_path_buf();
        let unpublished = self.output.with_extension("profdata.partial");
        let train = ctx.collector().train(&self.benchmarks, self.profile_file.as_deref());
        let stream = streamed(ctx, &raw, Merger::Profdata(self.profdata.to_path_buf()));
        let mut steps = vec![
            // Before training: streaming merges with this llvm-profdata while it trains.
            Step::new(
                "Check that llvm-profdata matches the compiler's LLVM",
                Effect::CheckProfdata {
                    profdata: self.profdata.to_path_buf(),
                    compiler: self.compiler.to_path_buf(),
                },
                "install the llvm-profdata of the compiler's LLVM major version (Debian: \
                 apt-get install llvm-<major>) and pass --llvm-dir /usr/lib/llvm-<major> (with \
                 --build-llvm false; an in-tree LLVM build brings its own)",
            ),
            Step::new(
                format!("Train the instrumented {what} with rustc-perf"),
                Effect::train(train, &self.benchmarks.crates).streaming(stream),
                "the collector failed while training: its output above names the benchmark; \
                 --rustc-crates picks other benchmarks, --benchmark-cargo-config lets offline \
                 builds use vendored crates",
            )
            .not_resumable(),
            Step::new(
                format!("Check that training wrote {what} raw profiles"),
                Effect::ExpectRawProfiles { dir: raw.clone(), extension: "profraw" },
                format!(
                    "was {} built instrumented, and did the collector run it? rerun the stage: \
                     it rebuilds the instrumented compiler first",
                    self.compiler.display()
                ),
            ),
            Step::new(
                format!("Merge the {what} raw profiles"),
                Effect::run(
                    Cmd::new(self.profdata, &ctx.tree.src)
                        .args(["merge", "-o"])
                        .arg(&unpublished)
                        .arg(&raw),
                ),
                "llvm-profdata could not merge the raw profiles: its message is above",
            ),
            Step::new(
                format!("Validate the merged {what} profile"),
                Effect::Validate {
                    profile: unpublished.clone(),
                    check: ProfileCheck::LlvmProfdata { tool: self.profdata.to_path_buf() },
                },
                "rustc would silently ignore this profile; rerun the stage to train again",
            ),
        ];
        steps.extend(publish(ctx, what, unpublished, self.output, raw));
        steps
    }
}

/// Everything from a built library to a validated, published `.fdata` BOLT profile: train the
/// library BOLT-instrumented in place (its original backed up and put back), merge the
/// per-process profiles with `merge-fdata`, validate, publish, drop (or keep) the raw files.
pub struct BoltGathering<'a> {
    pub what: &'a str,
    pub library: OneFile,
    /// The part of the build dir the library belongs to, and how it is built: what it is
    /// again once training is over.
    pub part: Part,
    pub built: Built,
    pub benchmarks: Benchmarks,
    pub stage_dir: &'a Path,
    pub output: &'a Path,
    pub rebuild_hint: &'a str,
}

impl BoltGathering<'_> {
    pub fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        let what = self.what;
        let raw = self.stage_dir.join("raw");
        let unpublished = self.output.with_extension("fdata.partial");
        let library = &self.library;
        // BOLT instruments the backup (the same bytes), so no command needs the library's name,
        // which holds a hash only known once it is built.
        let backup = backup_of(ctx, library);
        let instrumented = self.stage_dir.join(format!("{}.instrumented", library.prefix));
        let instrument = crate::tools::bolt::instrument_cmd(
            &ctx.host_llvm.tool("llvm-bolt"),
            &backup,
            &raw.join("prof.fdata"),
            &instrumented,
        );
        let train = ctx.collector().train(&self.benchmarks, None);
        let stream = streamed(ctx, &raw, Merger::Fdata(ctx.host_llvm.tool("merge-fdata")));
        let mut steps = vec![
            Step::reset_raw_profiles(&raw),
            Step::of(
                format!("Train {} BOLT-instrumented in place with rustc-perf", library.shown()),
                Some("bolt-instrumented-training"),
                vec![
                    Effect::NotBoltOutput {
                        library: library.clone(),
                        rebuild_hint: self.rebuild_hint.to_string(),
                    },
                    Effect::BackUp {
                        library: library.clone(),
                        backup: backup.clone(),
                        part: self.part,
                    },
                    Effect::run(instrument),
                    Effect::Replace {
                        library: library.clone(),
                        with: instrumented.clone(),
                        instrumented: true,
                    },
                    Effect::train(train, &self.benchmarks.crates).streaming(stream),
                    Effect::Restore { library: library.clone(), backup },
                ],
                "if llvm-bolt failed: it needs a library linked with relocations (-Wl,-q), built \
                 with BOLT settings (--use-bolt true); if the collector failed, its output above \
                 names the benchmark",
            )
            .changing_in_place(self.part, self.built.clone())
            .with_scratch(instrumented)
            .not_resumable(),
            Step::new(
                format!("Check that training wrote {what} BOLT profiles"),
                Effect::ExpectRawProfiles { dir: raw.clone(), extension: "fdata" },
                "the instrumented library did not run: did the collector use this build's \
                 compiler?",
            ),
            Step::new(
                format!("Merge the {what} BOLT profiles"),
                Effect::MergeFdata {
                    merge_fdata: ctx.host_llvm.tool("merge-fdata"),
                    raw_dir: raw.clone(),
                    output: unpublished.clone(),
                },
                "merge-fdata failed: its message is above",
            ),
            Step::new(
                format!("Validate the merged {what} BOLT profile"),
                Effect::Validate { profile: unpublished.clone(), check: ProfileCheck::Fdata },
                "rerun the stage to train again",
            ),
        ];
        steps.extend(publish(ctx, what, unpublished, self.output, raw));
        steps
    }
}

/// How raw profiles written into `raw` stream, when they do (`--raw-profiles streamed`).
pub fn streamed(ctx: &Ctx, raw: &Path, merger: Merger) -> Option<Stream> {
    let streamed = ctx.options.raw_profiles == RawProfiles::Streamed;
    streamed.then(|| Stream { raw_dir: raw.to_path_buf(), merger, cap: ctx.options.raw_cap })
}

/// Where a sysroot library is backed up while it is rewritten in place.
pub fn backup_of(ctx: &Ctx, library: &OneFile) -> PathBuf {
    crate::engine::backup::backups_dir(&ctx.tree.artifacts_root())
        .join(format!("{}{}", library.prefix, library.suffix))
}

/// After a validated merge: move the profile into place, then delete the raw profiles, or with
/// `--keep-raw` move them beside it.
fn publish(ctx: &Ctx, what: &str, unpublished: PathBuf, output: &Path, raw: PathBuf) -> [Step; 2] {
    let publish = Step::new(
        format!("Publish {}", file_name(output)),
        Effect::Move { from: unpublished, to: output.to_path_buf() },
        "check free space and permissions in the stage directory",
    );
    let hint = "check permissions in the stage directory";
    let raw_profiles = match ctx.options.keep_raw {
        true => {
            let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned());
            let kept = raw.with_file_name(format!("raw-{}", stem.unwrap_or_default()));
            let title = format!("Keep the {what} raw profiles (--keep-raw)");
            Step::new(title, Effect::Move { from: raw, to: kept }, hint)
        }
        false => Step::new(
            format!("Delete the merged {what} raw profiles"),
            Effect::RemoveDir { dir: raw },
            hint,
        ),
    };
    [publish, raw_profiles]
}
