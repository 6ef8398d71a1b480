//! Small utilities that know nothing of Rust, PGO or the pipeline: commands as data, files and
//! hashes, ELF sections, processes and signals.

pub mod cmd;
pub mod elf;
pub mod fs;
pub mod process;
pub mod sha256;
