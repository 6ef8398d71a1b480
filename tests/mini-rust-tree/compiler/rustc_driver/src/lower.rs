//! Lowering of typed function bodies to the flat three-address IR consumed by libLLVM.

use crate::ast::*;
use crate::ctfe::Value;
use crate::llvm::{op, Inst};
use crate::resolve::{Res, Resolutions};
use crate::typeck::TypeckResults;

pub struct LowerCx<'a> {
    pub krate: &'a Crate,
    pub res: &'a Resolutions,
    pub types: &'a TypeckResults,
    pub consts: &'a [Option<Value>],
    /// Function index of each item (functions and extern functions), or u32::MAX.
    pub fn_index: &'a [u32],
}

struct FnLower<'a, 'b> {
    cx: &'b LowerCx<'a>,
    insts: Vec<Inst>,
    next_vreg: i32,
    next_label: i64,
    locals: Vec<Vec<i32>>,
    base: u32,
}

impl<'a, 'b> FnLower<'a, 'b> {
    fn vreg(&mut self) -> i32 {
        self.next_vreg += 1;
        self.next_vreg - 1
    }
    fn label(&mut self) -> i64 {
        self.next_label += 1;
        self.next_label - 1
    }
    fn emit(&mut self, op: i32, dst: i32, a: i64, b: i64, c: i64) {
        self.insts.push(Inst { op, dst, a, b, c });
    }
    fn place_label(&mut self, l: i64) {
        self.emit(op::LABEL, -1, l, 0, 0);
    }
    fn konst(&mut self, v: i64) -> i32 {
        let r = self.vreg();
        self.emit(op::CONST, r, v, 0, 0);
        r
    }
    fn ty(&self, e: ExprId) -> &Ty {
        &self.cx.types.expr_ty[e.0 as usize]
    }
    /// Makes sure `vals` has exactly `n` registers (diverging expressions produce none).
    fn fit(&mut self, mut vals: Vec<i32>, n: usize) -> Vec<i32> {
        while vals.len() < n {
            let r = self.konst(0);
            vals.push(r);
        }
        vals.truncate(n);
        vals
    }
    fn local_slot(&self, l: LocalId) -> usize {
        (l.0 - self.base) as usize
    }
    fn bind_local(&mut self, l: LocalId, vals: Vec<i32>) {
        let n = self.cx.types.local_ty[l.0 as usize].flat_size();
        let vals = self.fit(vals, n);
        // Copy into fresh registers so later assignments don't clobber shared temporaries.
        let mut regs = Vec::with_capacity(n);
        for v in vals {
            let r = self.vreg();
            self.emit(op::MOV, r, v as i64, 0, 0);
            regs.push(r);
        }
        let s = self.local_slot(l);
        self.locals[s] = regs;
    }
    fn copy_into(&mut self, dst: &[i32], src: &[i32]) {
        if src.len() != dst.len() {
            return;
        }
        for (d, s) in dst.iter().zip(src) {
            self.emit(op::MOV, *d, *s as i64, 0, 0);
        }
    }

    fn lower_block(&mut self, b: BlockId) -> Vec<i32> {
        let block = self.cx.krate.block(b);
        for stmt in &block.stmts {
            match stmt {
                Stmt::Let { local, init, .. } => {
                    let v = self.lower_expr(*init);
                    self.bind_local(*local, v);
                }
                Stmt::Expr(e) | Stmt::Semi(e) => {
                    self.lower_expr(*e);
                }
            }
        }
        match block.tail {
            Some(t) => self.lower_expr(t),
            None => Vec::new(),
        }
    }

    fn pat_test(&mut self, p: &Pat, scrut: i32) -> Option<i32> {
        match p {
            Pat::Wild | Pat::Bind(..) => None,
            Pat::Int(v) => {
                let k = self.konst(*v);
                let r = self.vreg();
                self.emit(op::EQ, r, scrut as i64, k as i64, 0);
                Some(r)
            }
            Pat::Bool(b) => {
                let k = self.konst(*b as i64);
                let r = self.vreg();
                self.emit(op::EQ, r, scrut as i64, k as i64, 0);
                Some(r)
            }
            Pat::Range(lo, hi) => {
                let kl = self.konst(*lo);
                let kh = self.konst(*hi);
                let a = self.vreg();
                self.emit(op::GE, a, scrut as i64, kl as i64, 0);
                let b = self.vreg();
                self.emit(op::LE, b, scrut as i64, kh as i64, 0);
                let r = self.vreg();
                self.emit(op::AND, r, a as i64, b as i64, 0);
                Some(r)
            }
            Pat::Or(alts) => {
                let mut acc: Option<i32> = None;
                for a in alts {
                    match self.pat_test(a, scrut) {
                        None => return None,
                        Some(t) => {
                            acc = Some(match acc {
                                None => t,
                                Some(prev) => {
                                    let r = self.vreg();
                                    self.emit(op::OR, r, prev as i64, t as i64, 0);
                                    r
                                }
                            })
                        }
                    }
                }
                acc
            }
        }
    }

    #[inline(never)]
    fn lower_expr(&mut self, e: ExprId) -> Vec<i32> {
        let cx = self.cx;
        let expr = cx.krate.expr(e);
        match &expr.kind {
            ExprKind::Int(v) => vec![self.konst(*v)],
            ExprKind::Bool(b) => vec![self.konst(*b as i64)],
            ExprKind::Unit => Vec::new(),
            ExprKind::Path(_) => match cx.res.expr_res[e.0 as usize] {
                Res::Local(l) => {
                    let s = self.local_slot(l);
                    self.locals[s].clone()
                }
                Res::Const(id) => {
                    let mut flat = Vec::new();
                    if let Some(v) = &cx.consts[id.0 as usize] {
                        v.flatten(&mut flat);
                    }
                    let n = self.ty(e).flat_size();
                    let regs: Vec<i32> = flat.iter().map(|v| self.konst(*v)).collect();
                    self.fit(regs, n)
                }
                _ => Vec::new(),
            },
            ExprKind::Call(_, args) => {
                let mut argv = Vec::new();
                for a in args {
                    argv.extend(self.lower_expr(*a));
                }
                for a in &argv {
                    self.emit(op::ARG, -1, *a as i64, 0, 0);
                }
                let callee = match cx.res.expr_res[e.0 as usize] {
                    Res::Fn(id) => cx.fn_index[id.0 as usize] as i64,
                    _ => -1,
                };
                let nret = self.ty(e).flat_size();
                let first = self.next_vreg;
                for _ in 0..nret {
                    self.vreg();
                }
                self.emit(op::CALL, first, callee, nret as i64, argv.len() as i64);
                (first..first + nret as i32).collect()
            }
            ExprKind::Bin(bop, a, b) => {
                use BinOp::*;
                if matches!(bop, And | Or) {
                    let r = self.vreg();
                    let va = self.lower_expr(*a);
                    let va = self.fit(va, 1)[0];
                    let (l_rhs, l_short, l_end) = (self.label(), self.label(), self.label());
                    if *bop == And {
                        self.emit(op::BR, -1, va as i64, l_rhs, l_short);
                    } else {
                        self.emit(op::BR, -1, va as i64, l_short, l_rhs);
                    }
                    self.place_label(l_rhs);
                    let vb = self.lower_expr(*b);
                    let vb = self.fit(vb, 1)[0];
                    self.emit(op::MOV, r, vb as i64, 0, 0);
                    self.emit(op::JMP, -1, l_end, 0, 0);
                    self.place_label(l_short);
                    self.emit(op::CONST, r, (*bop == Or) as i64, 0, 0);
                    self.emit(op::JMP, -1, l_end, 0, 0);
                    self.place_label(l_end);
                    return vec![r];
                }
                let va = self.lower_expr(*a);
                let va = self.fit(va, 1)[0];
                let vb = self.lower_expr(*b);
                let vb = self.fit(vb, 1)[0];
                let o = match bop {
                    Add => op::ADD,
                    Sub => op::SUB,
                    Mul => op::MUL,
                    Div => op::DIV,
                    Rem => op::REM,
                    BitAnd => op::AND,
                    BitOr => op::OR,
                    BitXor => op::XOR,
                    Shl => op::SHL,
                    Shr => op::SHR,
                    Eq => op::EQ,
                    Ne => op::NE,
                    Lt => op::LT,
                    Le => op::LE,
                    Gt => op::GT,
                    Ge => op::GE,
                    And | Or => unreachable!(),
                };
                let r = self.vreg();
                self.emit(o, r, va as i64, vb as i64, 0);
                vec![r]
            }
            ExprKind::Un(uop, a) => {
                let is_bool = *self.ty(*a) == Ty::Bool;
                let va = self.lower_expr(*a);
                let va = self.fit(va, 1)[0];
                let o = match (uop, is_bool) {
                    (UnOp::Neg, _) => op::NEG,
                    (UnOp::Not, true) => op::NOT,
                    (UnOp::Not, false) => op::BNOT,
                };
                let r = self.vreg();
                self.emit(o, r, va as i64, 0, 0);
                vec![r]
            }
            ExprKind::Tuple(elems) => {
                let mut out = Vec::new();
                for x in elems {
                    let n = self.ty(*x).flat_size();
                    let v = self.lower_expr(*x);
                    out.extend(self.fit(v, n));
                }
                out
            }
            ExprKind::Field(base, idx) => {
                let bt = self.ty(*base).clone();
                let vals = self.lower_expr(*base);
                let n = bt.flat_size();
                let vals = self.fit(vals, n);
                if let Ty::Tuple(ts) = bt {
                    let start: usize = ts[..*idx as usize].iter().map(|t| t.flat_size()).sum();
                    let len = ts[*idx as usize].flat_size();
                    vals[start..start + len].to_vec()
                } else {
                    Vec::new()
                }
            }
            ExprKind::If(c, then, els) => {
                let n = self.ty(e).flat_size();
                let result: Vec<i32> = (0..n).map(|_| self.vreg()).collect();
                let vc = self.lower_expr(*c);
                let vc = self.fit(vc, 1)[0];
                let (lt, lf, lend) = (self.label(), self.label(), self.label());
                self.emit(op::BR, -1, vc as i64, lt, lf);
                self.place_label(lt);
                let tv = self.lower_block(*then);
                self.copy_into(&result, &tv);
                self.emit(op::JMP, -1, lend, 0, 0);
                self.place_label(lf);
                if let Some(els) = els {
                    let ev = self.lower_expr(*els);
                    self.copy_into(&result, &ev);
                }
                self.emit(op::JMP, -1, lend, 0, 0);
                self.place_label(lend);
                result
            }
            ExprKind::While(c, body) => {
                let (lhead, lbody, lexit) = (self.label(), self.label(), self.label());
                self.emit(op::JMP, -1, lhead, 0, 0);
                self.place_label(lhead);
                let vc = self.lower_expr(*c);
                let vc = self.fit(vc, 1)[0];
                self.emit(op::BR, -1, vc as i64, lbody, lexit);
                self.place_label(lbody);
                self.lower_block(*body);
                self.emit(op::JMP, -1, lhead, 0, 0);
                self.place_label(lexit);
                Vec::new()
            }
            ExprKind::Match(s, arms) => {
                let n = self.ty(e).flat_size();
                let result: Vec<i32> = (0..n).map(|_| self.vreg()).collect();
                let vs = self.lower_expr(*s);
                let vs = self.fit(vs, 1)[0];
                let lend = self.label();
                for arm in arms {
                    let (larm, lnext) = (self.label(), self.label());
                    match self.pat_test(&arm.pat, vs) {
                        Some(t) => self.emit(op::BR, -1, t as i64, larm, lnext),
                        None => self.emit(op::JMP, -1, larm, 0, 0),
                    }
                    self.place_label(larm);
                    if let Pat::Bind(_, l) = arm.pat {
                        self.bind_local(l, vec![vs]);
                    }
                    let v = self.lower_expr(arm.body);
                    self.copy_into(&result, &v);
                    self.emit(op::JMP, -1, lend, 0, 0);
                    self.place_label(lnext);
                }
                self.emit(op::TRAP, -1, 0, 0, 0);
                self.place_label(lend);
                result
            }
            ExprKind::Block(b) => self.lower_block(*b),
            ExprKind::Assign(_, rhs) => {
                let v = self.lower_expr(*rhs);
                if let Res::Local(l) = cx.res.expr_res[e.0 as usize] {
                    let s = self.local_slot(l);
                    let dst = self.locals[s].clone();
                    let v = self.fit(v, dst.len());
                    self.copy_into(&dst, &v);
                }
                Vec::new()
            }
            ExprKind::Return(v) => {
                let vals = match v {
                    Some(v) => {
                        let n = self.ty(*v).flat_size();
                        let vals = self.lower_expr(*v);
                        self.fit(vals, n)
                    }
                    None => Vec::new(),
                };
                for r in vals {
                    self.emit(op::RETV, -1, r as i64, 0, 0);
                }
                self.emit(op::RET, -1, 0, 0, 0);
                let dead = self.label();
                self.place_label(dead);
                Vec::new()
            }
        }
    }
}

/// Lowers one function body to IR. Returns (instructions, number of virtual registers, number of params).
#[inline(never)]
pub fn lower_to_ir(cx: &LowerCx<'_>, decl: &FnDecl) -> (Vec<Inst>, i32, i32) {
    let mut l = FnLower {
        cx,
        insts: Vec::new(),
        next_vreg: 0,
        next_label: 0,
        locals: vec![Vec::new(); (decl.locals.1 - decl.locals.0) as usize],
        base: decl.locals.0,
    };
    let entry = l.label();
    l.place_label(entry);
    let mut nparams = 0i64;
    for p in &decl.sig.params {
        let n = p.ty.flat_size();
        let mut regs = Vec::with_capacity(n);
        for _ in 0..n {
            let r = l.vreg();
            l.emit(op::PARAM, r, nparams, 0, 0);
            nparams += 1;
            regs.push(r);
        }
        let s = l.local_slot(p.local);
        l.locals[s] = regs;
    }
    let vals = l.lower_block(decl.body);
    let n = decl.sig.ret.flat_size();
    if vals.len() == n {
        for r in vals {
            l.emit(op::RETV, -1, r as i64, 0, 0);
        }
        l.emit(op::RET, -1, 0, 0, 0);
    } else {
        // Body ends in a diverging expression: the fallthrough is unreachable.
        l.emit(op::TRAP, -1, 0, 0, 0);
    }
    (l.insts, l.next_vreg, nparams as i32)
}
