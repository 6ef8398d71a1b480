//! Name resolution: module namespaces, lexical scopes and path lookup.

use crate::ast::*;
use crate::lexer::{Interner, Sym, SYM_CRATE, SYM_SELF, SYM_SUPER};
use crate::session::Diag;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Res {
    Err,
    Local(LocalId),
    Fn(ItemId),
    Const(ItemId),
    Mod(ModId),
}

pub struct Resolutions {
    /// Resolution of every `Path`, `Call` and `Assign` expression, indexed by `ExprId`.
    pub expr_res: Vec<Res>,
    pub namespaces: Vec<HashMap<Sym, ItemId>>,
}

struct Resolver<'a> {
    krate: &'a Crate,
    interner: &'a Interner,
    res: Resolutions,
    scopes: Vec<(Sym, LocalId)>,
    errors: Vec<Diag>,
    cur_mod: ModId,
}

fn item_res(krate: &Crate, id: ItemId) -> Res {
    match krate.item(id).kind {
        ItemKind::Fn(_) | ItemKind::ExternFn(_) => Res::Fn(id),
        ItemKind::Const { .. } => Res::Const(id),
        ItemKind::Mod(m) => Res::Mod(m),
    }
}

impl<'a> Resolver<'a> {
    fn lookup_lexical(&self, name: Sym) -> Option<Res> {
        for &(s, l) in self.scopes.iter().rev() {
            if s == name {
                return Some(Res::Local(l));
            }
        }
        let mut m = Some(self.cur_mod);
        while let Some(mid) = m {
            if let Some(&id) = self.res.namespaces[mid.0 as usize].get(&name) {
                return Some(item_res(self.krate, id));
            }
            m = self.krate.module(mid).parent;
        }
        None
    }

    #[inline(never)]
    fn resolve_path(&mut self, path: &Path) -> Res {
        let name = |s: Sym| self.interner.get(s).to_string();
        if path.segs.len() == 1 && path.segs[0] != SYM_CRATE && path.segs[0] != SYM_SUPER && path.segs[0] != SYM_SELF {
            return match self.lookup_lexical(path.segs[0]) {
                Some(r) => r,
                None => {
                    self.errors.push(
                        Diag::error(format!("cannot find value `{}` in this scope", name(path.segs[0])), path.span).code("E0425"),
                    );
                    Res::Err
                }
            };
        }
        let first = path.segs[0];
        let mut module = if first == SYM_CRATE {
            ModId(0)
        } else if first == SYM_SELF {
            self.cur_mod
        } else if first == SYM_SUPER {
            self.cur_mod
        } else {
            match self.lookup_lexical(first) {
                Some(Res::Mod(m)) => m,
                _ => {
                    self.errors.push(
                        Diag::error(format!("failed to resolve: use of undeclared crate or module `{}`", name(first)), path.span)
                            .code("E0433"),
                    );
                    return Res::Err;
                }
            }
        };
        let mut rest = &path.segs[1..];
        if first == SYM_SUPER {
            rest = &path.segs[..];
        }
        for (i, &seg) in rest.iter().enumerate() {
            let last = i + 1 == rest.len();
            if seg == SYM_SUPER {
                module = match self.krate.module(module).parent {
                    Some(p) => p,
                    None => {
                        self.errors.push(Diag::error("there are too many leading `super` keywords".into(), path.span).code("E0433"));
                        return Res::Err;
                    }
                };
                if last {
                    return Res::Mod(module);
                }
                continue;
            }
            let found = self.res.namespaces[module.0 as usize].get(&seg).copied();
            match found {
                Some(id) => {
                    let r = item_res(self.krate, id);
                    if last {
                        return r;
                    }
                    match r {
                        Res::Mod(m) => module = m,
                        _ => {
                            self.errors.push(Diag::error(format!("expected module, found `{}`", name(seg)), path.span).code("E0433"));
                            return Res::Err;
                        }
                    }
                }
                None => {
                    self.errors.push(
                        Diag::error(format!("cannot find `{}` in module `{}`", name(seg), name(self.krate.module(module).name)), path.span)
                            .code("E0425"),
                    );
                    return Res::Err;
                }
            }
        }
        Res::Mod(module)
    }

    fn resolve_block(&mut self, b: BlockId) {
        let depth = self.scopes.len();
        let block = self.krate.block(b);
        for stmt in &block.stmts {
            match stmt {
                Stmt::Let { local, name, init, .. } => {
                    self.resolve_expr(*init);
                    self.scopes.push((*name, *local));
                }
                Stmt::Expr(e) | Stmt::Semi(e) => self.resolve_expr(*e),
            }
        }
        if let Some(t) = block.tail {
            self.resolve_expr(t);
        }
        self.scopes.truncate(depth);
    }

    fn bind_pat(&mut self, p: &Pat) {
        match p {
            Pat::Bind(name, local) => self.scopes.push((*name, *local)),
            Pat::Or(alts) => {
                for a in alts {
                    if let Pat::Bind(..) = a {
                        self.errors.push(Diag::error("bindings are not allowed in or-patterns".into(), Span::default()));
                    }
                }
            }
            _ => {}
        }
    }

    #[inline(never)]
    fn resolve_expr(&mut self, e: ExprId) {
        let expr = self.krate.expr(e);
        match &expr.kind {
            ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Unit => {}
            ExprKind::Path(p) => {
                let r = self.resolve_path(p);
                let r = match r {
                    Res::Fn(_) | Res::Mod(_) => {
                        self.errors.push(Diag::error("expected value, found function or module".into(), p.span).code("E0423"));
                        Res::Err
                    }
                    r => r,
                };
                self.res.expr_res[e.0 as usize] = r;
            }
            ExprKind::Call(p, args) => {
                let r = self.resolve_path(p);
                let r = match r {
                    Res::Fn(_) | Res::Err => r,
                    _ => {
                        self.errors.push(Diag::error("expected function, found value".into(), p.span).code("E0618"));
                        Res::Err
                    }
                };
                self.res.expr_res[e.0 as usize] = r;
                for a in args {
                    self.resolve_expr(*a);
                }
            }
            ExprKind::Bin(_, a, b) => {
                self.resolve_expr(*a);
                self.resolve_expr(*b);
            }
            ExprKind::Un(_, a) | ExprKind::Field(a, _) => self.resolve_expr(*a),
            ExprKind::Tuple(elems) => {
                for x in elems {
                    self.resolve_expr(*x);
                }
            }
            ExprKind::If(c, t, e2) => {
                self.resolve_expr(*c);
                self.resolve_block(*t);
                if let Some(e2) = e2 {
                    self.resolve_expr(*e2);
                }
            }
            ExprKind::While(c, b) => {
                self.resolve_expr(*c);
                self.resolve_block(*b);
            }
            ExprKind::Match(s, arms) => {
                self.resolve_expr(*s);
                for arm in arms {
                    let depth = self.scopes.len();
                    self.bind_pat(&arm.pat);
                    self.resolve_expr(arm.body);
                    self.scopes.truncate(depth);
                }
            }
            ExprKind::Block(b) => self.resolve_block(*b),
            ExprKind::Assign(p, rhs) => {
                self.resolve_expr(*rhs);
                let r = self.resolve_path(p);
                let r = match r {
                    Res::Local(_) | Res::Err => r,
                    _ => {
                        self.errors.push(Diag::error("invalid left-hand side of assignment".into(), p.span).code("E0070"));
                        Res::Err
                    }
                };
                self.res.expr_res[e.0 as usize] = r;
            }
            ExprKind::Return(v) => {
                if let Some(v) = v {
                    self.resolve_expr(*v);
                }
            }
        }
    }
}

/// Resolves every path in the crate.
pub fn resolve_crate(krate: &Crate, interner: &Interner) -> (Resolutions, Vec<Diag>) {
    let mut namespaces = vec![HashMap::new(); krate.modules.len()];
    let mut errors = Vec::new();
    for (i, item) in krate.items.iter().enumerate() {
        let ns: &mut HashMap<Sym, ItemId> = &mut namespaces[item.module.0 as usize];
        if ns.insert(item.name, ItemId(i as u32)).is_some() {
            errors.push(
                Diag::error(format!("the name `{}` is defined multiple times", interner.get(item.name)), item.span).code("E0428"),
            );
        }
    }
    let res = Resolutions { expr_res: vec![Res::Err; krate.exprs.len()], namespaces };
    let mut r = Resolver { krate, interner, res, scopes: Vec::new(), errors, cur_mod: ModId(0) };
    for item in &krate.items {
        r.cur_mod = item.module;
        match &item.kind {
            ItemKind::Fn(decl) => {
                for p in &decl.sig.params {
                    r.scopes.push((p.name, p.local));
                }
                r.resolve_block(decl.body);
                r.scopes.clear();
            }
            ItemKind::Const { init, .. } => r.resolve_expr(*init),
            _ => {}
        }
    }
    (r.res, r.errors)
}
