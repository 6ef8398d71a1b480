//! Mini rustdoc: runs the rustc_driver frontend, then renders HTML documentation with
//! highlighted sources and a search index.

use rustc_driver::ast::{ItemId, ItemKind, ModId};
use rustc_driver::interface::{run_frontend, Compiled};
use rustc_driver::lexer::TokKind;
use rustc_driver::session::{parse_args, Session};
use std::fmt::Write;
use std::path::PathBuf;

fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// A tiny markdown subset: paragraphs, `code` and **strong**.
#[inline(never)]
pub fn render_markdown(lines: &[String], out: &mut String) {
    let text = lines.join("\n");
    for para in text.split("\n\n") {
        out.push_str("<p>");
        let mut in_code = false;
        let mut in_strong = false;
        let mut chars = para.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '`' => {
                    out.push_str(if in_code { "</code>" } else { "<code>" });
                    in_code = !in_code;
                }
                '*' if chars.peek() == Some(&'*') && !in_code => {
                    chars.next();
                    out.push_str(if in_strong { "</strong>" } else { "<strong>" });
                    in_strong = !in_strong;
                }
                c => escape(&c.to_string(), out),
            }
        }
        if in_code {
            out.push_str("</code>");
        }
        if in_strong {
            out.push_str("</strong>");
        }
        out.push_str("</p>\n");
    }
}

/// Syntax-highlights the source of an item from the token stream.
#[inline(never)]
pub fn highlight_source(c: &Compiled, src: &str, lo: u32, hi: u32, out: &mut String) {
    out.push_str("<pre class=\"rust\">");
    let start = c.tokens.partition_point(|t| t.lo < lo);
    let mut last = lo as usize;
    for t in &c.tokens[start..] {
        if t.lo >= hi || t.kind == TokKind::Eof {
            break;
        }
        escape(&src[last..t.lo as usize], out);
        let class = match t.kind {
            TokKind::Ident(_) => "ident",
            TokKind::Int(_) => "number",
            TokKind::Doc(_) => "doccomment",
            TokKind::KwTrue | TokKind::KwFalse => "bool-val",
            TokKind::KwInt | TokKind::KwBool => "primitive",
            k if format!("{:?}", k).starts_with("Kw") => "kw",
            _ => "op",
        };
        let _ = write!(out, "<span class=\"{}\">", class);
        escape(&src[t.lo as usize..t.hi as usize], out);
        out.push_str("</span>");
        last = t.hi as usize;
    }
    out.push_str("</pre>\n");
}

fn render_module(c: &Compiled, src: &str, m: ModId, crate_name: &str, out: &mut String, index: &mut Vec<(String, String)>) {
    let module = c.krate.module(m);
    for &id in &module.items {
        let item = c.krate.item(id);
        let path = c.krate.item_path(id, &c.interner);
        let name = c.interner.get(item.name);
        let (kind, sig) = match &item.kind {
            ItemKind::Fn(d) => {
                let ps: Vec<String> =
                    d.sig.params.iter().map(|p| format!("{}: {}", c.interner.get(p.name), p.ty.display())).collect();
                ("fn", format!("fn {}({}) -> {}", name, ps.join(", "), d.sig.ret.display()))
            }
            ItemKind::ExternFn(s) => {
                let ps: Vec<String> =
                    s.params.iter().map(|p| format!("{}: {}", c.interner.get(p.name), p.ty.display())).collect();
                ("foreign-fn", format!("extern fn {}({}) -> {}", name, ps.join(", "), s.ret.display()))
            }
            ItemKind::Const { ty, .. } => {
                let v = c.consts[id.0 as usize].as_ref().map(|v| v.display()).unwrap_or_default();
                ("const", format!("const {}: {} = {}", name, ty.display(), v))
            }
            ItemKind::Mod(_) => ("mod", format!("mod {}", name)),
        };
        let _ = write!(out, "<section id=\"{}.{}\" class=\"item {}\"><h3><code>", kind, path, kind);
        escape(&sig, out);
        out.push_str("</code></h3>\n");
        render_markdown(&item.docs, out);
        let summary = item.docs.first().cloned().unwrap_or_default();
        index.push((format!("{}::{}", crate_name, path), summary));
        match &item.kind {
            ItemKind::Fn(_) => highlight_source(c, src, item.span.lo, item.span.hi, out),
            ItemKind::Mod(sub) => render_module(c, src, *sub, crate_name, out, index),
            _ => {}
        }
        out.push_str("</section>\n");
    }
}

/// Builds the JSON search index, sorted by path.
#[inline(never)]
pub fn build_search_index(index: &mut [(String, String)]) -> String {
    index.sort();
    let mut out = String::from("var searchIndex = [\n");
    for (path, summary) in index.iter() {
        out.push_str("  [\"");
        for ch in path.chars().chain("\", \"".chars()) {
            out.push(ch);
        }
        for ch in summary.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push_str("\"],\n");
    }
    out.push_str("];\n");
    out
}

fn document(mut opts: rustc_driver::session::Options) -> i32 {
    let out_dir = opts.output.take().or(opts.out_dir.take()).unwrap_or_else(|| PathBuf::from("doc"));
    let mut sess: Session = match rustc_driver::open_session(opts, "rustdoc") {
        Ok(s) => s,
        Err(c) => return c,
    };
    let compiled = match run_frontend(&mut sess) {
        Ok(c) => c,
        Err(()) => return 1,
    };
    let crate_name = sess.crate_name();
    let mut html = String::new();
    let _ = write!(html, "<!DOCTYPE html>\n<html><head><title>{} - Rust</title></head><body>\n<h1>Crate {}</h1>\n", crate_name, crate_name);
    let mut index = Vec::new();
    render_module(&compiled, &sess.src, ModId(0), &crate_name, &mut html, &mut index);
    html.push_str("</body></html>\n");
    let search = build_search_index(&mut index);
    let dir = out_dir.join(&crate_name);
    let r = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join("index.html"), html))
        .and_then(|_| std::fs::write(out_dir.join("search-index.js"), search));
    if let Err(e) = r {
        eprintln!("error: couldn't generate documentation: {}", e);
        return 1;
    }
    let _ = ItemId(0);
    0
}

pub fn main() -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}", e);
            std::process::exit(1);
        }
    };
    if opts.version == 1 {
        println!("{}", rustc_driver::version_line("rustdoc"));
        std::process::exit(0);
    }
    if opts.version == 2 {
        print!("{}", rustc_driver::verbose_version("rustdoc"));
        std::process::exit(0);
    }
    let code = rustc_driver::run_on_big_stack("rustdoc", move || document(opts));
    std::process::exit(code)
}
