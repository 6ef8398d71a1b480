//! Type checking, including match exhaustiveness and reachability analysis.

use crate::ast::*;
use crate::resolve::{Res, Resolutions};
use crate::session::Diag;

pub struct TypeckResults {
    pub expr_ty: Vec<Ty>,
    pub local_ty: Vec<Ty>,
}

struct Checker<'a> {
    krate: &'a Crate,
    res: &'a Resolutions,
    out: TypeckResults,
    errors: Vec<Diag>,
    ret_ty: Ty,
}

fn compatible(found: &Ty, expected: &Ty) -> bool {
    match (found, expected) {
        (Ty::Never, _) | (_, Ty::Never) | (Ty::Err, _) | (_, Ty::Err) => true,
        (Ty::Tuple(a), Ty::Tuple(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| compatible(x, y)),
        _ => found == expected,
    }
}

/// Closed integer intervals covered by a pattern (for int scrutinees).
fn pat_intervals(p: &Pat, out: &mut Vec<(i64, i64)>) -> bool {
    match p {
        Pat::Wild | Pat::Bind(..) => {
            out.push((i64::MIN, i64::MAX));
            true
        }
        Pat::Int(v) => {
            out.push((*v, *v));
            true
        }
        Pat::Range(a, b) => {
            out.push((*a, *b));
            true
        }
        Pat::Bool(_) => false,
        Pat::Or(alts) => alts.iter().all(|a| pat_intervals(a, out)),
    }
}

/// Does the union of `covered` include every value of `[lo, hi]`?
fn covers(covered: &mut [(i64, i64)], lo: i64, hi: i64) -> bool {
    covered.sort_unstable();
    let mut next = lo;
    for &(a, b) in covered.iter() {
        if b < next {
            continue;
        }
        if a > next {
            return false;
        }
        if b >= hi {
            return true;
        }
        next = b + 1;
    }
    false
}

impl<'a> Checker<'a> {
    fn mismatch(&mut self, expected: &Ty, found: &Ty, span: Span) {
        self.errors.push(
            Diag::error(format!("mismatched types: expected `{}`, found `{}`", expected.display(), found.display()), span)
                .code("E0308"),
        );
    }

    fn expect(&mut self, e: ExprId, expected: &Ty) -> Ty {
        let t = self.check_expr(e, Some(expected));
        if !compatible(&t, expected) {
            let span = self.krate.expr(e).span;
            self.mismatch(expected, &t, span);
        }
        t
    }

    fn check_block(&mut self, b: BlockId, expected: Option<&Ty>) -> Ty {
        let block = self.krate.block(b);
        let mut diverges = false;
        for stmt in &block.stmts {
            match stmt {
                Stmt::Let { local, ty, init, .. } => {
                    let t = match ty {
                        Some(ty) => {
                            let ty = ty.clone();
                            let t = self.expect(*init, &ty);
                            if t == Ty::Never {
                                diverges = true;
                            }
                            ty
                        }
                        None => self.check_expr(*init, None),
                    };
                    if t == Ty::Never {
                        diverges = true;
                    }
                    self.out.local_ty[local.0 as usize] = t;
                }
                Stmt::Expr(e) => {
                    let t = self.check_expr(*e, Some(&Ty::Unit));
                    if t == Ty::Never {
                        diverges = true;
                    } else if !compatible(&t, &Ty::Unit) {
                        let span = self.krate.expr(*e).span;
                        self.mismatch(&Ty::Unit, &t, span);
                    }
                }
                Stmt::Semi(e) => {
                    if self.check_expr(*e, None) == Ty::Never {
                        diverges = true;
                    }
                }
            }
        }
        match block.tail {
            Some(t) => {
                let ty = self.check_expr(t, expected);
                if diverges && ty != Ty::Never && expected.is_some() {
                    // Unreachable tail after `return`: the block still has the tail's type.
                }
                ty
            }
            None if diverges => Ty::Never,
            None => Ty::Unit,
        }
    }

    fn check_pat(&mut self, p: &Pat, scrut: &Ty, span: Span) {
        match p {
            Pat::Wild => {}
            Pat::Bind(_, local) => self.out.local_ty[local.0 as usize] = scrut.clone(),
            Pat::Int(_) | Pat::Range(..) => {
                if !compatible(scrut, &Ty::Int) {
                    self.mismatch(scrut, &Ty::Int, span);
                }
            }
            Pat::Bool(_) => {
                if !compatible(scrut, &Ty::Bool) {
                    self.mismatch(scrut, &Ty::Bool, span);
                }
            }
            Pat::Or(alts) => {
                for a in alts {
                    self.check_pat(a, scrut, span);
                }
            }
        }
    }

    /// Exhaustiveness and reachability of the arms of a `match`.
    #[inline(never)]
    fn check_match_arms(&mut self, scrut: &Ty, arms: &[Arm], span: Span) {
        match scrut {
            Ty::Bool => {
                let (mut t, mut f) = (false, false);
                for arm in arms {
                    let (mut at, mut af) = (false, false);
                    fn walk(p: &Pat, at: &mut bool, af: &mut bool) {
                        match p {
                            Pat::Wild | Pat::Bind(..) => {
                                *at = true;
                                *af = true
                            }
                            Pat::Bool(true) => *at = true,
                            Pat::Bool(false) => *af = true,
                            Pat::Or(alts) => alts.iter().for_each(|a| walk(a, at, af)),
                            _ => {}
                        }
                    }
                    walk(&arm.pat, &mut at, &mut af);
                    if (!at || t) && (!af || f) {
                        self.errors.push(Diag::warning("unreachable pattern".into(), arm.span));
                    }
                    t |= at;
                    f |= af;
                }
                if !(t && f) {
                    let missing = if t { "false" } else { "true" };
                    self.errors.push(
                        Diag::error(format!("non-exhaustive patterns: `{}` not covered", missing), span).code("E0004"),
                    );
                }
            }
            Ty::Int => {
                let mut covered: Vec<(i64, i64)> = Vec::new();
                let mut mine = Vec::new();
                for arm in arms {
                    mine.clear();
                    if !pat_intervals(&arm.pat, &mut mine) {
                        continue;
                    }
                    let mut reachable = false;
                    for &(lo, hi) in &mine {
                        let mut scratch = covered.clone();
                        if !covers(&mut scratch, lo, hi) {
                            reachable = true;
                            break;
                        }
                    }
                    if !reachable {
                        self.errors.push(Diag::warning("unreachable pattern".into(), arm.span));
                    }
                    covered.extend_from_slice(&mine);
                }
                if !covers(&mut covered, i64::MIN, i64::MAX) {
                    self.errors.push(
                        Diag::error("non-exhaustive patterns: `_` not covered".into(), span).code("E0004"),
                    );
                }
            }
            _ => {}
        }
    }

    #[inline(never)]
    pub fn check_expr(&mut self, e: ExprId, expected: Option<&Ty>) -> Ty {
        let krate = self.krate;
        let expr = krate.expr(e);
        let span = expr.span;
        let ty = match &expr.kind {
            ExprKind::Int(_) => Ty::Int,
            ExprKind::Bool(_) => Ty::Bool,
            ExprKind::Unit => Ty::Unit,
            ExprKind::Path(_) => match self.res.expr_res[e.0 as usize] {
                Res::Local(l) => self.out.local_ty[l.0 as usize].clone(),
                Res::Const(id) => match &krate.item(id).kind {
                    ItemKind::Const { ty, .. } => ty.clone(),
                    _ => Ty::Err,
                },
                _ => Ty::Err,
            },
            ExprKind::Call(_, args) => {
                let sig = match self.res.expr_res[e.0 as usize] {
                    Res::Fn(id) => match &krate.item(id).kind {
                        ItemKind::Fn(d) => Some(&d.sig),
                        ItemKind::ExternFn(s) => Some(s),
                        _ => None,
                    },
                    _ => None,
                };
                match sig {
                    Some(sig) => {
                        if sig.params.len() != args.len() {
                            self.errors.push(
                                Diag::error(
                                    format!(
                                        "this function takes {} argument{} but {} argument{} supplied",
                                        sig.params.len(),
                                        if sig.params.len() == 1 { "" } else { "s" },
                                        args.len(),
                                        if args.len() == 1 { " was" } else { "s were" }
                                    ),
                                    span,
                                )
                                .code("E0061"),
                            );
                        }
                        for (i, a) in args.iter().enumerate() {
                            match sig.params.get(i) {
                                Some(p) => {
                                    let pty = p.ty.clone();
                                    self.expect(*a, &pty);
                                }
                                None => {
                                    self.check_expr(*a, None);
                                }
                            }
                        }
                        sig.ret.clone()
                    }
                    None => {
                        for a in args {
                            self.check_expr(*a, None);
                        }
                        Ty::Err
                    }
                }
            }
            ExprKind::Bin(op, a, b) => {
                use BinOp::*;
                match op {
                    And | Or => {
                        self.expect(*a, &Ty::Bool);
                        self.expect(*b, &Ty::Bool);
                        Ty::Bool
                    }
                    Eq | Ne => {
                        let ta = self.check_expr(*a, None);
                        if !matches!(ta, Ty::Int | Ty::Bool | Ty::Err | Ty::Never) {
                            self.errors.push(
                                Diag::error(format!("binary operation `{}` cannot be applied to type `{}`", op.as_str(), ta.display()), span)
                                    .code("E0369"),
                            );
                        }
                        self.expect(*b, &ta);
                        Ty::Bool
                    }
                    Lt | Le | Gt | Ge => {
                        self.expect(*a, &Ty::Int);
                        self.expect(*b, &Ty::Int);
                        Ty::Bool
                    }
                    BitAnd | BitOr | BitXor => {
                        let ta = self.check_expr(*a, None);
                        let want = if ta == Ty::Bool { Ty::Bool } else { Ty::Int };
                        if !compatible(&ta, &want) {
                            self.mismatch(&want, &ta, krate.expr(*a).span);
                        }
                        self.expect(*b, &want);
                        want
                    }
                    _ => {
                        self.expect(*a, &Ty::Int);
                        self.expect(*b, &Ty::Int);
                        Ty::Int
                    }
                }
            }
            ExprKind::Un(op, a) => match op {
                UnOp::Neg => {
                    self.expect(*a, &Ty::Int);
                    Ty::Int
                }
                UnOp::Not => {
                    let t = self.check_expr(*a, None);
                    if !matches!(t, Ty::Int | Ty::Bool | Ty::Err | Ty::Never) {
                        self.errors.push(Diag::error(format!("cannot apply unary operator `!` to type `{}`", t.display()), span).code("E0600"));
                    }
                    t
                }
            },
            ExprKind::Tuple(elems) => {
                let exp_elems = match expected {
                    Some(Ty::Tuple(ts)) if ts.len() == elems.len() => Some(ts.clone()),
                    _ => None,
                };
                let mut tys = Vec::with_capacity(elems.len());
                for (i, x) in elems.iter().enumerate() {
                    let t = match &exp_elems {
                        Some(ts) => self.check_expr(*x, Some(&ts[i])),
                        None => self.check_expr(*x, None),
                    };
                    tys.push(t);
                }
                Ty::Tuple(tys)
            }
            ExprKind::Field(base, idx) => {
                let bt = self.check_expr(*base, None);
                match bt {
                    Ty::Tuple(ts) if (*idx as usize) < ts.len() => ts[*idx as usize].clone(),
                    Ty::Err => Ty::Err,
                    _ => {
                        self.errors.push(Diag::error(format!("no field `{}` on type `{}`", idx, bt.display()), span).code("E0609"));
                        Ty::Err
                    }
                }
            }
            ExprKind::If(c, then, els) => {
                self.expect(*c, &Ty::Bool);
                let tt = self.check_block(*then, expected);
                match els {
                    Some(els) => {
                        let et = self.check_expr(*els, expected.or(Some(&tt)));
                        if tt == Ty::Never {
                            et
                        } else {
                            if !compatible(&et, &tt) {
                                self.errors.push(
                                    Diag::error(
                                        format!("`if` and `else` have incompatible types: `{}` vs `{}`", tt.display(), et.display()),
                                        span,
                                    )
                                    .code("E0308"),
                                );
                            }
                            tt
                        }
                    }
                    None => {
                        if !compatible(&tt, &Ty::Unit) {
                            self.errors.push(Diag::error("`if` may be missing an `else` clause".into(), span).code("E0317"));
                        }
                        Ty::Unit
                    }
                }
            }
            ExprKind::While(c, body) => {
                self.expect(*c, &Ty::Bool);
                let bt = self.check_block(*body, Some(&Ty::Unit));
                if !compatible(&bt, &Ty::Unit) {
                    self.mismatch(&Ty::Unit, &bt, span);
                }
                Ty::Unit
            }
            ExprKind::Match(s, arms) => {
                let st = self.check_expr(*s, None);
                if !matches!(st, Ty::Int | Ty::Bool | Ty::Err) {
                    self.errors.push(Diag::error(format!("cannot match on values of type `{}`", st.display()), span));
                }
                let mut result: Option<Ty> = None;
                for arm in arms {
                    self.check_pat(&arm.pat, &st, arm.span);
                    let want = result.clone().or_else(|| expected.cloned());
                    let t = self.check_expr(arm.body, want.as_ref());
                    match &result {
                        None if t != Ty::Never => result = Some(t),
                        Some(r) if !compatible(&t, r) => {
                            let r = r.clone();
                            let sp = krate.expr(arm.body).span;
                            self.errors.push(
                                Diag::error(format!("`match` arms have incompatible types: expected `{}`, found `{}`", r.display(), t.display()), sp)
                                    .code("E0308"),
                            );
                        }
                        _ => {}
                    }
                }
                self.check_match_arms(&st, arms, span);
                result.unwrap_or(Ty::Never)
            }
            ExprKind::Block(b) => self.check_block(*b, expected),
            ExprKind::Assign(_, rhs) => {
                match self.res.expr_res[e.0 as usize] {
                    Res::Local(l) => {
                        let lt = self.out.local_ty[l.0 as usize].clone();
                        self.expect(*rhs, &lt);
                    }
                    _ => {
                        self.check_expr(*rhs, None);
                    }
                }
                Ty::Unit
            }
            ExprKind::Return(v) => {
                let rt = self.ret_ty.clone();
                match v {
                    Some(v) => {
                        self.expect(*v, &rt);
                    }
                    None => {
                        if !compatible(&Ty::Unit, &rt) {
                            self.mismatch(&rt, &Ty::Unit, span);
                        }
                    }
                }
                Ty::Never
            }
        };
        self.out.expr_ty[e.0 as usize] = ty.clone();
        ty
    }
}

/// Type-checks every function body and constant initializer.
pub fn check_crate(krate: &Crate, res: &Resolutions) -> (TypeckResults, Vec<Diag>) {
    let out = TypeckResults { expr_ty: vec![Ty::Err; krate.exprs.len()], local_ty: vec![Ty::Err; krate.local_names.len()] };
    let mut c = Checker { krate, res, out, errors: Vec::new(), ret_ty: Ty::Unit };
    for item in &krate.items {
        match &item.kind {
            ItemKind::Fn(decl) => {
                for p in &decl.sig.params {
                    c.out.local_ty[p.local.0 as usize] = p.ty.clone();
                }
                c.ret_ty = decl.sig.ret.clone();
                let ret = decl.sig.ret.clone();
                let t = c.check_block(decl.body, Some(&ret));
                if !compatible(&t, &ret) {
                    let span = krate.block(decl.body).span;
                    c.mismatch(&ret, &t, span);
                }
            }
            ItemKind::Const { ty, init, .. } => {
                c.ret_ty = ty.clone();
                let ty = ty.clone();
                c.expect(*init, &ty);
            }
            _ => {}
        }
    }
    (c.out, c.errors)
}
