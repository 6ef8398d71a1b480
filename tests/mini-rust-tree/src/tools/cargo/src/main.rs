//! Mini `cargo` tool: only reports its version.

const VERSION: &str = match option_env!("MINI_CFG_VERSION") {
    Some(v) => v,
    None => "0.0.0-mini",
};
const SHORT_HASH: &str = match option_env!("MINI_CFG_SHORT_HASH") {
    Some(v) => v,
    None => "unknown",
};
const COMMIT_DATE: &str = match option_env!("MINI_CFG_COMMIT_DATE") {
    Some(v) => v,
    None => "unknown",
};
const HOST: &str = match option_env!("MINI_CFG_HOST") {
    Some(v) => v,
    None => "unknown",
};

fn version_line() -> String {
    format!("cargo {} ({} {})", VERSION, SHORT_HASH, COMMIT_DATE)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose" || a == "-vV" || a == "-Vv");
    match args.iter().find(|a| !a.starts_with("-v") || a.as_str() == "-vV").map(|s| s.as_str()) {
        Some("--version") | Some("-V") | Some("-vV") | Some("-Vv") | Some("version") => {
            println!("{}", version_line());
            if verbose {
                println!("release: {}", VERSION.split('-').next().unwrap_or(VERSION));
                println!("host: {}", HOST);
            }
        }
        Some(other) => {
            eprintln!("error: the mini cargo only supports `--version` (got `{}`)", other);
            std::process::exit(1);
        }
        None => {
            println!("Rust's package manager (mini)\n\nUsage: cargo --version");
        }
    }
}
