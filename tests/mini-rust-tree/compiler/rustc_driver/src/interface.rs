//! The frontend pipeline shared by rustc, rustdoc and clippy: lex, parse, resolve, type-check, CTFE.

use crate::ast::Crate;
use crate::ctfe::{self, Value};
use crate::lexer::{self, Interner, Token};
use crate::parser::Parser;
use crate::resolve::{self, Resolutions};
use crate::session::{Diag, Session};
use crate::typeck::{self, TypeckResults};
use std::time::{Duration, Instant};

pub struct Compiled {
    pub krate: Crate,
    pub interner: Interner,
    pub tokens: Vec<Token>,
    pub docs: Vec<String>,
    pub res: Resolutions,
    pub types: TypeckResults,
    pub consts: Vec<Option<Value>>,
    pub ctfe_steps: u64,
    pub timings: Vec<(&'static str, Duration)>,
}

/// Runs the frontend. Diagnostics are emitted on the session; `Err` means compilation must stop.
pub fn run_frontend(sess: &mut Session) -> Result<Compiled, ()> {
    let mut timings = Vec::new();
    let mut interner = Interner::new();
    let mut docs = Vec::new();

    let t = Instant::now();
    let src = std::mem::take(&mut sess.src);
    let tokens = lexer::tokenize(&src, &mut interner, &mut docs);
    sess.src = src;
    let tokens = match tokens {
        Ok(t) => t,
        Err(e) => {
            sess.emit(&Diag::error(e.msg, crate::ast::Span { lo: e.lo, hi: e.hi }));
            return sess.abort_if_errors().map(|_| unreachable!());
        }
    };
    timings.push(("lex", t.elapsed()));

    let t = Instant::now();
    let (krate, errors) = Parser::new(&tokens, &docs).parse_crate();
    sess.emit_all(&errors);
    sess.abort_if_errors()?;
    timings.push(("parse", t.elapsed()));

    let t = Instant::now();
    let (res, errors) = resolve::resolve_crate(&krate, &interner);
    sess.emit_all(&errors);
    sess.abort_if_errors()?;
    timings.push(("resolve", t.elapsed()));

    let t = Instant::now();
    let (types, errors) = typeck::check_crate(&krate, &res);
    sess.emit_all(&errors);
    sess.abort_if_errors()?;
    timings.push(("typeck", t.elapsed()));

    let t = Instant::now();
    let (consts, errors, ctfe_steps) = ctfe::eval_consts(&krate, &res);
    sess.emit_all(&errors);
    sess.abort_if_errors()?;
    timings.push(("ctfe", t.elapsed()));

    Ok(Compiled { krate, interner, tokens, docs, res, types, consts, ctfe_steps, timings })
}
