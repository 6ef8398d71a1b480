//! Just enough ELF to tell whether BOLT already rewrote a library.
//!
//! BOLT keeps the original code of a file it optimized in a `.bolt.org.text` section and
//! refuses to process such a file again, so that section is how "already optimized" is
//! recognized (LLVM's own build checks the same with `llvm-readobj -S`).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The section names of a 64-bit little-endian ELF file, from its header, section header
/// table and section name table only (a library is hundreds of megabytes).
pub fn section_names(path: &Path) -> Result<Vec<String>> {
    use std::os::unix::fs::FileExt;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let read_at = |at: usize, len: usize| {
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, at as u64).context("truncated").map(|()| buf)
    };
    parse_section_names(read_at)
        .with_context(|| format!("{} is not a 64-bit ELF file", path.display()))
}

/// Whether `path` starts like an ELF file (the packaged compiler also holds scripts and docs).
pub fn is_elf(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(file.read_exact(&mut magic).is_ok() && &magic == b"\x7fELF")
}

/// Sections only an instrumented build has: LLVM's PGO counters and data (`__llvm_prf_cnts`,
/// `__llvm_prf_data`, ...) and BOLT's instrumentation (`.bolt.instr.*`).
pub fn is_instrumentation_section(name: &str) -> bool {
    name.starts_with("__llvm_prf_") || name.starts_with(".bolt.instr")
}

/// What BOLT did to a file, from its sections: both its instrumented and its optimized output
/// keep the original code in `.bolt.org.text`; only the instrumented one has `.bolt.instr*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoltState {
    Untouched,
    Instrumented,
    Optimized,
}

pub fn bolt_state(path: &Path) -> Result<BoltState> {
    let names = section_names(path)?;
    Ok(if names.iter().any(|n| n.starts_with(".bolt.instr")) {
        BoltState::Instrumented
    } else if names.iter().any(|n| n == ".bolt.org.text") {
        BoltState::Optimized
    } else {
        BoltState::Untouched
    })
}

/// `read_at(offset, length)`: those bytes of the file.
fn parse_section_names(read_at: impl Fn(usize, usize) -> Result<Vec<u8>>) -> Result<Vec<String>> {
    let head = read_at(0, 64).context("no ELF64 header")?;
    if &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        bail!("no ELF64 little-endian header");
    }
    let u16_at = |data: &[u8], at: usize| -> Result<usize> {
        Ok(u16::from_le_bytes(data.get(at..at + 2).context("truncated")?.try_into()?) as usize)
    };
    let u64_at = |data: &[u8], at: usize| -> Result<usize> {
        Ok(u64::from_le_bytes(data.get(at..at + 8).context("truncated")?.try_into()?) as usize)
    };
    let entry_size = u16_at(&head, 0x3a)?;
    let count = u16_at(&head, 0x3c)?;
    let table = read_at(u64_at(&head, 0x28)?, count * entry_size)?;
    let names_header = u16_at(&head, 0x3e)? * entry_size;
    let names =
        read_at(u64_at(&table, names_header + 0x18)?, u64_at(&table, names_header + 0x20)?)?;
    (0..count)
        .map(|i| {
            let start = u32::from_le_bytes(
                table.get(i * entry_size..i * entry_size + 4).context("truncated")?.try_into()?,
            ) as usize;
            let rest = names.get(start..).context("bad section name offset")?;
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_section_names_of_a_real_binary() {
        let this_test = std::env::current_exe().unwrap();
        let names = section_names(&this_test).unwrap();
        assert!(names.iter().any(|n| n == ".text"), "{names:?}");
        assert_eq!(bolt_state(&this_test).unwrap(), BoltState::Untouched);
    }

    #[test]
    fn rejects_what_is_not_elf() {
        let script = b"#!/bin/sh\necho not elf, but long enough for an ELF header to be read...\n";
        let read_at = |at: usize, len: usize| {
            script.get(at..at + len).map(<[u8]>::to_vec).context("truncated")
        };
        assert!(parse_section_names(read_at).is_err());
    }
}
