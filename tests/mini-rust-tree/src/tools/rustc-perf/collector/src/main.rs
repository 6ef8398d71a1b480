//! Mini `collector` of the rustc-perf fixture.
//!
//! Supports only `profile_local eprintln <rustc> ...`: runs the given compiler over the selected
//! compile benchmarks for each profile and scenario, passing stderr through. The environment is
//! passed to the compiler unchanged (so `LLVM_PROFILE_FILE` is honoured).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};

const RECORD_ENV_KEYS: &[&str] =
    &["LLVM_PROFILE_DIR", "LLVM_PROFILE_FILE", "RUSTC", "RUSTC_BOOTSTRAP", "RUST_BACKTRACE", "CARGO_TARGET_DIR"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    Check,
    Debug,
    Opt,
    Doc,
    /// `cargo clippy`: the clippy driver checks the crate (like `Check`, plus its lints).
    Clippy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Full,
    IncrFull,
    IncrUnchanged,
    IncrPatched,
}

struct Args {
    rustc: PathBuf,
    id: String,
    cargo: PathBuf,
    profiles: Vec<Profile>,
    scenarios: Vec<Scenario>,
    exact_match: Option<Vec<String>>,
    jobs: usize,
    cargo_configs: Vec<PathBuf>,
    /// The `clippy-driver` for the `Clippy` profile (default: the one next to `<RUSTC>`).
    clippy: Option<PathBuf>,
}

fn usage_error(msg: String) -> String {
    format!("error: {}\n\nUsage: collector profile_local eprintln <RUSTC> --id <ID> --cargo <CARGO> --profiles <PROFILES> --scenarios <SCENARIOS> --exact-match <BENCHMARKS> [--jobs <N>] [--clippy <CLIPPY_DRIVER>] [--cargo-config <FILE>]...", msg)
}

fn parse_list<T>(flag: &str, value: &str, f: impl Fn(&str) -> Option<Vec<T>>) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match f(part) {
            Some(v) => out.extend(v),
            None => return Err(usage_error(format!("invalid value '{}' for '{} <{}>'", part, flag, flag.trim_start_matches("--").to_uppercase()))),
        }
    }
    if out.is_empty() {
        return Err(usage_error(format!("a value is required for '{}'", flag)));
    }
    Ok(out)
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    match args.first().map(String::as_str) {
        Some("profile_local") => {}
        Some(other) => return Err(usage_error(format!("unrecognized subcommand '{}' (the mini collector only supports `profile_local`)", other))),
        None => return Err(usage_error("a subcommand is required".into())),
    }
    match args.get(1).map(String::as_str) {
        Some("eprintln") => {}
        Some(other) => return Err(usage_error(format!("invalid value '{}' for '<PROFILER>' (the mini collector only supports `eprintln`)", other))),
        None => return Err(usage_error("the following required arguments were not provided: <PROFILER> <RUSTC>".into())),
    }
    let rustc = match args.get(2) {
        Some(r) if !r.starts_with("--") => PathBuf::from(r),
        _ => return Err(usage_error("the following required arguments were not provided: <RUSTC>".into())),
    };
    let mut id = None;
    let mut cargo = None;
    let mut profiles = None;
    let mut scenarios = None;
    let mut exact_match = None;
    let mut jobs = 1usize;
    let mut cargo_configs = Vec::new();
    let mut clippy = None;
    let mut i = 3;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (args[i].clone(), None),
        };
        let known = ["--id", "--cargo", "--profiles", "--scenarios", "--exact-match", "--jobs", "--clippy", "--cargo-config"];
        if !known.contains(&flag.as_str()) {
            return Err(usage_error(format!("unexpected argument '{}' found", args[i])));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                match args.get(i) {
                    Some(v) => v.clone(),
                    None => return Err(usage_error(format!("a value is required for '{}' but none was supplied", flag))),
                }
            }
        };
        match flag.as_str() {
            "--id" => id = Some(value),
            "--cargo" => cargo = Some(PathBuf::from(value)),
            "--profiles" => {
                profiles = Some(parse_list(&flag, &value, |p| {
                    Some(vec![match p {
                        "Check" => Profile::Check,
                        "Debug" => Profile::Debug,
                        "Opt" => Profile::Opt,
                        "Doc" => Profile::Doc,
                        "Clippy" => Profile::Clippy,
                        _ => return None,
                    }])
                })?)
            }
            "--scenarios" => {
                scenarios = Some(parse_list(&flag, &value, |s| {
                    Some(match s {
                        "All" => vec![Scenario::Full, Scenario::IncrFull, Scenario::IncrUnchanged, Scenario::IncrPatched],
                        "Full" => vec![Scenario::Full],
                        "IncrFull" => vec![Scenario::IncrFull],
                        "IncrUnchanged" => vec![Scenario::IncrUnchanged],
                        "IncrPatched" => vec![Scenario::IncrPatched],
                        _ => return None,
                    })
                })?)
            }
            "--exact-match" => exact_match = Some(value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
            "--jobs" => {
                jobs = value.parse().map_err(|_| usage_error(format!("invalid value '{}' for '--jobs <N>'", value)))?;
                jobs = jobs.max(1);
            }
            "--cargo-config" => cargo_configs.push(PathBuf::from(value)),
            "--clippy" => clippy = Some(PathBuf::from(value)),
            _ => unreachable!(),
        }
        i += 1;
    }
    let cargo = cargo.ok_or_else(|| usage_error("the following required arguments were not provided: --cargo <CARGO>".into()))?;
    let mut scenarios = scenarios.unwrap_or_else(|| vec![Scenario::Full, Scenario::IncrFull, Scenario::IncrUnchanged, Scenario::IncrPatched]);
    scenarios.dedup();
    Ok(Args {
        rustc,
        id: id.unwrap_or_else(|| "Test".into()),
        cargo,
        profiles: profiles.unwrap_or_else(|| vec![Profile::Check, Profile::Debug, Profile::Opt]),
        scenarios,
        exact_match,
        jobs,
        cargo_configs,
        clippy,
    })
}

/// Directory holding the compile benchmarks, and the root of the mini rust tree.
fn locate() -> (PathBuf, Option<PathBuf>) {
    let from_cwd = PathBuf::from("collector/compile-benchmarks");
    let bench_dir = if from_cwd.is_dir() {
        std::fs::canonicalize(&from_cwd).unwrap_or(from_cwd)
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compile-benchmarks")
    };
    // compile-benchmarks -> collector -> rustc-perf -> tools -> src -> <root>
    let root = bench_dir.ancestors().nth(5).map(Path::to_path_buf).filter(|r| r.join("x.py").is_file());
    (bench_dir, root)
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn append_record(root: &Path, args: &[String], exit: i32) {
    let mut env = Vec::new();
    for k in RECORD_ENV_KEYS {
        if let Ok(v) = std::env::var(k) {
            env.push(format!("{}: {}", json_str(k), json_str(&v)));
        }
    }
    let argv: Vec<String> = args.iter().map(|a| json_str(a)).collect();
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    let line = format!(
        "{{\"argv\": [{}], \"cwd\": {}, \"env\": {{{}}}, \"exit\": {}, \"tool\": \"collector\"}}\n",
        argv.join(", "),
        json_str(&cwd),
        env.join(", "),
        exit
    );
    let dir = root.join(".mini-tree");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("record.jsonl")) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Reads `perf-config.json`'s integer field `key` (a tiny, forgiving scan; no JSON crate).
fn config_int(text: &str, key: &str) -> Option<i64> {
    let pos = text.find(&format!("\"{}\"", key))?;
    let rest = &text[pos + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Expands a benchmark's seed into the crate source that gets compiled.
fn generate_input(bench: &Path) -> Result<String, String> {
    let seed = std::fs::read_to_string(bench.join("src/lib.mini"))
        .map_err(|e| format!("cannot read {}: {}", bench.join("src/lib.mini").display(), e))?;
    let config = std::fs::read_to_string(bench.join("perf-config.json")).unwrap_or_default();
    let copies = config_int(&config, "copies").unwrap_or(1).max(1);
    if copies == 1 {
        return Ok(seed);
    }
    let mut out = String::with_capacity(seed.len() * copies as usize + 64 * copies as usize);
    for i in 0..copies {
        let _ = writeln!(out, "/// Copy {} of the benchmark crate.\nmod copy_{} {{", i, i);
        out.push_str(&seed);
        out.push_str("\n}\n");
    }
    Ok(out)
}

struct Job<'a> {
    args: &'a Args,
    name: String,
    dir: PathBuf,
    tmp_root: PathBuf,
}

fn run_compiler(cmd: &mut Command, what: &str) -> Result<(), String> {
    cmd.stdin(Stdio::null());
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{} failed: {}", what, s)),
        Err(e) => Err(format!("could not execute {}: {}", what, e)),
    }
}

fn profile_benchmark(job: &Job) -> Result<(), String> {
    let args = job.args;
    let tmp = job.tmp_root.join(format!("{}-{}", std::process::id(), job.name));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {}", tmp.display(), e))?;
    let result = (|| {
        let source = generate_input(&job.dir)?;
        let crate_name = job.name.replace(['-', '.'], "_");
        for &profile in &args.profiles {
            // The build driver runs once per build, like cargo does.
            let mut cargo = Command::new(&args.cargo);
            cargo.arg("--version").stdout(Stdio::null());
            run_compiler(&mut cargo, &format!("`{} --version`", args.cargo.display()))?;

            let work = tmp.join(format!("{:?}", profile).to_lowercase());
            std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
            let src = work.join("lib.mini");
            std::fs::write(&src, &source).map_err(|e| e.to_string())?;
            let incr = work.join("incremental");
            let mut incr_ready = false;
            for &scenario in &args.scenarios {
                let needs_base = matches!(scenario, Scenario::IncrUnchanged | Scenario::IncrPatched);
                if needs_base && !incr_ready {
                    // Like rustc-perf: incremental scenarios start from an IncrFull build.
                    compile_once(job, profile, Scenario::IncrFull, &src, &work, &incr, &crate_name, false)?;
                }
                if scenario == Scenario::IncrPatched {
                    let mut patched = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
                    patched.push_str("\n/// Added by the IncrPatched scenario.\nfn perf_patched_fn(x: int) -> int { x * 3 + 1 }\n");
                    std::fs::write(&src, patched).map_err(|e| e.to_string())?;
                }
                compile_once(job, profile, scenario, &src, &work, &incr, &crate_name, true)?;
                if scenario == Scenario::IncrFull || needs_base {
                    incr_ready = true;
                }
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

#[allow(clippy::too_many_arguments)]
fn compile_once(
    job: &Job,
    profile: Profile,
    scenario: Scenario,
    src: &Path,
    work: &Path,
    incr: &Path,
    crate_name: &str,
    announce: bool,
) -> Result<(), String> {
    let args = job.args;
    if announce {
        println!("Profiling {} ({:?}, {:?}) [{}]", job.name, profile, scenario, args.id);
    }
    if scenario == Scenario::IncrFull {
        let _ = std::fs::remove_dir_all(incr);
    }
    let mut cmd;
    if profile == Profile::Doc {
        let rustdoc = args.rustc.with_file_name("rustdoc");
        cmd = Command::new(&rustdoc);
        cmd.arg("--crate-name").arg(crate_name).arg("-o").arg(work.join("doc")).arg(src);
    } else if profile == Profile::Clippy {
        let clippy = args.clippy.clone().unwrap_or_else(|| args.rustc.with_file_name("clippy-driver"));
        cmd = Command::new(&clippy);
        cmd.arg("--crate-name").arg(crate_name).arg("--emit=metadata").arg("--out-dir").arg(work).arg(src);
    } else {
        cmd = Command::new(&args.rustc);
        cmd.arg("--crate-name").arg(crate_name);
        match profile {
            Profile::Check => {
                cmd.arg("--emit=metadata");
            }
            Profile::Opt => {
                cmd.arg("-O");
            }
            _ => {}
        }
        if scenario != Scenario::Full && profile != Profile::Check {
            cmd.arg("-C").arg(format!("incremental={}", incr.display()));
        }
        cmd.arg("--out-dir").arg(work).arg(src);
    }
    cmd.current_dir(work);
    run_compiler(&mut cmd, &format!("{:?} {:?} build", profile, scenario))
}

/// Fault injection: a raw profile that no tool can read, named like one of a process that has
/// ended, beside the training's (`LLVM_PROFILE_FILE`'s directory), as a process killed while it
/// wrote its profile leaves; then time for the driver to notice before the next benchmark.
fn write_corrupt_profile() {
    let Some(dir) = std::env::var_os("LLVM_PROFILE_FILE").map(PathBuf::from) else { return };
    let ended = std::process::Command::new("true").spawn().and_then(|mut c| c.wait().map(|_| c.id()));
    let pid = ended.unwrap_or(1);
    let file = dir.parent().unwrap().join(format!("default_1_{pid}.profraw"));
    let _ = std::fs::write(&file, b"not a raw profile: written by MINI_TREE_FAULT=corrupt-profile");
    eprintln!("collector: wrote the corrupt raw profile {} (MINI_TREE_FAULT=corrupt-profile)", file.display());
    std::thread::sleep(std::time::Duration::from_secs(2));
}

fn real_main(raw: &[String]) -> Result<(), String> {
    // Fault injection for the driver's tests: a benchmark run that fails.
    if std::env::var("MINI_TREE_FAULT").as_deref() == Ok("collector") {
        return Err("error: injected failure of the collector (MINI_TREE_FAULT=collector)".into());
    }
    let args = parse_args(raw)?;
    let (bench_dir, root) = locate();
    if !args.rustc.exists() {
        return Err(format!("error: rustc `{}` does not exist", args.rustc.display()));
    }
    if !args.cargo.exists() {
        return Err(format!("error: cargo `{}` does not exist", args.cargo.display()));
    }
    for c in &args.cargo_configs {
        if !c.is_file() {
            return Err(format!("error: cargo config file `{}` does not exist", c.display()));
        }
    }
    let mut available: Vec<String> = std::fs::read_dir(&bench_dir)
        .map_err(|e| format!("error: cannot read benchmark directory {}: {}", bench_dir.display(), e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("src/lib.mini").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    available.sort();
    let selected = match &args.exact_match {
        Some(names) => {
            for n in names {
                if !available.contains(n) {
                    return Err(format!(
                        "error: benchmark '{}' does not exist (--exact-match); available benchmarks: {}",
                        n,
                        available.join(", ")
                    ));
                }
            }
            names.clone()
        }
        None => available,
    };
    let tmp_root = match &root {
        Some(r) => r.join(".mini-tree").join("collector-tmp"),
        None => std::env::temp_dir().join("mini-collector"),
    };
    // (position, name): the position is printed as the real collector does, `(i/n)`.
    let queue: Arc<Mutex<VecDeque<(usize, String)>>> =
        Arc::new(Mutex::new(selected.iter().cloned().enumerate().collect()));
    let total = selected.len();
    let failures: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..args.jobs.min(selected.len().max(1)) {
            let queue = Arc::clone(&queue);
            let failures = Arc::clone(&failures);
            let args = &args;
            let bench_dir = &bench_dir;
            let tmp_root = &tmp_root;
            s.spawn(move || loop {
                let (position, name) = match queue.lock().unwrap().pop_front() {
                    Some(item) => item,
                    None => break,
                };
                let benchmark_id = format!("{} ({}/{})", name, position + 1, total);
                eprintln!("Executing benchmark {}", benchmark_id);
                let job = Job { args, dir: bench_dir.join(&name), name: name.clone(), tmp_root: tmp_root.clone() };
                let result = profile_benchmark(&job);
                eprintln!("Finished benchmark {}", benchmark_id);
                if position == 0 && std::env::var("MINI_TREE_FAULT").as_deref() == Ok("corrupt-profile") {
                    write_corrupt_profile();
                }
                if let Err(e) = result {
                    eprintln!("collector error: Failed to profile '{}' with Eprintln: {}", name, e);
                    failures.lock().unwrap().push(name);
                }
            });
        }
    });
    let failures = failures.lock().unwrap();
    if !failures.is_empty() {
        return Err(format!("error: {} benchmark(s) failed: {}", failures.len(), failures.join(", ")));
    }
    println!("Finished profiling {} benchmark(s)", selected.len());
    Ok(())
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let (_, root) = locate();
    let code = match real_main(&raw) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{}", e);
            1
        }
    };
    if let Some(root) = root {
        append_record(&root, &raw, code);
    }
    ExitCode::from(code as u8)
}
