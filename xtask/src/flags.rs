//! The command line of `cargo xtask opt-dist`, parsed with pico-args.
//!
//! Global options may stand anywhere before `--`; command options follow the command. Everything
//! after `--` is handed to the final `x.py dist` untouched. A mistake is a [`UsageError`] that
//! names the offending word and carries the help of the command it belongs to (exit code 2).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::opt_dist::bootstrap::Interface;
use crate::opt_dist::pipeline::StageId;

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

#[derive(Debug)]
pub struct Invocation {
    pub global: Global,
    pub options: PipelineOptions,
    pub command: Command,
    /// Arguments after `--`, for the final `x.py dist`.
    pub dist_args: Vec<String>,
}

/// Where the tree and its tools are. Valid anywhere before `--`.
#[derive(Debug, Default)]
pub struct Global {
    pub src: Option<PathBuf>,
    pub build_dir: Option<PathBuf>,
    pub host: Option<String>,
    pub python: Option<String>,
    pub llvm_dir: Option<PathBuf>,
    pub interface: Option<Interface>,
}

/// How the pipeline runs. Accepted by every stage command, `all` and `plan`, so that `plan`
/// shows exactly what the same options would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineOptions {
    /// `None`: the platform default (on for x86_64 Linux, as upstream).
    pub use_bolt: Option<bool>,
    pub build_llvm: bool,
    pub llvm_shared: bool,
    pub keep_raw: bool,
    pub rustc_crates: Option<Vec<String>>,
    pub benchmark_cargo_config: Vec<PathBuf>,
    pub no_preflight: bool,
    pub ignore_disk_space: bool,
    /// Upstream's fast try build (`DIST_TRY_BUILD`).
    pub try_build: bool,
    /// `all` ends with the test stage (never in a try build, as upstream).
    pub run_tests: bool,
    pub skipped_tests: Vec<String>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            use_bolt: None,
            build_llvm: true,
            llvm_shared: true,
            keep_raw: false,
            rustc_crates: None,
            benchmark_cargo_config: Vec::new(),
            no_preflight: false,
            ignore_disk_space: false,
            try_build: false,
            run_tests: false,
            skipped_tests: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    Text,
    Sh,
    Json,
}

#[derive(Debug)]
pub enum Command {
    Stage(StageId),
    All,
    Plan {
        target: Option<StageId>,
        format: PlanFormat,
    },
    Status {
        json: bool,
    },
    Clean {
        stage: Option<StageId>,
    },
    Doctor,
}

const USAGE: &str = "\
cargo xtask opt-dist: build a PGO+BOLT optimized Rust toolchain, one stage at a time

USAGE:
    cargo xtask opt-dist [GLOBAL] <COMMAND> [OPTIONS] [-- <extra args for the final x.py dist>]

GLOBAL:
    --src <DIR>          the rust source tree (env OPT_DIST_SRC; default: this workspace's
                         root when it is a rust tree)
    --build-dir <DIR>    bootstrap's build dir (default: bootstrap.toml's build.build-dir,
                         else <src>/build); profiles go to <build-dir>/opt-dist/<stage>
    --host <TRIPLE>      host triple (default: bootstrap.toml's build.build, else the host
                         of the stage0 rustc)
    --python <PATH>      python used to run x.py (default: python3)
    --llvm-dir <DIR>     host LLVM installation with bin/llvm-profdata, bin/llvm-bolt,
                         bin/merge-fdata (default: from the configured llvm-config, else
                         /usr/lib/llvm-<major of the compiler's LLVM>, else PATH)
    --interface <I>      bootstrap's PGO interface: legacy | pgo-table (default: asked of
                         the tree's own bootstrap with x.py --dry-run)
    -h, --help           this help; `<COMMAND> --help` for a command's own

COMMANDS:
    rustc-pgo            Stage 1: instrument rustc, train it, merge and validate the
                         profile, rebuild rustc with it
    llvm-pgo             Stage 2: instrument the in-tree LLVM, train it, merge its profile
    llvm-bolt            Stage 3: PGO-optimized LLVM for BOLT; BOLT profile for libLLVM
    rustc-bolt           Stage 3: BOLT profile for librustc_driver
    dist                 BOLT-optimize both libraries, then x.py dist with every profile
    test                 run upstream's test subset on the dist toolchain
    all                  every stage in order (test only with --run-tests)
    plan [<stage>|all]   print the exact commands a run would issue, running nothing
    status               what each stage has produced                        (not built yet)
    clean [<stage>]      delete a stage's outputs                            (not built yet)
    doctor               check tools and tree for a full run, with fixes
";

const STAGE_OPTIONS: &str = "\
OPTIONS (shared by every stage, `all`, `plan` and `doctor`):
    --use-bolt <true|false>          build for BOLT and run the BOLT stages (default: true
                                     on x86_64 Linux, as upstream)
    --build-llvm <true|false>        LLVM is built in the tree (default: true); with false,
                                     llvm-profdata comes from the host LLVM (--llvm-dir)
    --llvm-shared <true|false>       LLVM is linked as a shared library (default: true)
    --keep-raw                       keep the raw .profraw files after a good merge
    --rustc-crates <A,B,...>         rustc training crates (default: upstream's list)
    --benchmark-cargo-config <FILE>  passed to the collector as --cargo-config (repeatable),
                                     e.g. to train offline on the tarball's vendored crates
    --no-preflight                   skip the checks and bootstrap dry runs before the run
    --ignore-disk-space              run even when free disk is below the estimate
    --try-build                      upstream's fast try build (DIST_TRY_BUILD): a minimal
                                     toolchain, no tests
    --run-tests                      `all` ends with the test stage
    --skipped-tests <PATH>           a test to skip in the test stage (repeatable)
    -h, --help                       this help
";

fn command_help(command: &str) -> String {
    let (usage, about) = match command {
        "rustc-pgo" => (
            "cargo xtask opt-dist [GLOBAL] rustc-pgo [OPTIONS]",
            "Stage 1 (rustc PGO). Builds a PGO-instrumented compiler with the tree's own bootstrap,\n\
             trains it with the tree's rustc-perf collector, merges the raw profiles with an\n\
             llvm-profdata of the compiler's LLVM major version, validates the result, and rebuilds\n\
             the compiler with it. Leaves <build-dir>/opt-dist/rustc-pgo/\n\
             rustc-pgo-<version>-<host>.profdata and manifest.json (how it was made).",
        ),
        "llvm-pgo" => (
            "cargo xtask opt-dist [GLOBAL] llvm-pgo [OPTIONS]",
            "Stage 2 (LLVM PGO). Deletes the in-tree LLVM build (bootstrap would not rebuild it for\n\
             new PGO options), builds it instrumented while keeping stage 1's rustc\n\
             (--keep-stage 0 --keep-stage 1), trains it with the LLVM benchmarks, merges and\n\
             validates llvm-pgo-<version>-<host>.profdata, and deletes the instrumented LLVM.\n\
             Skipped, with the reason recorded, when LLVM is not built in the tree.",
        ),
        "llvm-bolt" => (
            "cargo xtask opt-dist [GLOBAL] llvm-bolt [OPTIONS]",
            "Stage 3 (LLVM BOLT). Builds the PGO-optimized LLVM linked with -Wl,-q, BOLT-instruments\n\
             the sysroot's libLLVM.so* in place (the original is backed up and always put back),\n\
             trains it, and merges llvm-bolt-<version>-<host>.fdata with merge-fdata.",
        ),
        "rustc-bolt" => (
            "cargo xtask opt-dist [GLOBAL] rustc-bolt [OPTIONS]",
            "Stage 3 (rustc BOLT). BOLT-instruments the sysroot's librustc_driver*.so in place (the\n\
             original is backed up and always put back), trains it, and merges\n\
             rustc-bolt-<version>-<host>.fdata.",
        ),
        "dist" => (
            "cargo xtask opt-dist [GLOBAL] dist [OPTIONS] [-- <extra args for x.py dist>]",
            "Stage 5 (dist). BOLT-optimizes libLLVM and librustc_driver in place (once: a library\n\
             already optimized with the same profile is left alone), runs `x.py dist <your args>`\n\
             with every profile, --keep-stage as upstream and the BOLT profiles as reproducible\n\
             artifacts, records the dist files and checks that the packaged libraries are the\n\
             optimized ones.",
        ),
        "test" => (
            "cargo xtask opt-dist [GLOBAL] test [OPTIONS]",
            "Unpacks the dist toolchain into one sysroot and runs upstream's test subset with it\n\
             as stage 0, under a temporary bootstrap.toml (the tree's own is always put back).",
        ),
        "all" => (
            "cargo xtask opt-dist [GLOBAL] all [OPTIONS] [-- <extra args for x.py dist>]",
            "Every stage in order, with upstream's bootstrap calls: rustc-pgo, llvm-pgo, llvm-bolt,\n\
             rustc-bolt, dist, and test with --run-tests. Preflight checks every x.py command\n\
             first, the dist command with your arguments before all others.",
        ),
        "plan" => (
            "cargo xtask opt-dist [GLOBAL] plan [<stage>|all] [--format text|sh|json] [OPTIONS]",
            "Prints the exact commands that `opt-dist <stage>` would run with the same options, in\n\
             order, without running any of them. --format sh prints a POSIX shell script that\n\
             replays the run (env assignments in front, cwd changes explicit); json is for\n\
             machines. Without a stage, or with `all`, it plans every stage.\n\n\
             --format <text|sh|json>  output format (default: text)",
        ),
        "status" => ("cargo xtask opt-dist [GLOBAL] status [--json]", "Not built yet."),
        "clean" => ("cargo xtask opt-dist [GLOBAL] clean [<stage>]", "Not built yet."),
        "doctor" => (
            "cargo xtask opt-dist [GLOBAL] doctor [OPTIONS]",
            "Checks the tree and the machine for a full run, as a table with a fix for each\n\
             problem: python, rustc-perf, the stage0 toolchain, llvm-profdata / llvm-bolt /\n\
             merge-fdata and their LLVM major version, free disk, bootstrap's PGO interface.\n\
             Exits with 1 when a check fails. The same checks run before every stage\n\
             (preflight).",
        ),
        _ => return USAGE.to_string(),
    };
    let options = if matches!(command, "rustc-pgo" | "plan") {
        STAGE_OPTIONS
    } else {
        ""
    };
    format!("USAGE:\n    {usage}\n\n{about}\n\n{options}")
}

pub fn parse(args: Vec<OsString>) -> Result<Parsed, UsageError> {
    let top = |message: String| UsageError {
        message,
        help: USAGE.to_string(),
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

    let mut p = pico_args::Arguments::from_vec(args.into_iter().map(OsString::from).collect());
    let global = parse_global(&mut p).map_err(top)?;
    let help = p.contains(["-h", "--help"]);

    match p.subcommand().map_err(|e| top(e.to_string()))?.as_deref() {
        Some("opt-dist") => {}
        Some(other) => return Err(top(format!("unknown xtask command `{other}`"))),
        None if help => return Ok(Parsed::Help(USAGE.to_string())),
        None => return Err(top("missing command: expected `opt-dist`".to_string())),
    }
    let Some(name) = p.subcommand().map_err(|e| top(e.to_string()))? else {
        if help {
            return Ok(Parsed::Help(USAGE.to_string()));
        }
        return Err(top(leftover_message(p.finish(), "opt-dist")
            .unwrap_or_else(|| "missing command".to_string())));
    };
    let local = |message: String| UsageError {
        message,
        help: command_help(&name),
    };
    if !is_command(&name) {
        return Err(top(format!("unknown command `{name}`")));
    }
    if help {
        return Ok(Parsed::Help(command_help(&name)));
    }

    let takes_stage_options =
        StageId::from_name(&name).is_some() || matches!(name.as_str(), "all" | "plan" | "doctor");
    let options = if takes_stage_options {
        parse_pipeline_options(&mut p).map_err(local)?
    } else {
        PipelineOptions::default()
    };

    let command = match name.as_str() {
        "all" => Command::All,
        "plan" => {
            let format = match opt_string(&mut p, "--format").map_err(local)?.as_deref() {
                None | Some("text") => PlanFormat::Text,
                Some("sh") => PlanFormat::Sh,
                Some("json") => PlanFormat::Json,
                Some(other) => {
                    return Err(local(format!(
                        "unknown plan format `{other}`: expected text, sh or json"
                    )))
                }
            };
            let target = match free_word(&mut p).map_err(local)?.as_deref() {
                None | Some("all") => None,
                Some(stage) => Some(
                    StageId::from_name(stage)
                        .ok_or_else(|| local(format!("unknown stage `{stage}`")))?,
                ),
            };
            Command::Plan { target, format }
        }
        "status" => Command::Status {
            json: p.contains("--json"),
        },
        "clean" => {
            let stage = match free_word(&mut p).map_err(local)? {
                None => None,
                Some(stage) => Some(
                    StageId::from_name(&stage)
                        .ok_or_else(|| local(format!("unknown stage `{stage}`")))?,
                ),
            };
            Command::Clean { stage }
        }
        "doctor" => Command::Doctor,
        stage => Command::Stage(StageId::from_name(stage).expect("checked by is_command")),
    };
    if let Some(message) = leftover_message(p.finish(), &name) {
        return Err(local(message));
    }
    if !dist_args.is_empty() && !matches!(command, Command::All | Command::Plan { .. }) {
        let takes_dist_args = matches!(command, Command::Stage(StageId::Dist | StageId::Test));
        if !takes_dist_args {
            return Err(local(format!(
                "`{name}` takes no arguments after `--` (they are for the final x.py dist)"
            )));
        }
    }
    Ok(Parsed::Run(Box::new(Invocation {
        global,
        options,
        command,
        dist_args,
    })))
}

fn is_command(name: &str) -> bool {
    StageId::from_name(name).is_some()
        || matches!(name, "all" | "plan" | "status" | "clean" | "doctor")
}

fn parse_global(p: &mut pico_args::Arguments) -> Result<Global, String> {
    let interface =
        match opt_string(p, "--interface")? {
            None => None,
            Some(name) => Some(Interface::from_name(&name).ok_or_else(|| {
                format!("unknown interface `{name}`: expected legacy or pgo-table")
            })?),
        };
    Ok(Global {
        src: opt_string(p, "--src")?.map(PathBuf::from),
        build_dir: opt_string(p, "--build-dir")?.map(PathBuf::from),
        host: opt_string(p, "--host")?,
        python: opt_string(p, "--python")?,
        llvm_dir: opt_string(p, "--llvm-dir")?.map(PathBuf::from),
        interface,
    })
}

fn parse_pipeline_options(p: &mut pico_args::Arguments) -> Result<PipelineOptions, String> {
    let defaults = PipelineOptions::default();
    let benchmark_cargo_config = p
        .values_from_str::<_, String>("--benchmark-cargo-config")
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(PathBuf::from)
        .collect();
    Ok(PipelineOptions {
        use_bolt: opt_bool(p, "--use-bolt")?,
        build_llvm: opt_bool(p, "--build-llvm")?.unwrap_or(defaults.build_llvm),
        llvm_shared: opt_bool(p, "--llvm-shared")?.unwrap_or(defaults.llvm_shared),
        keep_raw: p.contains("--keep-raw"),
        rustc_crates: opt_string(p, "--rustc-crates")?.map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        }),
        benchmark_cargo_config,
        no_preflight: p.contains("--no-preflight"),
        ignore_disk_space: p.contains("--ignore-disk-space"),
        try_build: p.contains("--try-build"),
        run_tests: p.contains("--run-tests"),
        skipped_tests: p
            .values_from_str("--skipped-tests")
            .map_err(|e| e.to_string())?,
    })
}

fn opt_string(p: &mut pico_args::Arguments, key: &'static str) -> Result<Option<String>, String> {
    p.opt_value_from_str(key).map_err(|e| match e {
        pico_args::Error::OptionWithoutAValue(_) => format!("`{key}` needs a value"),
        other => other.to_string(),
    })
}

fn opt_bool(p: &mut pico_args::Arguments, key: &'static str) -> Result<Option<bool>, String> {
    match opt_string(p, key)?.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(format!("`{key}` takes true or false, not `{other}`")),
    }
}

/// The next positional word, unless what follows is an option.
fn free_word(p: &mut pico_args::Arguments) -> Result<Option<String>, String> {
    p.opt_free_from_str().map_err(|e| e.to_string())
}

/// Names the first word nobody consumed: an unknown option, or a stray positional argument.
fn leftover_message(rest: Vec<OsString>, command: &str) -> Option<String> {
    let first = rest.first()?.to_string_lossy().into_owned();
    Some(if first.starts_with('-') {
        format!("unknown option `{first}` for `{command}`")
    } else {
        format!("unexpected argument `{first}` for `{command}`")
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
        assert_eq!(inv.global.src, Some(PathBuf::from("/t")));
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
        let Ok(Parsed::Run(inv)) = parse_str("opt-dist plan -- dist --foo") else {
            panic!()
        };
        assert_eq!(inv.dist_args, ["dist", "--foo"]);
    }
}
