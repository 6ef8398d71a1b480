//! Command-line options, diagnostics and the compilation session.

use crate::ast::Span;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

#[derive(Debug, Clone)]
pub struct Diag {
    pub level: Level,
    pub code: Option<&'static str>,
    pub msg: String,
    pub span: Span,
}

impl Diag {
    pub fn error(msg: String, span: Span) -> Diag {
        Diag { level: Level::Error, code: None, msg, span }
    }
    pub fn warning(msg: String, span: Span) -> Diag {
        Diag { level: Level::Warning, code: None, msg, span }
    }
    pub fn code(mut self, code: &'static str) -> Diag {
        self.code = Some(code);
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    Metadata,
    Link,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
    pub crate_name: Option<String>,
    pub emit: Emit,
    pub opt_level: u8,
    pub incremental: Option<PathBuf>,
    pub version: u8,
    pub help: bool,
    pub cap_warnings: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            input: None,
            output: None,
            out_dir: None,
            crate_name: None,
            emit: Emit::Link,
            opt_level: 0,
            incremental: None,
            version: 0,
            help: false,
            cap_warnings: false,
        }
    }
}

fn take_value(args: &[String], i: &mut usize, flag: &str) -> Result<String, String> {
    let a = &args[*i];
    if let Some(v) = a.strip_prefix(&format!("{}=", flag)) {
        return Ok(v.to_string());
    }
    if a.len() > flag.len() && a.starts_with(flag) && flag.len() == 2 {
        // `-Copt-level=3`, `-ofile`
        return Ok(a[flag.len()..].to_string());
    }
    *i += 1;
    args.get(*i).cloned().ok_or_else(|| format!("Argument to option '{}' missing", flag.trim_start_matches('-')))
}

/// Parses rustc-style command-line arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut verbose = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-V" | "--version" => o.version = o.version.max(1),
            "-v" | "--verbose" => verbose = true,
            "-vV" | "-Vv" => {
                verbose = true;
                o.version = 1;
            }
            "-h" | "--help" => o.help = true,
            "-O" => o.opt_level = 2,
            "-w" => o.cap_warnings = true,
            _ if a == "--emit" || a.starts_with("--emit=") => {
                let v = take_value(args, &mut i, "--emit")?;
                let kinds: Vec<&str> = v.split(',').map(|k| k.split('=').next().unwrap()).collect();
                for k in &kinds {
                    if !matches!(*k, "metadata" | "link" | "obj" | "dep-info") {
                        return Err(format!("unknown emission type: `{}`", k));
                    }
                }
                o.emit = if kinds.iter().any(|k| *k == "link" || *k == "obj") { Emit::Link } else { Emit::Metadata };
            }
            _ if a == "--crate-name" || a.starts_with("--crate-name=") => {
                o.crate_name = Some(take_value(args, &mut i, "--crate-name")?);
            }
            _ if a == "--crate-type" || a.starts_with("--crate-type=") || a == "--edition" || a.starts_with("--edition=") => {
                let flag = if a.starts_with("--crate-type") { "--crate-type" } else { "--edition" };
                take_value(args, &mut i, flag)?;
            }
            _ if a == "--out-dir" || a.starts_with("--out-dir=") => {
                o.out_dir = Some(PathBuf::from(take_value(args, &mut i, "--out-dir")?));
            }
            _ if a.starts_with("-o") => {
                o.output = Some(PathBuf::from(take_value(args, &mut i, "-o")?));
            }
            _ if a.starts_with("-C") => {
                let v = take_value(args, &mut i, "-C")?;
                let (key, val) = match v.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (v.clone(), None),
                };
                match (key.as_str(), val) {
                    ("opt-level", Some(l)) => {
                        o.opt_level = match l.as_str() {
                            "0" => 0,
                            "1" | "s" | "z" => 1,
                            "2" | "3" => 2,
                            _ => return Err(format!("incorrect value `{}` for codegen option `opt-level`", l)),
                        }
                    }
                    ("incremental", Some(d)) => o.incremental = Some(PathBuf::from(d)),
                    ("codegen-units", Some(_)) | ("debuginfo", Some(_)) | ("metadata", Some(_)) => {}
                    _ => return Err(format!("unknown codegen option: `{}`", key)),
                }
            }
            _ if a.starts_with('-') && a != "-" => return Err(format!("Unrecognized option: '{}'", a.trim_start_matches('-'))),
            _ => {
                if o.input.is_some() {
                    return Err(format!("multiple input filenames provided (first two filenames are `{}` and `{}`)", o.input.as_ref().unwrap().display(), a));
                }
                o.input = Some(PathBuf::from(a));
            }
        }
        i += 1;
    }
    if o.version > 0 && verbose {
        o.version = 2;
    }
    Ok(o)
}

/// Source file plus the diagnostic emitter.
pub struct Session {
    pub opts: Options,
    pub file_name: String,
    pub src: String,
    line_starts: Vec<u32>,
    pub err_count: usize,
    pub warn_count: usize,
    pub tool: &'static str,
}

impl Session {
    pub fn new(opts: Options, file_name: String, src: String, tool: &'static str) -> Session {
        let mut line_starts = vec![0u32];
        for (i, b) in src.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i as u32 + 1);
            }
        }
        Session { opts, file_name, src, line_starts, err_count: 0, warn_count: 0, tool }
    }

    pub fn line_col(&self, pos: u32) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&pos) {
            Ok(l) => l,
            Err(l) => l - 1,
        };
        (line + 1, (pos - self.line_starts[line]) as usize + 1)
    }

    pub fn emit(&mut self, d: &Diag) {
        if d.level == Level::Warning {
            if self.opts.cap_warnings {
                return;
            }
            self.warn_count += 1;
        } else {
            self.err_count += 1;
        }
        let lvl = match d.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let code = d.code.map(|c| format!("[{}]", c)).unwrap_or_default();
        let (line, col) = self.line_col(d.span.lo);
        let start = self.line_starts[line - 1] as usize;
        let end = self.src[start..].find('\n').map(|e| start + e).unwrap_or(self.src.len());
        let text = &self.src[start..end];
        let width = ((d.span.hi.saturating_sub(d.span.lo)) as usize).clamp(1, text.len().saturating_sub(col - 1).max(1));
        let gutter = " ".repeat(line.to_string().len());
        eprintln!("{}{}: {}", lvl, code, d.msg);
        eprintln!("{}--> {}:{}:{}", gutter, self.file_name, line, col);
        eprintln!("{} |", gutter);
        eprintln!("{} | {}", line, text);
        eprintln!("{} | {}{}", gutter, " ".repeat(col - 1), "^".repeat(width));
        eprintln!();
    }

    pub fn emit_all(&mut self, diags: &[Diag]) {
        for d in diags {
            self.emit(d);
        }
    }

    pub fn abort_if_errors(&self) -> Result<(), ()> {
        if self.err_count > 0 {
            if self.err_count == 1 {
                eprintln!("error: aborting due to 1 previous error");
            } else {
                eprintln!("error: aborting due to {} previous errors", self.err_count);
            }
            if self.warn_count > 0 {
                eprintln!();
            }
            return Err(());
        }
        Ok(())
    }

    pub fn crate_name(&self) -> String {
        if let Some(n) = &self.opts.crate_name {
            return n.clone();
        }
        let stem = std::path::Path::new(&self.file_name)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "main".into());
        stem.replace('-', "_")
    }
}
