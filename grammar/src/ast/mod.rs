//! The typed AST. Every node carries a [`Span`] into the query text; equality ignores spans so
//! that parse → print → parse can be compared structurally.

mod display;
mod expr;
mod operator;

pub use expr::*;
pub use operator::*;

/// Byte range of a node in the query text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// Spans never take part in equality: two ASTs are equal when they mean the same query.
impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

/// A name as written, e.g. `SrcIpAddr` or `['my col']`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole query text: statements separated by `;`.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Let(LetStmt),
    /// `.create[-or-alter] function Name(params) { body }`
    CreateFunction { name: Ident, function: FunctionDef, span: Span },
    /// `set option [= value]`: accepted and carried; no option changes results yet.
    Set { name: String, value: Option<Expr>, span: Span },
    /// `declare query_parameters(...)`
    DeclareParams { params: Vec<Param>, span: Span },
    Query(PipeExpr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LetStmt {
    pub name: Ident,
    pub value: LetValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    Function(FunctionDef),
    /// A scalar or a tabular expression: which one is known only once names are resolved.
    Expr(PipeExpr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub params: Vec<Param>,
    pub body: FunctionBody,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionBody {
    pub lets: Vec<LetStmt>,
    pub result: PipeExpr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: ParamType,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    Scalar(TypeName),
    /// `(*)` or `(a:string, b:long [, *])`
    Tabular { columns: Vec<ColumnDecl>, open: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDecl {
    pub name: Ident,
    pub ty: TypeName,
}

/// KQL scalar types, with their aliases folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeName {
    Bool,
    Int,
    Long,
    Real,
    Decimal,
    String,
    DateTime,
    TimeSpan,
    Guid,
    Dynamic,
}

impl TypeName {
    pub fn from_name(s: &str) -> Option<TypeName> {
        Some(match s {
            "bool" | "boolean" => TypeName::Bool,
            "int" | "int32" | "int16" | "int8" | "uint" | "uint32" => TypeName::Int,
            "long" | "int64" | "uint64" | "ulong" => TypeName::Long,
            "real" | "double" | "float" => TypeName::Real,
            "decimal" => TypeName::Decimal,
            "string" => TypeName::String,
            "datetime" | "date" => TypeName::DateTime,
            "timespan" | "time" => TypeName::TimeSpan,
            "guid" | "uniqueid" => TypeName::Guid,
            "dynamic" => TypeName::Dynamic,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TypeName::Bool => "bool",
            TypeName::Int => "int",
            TypeName::Long => "long",
            TypeName::Real => "real",
            TypeName::Decimal => "decimal",
            TypeName::String => "string",
            TypeName::DateTime => "datetime",
            TypeName::TimeSpan => "timespan",
            TypeName::Guid => "guid",
            TypeName::Dynamic => "dynamic",
        }
    }
}

/// `source | op | op ...`; a bare scalar expression is a pipe with no operators.
#[derive(Debug, Clone, PartialEq)]
pub struct PipeExpr {
    pub source: Source,
    pub operators: Vec<Operator>,
    pub span: Span,
}

impl PipeExpr {
    /// The expression, when this pipe is only a scalar (or name) with no operators.
    pub fn as_expr(&self) -> Option<&Expr> {
        match (&self.source, self.operators.is_empty()) {
            (Source::Expr(e), true) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A table name, a `let` name, a function call, or a parenthesised pipe.
    Expr(Expr),
    Datatable { columns: Vec<ColumnDecl>, values: Vec<Expr>, span: Span },
    Range { column: Ident, from: Expr, to: Expr, step: Expr, span: Span },
    Print { columns: Vec<NamedExpr>, span: Span },
    Union { params: Vec<OperatorParam>, tables: Vec<UnionItem>, span: Span },
    /// `externaldata (cols) [urls] with (settings)`
    ExternalData { columns: Vec<ColumnDecl>, urls: Vec<String>, settings: Vec<(Ident, Expr)>, span: Span },
    Search { params: Vec<OperatorParam>, tables: Vec<UnionItem>, predicate: Expr, span: Span },
    /// `find [in (tables)] where predicate [project cols | project-smart]`
    Find { params: Vec<OperatorParam>, tables: Vec<UnionItem>, predicate: Expr, project: Option<Vec<ColumnPattern>>, span: Span },
}
