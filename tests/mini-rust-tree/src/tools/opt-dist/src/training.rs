//! Stand-in for upstream's `src/tools/opt-dist/src/training.rs` at rustc 1.95.0 (fixture of the
//! miniature tree; not built). It holds what a driver reads from this file: the arguments the
//! tree's own opt-dist gives the rustc-perf collector. At 1.95.0 it runs one benchmark at a
//! time (no `--jobs`); upstream master adds a `--jobs` argument here.

pub fn collector_arguments(rustc: &str, cargo: &str, profiles: &str, scenarios: &str, crates: &str) -> Vec<String> {
    [
        "profile_local",
        "eprintln",
        rustc,
        "--id",
        "Test",
        "--cargo",
        cargo,
        "--profiles",
        profiles,
        "--scenarios",
        scenarios,
        "--exact-match",
        crates,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}
