//! A tiny incremental-compilation cache: per-function IR hash -> machine code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct IncrCache {
    entries: HashMap<String, (u64, Vec<u8>)>,
}

fn cache_file(dir: &Path) -> PathBuf {
    dir.join("mini-incr.bin")
}

impl IncrCache {
    pub fn load(dir: &Path) -> IncrCache {
        let mut c = IncrCache::default();
        let data = match std::fs::read(cache_file(dir)) {
            Ok(d) => d,
            Err(_) => return c,
        };
        let mut pos = 0;
        let rd_u32 = |p: &mut usize| -> Option<u32> {
            let v = u32::from_le_bytes(data.get(*p..*p + 4)?.try_into().ok()?);
            *p += 4;
            Some(v)
        };
        let rd_u64 = |p: &mut usize| -> Option<u64> {
            let v = u64::from_le_bytes(data.get(*p..*p + 8)?.try_into().ok()?);
            *p += 8;
            Some(v)
        };
        if data.get(0..8) != Some(b"MINIINC1") {
            return c;
        }
        pos += 8;
        let n = match rd_u32(&mut pos) {
            Some(n) => n,
            None => return c,
        };
        for _ in 0..n {
            let Some(nl) = rd_u32(&mut pos) else { return IncrCache::default() };
            let Some(name) = data.get(pos..pos + nl as usize) else { return IncrCache::default() };
            pos += nl as usize;
            let Some(h) = rd_u64(&mut pos) else { return IncrCache::default() };
            let Some(cl) = rd_u32(&mut pos) else { return IncrCache::default() };
            let Some(code) = data.get(pos..pos + cl as usize) else { return IncrCache::default() };
            pos += cl as usize;
            c.entries.insert(String::from_utf8_lossy(name).into_owned(), (h, code.to_vec()));
        }
        c
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut out = Vec::new();
        out.extend_from_slice(b"MINIINC1");
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        let mut names: Vec<&String> = self.entries.keys().collect();
        names.sort();
        for name in names {
            let (h, code) = &self.entries[name];
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&h.to_le_bytes());
            out.extend_from_slice(&(code.len() as u32).to_le_bytes());
            out.extend_from_slice(code);
        }
        std::fs::write(cache_file(dir), out)
    }

    pub fn lookup(&self, name: &str, hash: u64) -> Option<&[u8]> {
        match self.entries.get(name) {
            Some((h, code)) if *h == hash => Some(code),
            _ => None,
        }
    }

    pub fn insert(&mut self, name: String, hash: u64, code: Vec<u8>) {
        self.entries.insert(name, (hash, code));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
