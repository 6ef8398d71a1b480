//! Just enough ELF to tell whether BOLT already rewrote a library.
//!
//! BOLT keeps the original code of a file it optimized in a `.bolt.org.text` section and
//! refuses to process such a file again, so that section is how "already optimized" is
//! recognized (LLVM's own build checks the same with `llvm-readobj -S`).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The section names of a 64-bit little-endian ELF file.
pub fn section_names(path: &Path) -> Result<Vec<String>> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_section_names(&data)
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

/// Whether BOLT rewrote the file (instrumented or optimized): BOLT refuses its own output.
pub fn is_bolt_output(path: &Path) -> Result<bool> {
    Ok(bolt_state(path)? != BoltState::Untouched)
}

fn parse_section_names(data: &[u8]) -> Result<Vec<String>> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        bail!("no ELF64 little-endian header");
    }
    let u16_at = |at: usize| -> Result<u16> {
        Ok(u16::from_le_bytes(data.get(at..at + 2).context("truncated")?.try_into()?))
    };
    let u32_at = |at: usize| -> Result<u32> {
        Ok(u32::from_le_bytes(data.get(at..at + 4).context("truncated")?.try_into()?))
    };
    let u64_at = |at: usize| -> Result<usize> {
        Ok(u64::from_le_bytes(data.get(at..at + 8).context("truncated")?.try_into()?) as usize)
    };
    let section_headers = u64_at(0x28)?;
    let entry_size = u16_at(0x3a)? as usize;
    let count = u16_at(0x3c)? as usize;
    let names_index = u16_at(0x3e)? as usize;
    let header = |i: usize| section_headers + i * entry_size;
    let names_offset = u64_at(header(names_index) + 0x18)?;
    let names_size = u64_at(header(names_index) + 0x20)?;
    let names = data.get(names_offset..names_offset + names_size).context("truncated")?;
    (0..count)
        .map(|i| {
            let start = u32_at(header(i))? as usize;
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
        assert!(parse_section_names(b"#!/bin/sh\necho not elf\n").is_err());
    }
}
