//! Recursive-descent parser producing the arena AST.

use crate::ast::*;
use crate::lexer::{Sym, TokKind, Token, SYM_CRATE, SYM_SELF, SYM_SUPER};
use crate::session::Diag;

pub struct Parser<'a> {
    toks: &'a [Token],
    docs: &'a [String],
    pos: usize,
    pub krate: Crate,
    pub errors: Vec<Diag>,
    next_local: u32,
}

type PResult<T> = Result<T, Diag>;

fn bin_prec(kind: TokKind) -> Option<(u8, BinOp)> {
    use TokKind::*;
    Some(match kind {
        OrOr => (1, BinOp::Or),
        AndAnd => (2, BinOp::And),
        EqEq => (3, BinOp::Eq),
        Ne => (3, BinOp::Ne),
        Lt => (3, BinOp::Lt),
        Le => (3, BinOp::Le),
        Gt => (3, BinOp::Gt),
        Ge => (3, BinOp::Ge),
        Or => (4, BinOp::BitOr),
        Caret => (5, BinOp::BitXor),
        And => (6, BinOp::BitAnd),
        Shl => (7, BinOp::Shl),
        Shr => (7, BinOp::Shr),
        Plus => (8, BinOp::Add),
        Minus => (8, BinOp::Sub),
        Star => (9, BinOp::Mul),
        Slash => (9, BinOp::Div),
        Percent => (9, BinOp::Rem),
        _ => return None,
    })
}

impl<'a> Parser<'a> {
    pub fn new(toks: &'a [Token], docs: &'a [String]) -> Parser<'a> {
        let mut krate = Crate::default();
        krate.modules.push(Module { name: SYM_CRATE, parent: None, items: Vec::new() });
        Parser { toks, docs, pos: 0, krate, errors: Vec::new(), next_local: 0 }
    }

    fn peek(&self) -> TokKind {
        self.toks[self.pos].kind
    }
    fn peek_at(&self, n: usize) -> TokKind {
        self.toks.get(self.pos + n).map(|t| t.kind).unwrap_or(TokKind::Eof)
    }
    fn span(&self) -> Span {
        let t = &self.toks[self.pos];
        Span { lo: t.lo, hi: t.hi }
    }
    fn prev_hi(&self) -> u32 {
        if self.pos == 0 {
            0
        } else {
            self.toks[self.pos - 1].hi
        }
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos];
        if t.kind != TokKind::Eof {
            self.pos += 1;
        }
        t
    }
    fn eat(&mut self, kind: TokKind) -> bool {
        if self.peek() == kind {
            self.bump();
            true
        } else {
            false
        }
    }
    fn unexpected(&self, what: &str) -> Diag {
        Diag::error(format!("expected {}, found {}", what, self.peek().describe()), self.span())
    }
    fn expect(&mut self, kind: TokKind) -> PResult<Token> {
        if self.peek() == kind {
            Ok(self.bump())
        } else {
            Err(self.unexpected(kind.describe()))
        }
    }
    fn expect_ident(&mut self) -> PResult<Sym> {
        match self.peek() {
            TokKind::Ident(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected("identifier")),
        }
    }
    fn new_local(&mut self, name: Sym) -> LocalId {
        let id = LocalId(self.next_local);
        self.next_local += 1;
        self.krate.local_names.push(name);
        id
    }
    fn alloc_expr(&mut self, kind: ExprKind, span: Span) -> ExprId {
        self.krate.exprs.push(Expr { kind, span });
        ExprId(self.krate.exprs.len() as u32 - 1)
    }

    /// Parses a whole file as the crate root module.
    pub fn parse_crate(mut self) -> (Crate, Vec<Diag>) {
        self.parse_mod_items(ModId(0), true);
        (self.krate, self.errors)
    }

    fn parse_mod_items(&mut self, module: ModId, top: bool) {
        loop {
            match self.peek() {
                TokKind::Eof => {
                    if !top {
                        self.errors.push(Diag::error("this file contains an unclosed delimiter".into(), self.span()));
                    }
                    return;
                }
                TokKind::CloseBrace if !top => return,
                _ => {}
            }
            if let Err(d) = self.parse_item(module) {
                self.errors.push(d);
                self.recover_item();
                if self.errors.len() > 50 {
                    return;
                }
            }
        }
    }

    fn recover_item(&mut self) {
        // Skip to the next token that can start an item.
        self.bump();
        while !matches!(
            self.peek(),
            TokKind::KwFn | TokKind::KwConst | TokKind::KwMod | TokKind::KwExtern | TokKind::Eof | TokKind::Doc(_)
        ) {
            self.bump();
        }
    }

    fn push_item(&mut self, item: Item) -> ItemId {
        let id = ItemId(self.krate.items.len() as u32);
        let module = item.module;
        self.krate.items.push(item);
        self.krate.modules[module.0 as usize].items.push(id);
        id
    }

    #[inline(never)]
    pub fn parse_item(&mut self, module: ModId) -> PResult<()> {
        let mut docs = Vec::new();
        while let TokKind::Doc(i) = self.peek() {
            docs.push(self.docs[i as usize].clone());
            self.bump();
        }
        let lo = self.span().lo;
        match self.peek() {
            TokKind::KwFn => {
                self.bump();
                let name = self.expect_ident()?;
                let first_local = self.next_local;
                let sig = self.parse_fn_sig()?;
                let body = self.parse_block()?;
                let span = Span { lo, hi: self.prev_hi() };
                let decl = FnDecl { sig, body, locals: (first_local, self.next_local) };
                self.push_item(Item { name, kind: ItemKind::Fn(decl), span, docs, module });
            }
            TokKind::KwConst => {
                self.bump();
                let name = self.expect_ident()?;
                self.expect(TokKind::Colon)?;
                let ty = self.parse_ty()?;
                self.expect(TokKind::Eq)?;
                let first_local = self.next_local;
                let init = self.parse_expr(0)?;
                self.expect(TokKind::Semi)?;
                let span = Span { lo, hi: self.prev_hi() };
                let kind = ItemKind::Const { ty, init, locals: (first_local, self.next_local) };
                self.push_item(Item { name, kind, span, docs, module });
            }
            TokKind::KwMod => {
                self.bump();
                let name = self.expect_ident()?;
                self.expect(TokKind::OpenBrace)?;
                let mid = ModId(self.krate.modules.len() as u32);
                self.krate.modules.push(Module { name, parent: Some(module), items: Vec::new() });
                let span = Span { lo, hi: self.prev_hi() };
                self.push_item(Item { name, kind: ItemKind::Mod(mid), span, docs, module });
                self.parse_mod_items(mid, false);
                self.expect(TokKind::CloseBrace)?;
            }
            TokKind::KwExtern => {
                self.bump();
                self.expect(TokKind::OpenBrace)?;
                while self.peek() != TokKind::CloseBrace {
                    let mut fdocs = Vec::new();
                    while let TokKind::Doc(i) = self.peek() {
                        fdocs.push(self.docs[i as usize].clone());
                        self.bump();
                    }
                    let flo = self.span().lo;
                    self.expect(TokKind::KwFn)?;
                    let name = self.expect_ident()?;
                    let sig = self.parse_fn_sig()?;
                    self.expect(TokKind::Semi)?;
                    let span = Span { lo: flo, hi: self.prev_hi() };
                    self.push_item(Item { name, kind: ItemKind::ExternFn(sig), span, docs: fdocs, module });
                }
                self.bump();
            }
            _ => return Err(self.unexpected("item")),
        }
        Ok(())
    }

    fn parse_fn_sig(&mut self) -> PResult<FnSig> {
        self.expect(TokKind::OpenParen)?;
        let mut params = Vec::new();
        while self.peek() != TokKind::CloseParen {
            let span = self.span();
            let name = self.expect_ident()?;
            self.expect(TokKind::Colon)?;
            let ty = self.parse_ty()?;
            let local = self.new_local(name);
            params.push(Param { name, ty, local, span });
            if !self.eat(TokKind::Comma) {
                break;
            }
        }
        self.expect(TokKind::CloseParen)?;
        let ret = if self.eat(TokKind::Arrow) { self.parse_ty()? } else { Ty::Unit };
        Ok(FnSig { params, ret })
    }

    pub fn parse_ty(&mut self) -> PResult<Ty> {
        match self.peek() {
            TokKind::KwInt => {
                self.bump();
                Ok(Ty::Int)
            }
            TokKind::KwBool => {
                self.bump();
                Ok(Ty::Bool)
            }
            TokKind::OpenParen => {
                self.bump();
                let mut tys = Vec::new();
                let mut trailing_comma = false;
                while self.peek() != TokKind::CloseParen {
                    tys.push(self.parse_ty()?);
                    trailing_comma = self.eat(TokKind::Comma);
                    if !trailing_comma {
                        break;
                    }
                }
                self.expect(TokKind::CloseParen)?;
                Ok(match tys.len() {
                    0 => Ty::Unit,
                    1 if !trailing_comma => tys.pop().unwrap(),
                    _ => Ty::Tuple(tys),
                })
            }
            _ => Err(self.unexpected("type")),
        }
    }

    pub fn parse_block(&mut self) -> PResult<BlockId> {
        let lo = self.expect(TokKind::OpenBrace)?.lo;
        let mut stmts = Vec::new();
        let mut tail = None;
        loop {
            match self.peek() {
                TokKind::CloseBrace => break,
                TokKind::Eof => return Err(self.unexpected("`}`")),
                TokKind::Semi => {
                    self.bump();
                    continue;
                }
                TokKind::KwLet => {
                    let slo = self.bump().lo;
                    self.eat(TokKind::KwMut);
                    let name = self.expect_ident()?;
                    let ty = if self.eat(TokKind::Colon) { Some(self.parse_ty()?) } else { None };
                    self.expect(TokKind::Eq)?;
                    let init = self.parse_expr(0)?;
                    self.expect(TokKind::Semi)?;
                    // The local is allocated after the initializer: `let x = x + 1;` refers to the outer `x`.
                    let local = self.new_local(name);
                    stmts.push(Stmt::Let { local, name, ty, init, span: Span { lo: slo, hi: self.prev_hi() } });
                    continue;
                }
                _ => {}
            }
            let block_like = matches!(
                self.peek(),
                TokKind::KwIf | TokKind::KwWhile | TokKind::KwMatch | TokKind::OpenBrace
            );
            let e = if block_like { self.parse_primary()? } else { self.parse_expr(0)? };
            if !block_like && self.peek() == TokKind::Eq {
                // Assignment statement `x = expr;`
                let path = match &self.krate.expr(e).kind {
                    ExprKind::Path(p) => p.clone(),
                    _ => return Err(Diag::error("invalid left-hand side of assignment".into(), self.krate.expr(e).span)),
                };
                self.bump();
                let rhs = self.parse_expr(0)?;
                let span = Span { lo: path.span.lo, hi: self.prev_hi() };
                let a = self.alloc_expr(ExprKind::Assign(path, rhs), span);
                self.expect(TokKind::Semi)?;
                stmts.push(Stmt::Semi(a));
                continue;
            }
            if self.eat(TokKind::Semi) {
                stmts.push(Stmt::Semi(e));
            } else if self.peek() == TokKind::CloseBrace {
                tail = Some(e);
            } else if block_like {
                stmts.push(Stmt::Expr(e));
            } else {
                return Err(self.unexpected("`;` or `}`"));
            }
        }
        let hi = self.bump().hi;
        self.krate.blocks.push(Block { stmts, tail, span: Span { lo, hi } });
        Ok(BlockId(self.krate.blocks.len() as u32 - 1))
    }

    /// Precedence-climbing expression parser.
    #[inline(never)]
    pub fn parse_expr(&mut self, min_prec: u8) -> PResult<ExprId> {
        let mut lhs = self.parse_unary()?;
        while let Some((prec, op)) = bin_prec(self.peek()) {
            if prec <= min_prec {
                break;
            }
            self.bump();
            let rhs = self.parse_expr(prec)?;
            let span = Span { lo: self.krate.expr(lhs).span.lo, hi: self.krate.expr(rhs).span.hi };
            if op.is_comparison() {
                if let Some((p2, op2)) = bin_prec(self.peek()) {
                    if p2 == prec && op2.is_comparison() {
                        return Err(Diag::error("comparison operators cannot be chained".into(), self.span()));
                    }
                }
            }
            lhs = self.alloc_expr(ExprKind::Bin(op, lhs, rhs), span);
        }
        Ok(lhs)
    }

    fn parse_unary(&mut self) -> PResult<ExprId> {
        let lo = self.span().lo;
        let op = match self.peek() {
            TokKind::Minus => UnOp::Neg,
            TokKind::Bang => UnOp::Not,
            _ => return self.parse_postfix(),
        };
        self.bump();
        let inner = self.parse_unary()?;
        // Fold negative literals right away, like rustc's lexer-level `-1` in patterns.
        if op == UnOp::Neg {
            if let ExprKind::Int(v) = self.krate.expr(inner).kind {
                let span = Span { lo, hi: self.prev_hi() };
                return Ok(self.alloc_expr(ExprKind::Int(v.wrapping_neg()), span));
            }
        }
        let span = Span { lo, hi: self.prev_hi() };
        Ok(self.alloc_expr(ExprKind::Un(op, inner), span))
    }

    fn parse_postfix(&mut self) -> PResult<ExprId> {
        let mut e = self.parse_primary()?;
        while self.peek() == TokKind::Dot {
            self.bump();
            match self.peek() {
                TokKind::Int(i) => {
                    self.bump();
                    let span = Span { lo: self.krate.expr(e).span.lo, hi: self.prev_hi() };
                    e = self.alloc_expr(ExprKind::Field(e, i as u32), span);
                }
                _ => return Err(self.unexpected("tuple index")),
            }
        }
        Ok(e)
    }

    fn parse_path(&mut self) -> PResult<Path> {
        let lo = self.span().lo;
        let mut segs = Vec::new();
        loop {
            let seg = match self.peek() {
                TokKind::Ident(s) => s,
                TokKind::KwCrate if segs.is_empty() => SYM_CRATE,
                TokKind::KwSelf if segs.is_empty() => SYM_SELF,
                TokKind::KwSuper if segs.iter().all(|s| *s == SYM_SUPER) => SYM_SUPER,
                _ => return Err(self.unexpected("identifier")),
            };
            self.bump();
            segs.push(seg);
            if self.peek() == TokKind::PathSep {
                self.bump();
            } else {
                break;
            }
        }
        Ok(Path { segs, span: Span { lo, hi: self.prev_hi() } })
    }

    fn parse_primary(&mut self) -> PResult<ExprId> {
        let sp = self.span();
        match self.peek() {
            TokKind::Int(v) => {
                self.bump();
                Ok(self.alloc_expr(ExprKind::Int(v), sp))
            }
            TokKind::KwTrue => {
                self.bump();
                Ok(self.alloc_expr(ExprKind::Bool(true), sp))
            }
            TokKind::KwFalse => {
                self.bump();
                Ok(self.alloc_expr(ExprKind::Bool(false), sp))
            }
            TokKind::Ident(_) | TokKind::KwCrate | TokKind::KwSuper | TokKind::KwSelf => {
                let path = self.parse_path()?;
                if self.peek() == TokKind::OpenParen {
                    self.bump();
                    let mut args = Vec::new();
                    while self.peek() != TokKind::CloseParen {
                        args.push(self.parse_expr(0)?);
                        if !self.eat(TokKind::Comma) {
                            break;
                        }
                    }
                    self.expect(TokKind::CloseParen)?;
                    let span = Span { lo: sp.lo, hi: self.prev_hi() };
                    Ok(self.alloc_expr(ExprKind::Call(path, args), span))
                } else {
                    let span = path.span;
                    Ok(self.alloc_expr(ExprKind::Path(path), span))
                }
            }
            TokKind::OpenParen => {
                self.bump();
                if self.eat(TokKind::CloseParen) {
                    return Ok(self.alloc_expr(ExprKind::Unit, Span { lo: sp.lo, hi: self.prev_hi() }));
                }
                let first = self.parse_expr(0)?;
                if self.eat(TokKind::CloseParen) {
                    return Ok(first);
                }
                let mut elems = vec![first];
                while self.eat(TokKind::Comma) {
                    if self.peek() == TokKind::CloseParen {
                        break;
                    }
                    elems.push(self.parse_expr(0)?);
                }
                self.expect(TokKind::CloseParen)?;
                Ok(self.alloc_expr(ExprKind::Tuple(elems), Span { lo: sp.lo, hi: self.prev_hi() }))
            }
            TokKind::OpenBrace => {
                let b = self.parse_block()?;
                Ok(self.alloc_expr(ExprKind::Block(b), Span { lo: sp.lo, hi: self.prev_hi() }))
            }
            TokKind::KwIf => self.parse_if(),
            TokKind::KwWhile => {
                self.bump();
                let cond = self.parse_expr(0)?;
                let body = self.parse_block()?;
                Ok(self.alloc_expr(ExprKind::While(cond, body), Span { lo: sp.lo, hi: self.prev_hi() }))
            }
            TokKind::KwMatch => self.parse_match(),
            TokKind::KwReturn => {
                self.bump();
                let value = match self.peek() {
                    TokKind::Semi | TokKind::CloseBrace | TokKind::Comma => None,
                    _ => Some(self.parse_expr(0)?),
                };
                Ok(self.alloc_expr(ExprKind::Return(value), Span { lo: sp.lo, hi: self.prev_hi() }))
            }
            _ => Err(self.unexpected("expression")),
        }
    }

    fn parse_if(&mut self) -> PResult<ExprId> {
        let lo = self.expect(TokKind::KwIf)?.lo;
        let cond = self.parse_expr(0)?;
        let then = self.parse_block()?;
        let els = if self.eat(TokKind::KwElse) {
            if self.peek() == TokKind::KwIf {
                Some(self.parse_if()?)
            } else {
                let blo = self.span().lo;
                let b = self.parse_block()?;
                Some(self.alloc_expr(ExprKind::Block(b), Span { lo: blo, hi: self.prev_hi() }))
            }
        } else {
            None
        };
        Ok(self.alloc_expr(ExprKind::If(cond, then, els), Span { lo, hi: self.prev_hi() }))
    }

    fn parse_match(&mut self) -> PResult<ExprId> {
        let lo = self.expect(TokKind::KwMatch)?.lo;
        let scrut = self.parse_expr(0)?;
        self.expect(TokKind::OpenBrace)?;
        let mut arms = Vec::new();
        while self.peek() != TokKind::CloseBrace {
            let alo = self.span().lo;
            let pat = self.parse_pat()?;
            self.expect(TokKind::FatArrow)?;
            let block_like = self.peek() == TokKind::OpenBrace;
            let body = self.parse_expr(0)?;
            arms.push(Arm { pat, body, span: Span { lo: alo, hi: self.prev_hi() } });
            if !self.eat(TokKind::Comma) && !block_like && self.peek() != TokKind::CloseBrace {
                return Err(self.unexpected("`,` following `match` arm"));
            }
        }
        self.bump();
        Ok(self.alloc_expr(ExprKind::Match(scrut, arms), Span { lo, hi: self.prev_hi() }))
    }

    fn parse_pat_int(&mut self) -> PResult<i64> {
        let neg = self.eat(TokKind::Minus);
        match self.peek() {
            TokKind::Int(v) => {
                self.bump();
                Ok(if neg { v.wrapping_neg() } else { v })
            }
            _ => Err(self.unexpected("integer literal")),
        }
    }

    fn parse_pat(&mut self) -> PResult<Pat> {
        let mut alts = vec![self.parse_pat_single()?];
        while self.eat(TokKind::Or) {
            alts.push(self.parse_pat_single()?);
        }
        Ok(if alts.len() == 1 { alts.pop().unwrap() } else { Pat::Or(alts) })
    }

    fn parse_pat_single(&mut self) -> PResult<Pat> {
        match self.peek() {
            TokKind::Underscore => {
                self.bump();
                Ok(Pat::Wild)
            }
            TokKind::KwTrue => {
                self.bump();
                Ok(Pat::Bool(true))
            }
            TokKind::KwFalse => {
                self.bump();
                Ok(Pat::Bool(false))
            }
            TokKind::Ident(name) if self.peek_at(1) != TokKind::PathSep => {
                self.bump();
                let local = self.new_local(name);
                Ok(Pat::Bind(name, local))
            }
            TokKind::Int(_) | TokKind::Minus => {
                let sp = self.span();
                let lo = self.parse_pat_int()?;
                if self.eat(TokKind::DotDotEq) {
                    let hi = self.parse_pat_int()?;
                    if hi < lo {
                        return Err(Diag::error("lower range bound must be less than or equal to upper".into(), sp).code("E0030"));
                    }
                    Ok(Pat::Range(lo, hi))
                } else {
                    Ok(Pat::Int(lo))
                }
            }
            _ => Err(self.unexpected("pattern")),
        }
    }
}
