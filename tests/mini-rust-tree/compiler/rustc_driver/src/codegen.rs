//! Codegen: lowering every function to IR, running libLLVM, and writing the object file.

use crate::ast::ItemKind;
use crate::incr::IncrCache;
use crate::interface::Compiled;
use crate::llvm;
use crate::lower::{lower_to_ir, LowerCx};
use crate::session::Session;
use std::io::Write;

pub struct CodegenOutput {
    pub object: Vec<u8>,
    pub reused: usize,
    pub compiled: usize,
    pub stats: [u64; 8],
}

fn hash_insts(name: &str, insts: &[llvm::Inst], opt_level: u8) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325 ^ opt_level as u64;
    let mut mix = |x: u64| {
        h ^= x;
        h = h.wrapping_mul(0x100000001b3);
        h ^= h >> 31;
    };
    for b in name.bytes() {
        mix(b as u64);
    }
    for i in insts {
        mix(i.op as u64);
        mix(i.dst as u64);
        mix(i.a as u64);
        mix(i.b as u64);
        mix(i.c as u64);
    }
    h
}

#[inline(never)]
pub fn codegen_crate(sess: &Session, c: &Compiled, crate_name: &str, incr: Option<&mut IncrCache>) -> CodegenOutput {
    let krate = &c.krate;
    // Function indices cover both local and extern functions.
    let mut fn_index = vec![u32::MAX; krate.items.len()];
    let mut names = Vec::new();
    for (i, item) in krate.items.iter().enumerate() {
        if matches!(item.kind, ItemKind::Fn(_) | ItemKind::ExternFn(_)) {
            fn_index[i] = names.len() as u32;
            names.push(krate.item_path(crate::ast::ItemId(i as u32), &c.interner));
        }
    }
    let cx = LowerCx { krate, res: &c.res, types: &c.types, consts: &c.consts, fn_index: &fn_index };
    let opt = sess.opts.opt_level;
    let mut module = llvm::Module::new(crate_name);
    // (symbol, code or index into module)
    let mut funcs: Vec<(String, Result<Vec<u8>, usize>, u64)> = Vec::new();
    let mut reused = 0;
    let mut compiled = 0;
    for (i, item) in krate.items.iter().enumerate() {
        if let ItemKind::Fn(decl) = &item.kind {
            let name = &names[fn_index[i] as usize];
            let (insts, nvregs, nparams) = lower_to_ir(&cx, decl);
            let h = hash_insts(name, &insts, opt);
            if let Some(code) = incr.as_ref().and_then(|ic| ic.lookup(name, h)) {
                funcs.push((name.clone(), Ok(code.to_vec()), h));
                reused += 1;
                continue;
            }
            let idx = module.add_function(name, &insts, nvregs, nparams);
            funcs.push((name.clone(), Err(idx), h));
            compiled += 1;
        }
    }
    if let Err(code) = module.run_passes(opt) {
        eprintln!("LLVM ERROR: pass pipeline failed with code {}", code);
        std::process::exit(101);
    }
    let stats = module.stats();

    // Object file: header, symbol table with code, checksum.
    let mut obj = Vec::new();
    obj.extend_from_slice(b"\x7fMOBJ\x01");
    let _ = write!(obj, "{}\0", crate_name);
    obj.extend_from_slice(&(funcs.len() as u32).to_le_bytes());
    let mut new_cache = IncrCache::default();
    for (name, code, h) in funcs {
        let code = match code {
            Ok(c) => c,
            Err(idx) => module.function_code(idx),
        };
        obj.extend_from_slice(name.as_bytes());
        obj.push(0);
        obj.extend_from_slice(&(code.len() as u32).to_le_bytes());
        obj.extend_from_slice(&code);
        new_cache.insert(name, h, code);
    }
    let mut sum: u32 = 0;
    for b in &obj {
        sum = sum.rotate_left(5) ^ *b as u32;
    }
    obj.extend_from_slice(&sum.to_le_bytes());
    if let Some(ic) = incr {
        *ic = new_cache;
    }
    CodegenOutput { object: obj, reused, compiled, stats }
}
