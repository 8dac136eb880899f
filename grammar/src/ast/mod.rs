//! The typed AST. Every node carries a [`Span`] into the query text. `==` compares spans too;
//! [`same_query`] compares two scripts as queries, spans aside (parse → print → parse).

mod display;
mod expr;
mod operator;

pub use expr::*;
pub use operator::*;

/// Byte range of a node in the query text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
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

/// Whether two scripts are the same query wherever their nodes sit in the text: their
/// structures, with every span left out, are equal. `kql check --round-trip` asks it of a
/// query and the query printed back and parsed again.
pub fn same_query(a: &Script, b: &Script) -> bool {
    without_spans(&format!("{a:?}")) == without_spans(&format!("{b:?}"))
}

/// A `Debug` rendering with each `Span { start: .., end: .. }` cut down to `Span`; text inside
/// quoted strings (a literal that happens to read like a span) is kept as it is.
fn without_spans(debug: &str) -> String {
    const OPEN: &str = "Span { start: ";
    let mut out = String::with_capacity(debug.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < debug.len() {
        let rest = &debug[i..];
        if !in_string
            && rest.starts_with(OPEN)
            && let Some(close) = rest.find('}')
        {
            out.push_str("Span");
            i += close + 1;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_compare_by_value_and_same_query_ignores_them() {
        assert_ne!(Span::new(1, 2), Span::new(1, 3));
        let a = crate::parse("T | where x == 1").unwrap();
        let b = crate::parse("T\n|   where x==1").unwrap();
        assert_ne!(a, b);
        assert!(same_query(&a, &b));
        let c = crate::parse("T | where x == 2").unwrap();
        assert!(!same_query(&a, &c));
        // A string literal that looks like a span is text, not a span.
        let d = crate::parse("print 'Span { start: 1, end: 2 }'").unwrap();
        let e = crate::parse("print 'Span { start: 9, end: 9 }'").unwrap();
        assert!(!same_query(&d, &e));
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
    CreateFunction {
        name: Ident,
        function: FunctionDef,
        span: Span,
    },
    /// `.create[-merge] table Name (Column: type, ...)`: the columns a table is read with.
    /// `merge`: the files' other columns are kept (`.create-merge`, `.alter-merge`).
    CreateTable {
        name: Ident,
        columns: Vec<ColumnDecl>,
        merge: bool,
        span: Span,
    },
    /// `set option [= value]`: accepted and carried; no option changes results yet.
    Set {
        name: String,
        value: Option<Expr>,
        span: Span,
    },
    /// `declare query_parameters(...)`
    DeclareParams {
        params: Vec<Param>,
        span: Span,
    },
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
    Tabular {
        columns: Vec<ColumnDecl>,
        open: bool,
    },
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
    Datatable {
        columns: Vec<ColumnDecl>,
        values: Vec<Expr>,
        span: Span,
    },
    Range {
        column: Ident,
        from: Expr,
        to: Expr,
        step: Expr,
        span: Span,
    },
    Print {
        columns: Vec<NamedExpr>,
        span: Span,
    },
    Union {
        params: Vec<OperatorParam>,
        tables: Vec<UnionItem>,
        span: Span,
    },
    /// `externaldata (cols) [urls] with (settings)`
    ExternalData {
        columns: Vec<ColumnDecl>,
        urls: Vec<String>,
        settings: Vec<(Ident, Expr)>,
        span: Span,
    },
    Search {
        params: Vec<OperatorParam>,
        tables: Vec<UnionItem>,
        predicate: Expr,
        span: Span,
    },
    /// `find [in (tables)] where predicate [project cols | project-smart]`
    Find {
        params: Vec<OperatorParam>,
        tables: Vec<UnionItem>,
        predicate: Expr,
        project: Option<Vec<ColumnPattern>>,
        span: Span,
    },
}
