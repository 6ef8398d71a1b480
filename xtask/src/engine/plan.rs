//! A stage as data: what it is ([`StageDef`]), and what it will do for one tree and one set of
//! options ([`StagePlan`]): inputs, outputs, what it needs of the build dir, and steps.
//!
//! A step is a list of [`Effect`]s, plain data that the runner carries out and `plan` prints:
//! the shell form of every effect is made from the same fields that run it ([`Effect::shell`]),
//! so what `plan --format sh` replays is what runs. A stage never calls the runner: it returns
//! its plan, and the runner does the rest.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Serialize, Serializer};

use super::context::{Artifact, Ctx};
pub use super::package::PackageCheck;
use crate::tools::llvm::show_profile;
use crate::tools::streaming::Stream;
use crate::util::cmd::{shell_quote_path as q, Cmd};
use crate::util::fs::{file_name, OneFile};

/// One stage of the pipeline: everything the tool knows about it, in one place (its module).
pub struct StageDef {
    /// The command, and the directory under `<build-dir>/opt-dist/`.
    pub name: &'static str,
    /// Its title in logs and manifests, in upstream's stage numbering.
    pub title: &'static str,
    /// One line for `--help`'s command list; what `<stage> --help` says it does.
    pub summary: &'static str,
    pub about: &'static str,
    /// Whether arguments after `--` (for the final `x.py dist`) mean anything to it.
    pub takes_dist_args: bool,
    /// `all` runs it only with `--run-tests`, and never in a try build (upstream's test run).
    pub only_with_tests: bool,
    /// Disk it needs below the build dir for a tree the size of rustc 1.95.0, in GiB, from
    /// upstream's reports: what stays, and what it needs only while it runs (raw profiles,
    /// 6-20 GiB per PGO stage; unpacked tarballs).
    pub kept_gib: u64,
    pub transient_gib: u64,
    /// Of the transient, the raw profiles, as upstream writes them (per process).
    pub raw_gib: u64,
    /// What `clean` deletes in the stage's directory: names, with `*` at one end.
    pub scratch: &'static [&'static str],
    pub plan: fn(&Ctx) -> Result<StagePlan>,
}

impl std::fmt::Debug for StageDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Serialize for StageDef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

/// What a stage will do, resolved for one tree and one set of options.
#[derive(Debug, Serialize)]
pub struct StagePlan {
    pub stage: &'static StageDef,
    pub dir: PathBuf,
    /// Files from earlier stages this one reads.
    pub inputs: Vec<Artifact>,
    /// Files this stage leaves in its directory, each written only once it is complete.
    pub outputs: Vec<Artifact>,
    /// What the stage relies on in the build dir; where it holds something else, repair steps
    /// come first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Need>,
    /// The first `repairs` steps make the build dir what the stage needs.
    pub repairs: usize,
    pub steps: Vec<Step>,
    /// Why this stage does nothing with these options; later stages do without its outputs.
    pub skipped: Option<String>,
}

impl StagePlan {
    pub fn new(stage: &'static StageDef, ctx: &Ctx, steps: Vec<Step>) -> StagePlan {
        StagePlan {
            stage,
            dir: ctx.tree.stage_dir(stage.name),
            inputs: Vec::new(),
            outputs: Vec::new(),
            needs: Vec::new(),
            repairs: 0,
            steps,
            skipped: None,
        }
    }

    pub fn skipped(stage: &'static StageDef, ctx: &Ctx, why: impl Into<String>) -> StagePlan {
        StagePlan { skipped: Some(why.into()), ..StagePlan::new(stage, ctx, Vec::new()) }
    }

    /// The stage's own steps, without repairs.
    pub fn own_steps(&self) -> &[Step] {
        &self.steps[self.repairs..]
    }
}

/// A part of the toolchain in the build dir that stages build and later stages rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// rustc and librustc_driver (the sysroot's copies are hard links to them).
    Compiler,
    /// The in-tree LLVM build (`<build>/<host>/llvm`).
    Llvm,
}

/// How a part was built, as a plan says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Built {
    /// Not there: bootstrap builds it with the options of the next call that needs it.
    Absent,
    /// Built without PGO: stage 1's throw-away LLVM.
    Plain,
    /// Built to write profiles: for training only.
    Instrumented,
    /// Built with `profile`; `bolt_ready`: linked with relocations, for BOLT.
    Optimized { profile: PathBuf, bolt_ready: bool },
    /// Built with `profile`, then BOLT-optimized in place by dist with `bolt_profile`: fine to
    /// keep and to ship, but BOLT cannot process it again. A need without a BOLT profile
    /// accepts any.
    BoltOptimized {
        profile: PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        bolt_profile: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildChange {
    pub part: Part,
    pub to: Built,
    /// Only where the part is not built yet (bootstrap keeps an LLVM it already built).
    pub only_if_absent: bool,
    /// Made by rewriting a file in place after backing it up: the part is marked changing when
    /// the backup is made, not before the step (a step that fails before it changed nothing).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_place: bool,
}

/// A stage relies on `part` being built one of the ways in `accepted`.
#[derive(Debug, Clone, Serialize)]
pub struct Need {
    pub part: Part,
    pub accepted: Vec<Built>,
}

#[derive(Debug)]
pub struct Step {
    pub title: String,
    /// What it does, in order.
    pub effects: Vec<Effect>,
    /// The name plans give a step of several effects (e.g. `bolt-optimize`).
    pub kind: Option<&'static str>,
    /// What the user should do when this step fails.
    pub hint: String,
    /// Whether a stage interrupted during this step may resume at it. Training may not: the
    /// raw profiles it left would be counted again, so the stage resumes at the reset of the
    /// raw-profile directory before it. Nor may dist's package check, which would find the
    /// same packages again: its stage starts over (its BOLT steps have nothing to do).
    pub resumable: bool,
    /// What this step does to the compiler or LLVM in the build dir (see build_state.rs).
    pub changes: Vec<BuildChange>,
    /// When this holds, the step has nothing to do (dist's BOLT on a library already optimized
    /// with this very profile).
    pub done_if: Option<Done>,
    /// Files the step writes for itself, deleted when it ends, however it ends.
    pub scratch: Vec<PathBuf>,
    /// Runs at the same time as the step before it, which it neither reads from nor writes
    /// to (the collector's build beside bootstrap's, dist's package check beside its fit
    /// checks): see [`Step::alongside`].
    pub alongside: bool,
}

impl Step {
    pub fn new(title: impl Into<String>, effect: Effect, hint: impl Into<String>) -> Step {
        Step::of(title, None, vec![effect], hint)
    }

    pub fn of(
        title: impl Into<String>,
        kind: Option<&'static str>,
        effects: Vec<Effect>,
        hint: impl Into<String>,
    ) -> Step {
        Step {
            title: title.into(),
            effects,
            kind,
            hint: hint.into(),
            resumable: true,
            changes: Vec::new(),
            done_if: None,
            scratch: Vec::new(),
            alongside: false,
        }
    }

    /// Runs the step at the same time as the one before it. For a step that takes nothing from
    /// the step before and changes no part of the build dir (no `changing`, no backup): a
    /// build of programs (`Run` effects), a check that reads what both leave alone; should
    /// either fail, the runner stops the other, and a later run does again only the one that
    /// did not finish.
    pub fn alongside(self) -> Step {
        Step { alongside: true, ..self }
    }

    /// The programs the step runs by path (a step alongside another waits for them: bootstrap's
    /// first build may be what provides them).
    pub fn programs(&self) -> impl Iterator<Item = &Path> {
        self.effects.iter().filter_map(|effect| match effect {
            Effect::Run { cmd, .. } => Some(Path::new(cmd.program())).filter(|p| p.is_absolute()),
            _ => None,
        })
    }

    /// Whether the step may run while preflight's last checks (bootstrap's dry runs) are still
    /// under way, by what it does: it only empties a raw-profile scratch directory or builds
    /// with bootstrap, so a failing check that stops it leaves every profile and every library
    /// BOLT rewrites as it was (the runner also keeps it from replacing a part built with a
    /// profile). A step alongside such a step builds programs beside it, and may too.
    pub fn may_run_before_checks_end(&self) -> bool {
        self.effects.iter().all(|e| match e {
            Effect::ResetDir { .. } => true,
            Effect::Bootstrap { cmd, .. } => crate::tools::bootstrap::is_build(cmd),
            _ => false,
        })
    }

    /// See [`Step::scratch`].
    pub fn with_scratch(mut self, file: PathBuf) -> Step {
        self.scratch.push(file);
        self
    }

    /// See [`Step::resumable`].
    pub fn not_resumable(self) -> Step {
        Step { resumable: false, ..self }
    }

    fn change(mut self, part: Part, to: Built, only_if_absent: bool, in_place: bool) -> Step {
        self.changes.push(BuildChange { part, to, only_if_absent, in_place });
        self
    }

    /// Declares what the step leaves in the build dir.
    pub fn changing(self, part: Part, to: Built) -> Step {
        self.change(part, to, false, false)
    }

    /// Declares what the step leaves in the build dir by rewriting a library in place, backed
    /// up first (see backup.rs).
    pub fn changing_in_place(self, part: Part, to: Built) -> Step {
        self.change(part, to, false, true)
    }

    /// Declares what the step builds where there is nothing yet.
    pub fn building_if_absent(self, part: Part, to: Built) -> Step {
        self.change(part, to, true, false)
    }

    /// Training starts from an empty raw-profile directory: leftovers of an unfinished run were
    /// made by another build and would spoil the merge.
    pub fn reset_raw_profiles(raw: &Path) -> Step {
        Step::new(
            "Start with an empty raw-profile directory",
            Effect::ResetDir { dir: raw.to_path_buf() },
            format!("make {} writable", raw.display()),
        )
    }

    /// The step as POSIX shell lines: its effects' shell forms (a command after a `cd` where
    /// the directory changes, `cwd` being where the script stands), the backups it makes dropped
    /// at its end as the runner drops them, inside the condition that makes it unnecessary.
    pub fn shell(&self, cwd: &mut Option<PathBuf>) -> Vec<String> {
        let mut lines = Vec::new();
        for effect in &self.effects {
            if let Effect::Run { cmd, .. } | Effect::Bootstrap { cmd, .. } = effect {
                if cwd.as_deref() != Some(cmd.cwd.as_path()) {
                    lines.push(format!("cd {}", q(&cmd.cwd)));
                    *cwd = Some(cmd.cwd.clone());
                }
            }
            lines.push(effect.shell());
        }
        for effect in &self.effects {
            if let Effect::BackUp { backup, .. } = effect {
                let restored = self
                    .effects
                    .iter()
                    .any(|e| matches!(e, Effect::Restore { backup: b, .. } if b == backup));
                if !restored {
                    lines.push(format!("rm {} && trap - EXIT", q(backup)));
                }
            }
        }
        lines.extend(self.scratch.iter().map(|file| format!("rm -f {}", q(file))));
        match &self.done_if {
            Some(Done::BoltOptimized { library, .. }) => {
                let mut wrapped = vec![format!(
                    "if ! readelf -S -W {} | grep -q '\\.bolt\\.org\\.text'; then",
                    found(library)
                )];
                wrapped.append(&mut lines);
                wrapped.push("fi".to_string());
                // Whether the block ran is known only when the script runs.
                *cwd = None;
                wrapped
            }
            None => lines,
        }
    }
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Composite<'a> {
            kind: &'static str,
            effects: &'a [Effect],
        }
        #[derive(Serialize)]
        struct Shown<'a, A: Serialize> {
            title: &'a str,
            action: A,
            hint: &'a str,
            resumable: bool,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            changes: &'a [BuildChange],
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            alongside: bool,
        }
        let shown = |action| Shown {
            title: &self.title,
            action,
            hint: &self.hint,
            resumable: self.resumable,
            changes: &self.changes,
            alongside: self.alongside,
        };
        match (self.kind, self.effects.as_slice()) {
            (None, [effect]) => {
                shown(serde_json::to_value(effect).map_err(serde::ser::Error::custom)?)
            }
            (kind, effects) => shown(
                serde_json::to_value(Composite { kind: kind.unwrap_or("steps"), effects })
                    .map_err(serde::ser::Error::custom)?,
            ),
        }
        .serialize(s)
    }
}

/// A condition that makes a step unnecessary.
#[derive(Debug, Clone)]
pub enum Done {
    /// The library is BOLT's optimized output, and the build state records it as optimized
    /// with these profiles.
    BoltOptimized { library: OneFile, part: Part, pgo_profile: PathBuf, bolt_profile: PathBuf },
}

/// How a merged profile is read back.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileCheck {
    /// `llvm-profdata show` must read it and report functions with non-zero counts.
    LlvmProfdata { tool: PathBuf },
    /// A BOLT profile is parsed: it must hold branch records.
    Fdata,
}

/// How a profile's fit is measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FitBy {
    /// A PGO profile's functions (`profdata show --all-functions`) in the binary's symbol table.
    Symbols { profdata: PathBuf, nm: PathBuf },
    /// llvm-bolt's own figures in its output, kept in `log`, against the BOLT profile's functions.
    BoltLog { log: PathBuf },
}

/// What the runner does, one thing at a time. Each effect carries everything it needs, so the
/// same value runs (effects.rs), prints ([`Effect::shell`]) and is fingerprinted.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Effect {
    /// An external command; `training`: the collector over `benchmarks`, its progress reported;
    /// `output`: where its output (stdout and stderr, as shown) is kept for an effect after it.
    Run {
        cmd: Cmd,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        training: bool,
        #[serde(skip)]
        benchmarks: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<PathBuf>,
        /// Training's raw profiles merged while it runs (`--raw-profiles streamed`): how the
        /// files are written is the same, so it changes neither the commands nor a stage's
        /// fingerprint.
        #[serde(skip)]
        stream: Option<Stream>,
    },
    /// A call of the tree's `x.py`, which preflight tries with `--dry-run` unless it runs under
    /// a configuration written just before it.
    Bootstrap {
        cmd: Cmd,
        #[serde(skip)]
        preflight: bool,
        /// The raw profiles of the instrumented binaries it runs, merged while it runs.
        #[serde(skip)]
        stream: Option<Stream>,
        /// dist: the rustc tarball checked as soon as it is written, while bootstrap packages
        /// the other components; the check after dist takes that result if no file it read
        /// has changed since. It changes no command.
        #[serde(skip)]
        early_check: Option<PackageCheck>,
    },
    /// Empties a scratch directory (or creates it).
    ResetDir { dir: PathBuf },
    /// Deletes a directory: build output bootstrap would wrongly reuse, or merged raw profiles.
    RemoveDir { dir: PathBuf },
    /// Publishes a complete file or directory with one rename.
    Move { from: PathBuf, to: PathBuf },
    /// A second name for a file (a hard link, else a copy).
    Link { from: PathBuf, to: PathBuf },
    /// Training that wrote no raw profiles is an error, not an empty profile.
    ExpectRawProfiles { dir: PathBuf, extension: &'static str },
    /// llvm-profdata must be of the compiler's LLVM major version.
    #[serde(rename = "check-profdata-matches-compiler")]
    CheckProfdata { profdata: PathBuf, compiler: PathBuf },
    /// `merge-fdata` over every per-process `.fdata` in `raw_dir`.
    MergeFdata { merge_fdata: PathBuf, raw_dir: PathBuf, output: PathBuf },
    /// rustc and BOLT silently ignore a bad profile, so every merged one is read back.
    Validate { profile: PathBuf, check: ProfileCheck },
    /// BOLT cannot process its own output.
    NotBoltOutput { library: OneFile, rebuild_hint: String },
    /// Backs the library up before it is rewritten in place (see backup.rs).
    BackUp { library: OneFile, backup: PathBuf, part: Part },
    /// Copies `with` over the library (in place: the same inode) when the free space allows,
    /// and checks that it is BOLT's (`instrumented` or optimized) output, whole.
    Replace { library: OneFile, with: PathBuf, instrumented: bool },
    /// Puts the backed-up original back.
    Restore { library: OneFile, backup: PathBuf },
    /// Deletes BOLT's output of the library with every hard link to it in `build_dirs`, so
    /// bootstrap builds it again.
    RemoveBoltOutput { library: OneFile, build_dirs: Vec<PathBuf> },
    /// Records every file bootstrap's dist wrote (size, SHA-256) as stage outputs.
    RecordDistFiles { dist_dir: PathBuf },
    /// Unpacks the rustc tarball: nothing in it may be instrumented, and each BOLT-optimized
    /// library must be byte for byte the sysroot's.
    CheckPackagedToolchain(PackageCheck),
    /// How much of `profile` the binaries built or optimized with it hold (those of `binaries`
    /// that exist: the ones the profiled processes ran, [`FitBy`]): below the minimum
    /// ([`crate::tools::fit`]) the step fails, unless `allow_stale` (`--allow-stale`, which
    /// changes no command) makes it a warning. Recorded as the stage's `fit`.
    CheckFit {
        profile: PathBuf,
        binaries: Vec<OneFile>,
        by: FitBy,
        #[serde(skip)]
        allow_stale: bool,
    },
    /// A POSIX shell script, run with `sh -c` as it is printed: for file work whose shell form
    /// is the clearest description of it (unpacking the dist toolchain for the tests).
    Script { script: String },
}

impl Effect {
    pub fn run(cmd: Cmd) -> Effect {
        Effect::Run { cmd, training: false, benchmarks: Vec::new(), output: None, stream: None }
    }

    /// An x.py call, checked by preflight.
    pub fn bootstrap(bootstrap: crate::tools::bootstrap::Bootstrap) -> Effect {
        let cmd = bootstrap.into_cmd();
        Effect::Bootstrap { cmd, preflight: true, stream: None, early_check: None }
    }

    /// The effect with the raw profiles its command's processes write merged while it runs.
    pub fn streaming(mut self, to: Option<Stream>) -> Effect {
        if let Effect::Run { stream, .. } | Effect::Bootstrap { stream, .. } = &mut self {
            *stream = to;
        }
        self
    }

    /// dist's call, with the packaged toolchain checked while it runs (`early_check`).
    pub fn checking_early(mut self, check: &PackageCheck) -> Effect {
        if let Effect::Bootstrap { early_check, .. } = &mut self {
            *early_check = Some(check.clone());
        }
        self
    }

    /// The collector's run over `benchmarks`.
    pub fn train(cmd: Cmd, benchmarks: &[String]) -> Effect {
        let benchmarks = benchmarks.to_vec();
        Effect::Run { cmd, training: true, benchmarks, output: None, stream: None }
    }

    /// The POSIX shell commands that do what the effect does.
    pub fn shell(&self) -> String {
        match self {
            Effect::Run { cmd, output: Some(output), .. } => format!(
                "{} > {1} 2>&1 || {{ cat {1}; false; }}\ncat {1}",
                cmd.shell_line(),
                q(output)
            ),
            Effect::Run { cmd, .. } | Effect::Bootstrap { cmd, .. } => cmd.shell_line(),
            Effect::ResetDir { dir } => format!("rm -rf {0} && mkdir -p {0}", q(dir)),
            Effect::RemoveDir { dir } => format!("rm -rf {}", q(dir)),
            Effect::Move { from, to } => format!(
                "{{ [ ! -d {1} ] || rm -rf {1}; }} && mv -f {0} {1}",
                q(from),
                q(to)
            ),
            Effect::Link { from, to } => format!(
                "mkdir -p {} && ln -f {} {}",
                q(to.parent().unwrap_or(Path::new("."))),
                q(from),
                q(to)
            ),
            Effect::ExpectRawProfiles { dir, extension } => format!(
                "test -n \"$(find {} -name '*.{extension}' -print | head -n 1)\"",
                q(dir)
            ),
            Effect::CheckProfdata { profdata, compiler } => format!(
                "test \"$({} merge --version | sed -n 's/.*LLVM version \\([0-9]*\\).*/\\1/p')\" = \
                 \"$({} -vV | sed -n 's/^LLVM version: \\([0-9]*\\).*/\\1/p')\"",
                q(profdata),
                q(compiler)
            ),
            Effect::MergeFdata {
                merge_fdata,
                raw_dir,
                output,
            } => format!("{} -o {} {}/*.fdata", q(merge_fdata), q(output), q(raw_dir)),
            Effect::Validate { profile, check } => match check {
                ProfileCheck::LlvmProfdata { tool } => format!(
                    "{} | grep -q '^Maximum function count: [1-9]'",
                    show_profile(tool, profile).shell_line()
                ),
                ProfileCheck::Fdata => format!("grep -q '^1 ' {}", q(profile)),
            },
            Effect::NotBoltOutput { library, .. } => format!(
                "! readelf -S -W {} | grep -q '\\.bolt\\.org\\.text'",
                found(library)
            ),
            Effect::BackUp {
                library, backup, ..
            } => format!(
                "mkdir -p {0} && cp {1} {2} && trap 'cp {2} {1}' EXIT",
                q(backup.parent().unwrap_or(Path::new("/"))),
                found(library),
                q(backup)
            ),
            Effect::Replace { library, with, .. } => format!("cp {} {}", q(with), found(library)),
            Effect::Restore { library, backup } => format!(
                "cp {0} {1} && rm {0} && trap - EXIT",
                q(backup),
                found(library)
            ),
            Effect::RemoveBoltOutput {
                library,
                build_dirs,
            } => format!(
                "lib={}\nif [ -f \"$lib\" ] && readelf -S -W \"$lib\" | grep -q '\\.bolt\\.org\\.text'; \
                 then find {} -samefile \"$lib\" -delete; fi",
                found(library),
                build_dirs.iter().map(|d| q(d)).collect::<Vec<_>>().join(" ")
            ),
            Effect::RecordDistFiles { dist_dir } => format!("ls -l {}", q(dist_dir)),
            Effect::CheckPackagedToolchain(PackageCheck { dist_dir, host, bolt_libraries, scratch }) => {
                let scratch = q(scratch);
                let mut lines = vec![
                    format!("rm -rf {scratch} && mkdir -p {scratch}"),
                    format!(
                        "tar -xf \"$({})\" -C {scratch}",
                        rustc_tarball_shell(dist_dir, host)
                    ),
                    format!(
                        "! find {scratch} -type f -exec sh -c 'head -c 4 \"$1\" | grep -q ELF && \
                         readelf -S -W \"$1\"' sh {{}} \\; | grep -E '__llvm_prf_|\\.bolt\\.instr'"
                    ),
                ];
                for library in bolt_libraries {
                    lines.push(format!(
                        "cmp \"$(find {scratch} -path '*/rustc/lib/{}' -type f)\" {}",
                        library.shown(),
                        found(library)
                    ));
                }
                lines.push(format!("rm -rf {scratch}"));
                lines.join("\n")
            }
            Effect::CheckFit { profile, binaries, by, allow_stale } => {
                // The awk programs compute what `tools::fit` does.
                let check = match by {
                    FitBy::Symbols { profdata, nm } => format!(
                        "{{ {} --defined-only -j {} 2>/dev/null || true; echo ==; {} show \
                         --all-functions {}; }} | \
                         awk -v min={} '!p {{ if ($0 == \"==\") p = 1; else s[$0] = 1; next }} \
                         /^  [^ ].*:$/ {{ f = substr($0, 3, length($0) - 3); sub(/.*;/, \"\", f); \
                         if (!(f in n)) {{ n[f] = 1; all++; found += (f in s) }} }} \
                         END {{ print found + 0, \"of\", all + 0, \"profile functions found\"; \
                         exit !(all && found * 100 >= min * all) }}'",
                        q(nm),
                        binaries.iter().map(found).collect::<Vec<_>>().join(" "),
                        q(profdata),
                        q(profile),
                        crate::tools::fit::MIN_PGO_PERCENT
                    ),
                    FitBy::BoltLog { log } => format!(
                        "{{ awk '$1 == 1 {{ print $2 }} $4 == 1 {{ print $5 }}' {} | \
                         sed 's#/[0-9]*$##' | grep -v '@PLT$' | sort -u | wc -l; cat {}; }} | \
                         awk 'NR == 1 {{ reached = $1; next }} \
                         /functions in the binary .* execution profile/ {{ n = $2 }} \
                         /possibly stale\\) profile/ {{ s = $2 }} \
                         END {{ exit !(2 * (n - s) >= reached) }}'",
                        q(profile),
                        q(log)
                    ),
                };
                match allow_stale {
                    true => format!(
                        "{check} || echo 'opt-dist: WARNING: {} does not fit {} (--allow-stale)' \
                         >&2",
                        file_name(profile),
                        binaries.iter().map(OneFile::shown).collect::<Vec<_>>().join(" + ")
                    ),
                    false => check,
                }
            }
            Effect::Script { script } => script.clone(),
        }
    }
}

/// A shell expression for the one file named like `file`.
fn found(file: &OneFile) -> String {
    format!("\"$(find {} -maxdepth 1 -type f -name '{}' | head -n 1)\"", q(&file.dir), file.shown())
}

/// A shell command printing the path of the rustc tarball: the one whose version part, between
/// `rustc-` and `-<host>`, has no `-` (so not rustc-dev-… or rustc-docs-…).
pub fn rustc_tarball_shell(dist_dir: &Path, host: &str) -> String {
    format!(
        "ls {}/rustc-*-{host}.tar.* | grep -E '/rustc-[^-/]+-{}\\.tar\\.' | head -n 1",
        q(dist_dir),
        host.replace('.', "\\.")
    )
}
