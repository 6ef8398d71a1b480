//! Abstract syntax tree of the mini language, stored in flat arenas.

use crate::lexer::Sym;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExprId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocalId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModId(pub u32);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockId(pub u32);

#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub lo: u32,
    pub hi: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Int,
    Bool,
    Unit,
    Never,
    Tuple(Vec<Ty>),
    Err,
}

impl Ty {
    /// Number of scalar IR values needed to hold a value of this type.
    pub fn flat_size(&self) -> usize {
        match self {
            Ty::Int | Ty::Bool => 1,
            Ty::Unit | Ty::Never | Ty::Err => 0,
            Ty::Tuple(tys) => tys.iter().map(|t| t.flat_size()).sum(),
        }
    }
    pub fn display(&self) -> String {
        match self {
            Ty::Int => "int".into(),
            Ty::Bool => "bool".into(),
            Ty::Unit => "()".into(),
            Ty::Never => "!".into(),
            Ty::Err => "{error}".into(),
            Ty::Tuple(tys) => {
                let inner: Vec<String> = tys.iter().map(|t| t.display()).collect();
                if tys.len() == 1 {
                    format!("({},)", inner[0])
                } else {
                    format!("({})", inner.join(", "))
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: Sym,
    pub ty: Ty,
    pub local: LocalId,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct FnSig {
    pub params: Vec<Param>,
    pub ret: Ty,
}

#[derive(Clone, Debug)]
pub struct FnDecl {
    pub sig: FnSig,
    pub body: BlockId,
    /// Range of `LocalId`s allocated inside this function.
    pub locals: (u32, u32),
}

#[derive(Clone, Debug)]
pub enum ItemKind {
    Fn(FnDecl),
    Const { ty: Ty, init: ExprId, locals: (u32, u32) },
    Mod(ModId),
    ExternFn(FnSig),
}

#[derive(Clone, Debug)]
pub struct Item {
    pub name: Sym,
    pub kind: ItemKind,
    pub span: Span,
    pub docs: Vec<String>,
    pub module: ModId,
}

#[derive(Clone, Debug)]
pub struct Module {
    pub name: Sym,
    pub parent: Option<ModId>,
    pub items: Vec<ItemId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Rem => "%",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            And => "&&",
            Or => "||",
        }
    }
    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Debug)]
pub struct Path {
    pub segs: Vec<Sym>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Pat {
    Wild,
    Int(i64),
    Range(i64, i64),
    Bool(bool),
    Bind(Sym, LocalId),
    Or(Vec<Pat>),
}

#[derive(Clone, Debug)]
pub struct Arm {
    pub pat: Pat,
    pub body: ExprId,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Int(i64),
    Bool(bool),
    Unit,
    Path(Path),
    Call(Path, Vec<ExprId>),
    Bin(BinOp, ExprId, ExprId),
    Un(UnOp, ExprId),
    Tuple(Vec<ExprId>),
    Field(ExprId, u32),
    If(ExprId, BlockId, Option<ExprId>),
    While(ExprId, BlockId),
    Match(ExprId, Vec<Arm>),
    Block(BlockId),
    Assign(Path, ExprId),
    Return(Option<ExprId>),
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Let { local: LocalId, name: Sym, ty: Option<Ty>, init: ExprId, span: Span },
    /// Block-like expression without a trailing semicolon.
    Expr(ExprId),
    Semi(ExprId),
}

#[derive(Clone, Debug)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub tail: Option<ExprId>,
    pub span: Span,
}

#[derive(Default)]
pub struct Crate {
    pub items: Vec<Item>,
    pub exprs: Vec<Expr>,
    pub blocks: Vec<Block>,
    pub modules: Vec<Module>,
    pub local_names: Vec<Sym>,
}

impl Crate {
    pub fn expr(&self, id: ExprId) -> &Expr {
        &self.exprs[id.0 as usize]
    }
    pub fn block(&self, id: BlockId) -> &Block {
        &self.blocks[id.0 as usize]
    }
    pub fn item(&self, id: ItemId) -> &Item {
        &self.items[id.0 as usize]
    }
    pub fn module(&self, id: ModId) -> &Module {
        &self.modules[id.0 as usize]
    }
    /// `a::b::name` path of an item, relative to the crate root.
    pub fn item_path(&self, id: ItemId, interner: &crate::lexer::Interner) -> String {
        let item = self.item(id);
        let mut segs = vec![interner.get(item.name).to_string()];
        let mut m = Some(item.module);
        while let Some(mid) = m {
            let module = self.module(mid);
            if module.parent.is_some() {
                segs.push(interner.get(module.name).to_string());
            }
            m = module.parent;
        }
        segs.reverse();
        segs.join("::")
    }
}
