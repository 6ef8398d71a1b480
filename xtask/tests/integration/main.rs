//! The integration tests, one module per subject, in one test binary: cargo runs test binaries
//! one after another, so only within one binary does libtest keep every core busy (most tests
//! are single-threaded runs of the miniature tree), and the pipeline states several tests start
//! from ([`common::Snapshot`]) are made once per run.

mod common;

mod all_stages;
mod ci_recipe;
mod ci_workflows;
mod cli;
mod docs;
mod faults;
mod fit;
mod follow_master;
mod guides;
mod import;
mod in_tree;
mod interrupt;
mod layers;
mod portable;
mod real_tree;
mod reporting;
mod resume;
mod rustc_pgo;
mod seams;
mod streamed;
