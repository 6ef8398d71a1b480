//! How fast is the miniature compiler built plain, with PGO, and with PGO+BOLT?
//!
//! `cargo bench --bench mini_compiler_speed` (see BENCHMARKS.md for the results and caveats).
//!
//! 1. Copies `tests/mini-rust-tree` (without its generated `build/`, `.mini-tree/`, `target/`)
//!    into three fresh directories below `std::env::temp_dir()` and builds a toolchain in each
//!    with the real tools, concurrently:
//!    * plain: `python3 x.py dist --host H --target H`, no profiles;
//!    * PGO: `xtask opt-dist --src <copy> all --use-bolt false`;
//!    * PGO+BOLT: `xtask opt-dist --src <copy> all`.
//!
//!    The xtask is the binary of this package, built by cargo for the benchmark.
//! 2. Unpacks each `build/dist/rustc-<version>-<host>.tar.xz` and checks that what is measured
//!    is what it claims to be: its `rustc` runs from the unpacked location and loads the
//!    unpacked `librustc_driver`/`libLLVM`/`libstd` (rpath `$ORIGIN/../lib`); the build record
//!    (`stage2/mini-build.json`) shows profile use and BOLT link flags as expected; the unpacked
//!    libraries carry BOLT's `.note.bolt_info` only for PGO+BOLT.
//! 3. Expands every rustc-perf compile benchmark of the tree exactly like the tree's collector
//!    (`collector/src/main.rs`, `generate_input`: the seed `src/lib.mini` repeated `copies`
//!    times from `perf-config.json`, each copy wrapped in `mod copy_<i> { … }`), and runs each
//!    compiler on it as the collector's `Full` scenario does:
//!    `rustc --crate-name <name> [--emit=metadata | -O] --out-dir <dir> <file>` for the Check,
//!    Debug and Opt profiles.
//! 4. One untimed warm-up round, which also checks that the three compilers produce
//!    byte-identical output; then `MINI_BENCH_REPS` timed rounds (default 10). Each round runs
//!    every (profile, benchmark) once with each compiler, the three back to back in a rotating
//!    order, so drift in machine load hits all three alike. A sample is the wall time of one
//!    round's compiles of the whole suite for one profile.
//! 5. Instruction counts: every compile once more under `valgrind --tool=cachegrind
//!    --cache-sim=no` (exact to about 1e-5 between runs), in parallel, as nothing is timed.
//!
//! The table goes to stdout (markdown) and, with a JSON copy, to
//! `target/mini_compiler_speed/`.
//!
//! Environment:
//! * `MINI_BENCH_REPS=N`: timed rounds (default 10);
//! * `MINI_BENCH_VALGRIND=0`: skip the instruction counts;
//! * `MINI_BENCH_WORK_DIR=DIR`: work in `DIR` and keep it; toolchains already built there by an
//!   earlier run are reused (for iterating on this file; a normal run builds from scratch);
//! * `MINI_BENCH_KEEP=1`: keep the fresh work directory.
//!
//! Positional arguments (`cargo bench --bench mini_compiler_speed -- serde syn`) keep only the
//! benchmarks whose name contains one of them.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does nothing: building three
//! toolchains is not a test.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[derive(Clone, Copy, PartialEq, Eq)]
enum Config {
    Plain,
    Pgo,
    PgoBolt,
}

const CONFIGS: [Config; 3] = [Config::Plain, Config::Pgo, Config::PgoBolt];

impl Config {
    fn name(self) -> &'static str {
        match self {
            Config::Plain => "plain",
            Config::Pgo => "PGO",
            Config::PgoBolt => "PGO+BOLT",
        }
    }

    /// Directory name of the tree copy.
    fn dir(self) -> &'static str {
        match self {
            Config::Plain => "plain",
            Config::Pgo => "pgo",
            Config::PgoBolt => "pgo-bolt",
        }
    }

    fn pgo(self) -> bool {
        self != Config::Plain
    }

    fn bolt(self) -> bool {
        self == Config::PgoBolt
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    Check,
    Debug,
    Opt,
}

const PROFILES: [Profile; 3] = [Profile::Check, Profile::Debug, Profile::Opt];

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Check => "Check",
            Profile::Debug => "Debug",
            Profile::Opt => "Opt",
        }
    }

    /// The collector's flags for the profile.
    fn flags(self) -> &'static [&'static str] {
        match self {
            Profile::Check => &["--emit=metadata"],
            Profile::Debug => &[],
            Profile::Opt => &["-O"],
        }
    }
}

struct Bench {
    name: String,
    crate_name: String,
    input: PathBuf,
    bytes: usize,
}

struct Toolchain {
    config: Config,
    rustc: PathBuf,
}

struct Settings {
    reps: usize,
    valgrind: bool,
    filters: Vec<String>,
    work: PathBuf,
    keep: bool,
    reuse: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("mini_compiler_speed: run it with `cargo bench --bench mini_compiler_speed`");
        return ExitCode::SUCCESS;
    }
    let filters = args.iter().filter(|a| !a.starts_with("--")).cloned().collect();
    match run(filters) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mini_compiler_speed: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env_flag(key: &str) -> Option<bool> {
    std::env::var(key).ok().map(|v| !matches!(v.as_str(), "" | "0" | "false" | "no"))
}

fn settings(filters: Vec<String>) -> Result<Settings> {
    let reps = match std::env::var("MINI_BENCH_REPS") {
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("MINI_BENCH_REPS={v}: expected a positive number"))?,
        Err(_) => 10,
    };
    let (work, keep, reuse) = match std::env::var_os("MINI_BENCH_WORK_DIR") {
        Some(dir) => (PathBuf::from(dir), true, true),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir()
                .join(format!("mini-compiler-speed-{}-{nanos}", std::process::id()));
            (dir, env_flag("MINI_BENCH_KEEP").unwrap_or(false), false)
        }
    };
    Ok(Settings {
        reps,
        valgrind: env_flag("MINI_BENCH_VALGRIND").unwrap_or(true),
        filters,
        work,
        keep,
        reuse,
    })
}

static START: Mutex<Option<Instant>> = Mutex::new(None);

fn progress(msg: &str) {
    let start = *START.lock().unwrap().get_or_insert_with(Instant::now);
    let s = start.elapsed().as_secs();
    eprintln!("[{:02}:{:02}] {msg}", s / 60, s % 60);
}

fn run(filters: Vec<String>) -> Result<()> {
    progress("mini_compiler_speed: plain vs PGO vs PGO+BOLT");
    let settings = settings(filters)?;
    let fixture = Path::new(WORKSPACE)
        .join("tests/mini-rust-tree")
        .canonicalize()
        .context("tests/mini-rust-tree")?;
    let host = host_triple()?;
    let version = std::fs::read_to_string(fixture.join("version"))?.trim().to_string();
    let tools = preflight(settings.valgrind)?;
    std::fs::create_dir_all(&settings.work)
        .with_context(|| format!("creating {}", settings.work.display()))?;
    let work = settings.work.canonicalize()?;
    progress(&format!("work directory {}", work.display()));

    let result = measure_all(&settings, &fixture, &work, &host, &version, &tools);
    if settings.keep {
        eprintln!("mini_compiler_speed: kept {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn measure_all(
    settings: &Settings,
    fixture: &Path,
    work: &Path,
    host: &str,
    version: &str,
    tools: &BTreeMap<&'static str, String>,
) -> Result<()> {
    let build_times = build_toolchains(settings, fixture, work, host)?;
    let toolchains = CONFIGS
        .iter()
        .map(|&c| unpack_and_check(c, work, host, version))
        .collect::<Result<Vec<_>>>()?;
    let benches = expand_benchmarks(fixture, work, &settings.filters)?;
    progress(&format!(
        "{} benchmarks: {}",
        benches.len(),
        benches.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
    ));

    let load_before = load_average();
    let started = Instant::now();
    warm_up_and_compare(&toolchains, &benches, work)?;
    let wall = time_rounds(&toolchains, &benches, work, settings.reps)?;
    let load_after = load_average();
    let wall_elapsed = started.elapsed();
    let instructions = if settings.valgrind {
        Some(count_instructions(&toolchains, &benches, work)?)
    } else {
        None
    };

    let report = Report {
        host,
        tools,
        benches: &benches,
        reps: settings.reps,
        wall: &wall,
        instructions: instructions.as_ref(),
        build_times: &build_times,
        load: (load_before, load_after),
        wall_elapsed,
    };
    let markdown = report.markdown();
    println!("\n{markdown}");
    save_results(&markdown, &report.json())?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tools and toolchains

fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output().context("running `rustc -vV`")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("`rustc -vV` printed no host")
}

fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text).lines().next().map(|l| l.trim().to_string())
}

/// The tools the builds and measurements need, with their versions.
fn preflight(valgrind: bool) -> Result<BTreeMap<&'static str, String>> {
    let mut tools = BTreeMap::new();
    let mut wanted = vec![
        ("python3", "--version"),
        ("clang-22", "--version"),
        ("tar", "--version"),
        ("rustc", "--version"),
        ("ldd", "--version"),
    ];
    if valgrind {
        wanted.push(("valgrind", "--version"));
    }
    for (tool, arg) in wanted {
        match first_line(tool, &[arg]) {
            Some(v) => {
                tools.insert(tool, v);
            }
            None if tool == "valgrind" => bail!(
                "valgrind is not installed: install it (apt-get install valgrind) or set \
                 MINI_BENCH_VALGRIND=0 to skip the instruction counts"
            ),
            None => bail!("`{tool}` is needed to build and measure the mini compiler"),
        }
    }
    Ok(tools)
}

/// Copies the fixture without what it generates (its `.gitignore`).
fn copy_tree(from: &Path, to: &Path, top: bool) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let skip = matches!(name.as_ref(), "target" | "__pycache__")
            || (top && matches!(name.as_ref(), "build" | ".mini-tree" | "bootstrap.toml"));
        if skip {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst, false)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

fn build_command(config: Config, tree: &Path, host: &str) -> Command {
    let mut cmd = match config {
        Config::Plain => {
            let mut c = Command::new("python3");
            c.arg("x.py").args(["dist", "--host", host, "--target", host]);
            c
        }
        Config::Pgo | Config::PgoBolt => {
            let mut c = Command::new(XTASK);
            c.arg("opt-dist").arg("--src").arg(tree).arg("all");
            if config == Config::Pgo {
                c.args(["--use-bolt", "false"]);
            }
            c
        }
    };
    // Cargo points LD_LIBRARY_PATH at its toolchain for benchmarks; nothing here should see it.
    cmd.current_dir(tree).env_remove("LD_LIBRARY_PATH").stdin(Stdio::null());
    cmd
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Builds the three toolchains concurrently (profiles are counts, so the builds do not disturb
/// each other's training). Returns each build's wall time.
fn build_toolchains(
    settings: &Settings,
    fixture: &Path,
    work: &Path,
    host: &str,
) -> Result<Vec<Option<Duration>>> {
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut todo = Vec::new();
    for config in CONFIGS {
        let tree = work.join(config.dir());
        let done = tree.join(".mini-compiler-speed-built");
        if settings.reuse && done.is_file() {
            progress(&format!(
                "{}: reusing the toolchain built in {}",
                config.name(),
                tree.display()
            ));
            continue;
        }
        let _ = std::fs::remove_dir_all(&tree);
        copy_tree(fixture, &tree, true)?;
        todo.push((config, tree, done));
    }
    let mut times = vec![None; CONFIGS.len()];
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = todo
            .iter()
            .map(|(config, tree, done)| {
                let log = logs.join(format!("build-{}.log", config.dir()));
                s.spawn(move || -> Result<(Config, Duration)> {
                    let mut cmd = build_command(*config, tree, host);
                    progress(&format!("{}: building ({:?})", config.name(), cmd));
                    let out = std::fs::File::create(&log)?;
                    cmd.stdout(out.try_clone()?).stderr(out);
                    let start = Instant::now();
                    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
                    let took = start.elapsed();
                    ensure!(
                        status.success(),
                        "{}: the build failed ({status}); the end of {}:\n{}",
                        config.name(),
                        log.display(),
                        tail(&log, 40)
                    );
                    std::fs::write(done, b"")?;
                    progress(&format!("{}: built in {:.0} s", config.name(), took.as_secs_f64()));
                    Ok((*config, took))
                })
            })
            .collect();
        for h in handles {
            let (config, took) = h.join().expect("build thread panicked")?;
            let i = CONFIGS.iter().position(|&c| c == config).unwrap();
            times[i] = Some(took);
        }
        Ok(())
    })?;
    Ok(times)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Unpacks the config's rustc tarball and checks that it is the compiler it should be.
fn unpack_and_check(config: Config, work: &Path, host: &str, version: &str) -> Result<Toolchain> {
    let tree = work.join(config.dir());
    let tarball = tree.join(format!("build/dist/rustc-{version}-{host}.tar.xz"));
    ensure!(tarball.is_file(), "{} was not produced", tarball.display());
    let dest = work.join("toolchains").join(config.dir());
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest)?;
    let status = Command::new("tar").arg("-xJf").arg(&tarball).arg("-C").arg(&dest).status()?;
    ensure!(status.success(), "unpacking {} failed", tarball.display());
    let root = dest.join(format!("rustc-{version}-{host}/rustc"));
    let rustc = root.join("bin/rustc");
    let lib = root.join("lib");

    // It runs from where it was unpacked, with the libraries next to it.
    let out = Command::new(&rustc)
        .arg("-vV")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .with_context(|| format!("running {}", rustc.display()))?;
    ensure!(
        out.status.success(),
        "{} -vV failed: {}",
        rustc.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let ldd = Command::new("ldd").arg(&rustc).env_remove("LD_LIBRARY_PATH").output()?;
    let ldd = String::from_utf8_lossy(&ldd.stdout).into_owned();
    let lib = lib.canonicalize()?;
    let mut libraries = Vec::new();
    for entry in std::fs::read_dir(&lib)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let resolved = ldd
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} =>")))
            .with_context(|| format!("{} does not load {name}:\n{ldd}", rustc.display()))?;
        let path = resolved
            .split("=>")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(PathBuf::from)
            .with_context(|| format!("unexpected ldd line {resolved:?}"))?;
        ensure!(
            path.canonicalize()?.starts_with(&lib),
            "{} loads {name} from {}, not from {}",
            rustc.display(),
            path.display(),
            lib.display()
        );
        libraries.push(name);
    }
    for prefix in ["librustc_driver", "libLLVM", "libstd"] {
        ensure!(
            libraries.iter().any(|l| l.starts_with(prefix)),
            "{} ships no {prefix}: {libraries:?}",
            lib.display()
        );
    }

    // BOLT leaves a `.note.bolt_info` section in what it rewrote.
    for name in libraries.iter().filter(|l| !l.starts_with("libstd")) {
        let bolted = contains(&std::fs::read(lib.join(name))?, b".note.bolt_info");
        ensure!(
            bolted == config.bolt(),
            "{}: {name} {} BOLT-optimized",
            config.name(),
            if bolted { "is" } else { "is not" }
        );
    }

    // How bootstrap built the stage that was packaged.
    let record = tree.join(format!("build/{host}/stage2/mini-build.json"));
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&record)?)
        .with_context(|| format!("reading {}", record.display()))?;
    for component in ["rustc_driver", "llvm"] {
        let c = &record["components"][component];
        let profile_use = !c["profile_use"].is_null();
        let generate = !c["profile_generate"].is_null();
        let bolt_flags = c["bolt_link_flags"].as_bool().unwrap_or(false);
        ensure!(
            profile_use == config.pgo() && !generate && bolt_flags == config.bolt(),
            "{}: {component} was built with profile_use={profile_use}, \
             profile_generate={generate}, bolt_link_flags={bolt_flags}",
            config.name()
        );
    }
    progress(&format!(
        "{}: {} ({})",
        config.name(),
        rustc.display(),
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("")
    ));
    Ok(Toolchain { config, rustc })
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// The benchmark inputs, expanded as the tree's collector expands them.
fn expand_benchmarks(fixture: &Path, work: &Path, filters: &[String]) -> Result<Vec<Bench>> {
    let perf = fixture.join("src/tools/rustc-perf/collector");
    // Guard against the collector changing how it expands a seed under this benchmark's feet.
    let collector = std::fs::read_to_string(perf.join("src/main.rs"))?;
    ensure!(
        collector.contains(r#""/// Copy {} of the benchmark crate.\nmod copy_{} {{""#)
            && collector.contains(r#"out.push_str("\n}\n");"#)
            && collector.contains(r#"job.name.replace(['-', '.'], "_")"#),
        "the collector no longer expands benchmarks as this benchmark assumes \
         ({}, generate_input): update expand_benchmarks",
        perf.join("src/main.rs").display()
    );
    let inputs = work.join("inputs");
    std::fs::create_dir_all(&inputs)?;
    let mut benches = Vec::new();
    for entry in std::fs::read_dir(perf.join("compile-benchmarks"))? {
        let dir = entry?.path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let seed_path = dir.join("src/lib.mini");
        if !seed_path.is_file()
            || !(filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        {
            continue;
        }
        let seed = std::fs::read_to_string(&seed_path)?;
        let config: Value = std::fs::read_to_string(dir.join("perf-config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let copies = config["copies"].as_i64().unwrap_or(1).max(1);
        let source = if copies == 1 {
            seed
        } else {
            let mut out = String::new();
            for i in 0..copies {
                out.push_str(&format!("/// Copy {i} of the benchmark crate.\nmod copy_{i} {{\n"));
                out.push_str(&seed);
                out.push_str("\n}\n");
            }
            out
        };
        let input = inputs.join(format!("{name}.mini"));
        std::fs::write(&input, &source)?;
        benches.push(Bench {
            crate_name: name.replace(['-', '.'], "_"),
            name,
            input,
            bytes: source.len(),
        });
    }
    benches.sort_by(|a, b| a.name.cmp(&b.name));
    ensure!(!benches.is_empty(), "no benchmark matches {filters:?}");
    Ok(benches)
}

// ---------------------------------------------------------------------------------------------
// Measurements

fn compile_command(tc: &Toolchain, bench: &Bench, profile: Profile, out: &Path) -> Command {
    let mut cmd = Command::new(&tc.rustc);
    cmd.arg("--crate-name")
        .arg(&bench.crate_name)
        .args(profile.flags())
        .arg("--out-dir")
        .arg(out)
        .arg(&bench.input)
        .current_dir(out)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null());
    cmd
}

fn out_dir(work: &Path, what: &str, tc: &Toolchain, profile: Profile) -> Result<PathBuf> {
    let dir = work.join(what).join(tc.config.dir()).join(profile.name().to_lowercase());
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// One compile's cost.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    /// User + system CPU time: unlike wall time, it leaves out time spent waiting for a core
    /// while other work runs on the machine.
    cpu: Option<Duration>,
}

/// CPU time (user + system) of all reaped children of this process so far.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn children_cpu() -> Option<Duration> {
    use std::ffi::{c_int, c_long};
    #[repr(C)]
    struct Timeval {
        sec: c_long,
        usec: c_long,
    }
    #[repr(C)]
    struct Rusage {
        utime: Timeval,
        stime: Timeval,
        rest: [c_long; 14],
    }
    extern "C" {
        fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
    }
    const RUSAGE_CHILDREN: c_int = -1;
    let mut usage = std::mem::MaybeUninit::<Rusage>::zeroed();
    // SAFETY: `Rusage` has the layout of `struct rusage` on 64-bit Linux, and getrusage writes
    // nothing but that struct.
    let usage = unsafe {
        if getrusage(RUSAGE_CHILDREN, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let micros = |t: &Timeval| t.sec as u64 * 1_000_000 + t.usec as u64;
    Some(Duration::from_micros(micros(&usage.utime) + micros(&usage.stime)))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn children_cpu() -> Option<Duration> {
    None
}

/// Compiles once, timed. On failure shows the compiler's messages. Only one compile may run at a
/// time (the CPU time is that of all children reaped meanwhile).
fn compile(tc: &Toolchain, bench: &Bench, profile: Profile, out: &Path) -> Result<Sample> {
    let mut cmd = compile_command(tc, bench, profile, out);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let cpu_before = children_cpu();
    let start = Instant::now();
    let status = cmd.status()?;
    let wall = start.elapsed();
    let cpu = match (cpu_before, children_cpu()) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    if !status.success() {
        let again = compile_command(tc, bench, profile, out).output()?;
        bail!(
            "{} failed on {} ({}): {status}\n{}",
            tc.config.name(),
            bench.name,
            profile.name(),
            String::from_utf8_lossy(&again.stderr)
        );
    }
    Ok(Sample { wall, cpu })
}

fn dir_contents(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        files
            .insert(entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path())?);
    }
    Ok(files)
}

/// An untimed round, which also checks that PGO and BOLT changed nothing the compiler emits.
fn warm_up_and_compare(toolchains: &[Toolchain], benches: &[Bench], work: &Path) -> Result<()> {
    progress("warm-up round (untimed), comparing the three compilers' output");
    for profile in PROFILES {
        let mut outputs = Vec::new();
        for tc in toolchains {
            let dir = out_dir(work, "warm-up", tc, profile)?;
            for bench in benches {
                compile(tc, bench, profile, &dir)?;
            }
            outputs.push((tc.config, dir_contents(&dir)?));
        }
        let (base_config, base) = &outputs[0];
        ensure!(!base.is_empty(), "{} wrote nothing", base_config.name());
        for (config, files) in &outputs[1..] {
            ensure!(
                files == base,
                "{} and {} emit different output for the {} profile",
                config.name(),
                base_config.name(),
                profile.name()
            );
        }
    }
    Ok(())
}

/// `wall[config][profile][bench]`: one sample per round.
type Wall = Vec<Vec<Vec<Vec<Sample>>>>;

fn time_rounds(
    toolchains: &[Toolchain],
    benches: &[Bench],
    work: &Path,
    reps: usize,
) -> Result<Wall> {
    let mut wall: Wall = vec![vec![vec![Vec::new(); benches.len()]; PROFILES.len()]; CONFIGS.len()];
    let mut dirs = Vec::new();
    for tc in toolchains {
        let mut per_profile = Vec::new();
        for profile in PROFILES {
            per_profile.push(out_dir(work, "timed", tc, profile)?);
        }
        dirs.push(per_profile);
    }
    for rep in 0..reps {
        let start = Instant::now();
        for (p, &profile) in PROFILES.iter().enumerate() {
            for (b, bench) in benches.iter().enumerate() {
                for k in 0..toolchains.len() {
                    let c = (k + rep + b) % toolchains.len();
                    let sample = compile(&toolchains[c], bench, profile, &dirs[c][p])?;
                    wall[c][p][b].push(sample);
                }
            }
        }
        progress(&format!(
            "timed round {}/{reps} ({:.1} s)",
            rep + 1,
            start.elapsed().as_secs_f64()
        ));
    }
    Ok(wall)
}

/// `instructions[config][profile][bench]`.
type Instructions = Vec<Vec<Vec<u64>>>;

fn count_instructions(
    toolchains: &[Toolchain],
    benches: &[Bench],
    work: &Path,
) -> Result<Instructions> {
    let mut jobs = Vec::new();
    for c in 0..toolchains.len() {
        for p in 0..PROFILES.len() {
            for b in 0..benches.len() {
                jobs.push((c, p, b));
            }
        }
    }
    // Longest first (Opt, then Debug, then Check; big inputs first), so that the workers finish
    // together.
    jobs.sort_by_key(|&(_, p, b)| std::cmp::Reverse((p, benches[b].bytes)));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    progress(&format!(
        "counting instructions: {} compiles under cachegrind, {threads} at a time",
        jobs.len()
    ));
    let logs = work.join("cachegrind");
    std::fs::create_dir_all(&logs)?;
    let next = AtomicUsize::new(0);
    let counts =
        Mutex::new(vec![vec![vec![0u64; benches.len()]; PROFILES.len()]; toolchains.len()]);
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(c, p, b)) = jobs.get(i) else {
                            return Ok(());
                        };
                        let (tc, profile, bench) = (&toolchains[c], PROFILES[p], &benches[b]);
                        let dir = out_dir(work, &format!("cachegrind-{i}"), tc, profile)?;
                        let log = logs.join(format!("{i}.log"));
                        let inner = compile_command(tc, bench, profile, &dir);
                        let mut cmd = Command::new("valgrind");
                        cmd.args(["--tool=cachegrind", "--cache-sim=no"])
                            .arg("--cachegrind-out-file=/dev/null")
                            .arg(format!("--log-file={}", log.display()))
                            .arg(inner.get_program())
                            .args(inner.get_args())
                            .current_dir(&dir)
                            .env_remove("LD_LIBRARY_PATH")
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::null());
                        let status = cmd.status()?;
                        ensure!(
                            status.success(),
                            "cachegrind run of {} on {} ({}) failed: {status}; see {}",
                            tc.config.name(),
                            bench.name,
                            profile.name(),
                            log.display()
                        );
                        let text = std::fs::read_to_string(&log)?;
                        let refs = text
                            .lines()
                            .find_map(|l| l.split_once("I   refs:").map(|(_, n)| n))
                            .map(|n| n.trim().replace(',', ""))
                            .and_then(|n| n.parse::<u64>().ok())
                            .with_context(|| format!("no `I refs:` in {}", log.display()))?;
                        counts.lock().unwrap()[c][p][b] = refs;
                        let _ = std::fs::remove_dir_all(dir);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("cachegrind worker panicked")?;
        }
        Ok(())
    })?;
    progress("instruction counts done");
    Ok(counts.into_inner().unwrap())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------------------------------------
// Report

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

struct Report<'a> {
    host: &'a str,
    tools: &'a BTreeMap<&'static str, String>,
    benches: &'a [Bench],
    reps: usize,
    wall: &'a Wall,
    instructions: Option<&'a Instructions>,
    build_times: &'a [Option<Duration>],
    load: (String, String),
    wall_elapsed: Duration,
}

/// One row of the summary: a configuration and a profile (`None`: all three profiles).
struct Row {
    /// Suite wall time of each round, in ms.
    wall_ms: Vec<f64>,
    /// Suite CPU time of each round, in ms.
    cpu_ms: Option<Vec<f64>>,
    instructions: Option<u64>,
}

impl Report<'_> {
    fn row(&self, c: usize, profile: Option<usize>) -> Row {
        let profiles: Vec<usize> = match profile {
            Some(p) => vec![p],
            None => (0..PROFILES.len()).collect(),
        };
        let round = |r: usize| {
            profiles.iter().flat_map(move |&p| self.wall[c][p].iter().map(move |b| b[r]))
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let wall_ms = (0..self.reps).map(|r| round(r).map(|s| ms(s.wall)).sum()).collect();
        let cpu_ms =
            (0..self.reps).map(|r| round(r).map(|s| s.cpu.map(ms)).sum::<Option<f64>>()).collect();
        let instructions = self
            .instructions
            .map(|ins| profiles.iter().map(|&p| ins[c][p].iter().sum::<u64>()).sum());
        Row { wall_ms, cpu_ms, instructions }
    }

    fn markdown(&self) -> String {
        let mut md = String::new();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let _ = writeln!(
            md,
            "Host `{}`, {} ({cores} cores); {}; {}; {}.",
            self.host,
            cpu_model(),
            self.tools["rustc"],
            self.tools["clang-22"],
            self.tools.get("valgrind").map_or("no valgrind", String::as_str)
        );
        let _ = writeln!(
            md,
            "Benchmarks: {} ({:.0} KB of input per profile); {} timed rounds of {} compiles each \
             ({:.0} s including the warm-up round); load average {} before, {} after.",
            self.benches.len(),
            self.benches.iter().map(|b| b.bytes).sum::<usize>() as f64 / 1e3,
            self.reps,
            self.benches.len() * PROFILES.len() * CONFIGS.len(),
            self.wall_elapsed.as_secs_f64(),
            self.load.0,
            self.load.1
        );
        let builds: Vec<String> = CONFIGS
            .iter()
            .zip(self.build_times)
            .map(|(c, t)| match t {
                Some(t) => format!("{} {:.0} s", c.name(), t.as_secs_f64()),
                None => format!("{} reused", c.name()),
            })
            .collect();
        let _ = writeln!(md, "Toolchain builds (concurrent): {}.\n", builds.join(", "));

        md.push_str(
            "| configuration | profile | wall ms: median (p25–p75) | wall speedup | \
             CPU ms: median | CPU speedup | instructions | instructions vs plain |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
        );
        let median = |v: &[f64]| quantile(&sorted(v.to_vec()), 0.5);
        let speedup = |c: usize, base: f64, this: f64| {
            if c == 0 {
                "1.00×".to_string()
            } else {
                format!("{:.3}×", base / this)
            }
        };
        let profile_rows: Vec<Option<usize>> =
            (0..PROFILES.len()).map(Some).chain([None]).collect();
        for profile in profile_rows {
            let plain = self.row(0, profile);
            for (c, config) in CONFIGS.iter().enumerate() {
                let row = self.row(c, profile);
                let wall = sorted(row.wall_ms.clone());
                let wall_speedup = speedup(c, median(&plain.wall_ms), median(&wall));
                let (cpu, cpu_speedup) = match (&row.cpu_ms, &plain.cpu_ms) {
                    (Some(cpu), Some(base)) => {
                        (format!("{:.1}", median(cpu)), speedup(c, median(base), median(cpu)))
                    }
                    _ => ("n/a".into(), "n/a".into()),
                };
                let (ins, ins_vs) = match (row.instructions, plain.instructions) {
                    (Some(i), Some(base)) => (
                        thousands(i),
                        if c == 0 {
                            "–".to_string()
                        } else {
                            format!("{:+.2} %", (i as f64 / base as f64 - 1.0) * 100.0)
                        },
                    ),
                    _ => ("n/a".into(), "n/a".into()),
                };
                let label = profile.map_or("all three", |p| PROFILES[p].name());
                let _ = writeln!(
                    md,
                    "| {} | {label} | {:.1} ({:.1}–{:.1}) | {wall_speedup} | {cpu} | \
                     {cpu_speedup} | {ins} | {ins_vs} |",
                    config.name(),
                    quantile(&wall, 0.5),
                    quantile(&wall, 0.25),
                    quantile(&wall, 0.75),
                );
            }
        }

        if let Some(ins) = self.instructions {
            md.push_str(
                "\nInstructions per benchmark, change vs plain (PGO / PGO+BOLT):\n\n\
                 | benchmark | input KB | Check | Debug | Opt |\n|---|---:|---:|---:|---:|\n",
            );
            for (b, bench) in self.benches.iter().enumerate() {
                let _ = write!(md, "| {} | {:.0} |", bench.name, bench.bytes as f64 / 1e3);
                for ((plain, pgo), bolt) in ins[0].iter().zip(&ins[1]).zip(&ins[2]) {
                    let base = plain[b] as f64;
                    let _ = write!(
                        md,
                        " {:+.1} % / {:+.1} % |",
                        (pgo[b] as f64 / base - 1.0) * 100.0,
                        (bolt[b] as f64 / base - 1.0) * 100.0
                    );
                }
                md.push('\n');
            }
        }
        let cpu_ms = |c: usize, p: usize, b: usize| {
            let v: Option<Vec<f64>> =
                self.wall[c][p][b].iter().map(|s| s.cpu.map(|d| d.as_secs_f64() * 1e3)).collect();
            v.map(|v| quantile(&sorted(v), 0.5))
        };
        if cpu_ms(0, 0, 0).is_some() {
            md.push_str(
                "\nCPU time per benchmark, speedup vs plain of the median compile \
                 (PGO / PGO+BOLT; noisy: one compile, not a suite, per sample):\n\n\
                 | benchmark | plain CPU ms Check / Debug / Opt | Check | Debug | Opt |\n\
                 |---|---:|---:|---:|---:|\n",
            );
            for (b, bench) in self.benches.iter().enumerate() {
                let plain: Vec<f64> =
                    (0..PROFILES.len()).map(|p| cpu_ms(0, p, b).unwrap_or(f64::NAN)).collect();
                let _ = write!(
                    md,
                    "| {} | {:.1} / {:.1} / {:.1} |",
                    bench.name, plain[0], plain[1], plain[2]
                );
                for (p, base) in plain.iter().enumerate() {
                    let pgo = cpu_ms(1, p, b).unwrap_or(f64::NAN);
                    let bolt = cpu_ms(2, p, b).unwrap_or(f64::NAN);
                    let _ = write!(md, " {:.2}× / {:.2}× |", base / pgo, base / bolt);
                }
                md.push('\n');
            }
        }
        md
    }

    fn json(&self) -> Value {
        let mut results = Vec::new();
        for (c, config) in CONFIGS.iter().enumerate() {
            for (p, profile) in PROFILES.iter().enumerate() {
                for (b, bench) in self.benches.iter().enumerate() {
                    results.push(json!({
                        "configuration": config.name(),
                        "profile": profile.name(),
                        "benchmark": bench.name,
                        "wall_ms": self.wall[c][p][b]
                            .iter()
                            .map(|s| s.wall.as_secs_f64() * 1e3)
                            .collect::<Vec<_>>(),
                        "cpu_ms": self.wall[c][p][b]
                            .iter()
                            .map(|s| s.cpu.map(|d| d.as_secs_f64() * 1e3))
                            .collect::<Vec<_>>(),
                        "instructions": self.instructions.map(|i| i[c][p][b]),
                    }));
                }
            }
        }
        json!({
            "host": self.host,
            "cpu": cpu_model(),
            "tools": self.tools,
            "reps": self.reps,
            "load_average": [self.load.0, self.load.1],
            "results": results,
        })
    }
}

fn save_results(markdown: &str, json: &Value) -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(WORKSPACE).join("target"));
    let dir = target.join("mini_compiler_speed");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("results.md"), markdown)?;
    let mut f = std::fs::File::create(dir.join("results.json"))?;
    serde_json::to_writer_pretty(&mut f, json)?;
    f.write_all(b"\n")?;
    eprintln!(
        "mini_compiler_speed: results saved in {}",
        dir.canonicalize().unwrap_or(dir.clone()).display()
    );
    Ok(())
}
