//! FFI bindings to the mini libLLVM (see `src/llvm-project/llvm`).

use std::ffi::{c_char, c_int, CStr, CString};

/// One IR instruction; layout shared with `LLVMMiniInst` in `llvm-c/Mini.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Inst {
    pub op: i32,
    pub dst: i32,
    pub a: i64,
    pub b: i64,
    pub c: i64,
}

/// Opcodes; must match `LLVMMiniOpcode` in `llvm-c/Mini.h`.
pub mod op {
    pub const NOP: i32 = 0;
    pub const CONST: i32 = 1;
    pub const MOV: i32 = 2;
    pub const PARAM: i32 = 3;
    pub const ADD: i32 = 10;
    pub const SUB: i32 = 11;
    pub const MUL: i32 = 12;
    pub const DIV: i32 = 13;
    pub const REM: i32 = 14;
    pub const AND: i32 = 15;
    pub const OR: i32 = 16;
    pub const XOR: i32 = 17;
    pub const SHL: i32 = 18;
    pub const SHR: i32 = 19;
    pub const EQ: i32 = 20;
    pub const NE: i32 = 21;
    pub const LT: i32 = 22;
    pub const LE: i32 = 23;
    pub const GT: i32 = 24;
    pub const GE: i32 = 25;
    pub const NEG: i32 = 30;
    pub const NOT: i32 = 31;
    pub const BNOT: i32 = 32;
    pub const LABEL: i32 = 40;
    pub const JMP: i32 = 41;
    pub const BR: i32 = 42;
    pub const RETV: i32 = 43;
    pub const RET: i32 = 44;
    pub const ARG: i32 = 45;
    pub const CALL: i32 = 46;
    pub const TRAP: i32 = 47;
}

#[repr(C)]
pub struct LLVMMiniModule {
    _private: [u8; 0],
}

extern "C" {
    fn LLVMMiniVersionString() -> *const c_char;
    fn LLVMMiniModuleCreate(name: *const c_char) -> *mut LLVMMiniModule;
    fn LLVMMiniAddFunction(
        m: *mut LLVMMiniModule,
        name: *const c_char,
        insts: *const Inst,
        n: usize,
        nvregs: i32,
        nparams: i32,
    ) -> usize;
    fn LLVMMiniRunPasses(m: *mut LLVMMiniModule, opt_level: c_int) -> c_int;
    fn LLVMMiniGetFunctionCode(m: *mut LLVMMiniModule, idx: usize, out: *mut *const u8) -> usize;
    fn LLVMMiniGetStats(m: *mut LLVMMiniModule, stats: *mut u64);
    fn LLVMMiniModuleDispose(m: *mut LLVMMiniModule);
}

/// Version of the LLVM we are linked against, e.g. `22.1.8`.
pub fn version() -> String {
    unsafe { CStr::from_ptr(LLVMMiniVersionString()).to_string_lossy().into_owned() }
}

pub struct Module {
    raw: *mut LLVMMiniModule,
    count: usize,
}

impl Module {
    pub fn new(name: &str) -> Module {
        let c = CString::new(name).unwrap();
        let raw = unsafe { LLVMMiniModuleCreate(c.as_ptr()) };
        assert!(!raw.is_null(), "LLVMMiniModuleCreate failed");
        Module { raw, count: 0 }
    }
    pub fn add_function(&mut self, name: &str, insts: &[Inst], nvregs: i32, nparams: i32) -> usize {
        let c = CString::new(name).unwrap();
        self.count += 1;
        unsafe { LLVMMiniAddFunction(self.raw, c.as_ptr(), insts.as_ptr(), insts.len(), nvregs, nparams) }
    }
    pub fn run_passes(&mut self, opt_level: u8) -> Result<(), i32> {
        let r = unsafe { LLVMMiniRunPasses(self.raw, opt_level as c_int) };
        if r == 0 {
            Ok(())
        } else {
            Err(r)
        }
    }
    pub fn function_code(&self, idx: usize) -> Vec<u8> {
        let mut p: *const u8 = std::ptr::null();
        let n = unsafe { LLVMMiniGetFunctionCode(self.raw, idx, &mut p) };
        if p.is_null() {
            return Vec::new();
        }
        unsafe { std::slice::from_raw_parts(p, n).to_vec() }
    }
    pub fn stats(&self) -> [u64; 8] {
        let mut s = [0u64; 8];
        unsafe { LLVMMiniGetStats(self.raw, s.as_mut_ptr()) };
        s
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        unsafe { LLVMMiniModuleDispose(self.raw) }
    }
}
