//! `rustc_driver` of the mini Rust toolchain fixture.
//!
//! A small but real compiler for a tiny expression language: lexing, parsing, name resolution,
//! type checking, constant evaluation, lowering to an IR and "codegen" through libLLVM's
//! optimization passes. The `rustc`, `rustdoc` and `clippy-driver` binaries are thin launchers
//! around this dylib, mirroring the layout of the real toolchain.

pub mod ast;
pub mod codegen;
pub mod ctfe;
pub mod incr;
pub mod interface;
pub mod lexer;
pub mod llvm;
pub mod lower;
pub mod metadata;
pub mod parser;
pub mod resolve;
pub mod session;
pub mod typeck;

use session::{Emit, Options, Session};
use std::path::PathBuf;
use std::time::Instant;

/// Version information baked in by the mini bootstrap (x.py) at build time.
pub mod build_info {
    macro_rules! cfg_env {
        ($name:literal, $default:literal) => {
            match option_env!($name) {
                Some(v) => v,
                None => $default,
            }
        };
    }
    pub const RELEASE: &str = cfg_env!("MINI_CFG_RELEASE", "0.0.0");
    pub const VERSION: &str = cfg_env!("MINI_CFG_VERSION", "0.0.0-mini");
    pub const COMMIT_HASH: &str = cfg_env!("MINI_CFG_COMMIT_HASH", "unknown");
    pub const SHORT_HASH: &str = cfg_env!("MINI_CFG_SHORT_HASH", "unknown");
    pub const COMMIT_DATE: &str = cfg_env!("MINI_CFG_COMMIT_DATE", "unknown");
    pub const HOST: &str = cfg_env!("MINI_CFG_HOST", "unknown");
    pub const CHANNEL: &str = cfg_env!("MINI_CFG_CHANNEL", "dev");
}

/// `rustc 1.95.0-mini (59807616e 2026-04-14)`
pub fn version_line(tool: &str) -> String {
    format!("{} {} ({} {})", tool, build_info::VERSION, build_info::SHORT_HASH, build_info::COMMIT_DATE)
}

/// The `-vV` output, in the real rustc shape.
pub fn verbose_version(tool: &str) -> String {
    format!(
        "{}\nbinary: {}\ncommit-hash: {}\ncommit-date: {}\nhost: {}\nrelease: {}\nLLVM version: {}\n",
        version_line(tool),
        tool,
        build_info::COMMIT_HASH,
        build_info::COMMIT_DATE,
        build_info::HOST,
        build_info::RELEASE,
        llvm::version()
    )
}

const USAGE: &str = "Usage: rustc [OPTIONS] INPUT

Options:
    -h, --help          Display this message
        --emit [metadata|link]
                        Comma separated list of types of output for the compiler to emit
        --crate-name NAME
                        Specify the name of the crate being built
    -o FILENAME         Write output to <filename>
        --out-dir DIR   Write output to compiler-chosen filename in <dir>
    -O                  Equivalent to -C opt-level=3
    -C incremental=DIR  Enable incremental compilation
    -w                  Disable warnings
    -V, --version       Print version info and exit
    -v, --verbose       Use verbose output
";

/// Runs `f` on a thread with a large stack, like rustc does, turning panics into ICEs (exit 101).
pub fn run_on_big_stack<F: FnOnce() -> i32 + Send + 'static>(tool: &'static str, f: F) -> i32 {
    let handle = std::thread::Builder::new().name(tool.into()).stack_size(64 << 20).spawn(f).expect("spawn");
    match handle.join() {
        Ok(code) => code,
        Err(_) => {
            eprintln!("\nerror: the compiler unexpectedly panicked. this is a bug.\n");
            eprintln!("note: {}", version_line(tool));
            101
        }
    }
}

/// Reads the input file into a new session, reporting errors like rustc.
pub fn open_session(opts: Options, tool: &'static str) -> Result<Session, i32> {
    let input = match &opts.input {
        Some(i) => i.clone(),
        None => {
            eprintln!("error: no input filename given");
            return Err(1);
        }
    };
    let src = match std::fs::read_to_string(&input) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: couldn't read `{}`: {}", input.display(), e);
            eprintln!();
            eprintln!("error: aborting due to 1 previous error");
            return Err(1);
        }
    };
    Ok(Session::new(opts, input.display().to_string(), src, tool))
}

fn output_path(sess: &Session, crate_name: &str) -> PathBuf {
    if let Some(o) = &sess.opts.output {
        return o.clone();
    }
    let file = match sess.opts.emit {
        Emit::Metadata => format!("lib{}.rmeta", crate_name),
        Emit::Link => format!("{}.o", crate_name),
    };
    match &sess.opts.out_dir {
        Some(d) => d.join(file),
        None => PathBuf::from(file),
    }
}

fn compile(opts: Options) -> i32 {
    let time_passes = std::env::var_os("MINI_TIME_PASSES").is_some();
    let start = Instant::now();
    let mut sess = match open_session(opts, "rustc") {
        Ok(s) => s,
        Err(c) => return c,
    };
    let compiled = match interface::run_frontend(&mut sess) {
        Ok(c) => c,
        Err(()) => return 1,
    };
    let crate_name = sess.crate_name();
    let out = output_path(&sess, &crate_name);
    let mut timings = compiled.timings.clone();
    let bytes = match sess.opts.emit {
        Emit::Metadata => {
            let t = Instant::now();
            let m = metadata::encode_metadata(&compiled, &crate_name);
            timings.push(("metadata", t.elapsed()));
            m
        }
        Emit::Link => {
            let t = Instant::now();
            let mut cache = sess.opts.incremental.as_ref().map(|d| incr::IncrCache::load(d));
            let cg = codegen::codegen_crate(&sess, &compiled, &crate_name, cache.as_mut());
            if let (Some(cache), Some(dir)) = (&cache, &sess.opts.incremental) {
                if let Err(e) = cache.save(dir) {
                    eprintln!("warning: failed to write incremental cache in `{}`: {}", dir.display(), e);
                }
            }
            timings.push(("codegen", t.elapsed()));
            if time_passes {
                eprintln!(
                    "codegen: {} functions compiled, {} reused; stats {:?}",
                    cg.compiled, cg.reused, cg.stats
                );
            }
            cg.object
        }
    };
    if let Err(e) = std::fs::write(&out, bytes) {
        eprintln!("error: couldn't create a temp dir / write output `{}`: {}", out.display(), e);
        return 1;
    }
    if time_passes {
        for (name, d) in &timings {
            eprintln!("time: {:>8.3}ms\t{}", d.as_secs_f64() * 1000.0, name);
        }
        eprintln!("time: {:>8.3}ms\ttotal ({} ctfe steps)", start.elapsed().as_secs_f64() * 1000.0, compiled.ctfe_steps);
    }
    if sess.warn_count > 0 {
        eprintln!(
            "warning: `{}` generated {} warning{}",
            crate_name,
            sess.warn_count,
            if sess.warn_count == 1 { "" } else { "s" }
        );
    }
    0
}

/// Entry point of the `rustc` binary (arguments without the program name).
pub fn run_compiler(args: Vec<String>) -> i32 {
    let opts = match session::parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}", e);
            return 1;
        }
    };
    if opts.help {
        print!("{}", USAGE);
        return 0;
    }
    match opts.version {
        1 => {
            println!("{}", version_line("rustc"));
            return 0;
        }
        2 => {
            print!("{}", verbose_version("rustc"));
            return 0;
        }
        _ => {}
    }
    run_on_big_stack("rustc", move || compile(opts))
}

/// `rustc_driver::main()`, called by the `rustc` binary.
pub fn main() -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = run_compiler(args);
    std::process::exit(code)
}
