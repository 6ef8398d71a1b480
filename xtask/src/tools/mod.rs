//! The tools the pipeline drives, each knowing its own command line and output. They build
//! commands and read results; they run nothing on their own and know nothing of stages (see
//! docs/contributing.md, "The layers").

pub mod bolt;
pub mod bootstrap;
pub mod collector;
pub mod fit;
pub mod llvm;
pub mod metrics;
pub mod profiles;
pub mod streaming;
pub mod tree;
