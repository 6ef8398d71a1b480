//! The tools the pipeline drives, each knowing its own command line and output: the rust tree
//! and its bootstrap (`x.py`), the LLVM tools (`llvm-profdata`), BOLT (`llvm-bolt`,
//! `merge-fdata`) and rustc-perf's collector; the profiles they make, and whether a profile fits
//! the binary built with it (`llvm-nm`, llvm-bolt's own figures). They build commands
//! ([`crate::util::cmd::Cmd`]) and read results; they run nothing on their own and know
//! nothing of stages.

pub mod bolt;
pub mod bootstrap;
pub mod collector;
pub mod fit;
pub mod llvm;
pub mod metrics;
pub mod profiles;
pub mod streaming;
pub mod tree;
