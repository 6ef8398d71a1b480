//! Crate metadata (`.rmeta`): item signatures and constant values.

use crate::ast::{ItemId, ItemKind};
use crate::interface::Compiled;
use std::fmt::Write;

fn sig_string(sig: &crate::ast::FnSig) -> String {
    let params: Vec<String> = sig.params.iter().map(|p| p.ty.display()).collect();
    format!("({}) -> {}", params.join(", "), sig.ret.display())
}

#[inline(never)]
pub fn encode_metadata(c: &Compiled, crate_name: &str) -> Vec<u8> {
    let mut out = String::new();
    let _ = writeln!(out, "rust-mini-metadata 1");
    let _ = writeln!(out, "crate {}", crate_name);
    let mut lines = Vec::new();
    for (i, item) in c.krate.items.iter().enumerate() {
        let path = c.krate.item_path(ItemId(i as u32), &c.interner);
        let line = match &item.kind {
            ItemKind::Fn(d) => format!("fn {}{}", path, sig_string(&d.sig)),
            ItemKind::ExternFn(s) => format!("extern fn {}{}", path, sig_string(s)),
            ItemKind::Const { ty, .. } => {
                let v = c.consts[i].as_ref().map(|v| v.display()).unwrap_or_else(|| "?".into());
                format!("const {}: {} = {}", path, ty.display(), v)
            }
            ItemKind::Mod(_) => format!("mod {}", path),
        };
        lines.push(line);
    }
    lines.sort();
    let mut h: u64 = 0xcbf29ce484222325;
    for l in &lines {
        out.push_str(l);
        out.push('\n');
        for b in l.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    let _ = writeln!(out, "svh {:016x}", h);
    out.into_bytes()
}
