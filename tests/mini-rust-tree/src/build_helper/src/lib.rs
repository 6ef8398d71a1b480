//! Stand-in for the tree's `src/build_helper`: the lists of rustc-perf benchmarks a PGO driver
//! trains with, where a real tree keeps them (rust 1.95.0's lists).

/// Benchmarks whose code generation exercises LLVM.
pub const LLVM_PGO_CRATES: &[&str] = &[
    "syn-2.0.101",
    "cargo-0.87.1",
    "serde-1.0.219",
    "ripgrep-14.1.1",
    "regex-automata-0.4.8",
    "clap_derive-4.5.32",
    "hyper-1.6.0",
];

/// Benchmarks that exercise the compiler's frontend.
pub const RUSTC_PGO_CRATES: &[&str] = &[
    "externs",
    "ctfe-stress-5",
    "cargo-0.87.1",
    "token-stream-stress",
    "match-stress",
    "tuple-stress",
    "diesel-2.2.10",
    "bitmaps-3.2.1",
    "serde-1.0.219-new-solver",
];
