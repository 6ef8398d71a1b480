//! Lexer for the mini language: turns source bytes into tokens.

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

pub const SYM_CRATE: Sym = Sym(0);
pub const SYM_SUPER: Sym = Sym(1);
pub const SYM_SELF: Sym = Sym(2);

/// String interner shared by every phase.
pub struct Interner {
    map: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Default for Interner {
    fn default() -> Self {
        Self::new()
    }
}

impl Interner {
    pub fn new() -> Interner {
        let mut i = Interner { map: HashMap::new(), names: Vec::new() };
        i.intern("crate");
        i.intern("super");
        i.intern("self");
        i
    }
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.map.get(s) {
            return sym;
        }
        let sym = Sym(self.names.len() as u32);
        self.names.push(s.into());
        self.map.insert(s.into(), sym);
        sym
    }
    pub fn get(&self, sym: Sym) -> &str {
        &self.names[sym.0 as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokKind {
    Ident(Sym),
    Int(i64),
    /// `/// text` doc comment; index into the doc table.
    Doc(u32),
    KwFn,
    KwConst,
    KwMod,
    KwExtern,
    KwLet,
    KwMut,
    KwWhile,
    KwIf,
    KwElse,
    KwMatch,
    KwReturn,
    KwTrue,
    KwFalse,
    KwInt,
    KwBool,
    KwCrate,
    KwSuper,
    KwSelf,
    Underscore,
    OpenParen,
    CloseParen,
    OpenBrace,
    CloseBrace,
    Comma,
    Semi,
    Colon,
    PathSep,
    Arrow,
    FatArrow,
    Dot,
    DotDotEq,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    Bang,
    Eq,
    And,
    Or,
    Caret,
    Shl,
    Shr,
    Eof,
}

impl TokKind {
    pub fn describe(&self) -> &'static str {
        use TokKind::*;
        match self {
            Ident(_) => "identifier",
            Int(_) => "integer literal",
            Doc(_) => "doc comment",
            KwFn => "`fn`",
            KwConst => "`const`",
            KwMod => "`mod`",
            KwExtern => "`extern`",
            KwLet => "`let`",
            KwMut => "`mut`",
            KwWhile => "`while`",
            KwIf => "`if`",
            KwElse => "`else`",
            KwMatch => "`match`",
            KwReturn => "`return`",
            KwTrue => "`true`",
            KwFalse => "`false`",
            KwInt => "`int`",
            KwBool => "`bool`",
            KwCrate => "`crate`",
            KwSuper => "`super`",
            KwSelf => "`self`",
            Underscore => "`_`",
            OpenParen => "`(`",
            CloseParen => "`)`",
            OpenBrace => "`{`",
            CloseBrace => "`}`",
            Comma => "`,`",
            Semi => "`;`",
            Colon => "`:`",
            PathSep => "`::`",
            Arrow => "`->`",
            FatArrow => "`=>`",
            Dot => "`.`",
            DotDotEq => "`..=`",
            Plus => "`+`",
            Minus => "`-`",
            Star => "`*`",
            Slash => "`/`",
            Percent => "`%`",
            EqEq => "`==`",
            Ne => "`!=`",
            Lt => "`<`",
            Le => "`<=`",
            Gt => "`>`",
            Ge => "`>=`",
            AndAnd => "`&&`",
            OrOr => "`||`",
            Bang => "`!`",
            Eq => "`=`",
            And => "`&`",
            Or => "`|`",
            Caret => "`^`",
            Shl => "`<<`",
            Shr => "`>>`",
            Eof => "end of file",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Token {
    pub kind: TokKind,
    pub lo: u32,
    pub hi: u32,
}

#[derive(Debug)]
pub struct LexError {
    pub msg: String,
    pub lo: u32,
    pub hi: u32,
}

fn keyword(word: &[u8]) -> Option<TokKind> {
    use TokKind::*;
    Some(match word {
        b"fn" => KwFn,
        b"const" => KwConst,
        b"mod" => KwMod,
        b"extern" => KwExtern,
        b"let" => KwLet,
        b"mut" => KwMut,
        b"while" => KwWhile,
        b"if" => KwIf,
        b"else" => KwElse,
        b"match" => KwMatch,
        b"return" => KwReturn,
        b"true" => KwTrue,
        b"false" => KwFalse,
        b"int" => KwInt,
        b"bool" => KwBool,
        b"crate" => KwCrate,
        b"super" => KwSuper,
        b"self" => KwSelf,
        b"_" => Underscore,
        _ => return None,
    })
}

/// Skips whitespace and comments, returning the position of the next token start.
fn skip_trivia(src: &[u8], mut pos: usize) -> Result<usize, LexError> {
    loop {
        while pos < src.len() && src[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos + 1 < src.len() && src[pos] == b'/' && src[pos + 1] == b'/' {
            // `///` (but not `////`) is a doc comment and therefore a token.
            if pos + 2 < src.len() && src[pos + 2] == b'/' && !(pos + 3 < src.len() && src[pos + 3] == b'/') {
                return Ok(pos);
            }
            while pos < src.len() && src[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        if pos + 1 < src.len() && src[pos] == b'/' && src[pos + 1] == b'*' {
            let start = pos;
            let mut depth = 0usize;
            while pos < src.len() {
                if pos + 1 < src.len() && src[pos] == b'/' && src[pos + 1] == b'*' {
                    depth += 1;
                    pos += 2;
                } else if pos + 1 < src.len() && src[pos] == b'*' && src[pos + 1] == b'/' {
                    depth -= 1;
                    pos += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    pos += 1;
                }
            }
            if depth != 0 {
                return Err(LexError { msg: "unterminated block comment".into(), lo: start as u32, hi: pos as u32 });
            }
            continue;
        }
        return Ok(pos);
    }
}

/// Lexes one token starting at `pos` (after trivia). Returns the token and the position after it.
#[inline(never)]
pub fn lex_token(
    src: &[u8],
    pos: usize,
    interner: &mut Interner,
    docs: &mut Vec<String>,
) -> Result<(Token, usize), LexError> {
    use TokKind::*;
    let pos = skip_trivia(src, pos)?;
    if pos >= src.len() {
        return Ok((Token { kind: Eof, lo: pos as u32, hi: pos as u32 }, pos));
    }
    let c = src[pos];
    let next = if pos + 1 < src.len() { src[pos + 1] } else { 0 };
    let tok = |kind, len: usize| Ok((Token { kind, lo: pos as u32, hi: (pos + len) as u32 }, pos + len));
    match c {
        b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
            let mut end = pos + 1;
            while end < src.len() && (src[end].is_ascii_alphanumeric() || src[end] == b'_') {
                end += 1;
            }
            let word = &src[pos..end];
            let kind = match keyword(word) {
                Some(k) => k,
                None => Ident(interner.intern(std::str::from_utf8(word).unwrap())),
            };
            tok(kind, end - pos)
        }
        b'0'..=b'9' => {
            let mut end = pos;
            let mut value: i64 = 0;
            let radix: i64 = if c == b'0' && (next == b'x' || next == b'X') {
                end += 2;
                16
            } else if c == b'0' && next == b'b' {
                end += 2;
                2
            } else {
                10
            };
            let digits_start = end;
            while end < src.len() && (src[end].is_ascii_hexdigit() || src[end] == b'_') {
                let d = src[end];
                end += 1;
                let v = match d {
                    b'_' => continue,
                    b'0'..=b'9' => (d - b'0') as i64,
                    b'a'..=b'f' => (d - b'a' + 10) as i64,
                    b'A'..=b'F' => (d - b'A' + 10) as i64,
                    _ => unreachable!(),
                };
                if v >= radix {
                    if radix == 10 {
                        return Err(LexError { msg: "invalid digit in integer literal".into(), lo: pos as u32, hi: end as u32 });
                    }
                    return Err(LexError { msg: format!("invalid digit for a base {} literal", radix), lo: pos as u32, hi: end as u32 });
                }
                value = match value.checked_mul(radix).and_then(|x| x.checked_add(v)) {
                    Some(x) => x,
                    None => {
                        return Err(LexError { msg: "integer literal is too large".into(), lo: pos as u32, hi: end as u32 })
                    }
                };
            }
            if end == digits_start {
                return Err(LexError { msg: "no valid digits found for number".into(), lo: pos as u32, hi: end as u32 });
            }
            tok(Int(value), end - pos)
        }
        b'/' if next == b'/' => {
            // Doc comment (skip_trivia only stops at `///`).
            let mut end = pos + 3;
            while end < src.len() && src[end] != b'\n' {
                end += 1;
            }
            let text = String::from_utf8_lossy(&src[pos + 3..end]).trim().to_string();
            docs.push(text);
            tok(Doc((docs.len() - 1) as u32), end - pos)
        }
        b'(' => tok(OpenParen, 1),
        b')' => tok(CloseParen, 1),
        b'{' => tok(OpenBrace, 1),
        b'}' => tok(CloseBrace, 1),
        b',' => tok(Comma, 1),
        b';' => tok(Semi, 1),
        b':' if next == b':' => tok(PathSep, 2),
        b':' => tok(Colon, 1),
        b'-' if next == b'>' => tok(Arrow, 2),
        b'-' => tok(Minus, 1),
        b'=' if next == b'>' => tok(FatArrow, 2),
        b'=' if next == b'=' => tok(EqEq, 2),
        b'=' => tok(Eq, 1),
        b'.' if next == b'.' && pos + 2 < src.len() && src[pos + 2] == b'=' => tok(DotDotEq, 3),
        b'.' => tok(Dot, 1),
        b'+' => tok(Plus, 1),
        b'*' => tok(Star, 1),
        b'/' => tok(Slash, 1),
        b'%' => tok(Percent, 1),
        b'!' if next == b'=' => tok(Ne, 2),
        b'!' => tok(Bang, 1),
        b'<' if next == b'=' => tok(Le, 2),
        b'<' if next == b'<' => tok(Shl, 2),
        b'<' => tok(Lt, 1),
        b'>' if next == b'=' => tok(Ge, 2),
        b'>' if next == b'>' => tok(Shr, 2),
        b'>' => tok(Gt, 1),
        b'&' if next == b'&' => tok(AndAnd, 2),
        b'&' => tok(And, 1),
        b'|' if next == b'|' => tok(OrOr, 2),
        b'|' => tok(Or, 1),
        b'^' => tok(Caret, 1),
        _ => {
            let ch = std::str::from_utf8(&src[pos..]).ok().and_then(|s| s.chars().next()).unwrap_or('?');
            Err(LexError { msg: format!("unknown start of token: {}", ch), lo: pos as u32, hi: (pos + ch.len_utf8()) as u32 })
        }
    }
}

/// Tokenizes a whole file.
pub fn tokenize(src: &str, interner: &mut Interner, docs: &mut Vec<String>) -> Result<Vec<Token>, LexError> {
    let bytes = src.as_bytes();
    let mut toks = Vec::with_capacity(bytes.len() / 3);
    let mut pos = 0;
    loop {
        let (t, next) = lex_token(bytes, pos, interner, docs)?;
        toks.push(t);
        if t.kind == TokKind::Eof {
            return Ok(toks);
        }
        pos = next;
    }
}
