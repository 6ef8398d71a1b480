//! Compile-time function evaluation: an AST interpreter for `const` items.

use crate::ast::*;
use crate::resolve::{Res, Resolutions};
use crate::session::Diag;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Int(i64),
    Bool(bool),
    Unit,
    Tuple(Rc<Vec<Value>>),
}

impl Value {
    fn int(&self) -> i64 {
        match self {
            Value::Int(v) => *v,
            Value::Bool(b) => *b as i64,
            _ => 0,
        }
    }
    fn bool(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Int(v) => *v != 0,
            _ => false,
        }
    }
    /// Flattens the value into scalars, in the same order as the IR lowering.
    pub fn flatten(&self, out: &mut Vec<i64>) {
        match self {
            Value::Int(v) => out.push(*v),
            Value::Bool(b) => out.push(*b as i64),
            Value::Unit => {}
            Value::Tuple(vs) => vs.iter().for_each(|v| v.flatten(out)),
        }
    }
    pub fn display(&self) -> String {
        match self {
            Value::Int(v) => v.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Unit => "()".into(),
            Value::Tuple(vs) => {
                let parts: Vec<String> = vs.iter().map(|v| v.display()).collect();
                format!("({})", parts.join(", "))
            }
        }
    }
}

enum Flow {
    Return(Value),
    Error(String, Span),
}

const STEP_LIMIT: u64 = 200_000_000;
const MAX_DEPTH: usize = 512;

struct Interp<'a> {
    krate: &'a Crate,
    res: &'a Resolutions,
    consts: &'a mut Vec<ConstState>,
    steps: u64,
    depth: usize,
    base: u32,
}

#[derive(Clone)]
pub enum ConstState {
    NotStarted,
    InProgress,
    Done(Value),
    Failed,
}

type EResult = Result<Value, Flow>;

fn arith(op: BinOp, a: i64, b: i64, span: Span) -> EResult {
    use BinOp::*;
    Ok(Value::Int(match op {
        Add => a.wrapping_add(b),
        Sub => a.wrapping_sub(b),
        Mul => a.wrapping_mul(b),
        Div | Rem if b == 0 => {
            let what = if op == Div { "divide" } else { "calculate the remainder" };
            return Err(Flow::Error(format!("attempt to {} `{}` with a divisor of zero", what, a), span));
        }
        Div => a.wrapping_div(b),
        Rem => a.wrapping_rem(b),
        BitAnd => a & b,
        BitOr => a | b,
        BitXor => a ^ b,
        Shl => a.wrapping_shl((b & 63) as u32),
        Shr => a.wrapping_shr((b & 63) as u32),
        Lt => return Ok(Value::Bool(a < b)),
        Le => return Ok(Value::Bool(a <= b)),
        Gt => return Ok(Value::Bool(a > b)),
        Ge => return Ok(Value::Bool(a >= b)),
        Eq => return Ok(Value::Bool(a == b)),
        Ne => return Ok(Value::Bool(a != b)),
        And | Or => unreachable!(),
    }))
}

fn pat_matches(p: &Pat, v: &Value) -> bool {
    match p {
        Pat::Wild | Pat::Bind(..) => true,
        Pat::Int(i) => v.int() == *i,
        Pat::Range(a, b) => {
            let x = v.int();
            *a <= x && x <= *b
        }
        Pat::Bool(b) => v.bool() == *b,
        Pat::Or(alts) => alts.iter().any(|a| pat_matches(a, v)),
    }
}

impl<'a> Interp<'a> {
    fn slot(&self, l: LocalId) -> usize {
        (l.0 - self.base) as usize
    }

    fn eval_block(&mut self, b: BlockId, frame: &mut Vec<Value>) -> EResult {
        let block = self.krate.block(b);
        for stmt in &block.stmts {
            match stmt {
                Stmt::Let { local, init, .. } => {
                    let v = self.eval_expr(*init, frame)?;
                    let s = self.slot(*local);
                    frame[s] = v;
                }
                Stmt::Expr(e) | Stmt::Semi(e) => {
                    self.eval_expr(*e, frame)?;
                }
            }
        }
        match block.tail {
            Some(t) => self.eval_expr(t, frame),
            None => Ok(Value::Unit),
        }
    }

    fn call(&mut self, id: ItemId, args: Vec<Value>, span: Span) -> EResult {
        let decl = match &self.krate.item(id).kind {
            ItemKind::Fn(d) => d,
            _ => return Err(Flow::Error("calling non-const (extern) function in constant".into(), span)),
        };
        if self.depth >= MAX_DEPTH {
            return Err(Flow::Error("reached the configured maximum number of stack frames".into(), span));
        }
        let mut frame = vec![Value::Unit; (decl.locals.1 - decl.locals.0) as usize];
        let saved = self.base;
        self.base = decl.locals.0;
        for (p, v) in decl.sig.params.iter().zip(args) {
            let s = self.slot(p.local);
            frame[s] = v;
        }
        self.depth += 1;
        let r = self.eval_block(decl.body, &mut frame);
        self.depth -= 1;
        self.base = saved;
        match r {
            Ok(v) => Ok(v),
            Err(Flow::Return(v)) => Ok(v),
            Err(e) => Err(e),
        }
    }

    #[inline(never)]
    fn eval_expr(&mut self, e: ExprId, frame: &mut Vec<Value>) -> EResult {
        self.steps += 1;
        let expr = self.krate.expr(e);
        if self.steps > STEP_LIMIT {
            return Err(Flow::Error("constant evaluation is taking a long time".into(), expr.span));
        }
        match &expr.kind {
            ExprKind::Int(v) => Ok(Value::Int(*v)),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::Unit => Ok(Value::Unit),
            ExprKind::Path(_) => match self.res.expr_res[e.0 as usize] {
                Res::Local(l) => Ok(frame[self.slot(l)].clone()),
                Res::Const(id) => {
                    let saved = self.base;
                    let r = eval_const_item(self.krate, self.res, self.consts, id, &mut self.steps);
                    self.base = saved;
                    r.map_err(|(m, s)| Flow::Error(m, s))
                }
                _ => Err(Flow::Error("unresolved path in constant".into(), expr.span)),
            },
            ExprKind::Call(_, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval_expr(*a, frame)?);
                }
                match self.res.expr_res[e.0 as usize] {
                    Res::Fn(id) => self.call(id, vals, expr.span),
                    _ => Err(Flow::Error("unresolved function in constant".into(), expr.span)),
                }
            }
            ExprKind::Bin(op, a, b) => match op {
                BinOp::And => {
                    if !self.eval_expr(*a, frame)?.bool() {
                        return Ok(Value::Bool(false));
                    }
                    Ok(Value::Bool(self.eval_expr(*b, frame)?.bool()))
                }
                BinOp::Or => {
                    if self.eval_expr(*a, frame)?.bool() {
                        return Ok(Value::Bool(true));
                    }
                    Ok(Value::Bool(self.eval_expr(*b, frame)?.bool()))
                }
                _ => {
                    let va = self.eval_expr(*a, frame)?;
                    let vb = self.eval_expr(*b, frame)?;
                    match (&va, &vb, op) {
                        (Value::Bool(x), Value::Bool(y), BinOp::Eq) => Ok(Value::Bool(x == y)),
                        (Value::Bool(x), Value::Bool(y), BinOp::Ne) => Ok(Value::Bool(x != y)),
                        (Value::Bool(x), Value::Bool(y), BinOp::BitAnd) => Ok(Value::Bool(*x & *y)),
                        (Value::Bool(x), Value::Bool(y), BinOp::BitOr) => Ok(Value::Bool(*x | *y)),
                        (Value::Bool(x), Value::Bool(y), BinOp::BitXor) => Ok(Value::Bool(*x ^ *y)),
                        _ => arith(*op, va.int(), vb.int(), expr.span),
                    }
                }
            },
            ExprKind::Un(op, a) => {
                let v = self.eval_expr(*a, frame)?;
                Ok(match (op, v) {
                    (UnOp::Neg, v) => Value::Int(v.int().wrapping_neg()),
                    (UnOp::Not, Value::Bool(b)) => Value::Bool(!b),
                    (UnOp::Not, v) => Value::Int(!v.int()),
                })
            }
            ExprKind::Tuple(elems) => {
                let mut vals = Vec::with_capacity(elems.len());
                for x in elems {
                    vals.push(self.eval_expr(*x, frame)?);
                }
                Ok(Value::Tuple(Rc::new(vals)))
            }
            ExprKind::Field(base, idx) => match self.eval_expr(*base, frame)? {
                Value::Tuple(vs) => Ok(vs[*idx as usize].clone()),
                _ => Err(Flow::Error("field access on non-tuple".into(), expr.span)),
            },
            ExprKind::If(c, then, els) => {
                if self.eval_expr(*c, frame)?.bool() {
                    self.eval_block(*then, frame)
                } else if let Some(els) = els {
                    self.eval_expr(*els, frame)
                } else {
                    Ok(Value::Unit)
                }
            }
            ExprKind::While(c, body) => {
                while self.eval_expr(*c, frame)?.bool() {
                    self.eval_block(*body, frame)?;
                    self.steps += 1;
                }
                Ok(Value::Unit)
            }
            ExprKind::Match(s, arms) => {
                let v = self.eval_expr(*s, frame)?;
                for arm in arms {
                    if pat_matches(&arm.pat, &v) {
                        if let Pat::Bind(_, l) = arm.pat {
                            let slot = self.slot(l);
                            frame[slot] = v.clone();
                        }
                        return self.eval_expr(arm.body, frame);
                    }
                }
                Err(Flow::Error("entering unreachable code".into(), expr.span))
            }
            ExprKind::Block(b) => self.eval_block(*b, frame),
            ExprKind::Assign(_, rhs) => {
                let v = self.eval_expr(*rhs, frame)?;
                if let Res::Local(l) = self.res.expr_res[e.0 as usize] {
                    let s = self.slot(l);
                    frame[s] = v;
                }
                Ok(Value::Unit)
            }
            ExprKind::Return(v) => {
                let val = match v {
                    Some(v) => self.eval_expr(*v, frame)?,
                    None => Value::Unit,
                };
                Err(Flow::Return(val))
            }
        }
    }
}

fn eval_const_item(
    krate: &Crate,
    res: &Resolutions,
    consts: &mut Vec<ConstState>,
    id: ItemId,
    steps: &mut u64,
) -> Result<Value, (String, Span)> {
    let item = krate.item(id);
    match &consts[id.0 as usize] {
        ConstState::Done(v) => return Ok(v.clone()),
        ConstState::InProgress => return Err(("cycle detected when const-evaluating".into(), item.span)),
        ConstState::Failed => return Err(("erroneous constant encountered".into(), item.span)),
        ConstState::NotStarted => {}
    }
    let (init, locals) = match &item.kind {
        ItemKind::Const { init, locals, .. } => (*init, *locals),
        _ => return Err(("not a constant".into(), item.span)),
    };
    consts[id.0 as usize] = ConstState::InProgress;
    let mut frame = vec![Value::Unit; (locals.1 - locals.0) as usize];
    let mut interp = Interp { krate, res, consts, steps: *steps, depth: 0, base: locals.0 };
    let r = interp.eval_expr(init, &mut frame);
    *steps = interp.steps;
    match r {
        Ok(v) | Err(Flow::Return(v)) => {
            consts[id.0 as usize] = ConstState::Done(v.clone());
            Ok(v)
        }
        Err(Flow::Error(m, s)) => {
            consts[id.0 as usize] = ConstState::Failed;
            Err((m, s))
        }
    }
}

/// Evaluates every `const` item. Returns per-item values (None for non-consts).
#[inline(never)]
pub fn eval_consts(krate: &Crate, res: &Resolutions) -> (Vec<Option<Value>>, Vec<Diag>, u64) {
    let mut states = vec![ConstState::NotStarted; krate.items.len()];
    let mut errors = Vec::new();
    let mut steps = 0u64;
    for (i, item) in krate.items.iter().enumerate() {
        if let ItemKind::Const { .. } = item.kind {
            if let Err((msg, span)) = eval_const_item(krate, res, &mut states, ItemId(i as u32), &mut steps) {
                if !matches!(msg.as_str(), "erroneous constant encountered") {
                    errors.push(Diag::error(format!("evaluation of constant value failed: {}", msg), span).code("E0080"));
                }
            }
        }
    }
    let values = states
        .into_iter()
        .map(|s| match s {
            ConstState::Done(v) => Some(v),
            _ => None,
        })
        .collect();
    (values, errors, steps)
}
