//! The command line of `cargo xtask opt-dist`, parsed with pico-args.
//!
//! Every option is one row of a table ([`GLOBAL_OPTIONS`], [`PIPELINE_OPTIONS`] and the
//! commands' own): its name, what it takes, its help, and how it sets its value. The parser and
//! every `--help` are made from the same rows, so an option cannot exist without its help.
//! Commands are a table too, with the stages taken from [`StageId::ALL`].
//!
//! Global options may stand anywhere before `--`; command options follow the command. Everything
//! after `--` is handed to the final `x.py dist` untouched. Paths are made absolute here, once,
//! against the directory the user runs the command from. A mistake is a [`UsageError`] that
//! names the offending word and carries the help of the command it belongs to (exit code 2).

use std::ffi::OsString;
use std::fmt::Write;
use std::path::PathBuf;

use crate::commands::{Command, Invocation, PlanFormat};
use crate::engine::context::{Global, Options as PipelineOptions};
use crate::stages::StageId;
use crate::tools::profiles::Profile;

/// What the user asked for.
#[derive(Debug)]
pub enum Parsed {
    Help(String),
    Run(Box<Invocation>),
}

#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub help: String,
}

/// What an option takes after its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// A flag.
    Nothing,
    /// One value, at most once.
    Value(&'static str),
    /// A value, as often as given.
    Values(&'static str),
}

/// One option: the parser and the help are both made from these.
struct Opt<T> {
    name: &'static str,
    takes: Takes,
    help: &'static str,
    /// Applies one occurrence (with its value, unless a flag).
    set: fn(&mut T, Option<String>) -> Result<(), String>,
}

/// Where the tree and its tools are: accepted by every command.
const GLOBAL_OPTIONS: &[Opt<Global>] = &[
    Opt {
        name: "--src",
        takes: Takes::Value("<DIR>"),
        help: "the rust source tree (env OPT_DIST_SRC; default: the rust tree this xtask \
               lives in)",
        set: |g, v| {
            g.tree.src = Some(absolute_path("--src", v)?);
            Ok(())
        },
    },
    Opt {
        name: "--build-dir",
        takes: Takes::Value("<DIR>"),
        help: "bootstrap's build dir (default: bootstrap.toml's build.build-dir, else \
               <src>/build); profiles go to <build-dir>/opt-dist/<stage>",
        set: |g, v| {
            g.tree.build_dir = Some(absolute_path("--build-dir", v)?);
            Ok(())
        },
    },
    Opt {
        name: "--host",
        takes: Takes::Value("<TRIPLE>"),
        help: "host triple (default: bootstrap.toml's build.build, else the host of the \
               stage0 rustc)",
        set: |g, v| {
            g.tree.host = Some(non_empty("--host", v)?);
            Ok(())
        },
    },
    Opt {
        name: "--python",
        takes: Takes::Value("<PATH>"),
        help: "python used to run x.py (default: python3)",
        set: |g, v| {
            let python = non_empty("--python", v)?;
            // A bare name is looked up in PATH; x.py runs elsewhere, so a path must not be
            // relative to where the user stands.
            g.tree.python = Some(match python.contains('/') {
                true => absolute_path("--python", Some(python))?
                    .display()
                    .to_string(),
                false => python,
            });
            Ok(())
        },
    },
    Opt {
        name: "--llvm-dir",
        takes: Takes::Value("<DIR>"),
        help: "host LLVM installation with bin/llvm-profdata, bin/llvm-bolt, bin/merge-fdata \
               (default: from the configured llvm-config, else /usr/lib/llvm-<major of the \
               compiler's LLVM>, else PATH)",
        set: |g, v| {
            g.llvm_dir = Some(absolute_path("--llvm-dir", v)?);
            Ok(())
        },
    },
    Opt {
        name: "--interface",
        takes: Takes::Value("<legacy|pgo-table>"),
        help: "bootstrap's PGO interface (default: asked of the tree's own bootstrap with \
               x.py --dry-run)",
        set: |g, v| {
            let name = non_empty("--interface", v)?;
            g.interface = Some(named(&name).ok_or_else(|| {
                format!("unknown interface `{name}`: expected legacy or pgo-table")
            })?);
            Ok(())
        },
    },
    Opt {
        name: "--wait",
        takes: Takes::Nothing,
        help: "when another run is using the build dir, wait for it to finish instead of \
               stopping (commands that write: the stages, all, clean, import)",
        set: |g, _| {
            g.wait = true;
            Ok(())
        },
    },
];

/// How the pipeline runs: accepted by every stage, `all`, `plan` and `doctor`.
const PIPELINE_OPTIONS: &[Opt<PipelineOptions>] = &[
    Opt {
        name: "--use-bolt",
        takes: Takes::Value("<true|false>"),
        help: "build for BOLT and run the BOLT stages (default: true on x86_64 Linux with a \
               shared LLVM, as upstream)",
        set: |o, v| {
            o.use_bolt = Some(bool_value("--use-bolt", v)?);
            Ok(())
        },
    },
    Opt {
        name: "--build-llvm",
        takes: Takes::Value("<true|false>"),
        help: "LLVM is built in the tree (default: true); with false, llvm-profdata comes from \
               the host LLVM (--llvm-dir)",
        set: |o, v| {
            o.build_llvm = bool_value("--build-llvm", v)?;
            Ok(())
        },
    },
    Opt {
        name: "--llvm-shared",
        takes: Takes::Value("<true|false>"),
        help: "LLVM is linked as a shared library (default: true)",
        set: |o, v| {
            o.llvm_shared = bool_value("--llvm-shared", v)?;
            Ok(())
        },
    },
    Opt {
        name: "--keep-raw",
        takes: Takes::Nothing,
        help: "keep the raw profiles (moved to raw-<profile>/) instead of deleting them after \
               a good merge",
        set: |o, _| {
            o.keep_raw = true;
            Ok(())
        },
    },
    Opt {
        name: "--raw-profiles",
        takes: Takes::Value("<pooled|per-process>"),
        help: "how training processes write raw profiles: per-process (one file each, as \
               upstream; the default) or pooled (merged as processes exit into a few files per \
               binary: ~26x less disk, but indirect-call targets lose counts)",
        set: |o, v| {
            let name = non_empty("--raw-profiles", v)?;
            o.raw_profiles = named(&name).ok_or_else(|| {
                format!("unknown raw-profile mode `{name}`: expected pooled or per-process")
            })?;
            Ok(())
        },
    },
    Opt {
        name: "--rustc-crates",
        takes: Takes::Value("<A,B,...>"),
        help: "rustc training benchmarks (default: upstream's list)",
        set: |o, v| {
            let list = v.unwrap_or_default();
            o.rustc_crates = Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect(),
            );
            Ok(())
        },
    },
    Opt {
        name: "--training-jobs",
        takes: Takes::Value("<N>"),
        help: "benchmarks the collector trains with at once (default: what the tree's own \
               opt-dist passes as --jobs; none at 1.95.0, 16 on master)",
        set: |o, v| {
            let value = non_empty("--training-jobs", v)?;
            o.training_jobs =
                Some(value.parse().ok().filter(|&n: &u32| n > 0).ok_or_else(|| {
                    format!("--training-jobs takes a number of at least 1, not `{value}`")
                })?);
            Ok(())
        },
    },
    Opt {
        name: "--benchmark-cargo-config",
        takes: Takes::Values("<FILE>"),
        help: "passed to the collector as --cargo-config (repeatable), e.g. to train offline \
               on the tarball's vendored crates",
        set: |o, v| {
            let path = absolute_path("--benchmark-cargo-config", v)?;
            o.benchmark_cargo_config.push(path);
            Ok(())
        },
    },
    Opt {
        name: "--no-preflight",
        takes: Takes::Nothing,
        help: "skip the checks and bootstrap dry runs before the run",
        set: |o, _| {
            o.no_preflight = true;
            Ok(())
        },
    },
    Opt {
        name: "--ignore-disk-space",
        takes: Takes::Nothing,
        help: "run even when free disk is below the estimate",
        set: |o, _| {
            o.ignore_disk_space = true;
            Ok(())
        },
    },
    Opt {
        name: "--try-build",
        takes: Takes::Nothing,
        help: "upstream's fast try build (DIST_TRY_BUILD): a minimal toolchain, no tests",
        set: |o, _| {
            o.try_build = true;
            Ok(())
        },
    },
    Opt {
        name: "--run-tests",
        takes: Takes::Nothing,
        help: "`all` ends with the test stage",
        set: |o, _| {
            o.run_tests = true;
            Ok(())
        },
    },
    Opt {
        name: "--skipped-tests",
        takes: Takes::Values("<PATH>"),
        help: "a test the test stage skips (repeatable)",
        set: |o, v| {
            o.skipped_tests.push(non_empty("--skipped-tests", v)?);
            Ok(())
        },
    },
];

/// The options a command has for itself.
#[derive(Debug, Default)]
struct CommandArgs {
    format: PlanFormat,
    json: bool,
    from: Option<StageId>,
    force: bool,
    and_later: bool,
    stages: Vec<StageId>,
    single: Option<Profile>,
    allow_stale: bool,
}

const EXPORT_OPTIONS: &[Opt<CommandArgs>] = &[Opt {
    name: "--stage",
    takes: Takes::Values("<STAGE>"),
    help: "export this stage only (repeatable; default: every finished stage)",
    set: |a, v| {
        let name = v.unwrap_or_default();
        a.stages
            .push(StageId::from_name(&name).ok_or_else(|| format!("unknown stage `{name}`"))?);
        Ok(())
    },
}];

const IMPORT_OPTIONS: &[Opt<CommandArgs>] = &[
    Opt {
        name: "--as",
        takes: Takes::Value("<PROFILE>"),
        help: "import one profile file as rustc-pgo, rustdoc-pgo, clippy-pgo, llvm-pgo, \
               llvm-bolt or rustc-bolt",
        set: |a, v| {
            let name = v.unwrap_or_default();
            a.single = Some(Profile::from_stem(&name).ok_or_else(|| {
                let stems: Vec<&str> = Profile::ALL.iter().map(|p| p.row().stem).collect();
                format!(
                    "unknown profile `{name}`: expected one of {}",
                    stems.join(", ")
                )
            })?);
            Ok(())
        },
    },
    Opt {
        name: "--allow-stale",
        takes: Takes::Nothing,
        help: "import profiles made for another tree (another version, commit, host, \
               interface or LLVM major): rustc and clang use what still matches; the manifest \
               records what differed",
        set: |a, _| {
            a.allow_stale = true;
            Ok(())
        },
    },
];

const CLEAN_OPTIONS: &[Opt<CommandArgs>] = &[Opt {
    name: "--and-later",
    takes: Takes::Nothing,
    help: "with a stage: also delete the directories of the stages after it",
    set: |a, _| {
        a.and_later = true;
        Ok(())
    },
}];

const ALL_OPTIONS: &[Opt<CommandArgs>] = &[
    Opt {
        name: "--from",
        takes: Takes::Value("<STAGE>"),
        help: "run from this stage on, even where it and the stages after it are done",
        set: |a, v| {
            let name = v.unwrap_or_default();
            a.from =
                Some(StageId::from_name(&name).ok_or_else(|| format!("unknown stage `{name}`"))?);
            Ok(())
        },
    },
    Opt {
        name: "--force",
        takes: Takes::Nothing,
        help: "run every stage, even those that are done and current",
        set: |a, _| {
            a.force = true;
            Ok(())
        },
    },
];

const PLAN_OPTIONS: &[Opt<CommandArgs>] = &[Opt {
    name: "--format",
    takes: Takes::Value("<text|sh|json>"),
    help: "text (default); sh, a POSIX script that replays the run; json, for machines",
    set: |a, v| {
        let name = v.unwrap_or_default();
        a.format = named(&name)
            .ok_or_else(|| format!("unknown plan format `{name}`: expected text, sh or json"))?;
        Ok(())
    },
}];

const STATUS_OPTIONS: &[Opt<CommandArgs>] = &[Opt {
    name: "--json",
    takes: Takes::Nothing,
    help: "print the states as JSON",
    set: |a, _| {
        a.json = true;
        Ok(())
    },
}];

/// A command of `opt-dist`.
struct CommandDef {
    name: &'static str,
    /// What follows the name in the usage line, e.g. `[<stage>|all]`.
    operands: &'static str,
    summary: &'static str,
    about: String,
    pipeline_options: bool,
    own_options: &'static [Opt<CommandArgs>],
    takes_dist_args: bool,
}

/// Every command: the stages (from [`STAGES`]), then the rest.
fn commands() -> Vec<CommandDef> {
    let stages = StageId::ALL
        .iter()
        .map(|id| id.def())
        .map(|stage| CommandDef {
            name: stage.name,
            operands: "",
            summary: stage.summary,
            about: format!("{}. {}", stage.title, stage.about),
            pipeline_options: true,
            own_options: &[],
            takes_dist_args: stage.takes_dist_args,
        });
    let others = [
        CommandDef {
            name: "all",
            operands: "",
            summary: "every stage that is not done and current, in order (test only with \
                      --run-tests)",
            about: format!(
                "Every stage in order, with upstream's bootstrap calls: {}; test only with \
                 --run-tests. A stage that is done and current (see `status`) is skipped with \
                 a line saying so; the first that is not runs, and every stage after it, so a \
                 failed run resumes where it stopped. Preflight checks every x.py command \
                 first, the dist command with your arguments before all others.",
                StageId::ALL
                    .iter()
                    .filter(|s| !s.def().only_with_tests)
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            pipeline_options: true,
            own_options: ALL_OPTIONS,
            takes_dist_args: true,
        },
        CommandDef {
            name: "plan",
            operands: "[<stage>|all]",
            summary: "print the exact commands a run would issue, running nothing",
            about: "Prints the exact steps that `opt-dist <stage>` (or `all`) would run with the \
                    same options, in order, without running any of them. Without a stage, or \
                    with `all`, it plans every stage."
                .to_string(),
            pipeline_options: true,
            own_options: PLAN_OPTIONS,
            takes_dist_args: true,
        },
        CommandDef {
            name: "status",
            operands: "",
            summary: "each stage's state: done, stale (why), failed (where), not-run, ...",
            about: "Shows each stage's state for these options (give the options and dist \
                    arguments of your run): done (when, outputs with sizes), stale (which \
                    input, option, tool or tree fact changed since), failed (at which step, the \
                    error and what to do), running (the run holding the build dir), skipped \
                    (why), or not-run. Runs nothing, and works while another run holds the \
                    build dir."
                .to_string(),
            pipeline_options: true,
            own_options: STATUS_OPTIONS,
            takes_dist_args: true,
        },
        CommandDef {
            name: "clean",
            operands: "[<stage>|all]",
            summary: "delete scratch, or a stage's outputs, saying what and how much",
            about: "Without a stage (or with `all`): deletes every stage's scratch (raw \
                    profiles, also those kept with --keep-raw, unpublished merges, step \
                    journals, the collector's build, the unpacked dist toolchain) and keeps the \
                    merged profiles and manifests, so every stage stays done. With a stage: \
                    deletes that stage's directory, its merged profiles included; --and-later \
                    also those of the stages after it. Bootstrap's own output is left to \
                    bootstrap. A library a killed run left BOLT-instrumented is put back first."
                .to_string(),
            pipeline_options: false,
            own_options: CLEAN_OPTIONS,
            takes_dist_args: false,
        },
        CommandDef {
            name: "export",
            operands: "<DIR>",
            summary: "copy finished stages' profiles and manifests to <DIR>/<stage>/",
            about: "Copies every finished stage's profiles and manifest (or those of the stages \
                    named with --stage) to <DIR>/<stage>/, the layout of \
                    <build-dir>/opt-dist/<stage>/: a stage directory is self-contained, so \
                    copying it by hand works as well. `import` brings them into another build."
                .to_string(),
            pipeline_options: true,
            own_options: EXPORT_OPTIONS,
            takes_dist_args: false,
        },
        CommandDef {
            name: "import",
            operands: "<DIR|FILE>",
            summary: "take exported stages (or one profile with --as) into this build",
            about: "Imports the stages exported to <DIR> (or the <build-dir>/opt-dist of another \
                    build), or one profile file with --as. What it is given is checked in full \
                    before anything is written, so a refused import leaves the build dir as it \
                    was: a stage's manifest lists exactly the profiles the stage makes for this \
                    tree and these options, each by its file name in the stage's directory; each \
                    profile is a regular file there (no link is followed), the file its manifest \
                    lists (size, SHA-256), in its kind's format (an indexed LLVM profile with \
                    counts, or BOLT's branch records; not a raw .profraw), and a profile of its \
                    binary (mostly Rust symbols for rustc's, C/C++ for LLVM's); and it was made \
                    for this tree (rust version, commit, host, bootstrap interface, LLVM major): \
                    only this last mismatch is taken with --allow-stale. An imported stage is \
                    done: `all` then trains nothing it covers, and in a fresh build dir builds \
                    the optimized compiler and LLVM with the imported profiles in one build \
                    before the dist."
                .to_string(),
            pipeline_options: true,
            own_options: IMPORT_OPTIONS,
            takes_dist_args: false,
        },
        CommandDef {
            name: "doctor",
            operands: "",
            summary: "check tools and tree for a full run, with fixes",
            about: "Checks the tree and the machine for a full run, as a table with a fix for \
                    each problem: python, rustc-perf, the stage0 toolchain, llvm-profdata, \
                    llvm-bolt, merge-fdata and their LLVM major version, free disk, bootstrap's \
                    PGO interface. Exits with 1 when a check fails. The same checks run before \
                    every stage (preflight)."
                .to_string(),
            pipeline_options: true,
            own_options: &[],
            takes_dist_args: false,
        },
    ];
    stages.chain(others).collect()
}

const WIDTH: usize = 96;

/// `text` wrapped to [`WIDTH`] columns, starting at column `start`, continued at `indent`.
fn wrap(text: &str, indent: usize, start: usize) -> String {
    let mut out = String::new();
    let mut column = start;
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 && column + 1 + word.len() > WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
        } else if i > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += word.len();
    }
    out
}

/// One option per entry: name and value, then its help in a column.
fn option_lines<T>(out: &mut String, options: &[Opt<T>]) {
    const COLUMN: usize = 37;
    for opt in options {
        let mut left = format!("    {}", opt.name);
        match opt.takes {
            Takes::Nothing => {}
            Takes::Value(v) | Takes::Values(v) => {
                let _ = write!(left, " {v}");
            }
        }
        if left.len() + 2 > COLUMN {
            let _ = writeln!(out, "{left}");
            left = String::new();
        }
        let _ = writeln!(out, "{left:<COLUMN$}{}", wrap(opt.help, COLUMN, COLUMN));
    }
}

fn top_help() -> String {
    let mut out = String::from(
        "cargo xtask opt-dist: build a PGO+BOLT optimized Rust toolchain, one stage at a time\n\n\
         USAGE:\n    cargo xtask opt-dist [GLOBAL] <COMMAND> [OPTIONS] [-- <extra args for the \
         final x.py dist>]\n\nGLOBAL:\n",
    );
    option_lines(&mut out, GLOBAL_OPTIONS);
    out.push_str(
        "    -h, --help                       this help; `<COMMAND> --help` for a command's own\n\
         \x20   -V, --version                    the xtask's version\n",
    );
    out.push_str("\nCOMMANDS:\n");
    for command in commands() {
        let left = format!("    {} {}", command.name, command.operands);
        let _ = writeln!(out, "{left:<25}{}", wrap(command.summary, 25, 25));
    }
    out
}

fn command_help(command: &CommandDef) -> String {
    let mut usage = format!("cargo xtask opt-dist [GLOBAL] {}", command.name);
    if !command.operands.is_empty() {
        let _ = write!(usage, " {}", command.operands);
    }
    if command.pipeline_options || !command.own_options.is_empty() {
        usage.push_str(" [OPTIONS]");
    }
    if command.takes_dist_args {
        usage.push_str(" [-- <extra args for x.py dist>]");
    }
    let mut out = format!("USAGE:\n    {usage}\n\n{}\n", wrap(&command.about, 0, 0));
    out.push_str("\nOPTIONS:\n");
    option_lines(&mut out, command.own_options);
    if command.pipeline_options {
        option_lines(&mut out, PIPELINE_OPTIONS);
    }
    out.push_str("    -h, --help                       this help\n");
    out.push_str("\nGLOBAL (before or after the command):\n");
    option_lines(&mut out, GLOBAL_OPTIONS);
    out
}

pub fn parse(args: Vec<OsString>) -> Result<Parsed, UsageError> {
    let top = |message: String| UsageError {
        message,
        help: top_help(),
    };

    let mut args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| top(format!("argument is not UTF-8: {a:?}")))
        })
        .collect::<Result<_, _>>()?;
    let dist_args = match args.iter().position(|a| a == "--") {
        Some(split) => {
            let rest = args.split_off(split);
            rest[1..].to_vec()
        }
        None => Vec::new(),
    };
    let args = split_equals(args).map_err(top)?;

    let mut p = pico_args::Arguments::from_vec(args.into_iter().map(OsString::from).collect());
    let mut global = Global::default();
    apply(&mut p, GLOBAL_OPTIONS, &mut global).map_err(top)?;
    let help = p.contains(["-h", "--help"]);
    let version = p.contains(["-V", "--version"]);

    match p.subcommand().map_err(|e| top(e.to_string()))?.as_deref() {
        Some("opt-dist") => {}
        Some(other) => return Err(top(format!("unknown xtask command `{other}`"))),
        None if help => return Ok(Parsed::Help(top_help())),
        None => return Err(top("missing command: expected `opt-dist`".to_string())),
    }
    let Some(name) = p.subcommand().map_err(|e| top(e.to_string()))? else {
        if help {
            return Ok(Parsed::Help(top_help()));
        }
        if version {
            return Ok(Parsed::Help(format!(
                "cargo xtask opt-dist {}\n",
                env!("CARGO_PKG_VERSION")
            )));
        }
        return Err(top(leftover_message(p.finish(), "opt-dist")
            .unwrap_or_else(|| "missing command".to_string())));
    };
    let commands = commands();
    let Some(def) = commands.iter().find(|c| c.name == name) else {
        return Err(top(format!("unknown command `{name}`")));
    };
    let local = |message: String| UsageError {
        message,
        help: command_help(def),
    };
    if help {
        return Ok(Parsed::Help(command_help(def)));
    }

    let mut options = PipelineOptions::default();
    if def.pipeline_options {
        apply(&mut p, PIPELINE_OPTIONS, &mut options).map_err(local)?;
    }
    let mut own = CommandArgs::default();
    apply(&mut p, def.own_options, &mut own).map_err(local)?;

    let stage_operand = |p: &mut pico_args::Arguments| -> Result<Option<StageId>, UsageError> {
        match free_word(p).map_err(local)?.as_deref() {
            None | Some("all") => Ok(None),
            Some(stage) => {
                Ok(Some(StageId::from_name(stage).ok_or_else(|| {
                    local(format!("unknown stage `{stage}`"))
                })?))
            }
        }
    };
    let command = match name.as_str() {
        "all" => Command::All {
            from: own.from,
            force: own.force,
        },
        "plan" => Command::Plan {
            target: stage_operand(&mut p)?,
            format: own.format,
        },
        "status" => Command::Status { json: own.json },
        "clean" => Command::Clean {
            stage: stage_operand(&mut p)?,
            and_later: own.and_later,
        },
        "doctor" => Command::Doctor,
        "export" => Command::Export {
            into: path_operand(&mut p, "<DIR>").map_err(local)?,
            stages: own.stages,
        },
        "import" => Command::Import {
            from: path_operand(&mut p, "<DIR|FILE>").map_err(local)?,
            single: own.single,
            allow_stale: own.allow_stale,
        },
        stage => Command::Stage(StageId::from_name(stage).expect("a command of the table")),
    };
    if let Some(message) = leftover_message(p.finish(), &name) {
        return Err(local(message));
    }
    if !dist_args.is_empty() && !def.takes_dist_args {
        return Err(local(format!(
            "`{name}` takes no arguments after `--` (they are for the final x.py dist)"
        )));
    }
    Ok(Parsed::Run(Box::new(Invocation {
        global,
        options,
        command,
        dist_args,
    })))
}

/// Every option name of every table, with what it takes.
fn known_options() -> Vec<(&'static str, Takes)> {
    let mut known: Vec<(&'static str, Takes)> = Vec::new();
    known.extend(GLOBAL_OPTIONS.iter().map(|o| (o.name, o.takes)));
    known.extend(PIPELINE_OPTIONS.iter().map(|o| (o.name, o.takes)));
    known.extend(PLAN_OPTIONS.iter().map(|o| (o.name, o.takes)));
    known.extend(STATUS_OPTIONS.iter().map(|o| (o.name, o.takes)));
    known.extend(ALL_OPTIONS.iter().map(|o| (o.name, o.takes)));
    known.extend(CLEAN_OPTIONS.iter().map(|o| (o.name, o.takes)));
    known.extend(EXPORT_OPTIONS.iter().map(|o| (o.name, o.takes)));
    known.extend(IMPORT_OPTIONS.iter().map(|o| (o.name, o.takes)));
    known
}

/// `--name=value` becomes `--name value` for options that take a value; `=` after a flag is
/// an error that says so.
fn split_equals(args: Vec<String>) -> Result<Vec<String>, String> {
    let known = known_options();
    let mut out = Vec::with_capacity(args.len());
    for arg in args {
        let split = arg
            .strip_prefix("--")
            .and_then(|rest| rest.split_once('='))
            .map(|(name, value)| (format!("--{name}"), value.to_string()));
        match split {
            Some((name, value)) => match known.iter().find(|(n, _)| *n == name) {
                Some((_, Takes::Nothing)) => {
                    return Err(format!("`{name}` is a flag and takes no value (`{arg}`)"))
                }
                Some(_) => out.extend([name, value]),
                None => out.push(arg),
            },
            None => out.push(arg),
        }
    }
    Ok(out)
}

/// Applies every option of `table` found in `p` to `target`.
fn apply<T>(p: &mut pico_args::Arguments, table: &[Opt<T>], target: &mut T) -> Result<(), String> {
    for opt in table {
        match opt.takes {
            Takes::Nothing => {
                while p.contains(opt.name) {
                    (opt.set)(target, None)?;
                }
            }
            Takes::Value(_) | Takes::Values(_) => {
                let values: Vec<String> = p.values_from_str(opt.name).map_err(|e| match e {
                    pico_args::Error::OptionWithoutAValue(_) => {
                        format!("`{}` needs a value", opt.name)
                    }
                    other => other.to_string(),
                })?;
                if values.len() > 1 && matches!(opt.takes, Takes::Value(_)) {
                    return Err(format!(
                        "`{}` is given {} times; give it once",
                        opt.name,
                        values.len()
                    ));
                }
                for value in values {
                    (opt.set)(target, Some(value))?;
                }
            }
        }
    }
    Ok(())
}

/// The value of a kebab-case enum named `name`, as serde spells it.
fn named<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

fn non_empty(name: &str, value: Option<String>) -> Result<String, String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("`{name}` needs a value, not an empty string")),
    }
}

/// A path option's value, absolute: relative paths are taken from where the user stands.
fn absolute_path(name: &str, value: Option<String>) -> Result<PathBuf, String> {
    let path = PathBuf::from(non_empty(name, value)?);
    if path.is_absolute() {
        return Ok(path);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| format!("cannot read the current directory for `{name}`: {e}"))?;
    Ok(cwd.join(path))
}

fn bool_value(name: &str, value: Option<String>) -> Result<bool, String> {
    match value.as_deref() {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        other => Err(format!(
            "`{name}` takes true or false, not `{}`",
            other.unwrap_or_default()
        )),
    }
}

/// A path the command cannot do without, absolute.
fn path_operand(p: &mut pico_args::Arguments, what: &str) -> Result<PathBuf, String> {
    match free_word(p)? {
        Some(path) => absolute_path(what, Some(path)),
        None => Err(format!("missing {what}")),
    }
}

/// The next positional word, unless what follows is an option.
fn free_word(p: &mut pico_args::Arguments) -> Result<Option<String>, String> {
    p.opt_free_from_str().map_err(|e| e.to_string())
}

/// Names the first word nobody consumed: an option of another command, an unknown option, or
/// a stray positional argument.
fn leftover_message(rest: Vec<OsString>, command: &str) -> Option<String> {
    let first = rest.first()?.to_string_lossy().into_owned();
    Some(if !first.starts_with('-') {
        format!("unexpected argument `{first}` for `{command}`")
    } else if known_options().iter().any(|(name, _)| *name == first) {
        format!("`{first}` is not an option of `{command}`")
    } else {
        format!("unknown option `{first}` for `{command}`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Parsed, UsageError> {
        parse(line.split_whitespace().map(OsString::from).collect())
    }

    #[test]
    fn global_options_may_follow_the_command() {
        let Ok(Parsed::Run(inv)) = parse_str("opt-dist rustc-pgo --src /t --keep-raw") else {
            panic!("should parse")
        };
        assert_eq!(inv.global.tree.src, Some(PathBuf::from("/t")));
        assert!(inv.options.keep_raw);
        assert!(matches!(inv.command, Command::Stage(StageId::RustcPgo)));
    }

    #[test]
    fn unknown_option_is_named_with_the_command_help() {
        let Err(err) = parse_str("opt-dist rustc-pgo --frobnicate") else {
            panic!()
        };
        assert_eq!(err.message, "unknown option `--frobnicate` for `rustc-pgo`");
        assert!(err.help.contains("rustc-pgo [OPTIONS]"));
    }

    #[test]
    fn unknown_command_is_named() {
        let Err(err) = parse_str("opt-dist frobnicate") else {
            panic!()
        };
        assert_eq!(err.message, "unknown command `frobnicate`");
    }

    #[test]
    fn plan_takes_a_stage_and_a_format() {
        let Ok(Parsed::Run(inv)) = parse_str("opt-dist plan rustc-pgo --format sh") else {
            panic!()
        };
        assert!(matches!(
            inv.command,
            Command::Plan {
                target: Some(StageId::RustcPgo),
                format: PlanFormat::Sh
            }
        ));
    }

    #[test]
    fn every_command_has_help() {
        for command in [
            "rustc-pgo",
            "llvm-pgo",
            "llvm-bolt",
            "rustc-bolt",
            "dist",
            "test",
            "all",
            "plan",
            "status",
            "clean",
            "doctor",
        ] {
            let Ok(Parsed::Help(text)) = parse_str(&format!("opt-dist {command} --help")) else {
                panic!("{command} --help")
            };
            assert!(text.contains(command), "{command}: {text}");
        }
    }

    /// A value each option accepts, for trying every option on every command.
    fn sample_value(takes: Takes) -> Option<&'static str> {
        match takes {
            Takes::Nothing => None,
            Takes::Value("<true|false>") => Some("true"),
            Takes::Value("<text|sh|json>") => Some("json"),
            Takes::Value("<legacy|pgo-table>") => Some("legacy"),
            Takes::Value("<STAGE>") | Takes::Values("<STAGE>") => Some("rustc-pgo"),
            Takes::Value("<PROFILE>") => Some("llvm-pgo"),
            Takes::Value("<pooled|per-process>") => Some("pooled"),
            Takes::Value("<N>") => Some("4"),
            Takes::Value(_) | Takes::Values(_) => Some("some-value"),
        }
    }

    #[test]
    fn version_is_printed_without_a_command() {
        let Ok(Parsed::Help(text)) = parse_str("opt-dist --version") else {
            panic!("--version")
        };
        assert_eq!(
            text.trim(),
            format!("cargo xtask opt-dist {}", env!("CARGO_PKG_VERSION"))
        );
        assert!(top_help().contains("--version"));
    }

    #[test]
    fn every_command_accepts_exactly_the_options_its_help_lists() {
        for command in commands() {
            let Ok(Parsed::Help(help)) = parse_str(&format!("opt-dist {} --help", command.name))
            else {
                panic!("{} --help", command.name)
            };
            for (name, takes) in known_options() {
                let operand = match command.name {
                    "export" | "import" => " some-dir",
                    _ => "",
                };
                let mut line = format!("opt-dist {}{operand} {name}", command.name);
                if let Some(value) = sample_value(takes) {
                    line = format!("{line} {value}");
                }
                let accepted = parse_str(&line).is_ok();
                let listed = help
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(name));
                assert_eq!(
                    accepted, listed,
                    "`{line}`: accepted {accepted}, listed in its help {listed}:\n{help}"
                );
            }
        }
    }

    #[test]
    fn equals_sign_repeats_and_empty_values_are_named() {
        let Ok(Parsed::Run(inv)) = parse_str("opt-dist rustc-pgo --use-bolt=false") else {
            panic!("--use-bolt=false should parse")
        };
        assert_eq!(inv.options.use_bolt, Some(false));
        let message = |line: &str| match parse_str(line) {
            Err(err) => err.message,
            Ok(_) => panic!("`{line}` should be refused"),
        };
        assert_eq!(
            message("opt-dist rustc-pgo --use-bolt true --use-bolt false"),
            "`--use-bolt` is given 2 times; give it once"
        );
        assert_eq!(
            message("opt-dist rustc-pgo --keep-raw=yes"),
            "`--keep-raw` is a flag and takes no value (`--keep-raw=yes`)"
        );
        assert_eq!(
            message("opt-dist doctor --format json"),
            "`--format` is not an option of `doctor`"
        );
        let empty = parse(vec!["opt-dist".into(), "--build-dir".into(), "".into()]);
        assert!(
            matches!(&empty, Err(e) if e.message == "`--build-dir` needs a value, not an empty string"),
            "{empty:?}"
        );
    }

    #[test]
    fn relative_paths_are_made_absolute_once() {
        let Ok(Parsed::Run(inv)) = parse_str(
            "opt-dist --src tree --python bin/python3 rustc-pgo --benchmark-cargo-config c.toml",
        ) else {
            panic!()
        };
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(inv.global.tree.src, Some(cwd.join("tree")));
        assert_eq!(
            inv.global.tree.python,
            Some(cwd.join("bin/python3").display().to_string())
        );
        assert_eq!(inv.options.benchmark_cargo_config, [cwd.join("c.toml")]);
    }

    #[test]
    fn bad_bool_is_rejected() {
        let Err(err) = parse_str("opt-dist rustc-pgo --use-bolt maybe") else {
            panic!()
        };
        assert!(
            err.message.contains("`--use-bolt` takes true or false"),
            "{}",
            err.message
        );
    }

    #[test]
    fn dist_args_only_where_they_go() {
        assert!(parse_str("opt-dist rustc-pgo -- --foo").is_err());
        assert!(parse_str("opt-dist test -- --foo").is_err());
        let Ok(Parsed::Run(inv)) = parse_str("opt-dist plan -- dist --foo") else {
            panic!()
        };
        assert_eq!(inv.dist_args, ["dist", "--foo"]);
    }
}
