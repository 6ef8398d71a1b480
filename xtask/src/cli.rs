//! The command line of `cargo xtask opt-dist`: pico-args under two tables, [`OPTIONS`] and
//! [`commands`] (the stages from [`StageId::ALL`], then the rest), which the parser, every
//! `--help` and the docs' check all read. Global options may stand anywhere before `--`, command
//! options after the command; what follows `--` goes untouched to the final `x.py dist`. Paths
//! are made absolute here, once. A mistake is a [`UsageError`] with its command's help (exit 2).

use std::ffi::OsString;
use std::fmt::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use crate::commands::{Command, Invocation, PlanFormat};
use crate::engine::context::{Global, Options};
use crate::stages::StageId;
use crate::tools::profiles::Profile;

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

/// What the options set, before the command is made from it.
#[derive(Default)]
struct Args {
    global: Global,
    options: Options,
    format: PlanFormat,
    json: bool,
    from: Option<StageId>,
    force: bool,
    and_later: bool,
    stages: Vec<StageId>,
    single: Option<Profile>,
}

/// An option: who takes it (`global`: every command, before or after it; `pipeline`: those that
/// run or plan the pipeline; else the one command named), `--name <VALUE>` (`--name`, a flag),
/// its help, and what sets its value (`""` for a flag; an error says what the option takes).
pub struct Opt {
    pub scope: &'static str,
    pub spec: &'static str,
    pub help: &'static str,
    set: Set,
}

type Set = fn(&mut Args, &str) -> Result<(), Box<dyn std::error::Error>>;

const fn opt(scope: &'static str, spec: &'static str, help: &'static str, set: Set) -> Opt {
    Opt { scope, spec, help, set }
}

#[rustfmt::skip]
pub const OPTIONS: &[Opt] = &[
    opt("global", "--src <DIR>", "the rust source tree (env OPT_DIST_SRC; default: the rust tree \
        this xtask lives in)", |a, v| { a.global.tree.src = Some(path(v)?); Ok(()) }),
    opt("global", "--build-dir <DIR>", "bootstrap's build dir (default: bootstrap.toml's \
        build.build-dir, else <src>/build); profiles go to <build-dir>/opt-dist/<stage>",
        |a, v| { a.global.tree.build_dir = Some(path(v)?); Ok(()) }),
    opt("global", "--host <TRIPLE>", "host triple (default: bootstrap.toml's build.build, else the \
        host of the stage0 rustc)", |a, v| { a.global.tree.host = Some(v.into()); Ok(()) }),
    // A bare name is looked up in PATH; x.py runs elsewhere, so a path must not be relative.
    opt("global", "--python <PATH>", "python used to run x.py (default: python3)", |a, v| {
        let python = if v.contains('/') { path(v)?.display().to_string() } else { v.into() };
        a.global.tree.python = Some(python);
        Ok(())
    }),
    opt("global", "--llvm-dir <DIR>", "host LLVM with bin/llvm-profdata, llvm-bolt and merge-fdata \
        (default: the configured llvm-config's, else /usr/lib/llvm-<major of the compiler's LLVM>, \
        else PATH)", |a, v| { a.global.llvm_dir = Some(path(v)?); Ok(()) }),
    opt("global", "--interface <legacy|pgo-table>", "bootstrap's PGO interface (default: asked of \
        the tree's own bootstrap with x.py --dry-run)",
        |a, v| { a.global.interface = Some(named(v)?); Ok(()) }),
    opt("global", "--wait", "when another run is using the build dir, wait for it to finish \
        instead of stopping (commands that write: the stages, all, clean, import)",
        |a, _| { a.global.wait = true; Ok(()) }),
    opt("all", "--from <STAGE>", "run from this stage on, even where it and the stages after it \
        are done", |a, v| { a.from = Some(stage(v)?); Ok(()) }),
    opt("all", "--force", "run every stage, even those that are done and current",
        |a, _| { a.force = true; Ok(()) }),
    opt("plan", "--format <text|sh|json>", "text (default); sh, a POSIX script that replays the \
        run; json, for machines", |a, v| { a.format = named(v)?; Ok(()) }),
    opt("status", "--json", "print the states as JSON", |a, _| { a.json = true; Ok(()) }),
    opt("clean", "--and-later", "with a stage: also delete the directories of the stages after it",
        |a, _| { a.and_later = true; Ok(()) }),
    opt("export", "--stage <STAGE>", "export this stage only (repeatable; default: every finished \
        stage)", |a, v| { a.stages.push(stage(v)?); Ok(()) }),
    opt("import", "--as <PROFILE>", "import one profile file as rustc-pgo, rustdoc-pgo, \
        clippy-pgo, llvm-pgo, llvm-bolt or rustc-bolt",
        |a, v| { a.single = Some(Profile::from_stem(v).ok_or("a profile named below")?); Ok(()) }),
    opt("pipeline", "--use-bolt <true|false>", "build for BOLT and run the BOLT stages (default: \
        true on x86_64 Linux with a shared LLVM, as upstream)",
        |a, v| { a.options.use_bolt = Some(v.parse()?); Ok(()) }),
    opt("pipeline", "--build-llvm <true|false>", "LLVM is built in the tree (default: true); with \
        false, llvm-profdata comes from the host LLVM (--llvm-dir)",
        |a, v| { a.options.build_llvm = v.parse()?; Ok(()) }),
    opt("pipeline", "--llvm-shared <true|false>", "LLVM is linked as a shared library (default: \
        true)", |a, v| { a.options.llvm_shared = v.parse()?; Ok(()) }),
    opt("pipeline", "--keep-raw", "keep the raw profiles (moved to raw-<profile>/) instead of \
        deleting them after a good merge; training then writes them per process, unstreamed",
        |a, _| { a.options.keep_raw = true; Ok(()) }),
    opt("pipeline", "--raw-profiles <streamed|per-process|pooled>", "how training's raw \
        profiles are kept: streamed (the default: per process, merged and deleted as processes \
        end, the same profile in a small part of the disk), per-process (all kept until training \
        ends, as upstream) or pooled (merged by LLVM's runtime into a few files per binary: \
        indirect-call targets lose counts)", |a, v| { a.options.raw_profiles = named(v)?; Ok(()) }),
    opt("pipeline", "--raw-cap <SIZE>", "streamed: raw profiles on disk reaching this pause \
        training while the files of ended processes are merged (default: 1G; K, M, G suffixes)",
        |a, v| { a.options.raw_cap = bytes(v)?; Ok(()) }),
    opt("pipeline", "--rustc-crates <A,B,...>", "rustc training benchmarks (default: upstream's \
        list)", |a, v| {
        let crates = v.split(',').map(str::trim).filter(|c| !c.is_empty());
        a.options.rustc_crates = Some(crates.map(String::from).collect());
        Ok(())
    }),
    opt("pipeline", "--training-jobs <N>", "benchmarks the collector trains with at once (default: \
        what the tree's own opt-dist passes as --jobs; none at 1.95.0, 16 on master)", |a, v| {
        let jobs: NonZeroU32 = v.parse().map_err(|_| "a number of at least 1")?;
        a.options.training_jobs = Some(jobs.get());
        Ok(())
    }),
    opt("pipeline", "--benchmark-cargo-config <FILE>", "passed to the collector as --cargo-config \
        (repeatable), e.g. to train offline on the tarball's vendored crates",
        |a, v| { a.options.benchmark_cargo_config.push(path(v)?); Ok(()) }),
    opt("pipeline", "--no-preflight", "skip the checks and bootstrap dry runs before the run",
        |a, _| { a.options.no_preflight = true; Ok(()) }),
    opt("pipeline", "--ignore-disk-space", "run even when free disk is below the estimate",
        |a, _| { a.options.ignore_disk_space = true; Ok(()) }),
    opt("pipeline", "--try-build", "upstream's fast try build (DIST_TRY_BUILD): a minimal \
        toolchain, no tests", |a, _| { a.options.try_build = true; Ok(()) }),
    opt("pipeline", "--run-tests", "`all` ends with the test stage",
        |a, _| { a.options.run_tests = true; Ok(()) }),
    opt("pipeline", "--skipped-tests <PATH>", "a test the test stage skips (repeatable)",
        |a, v| { a.options.skipped_tests.push(v.into()); Ok(()) }),
    opt("pipeline", "--allow-stale", "take what does not fit this tree, with a warning instead \
        of an error: at import, profiles made for another tree (version, commit, host, interface, \
        LLVM major); when building, profiles the built binaries hold too little of (another \
        release's, another binary's); the manifests record it",
        |a, _| { a.options.allow_stale = true; Ok(()) }),
];

impl Opt {
    /// `--name`, and what it takes after it: e.g. `<DIR>`, `None` for a flag.
    pub fn parts(&self) -> (&'static str, Option<&'static str>) {
        self.spec.split_once(' ').map_or((self.spec, None), |(name, value)| (name, Some(value)))
    }
}

pub struct CommandDef {
    pub name: &'static str,
    /// What follows the name in the usage line: optional `[<stage>|all]`, required `<DIR>`.
    pub operands: &'static str,
    pub pipeline: bool,
    pub dist_args: bool,
    /// Makes the command from its name, what the options set, and its operand.
    make: fn(&str, &Args, Option<&str>) -> Result<Command, String>,
    pub summary: &'static str,
    pub about: String,
}

#[rustfmt::skip]
pub fn commands() -> Vec<CommandDef> {
    let stages = StageId::ALL.iter().map(|id| id.def()).map(|def| CommandDef {
        name: def.name, operands: "", pipeline: true, dist_args: def.takes_dist_args,
        make: |name, _, _| Ok(Command::Stage(stage(name)?)),
        summary: def.summary, about: format!("{}. {}", def.title, def.about),
    });
    let trained: Vec<&str> =
        StageId::ALL.iter().filter(|s| !s.def().only_with_tests).map(|s| s.name()).collect();
    let others = [
        CommandDef { name: "all", operands: "", pipeline: true, dist_args: true,
            make: |_, a, _| Ok(Command::All { from: a.from, force: a.force }),
            summary: "every stage that is not done and current, in order (test only with \
            --run-tests)",
            about: format!("Every stage in order, with upstream's bootstrap calls: {}; test only \
            with --run-tests. A stage done and current (see `status`) is skipped, saying so; from \
            the first that is not, every stage runs, so a failed run resumes where it stopped. \
            Preflight first checks every x.py command, the dist one (with your arguments) first.",
            trained.join(", ")) },
        CommandDef { name: "plan", operands: "[<stage>|all]", pipeline: true, dist_args: true,
            make: |_, a, word| Ok(Command::Plan { target: stage_or_all(word)?, format: a.format }),
            summary: "print the exact commands a run would issue, running nothing",
            about: "Prints, in order and running none of them, the exact steps `opt-dist <stage>` \
            (without a stage, or with `all`: every stage) would run with these options.".into() },
        CommandDef { name: "status", operands: "", pipeline: true, dist_args: true,
            make: |_, a, _| Ok(Command::Status { json: a.json }),
            summary: "each stage's state: done, stale (why), failed (where), not-run, ...",
            about: "Each stage's state for these options (give your run's, dist arguments too): \
            done (when, outputs, sizes), stale (which input, option, tool or tree fact changed), \
            failed (at which step, the error, what to do), running (the run holding the build \
            dir), skipped (why), or not-run. Runs nothing; works while another run holds the build \
            dir.".into() },
        CommandDef { name: "clean", operands: "[<stage>|all]", pipeline: false, dist_args: false,
            make: |_, a, w| Ok(Command::Clean { stage: stage_or_all(w)?, and_later: a.and_later }),
            summary: "delete scratch, or a stage's outputs, saying what and how much",
            about: "Without a stage (or with `all`): deletes every stage's scratch (raw profiles, \
            also those kept with --keep-raw, unpublished merges, step journals, the collector's \
            build, the unpacked dist toolchain), not merged profiles or manifests: every stage \
            stays done. With a stage: deletes its directory, merged profiles included; --and-later \
            also those of the stages after it. Bootstrap's own output is left to bootstrap. A \
            library a killed run left BOLT-instrumented is put back first.".into() },
        CommandDef { name: "export", operands: "<DIR>", pipeline: true, dist_args: false,
            make: |_, a, dir| Ok(Command::Export { into: path(dir.unwrap_or_default())?,
                stages: a.stages.clone() }),
            summary: "copy finished stages' profiles and manifests to <DIR>/<stage>/",
            about: "Copies each finished stage's profiles and manifest (or those --stage names) to \
            <DIR>/<stage>/, as in <build-dir>/opt-dist/: a stage directory is self-contained, so a \
            copy by hand works too. `import` brings them into another build.".into() },
        CommandDef { name: "import", operands: "<DIR|FILE>", pipeline: true, dist_args: false,
            make: |_, a, from| Ok(Command::Import { from: path(from.unwrap_or_default())?,
                single: a.single }),
            summary: "take exported stages (or one profile with --as) into this build",
            about: "Imports the stages exported to <DIR> (or another build's \
            <build-dir>/opt-dist), or one profile file with --as. All is checked before anything \
            is written, so a refused import changes nothing: each manifest lists exactly the \
            profiles its stage makes for this tree and options, by file name; each profile is a \
            regular file there (no link followed), matches its manifest (size, SHA-256), has its \
            kind's format (indexed LLVM profile with counts, or BOLT branch records; not raw \
            .profraw), profiles its binary (mostly Rust symbols for rustc's, C/C++ for LLVM's), \
            and was made for this tree (rust version, commit, host, bootstrap interface, LLVM \
            major: the one mismatch --allow-stale takes). An imported stage is done: `all` trains \
            nothing it covers and, in a fresh build dir, builds the optimized compiler and LLVM \
            with the imported profiles in one build before the dist.".into() },
        CommandDef { name: "doctor", operands: "", pipeline: true, dist_args: false,
            make: |_, _, _| Ok(Command::Doctor),
            summary: "check tools and tree for a full run, with fixes",
            about: "Checks tree and machine for a full run, as a table with a fix per problem: \
            python, rustc-perf, the stage0 toolchain, llvm-profdata, llvm-nm, llvm-bolt, merge-fdata and \
            their LLVM major, free disk, bootstrap's PGO interface. Exits with 1 when a check \
            fails. Every stage runs these checks first (preflight).".into() },
    ];
    stages.chain(others).collect()
}

impl CommandDef {
    /// The options its help lists under OPTIONS: its own, then the pipeline's.
    pub fn options(&self) -> impl Iterator<Item = &'static Opt> + '_ {
        let takes = |o: &&Opt| o.scope == self.name || self.pipeline && o.scope == "pipeline";
        OPTIONS.iter().filter(takes)
    }

    pub fn help(&self) -> String {
        let operands = format!("{} {}", self.name, self.operands);
        let dist = self.dist_args.then_some(" [-- <extra args for x.py dist>]");
        let (operands, dist) = (operands.trim_end(), dist.unwrap_or_default());
        let (about, globals) = (wrap(&self.about, 0), option_lines(globals()));
        let options = option_lines(self.options()) + &option_line("-h, --help", "this help");
        format!(
            "USAGE:\n    cargo xtask opt-dist [GLOBAL] {operands} [OPTIONS]{dist}\n\n{about}\n\n\
             OPTIONS:\n{options}\nGLOBAL (before or after the command):\n{globals}"
        )
    }
}

pub fn globals() -> impl Iterator<Item = &'static Opt> {
    OPTIONS.iter().filter(|o| o.scope == "global")
}

fn top_help() -> String {
    let mut out = String::from(
        "cargo xtask opt-dist: build a PGO+BOLT optimized Rust toolchain, one stage at a time\n\n\
         USAGE:\n    cargo xtask opt-dist [GLOBAL] <COMMAND> [OPTIONS] [-- <extra args for the \
         final x.py dist>]\n\nGLOBAL:\n",
    );
    let help = "this help; `<COMMAND> --help` for a command's own";
    out += &option_lines(globals());
    out += &option_line("-h, --help", help);
    out += &option_line("-V, --version", "the xtask's version");
    out += "\nCOMMANDS:\n";
    for command in commands() {
        let left = format!("{} {}", command.name, command.operands);
        let _ = writeln!(out, "    {left:<21}{}", wrap(command.summary, 25));
    }
    out
}

/// `text` wrapped to 96 columns, starting at column `indent` and continued there.
fn wrap(text: &str, indent: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(l) if indent + l.len() + 1 + word.len() <= 96 => *l += &format!(" {word}"),
            _ => lines.push(word.to_string()),
        }
    }
    lines.join(&format!("\n{:indent$}", ""))
}

/// `    --name <VALUE>   help`: the help starts past the longest option, so that no line holds
/// an option alone (ci/check-workflows.py and the docs test read these lines).
fn option_line(spec: &str, help: &str) -> String {
    let width = OPTIONS.iter().map(|o| o.spec.len()).max().unwrap_or(0) + 3;
    format!("    {spec:<width$}{}\n", wrap(help, 4 + width))
}

fn option_lines(options: impl Iterator<Item = &'static Opt>) -> String {
    options.map(|o| option_line(o.spec, o.help)).collect()
}

pub fn parse(args: Vec<OsString>) -> Result<Parsed, UsageError> {
    // A mistake carries the help of the command it belongs to, once that is known.
    let mut help = top_help();
    parse_with(args, &mut help).map_err(|message| UsageError { message, help })
}

fn parse_with(args: Vec<OsString>, help: &mut String) -> Result<Parsed, String> {
    const VERSION: &str = concat!("cargo xtask opt-dist ", env!("CARGO_PKG_VERSION"), "\n");
    let args: Result<Vec<String>, _> = args.into_iter().map(OsString::into_string).collect();
    let mut args = args.map_err(|a| format!("argument is not UTF-8: {a:?}"))?;
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let dist_args: Vec<String> = args.split_off(split).into_iter().skip(1).collect();
    let mut p = pico_args::Arguments::from_vec(split_equals(args));
    let mut a = Args::default();
    apply(&mut p, &mut a, globals().collect())?;
    let asks_help = p.contains(["-h", "--help"]);
    let version = p.contains(["-V", "--version"]);
    // Every argument is UTF-8 by now, the one thing `subcommand` checks.
    let (xtask, name) = (p.subcommand().ok().flatten(), p.subcommand().ok().flatten());
    let name = match (xtask.as_deref(), name) {
        (Some("opt-dist"), Some(name)) => name,
        (Some("opt-dist") | None, _) if asks_help => return Ok(Parsed::Help(help.clone())),
        (Some("opt-dist"), None) if version => return Ok(Parsed::Help(VERSION.into())),
        (Some("opt-dist"), None) => match p.finish().first() {
            Some(word) => return Err(stray(&word.to_string_lossy(), "opt-dist")),
            None => return Err("missing command".into()),
        },
        (Some(other), _) => return Err(format!("unknown xtask command `{other}`")),
        (None, _) => return Err("missing command: expected `opt-dist`".into()),
    };
    let def = commands().into_iter().find(|c| c.name == name);
    let def = def.ok_or_else(|| format!("unknown command `{name}`"))?;
    *help = def.help();
    if asks_help {
        return Ok(Parsed::Help(help.clone()));
    }
    apply(&mut p, &mut a, def.options().collect())?;
    // What no option took: the command's operand, if it has one, and nothing else.
    let rest = p.finish();
    let rest = rest.iter().flat_map(|w| w.to_str());
    let (options, words): (Vec<&str>, Vec<&str>) = rest.partition(|w| w.starts_with('-'));
    let takes_operand = !def.operands.is_empty();
    let operand = words.first().copied().filter(|_| takes_operand);
    if let Some(word) = options.first().or(words.get(usize::from(takes_operand))) {
        return Err(stray(word, &name));
    }
    if def.operands.starts_with('<') && operand.is_none_or(str::is_empty) {
        return Err(format!("missing {}", def.operands));
    }
    if !dist_args.is_empty() && !def.dist_args {
        let why = "takes no arguments after `--` (they are for the final x.py dist)";
        return Err(format!("`{name}` {why}"));
    }
    Ok(Parsed::Run(Box::new(Invocation {
        command: (def.make)(&name, &a, operand)?,
        global: a.global,
        options: a.options,
        dist_args,
    })))
}

/// `--name=value` becomes `--name value`; a flag keeps its `=`, for [`stray`] to name.
fn split_equals(args: Vec<String>) -> Vec<OsString> {
    let words = args.iter().flat_map(|arg| match arg.split_once('=') {
        Some((name, v)) if option(name).and_then(|o| o.parts().1).is_some() => vec![name, v],
        _ => vec![arg.as_str()],
    });
    words.map(OsString::from).collect()
}

fn option(name: &str) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.parts().0 == name)
}

/// Takes every occurrence of `options` out of `p` and sets it in `a`.
fn apply(p: &mut pico_args::Arguments, a: &mut Args, options: Vec<&Opt>) -> Result<(), String> {
    for opt in options {
        let (name, takes) = opt.parts();
        let missing = format!("`{name}` needs a value");
        let values: Vec<String> = match takes {
            // A flag counts as one empty value per occurrence.
            None => std::iter::from_fn(|| p.contains(name).then(String::new)).collect(),
            Some(_) => p.values_from_str(name).map_err(|_| missing)?,
        };
        // An option is given once unless its help says it is repeatable: the two cannot differ.
        if values.len() > 1 && takes.is_some() && !opt.help.contains("(repeatable") {
            let times = values.len();
            return Err(format!("`{name}` is given {times} times; give it once"));
        }
        for value in values {
            // A list may be empty: preflight says what an empty training list means.
            if value.is_empty() && takes.is_some_and(|v| !v.contains(',')) {
                return Err(format!("`{name}` needs a value, not an empty string"));
            }
            (opt.set)(a, &value).map_err(|what| {
                // The choices of a `<a|b>` value are those the help names.
                let choices = takes.filter(|v| v.contains('|'));
                let choices = choices.map(|v| v.trim_matches(['<', '>']).replace('|', " or "));
                let what = choices.unwrap_or_else(|| what.to_string());
                format!("`{name}` takes {what}, not `{value}`")
            })?;
        }
    }
    Ok(())
}

/// Names a word nothing took: a flag given a value, another command's option, and so on.
fn stray(word: &str, command: &str) -> String {
    let name = word.split('=').next().unwrap_or_default();
    match option(name).map(|o| o.parts().1) {
        _ if !word.starts_with('-') => format!("unexpected argument `{word}` for `{command}`"),
        Some(None) if name != word => format!("`{name}` is a flag and takes no value (`{word}`)"),
        Some(_) => format!("`{name}` is not an option of `{command}`"),
        None => format!("unknown option `{word}` for `{command}`"),
    }
}

/// A size in bytes: a number, with K, M or G for KiB, MiB or GiB.
fn bytes(value: &str) -> Result<u64, String> {
    let at = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(at);
    let shift = ["", "K", "M", "G"].iter().position(|u| u.eq_ignore_ascii_case(unit));
    match (number.parse::<u64>(), shift) {
        (Ok(n), Some(shift)) if n > 0 => n.checked_mul(1 << (10 * shift)),
        _ => None,
    }
    .ok_or_else(|| "a size such as 512M or 2G".to_string())
}

/// A kebab-case enum's value, as serde spells it.
fn named<T: serde::de::DeserializeOwned>(name: &str) -> serde_json::Result<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
}

fn stage(name: &str) -> Result<StageId, String> {
    let names: Vec<&str> = StageId::ALL.iter().map(|s| s.name()).collect();
    StageId::from_name(name).ok_or_else(|| format!("one of {}", names.join(", ")))
}

/// A stage operand: `None` for every stage.
fn stage_or_all(word: Option<&str>) -> Result<Option<StageId>, String> {
    let stage = |w| stage(w).map_err(|one_of| format!("unknown stage `{w}`: all or {one_of}"));
    word.filter(|w| *w != "all").map(stage).transpose()
}

/// A path taken from where the user stands: the commands run elsewhere.
fn path(value: &str) -> Result<PathBuf, String> {
    match std::env::current_dir() {
        _ if Path::new(value).is_absolute() => Ok(value.into()),
        Ok(cwd) => Ok(cwd.join(value)),
        Err(e) => Err(format!("a path (no current directory: {e})")),
    }
}

#[cfg(test)]
mod tests;
