//! Mini `clippy-driver`: the rustc_driver frontend plus a few lints over the AST.

use rustc_driver::ast::{BinOp, Crate, ExprId, ExprKind, ItemKind, Stmt};
use rustc_driver::interface::run_frontend;
use rustc_driver::session::{parse_args, Diag};

fn same_expr(k: &Crate, a: ExprId, b: ExprId) -> bool {
    match (&k.expr(a).kind, &k.expr(b).kind) {
        (ExprKind::Int(x), ExprKind::Int(y)) => x == y,
        (ExprKind::Bool(x), ExprKind::Bool(y)) => x == y,
        (ExprKind::Path(p), ExprKind::Path(q)) => p.segs == q.segs,
        (ExprKind::Bin(o1, a1, b1), ExprKind::Bin(o2, a2, b2)) => o1 == o2 && same_expr(k, *a1, *a2) && same_expr(k, *b1, *b2),
        _ => false,
    }
}

/// Runs the lint passes over every expression.
#[inline(never)]
pub fn check_lints(k: &Crate) -> Vec<Diag> {
    let mut out = Vec::new();
    for (i, e) in k.exprs.iter().enumerate() {
        match &e.kind {
            ExprKind::Bin(op, a, b) if !matches!(op, BinOp::Add | BinOp::Mul) && same_expr(k, *a, *b) => {
                out.push(Diag::warning(format!("equal expressions as operands to `{}`", op.as_str()), e.span).code("clippy::eq_op"));
            }
            ExprKind::If(c, _, _) | ExprKind::While(c, _) => {
                if let ExprKind::Bool(b) = k.expr(*c).kind {
                    out.push(Diag::warning(format!("this condition is always `{}`", b), e.span).code("clippy::constant_condition"));
                }
            }
            ExprKind::Match(_, arms) if arms.len() == 1 => {
                out.push(Diag::warning("match with a single arm".into(), e.span).code("clippy::single_match"));
            }
            _ => {}
        }
        let _ = i;
    }
    for item in &k.items {
        if let ItemKind::Fn(d) = &item.kind {
            let body = k.block(d.body);
            if body.tail.is_none() {
                if let Some(Stmt::Semi(last)) = body.stmts.last() {
                    if let ExprKind::Return(Some(_)) = k.expr(*last).kind {
                        out.push(Diag::warning("unneeded `return` statement".into(), k.expr(*last).span).code("clippy::needless_return"));
                    }
                }
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}", e);
            std::process::exit(1);
        }
    };
    if opts.version > 0 {
        println!("{}", rustc_driver::version_line("clippy"));
        std::process::exit(0);
    }
    let code = rustc_driver::run_on_big_stack("clippy-driver", move || {
        let mut sess = match rustc_driver::open_session(opts, "clippy-driver") {
            Ok(s) => s,
            Err(c) => return c,
        };
        let compiled = match run_frontend(&mut sess) {
            Ok(c) => c,
            Err(()) => return 1,
        };
        let lints = check_lints(&compiled.krate);
        sess.emit_all(&lints);
        0
    });
    std::process::exit(code)
}
