//! Scalar expressions.

use super::{Ident, PipeExpr, Source, Span, TypeName};

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A column, `let` name or table name.
    Name(String),
    /// `*`, inside calls like `arg_max(x, *)` or `count(*)`.
    Star,
    Call {
        name: Ident,
        args: Vec<CallArg>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `x in (a, b)`, `x !in~ (dyn)`, `x in (T | project y)`.
    In {
        expr: Box<Expr>,
        negated: bool,
        case_insensitive: bool,
        list: Vec<PipeExpr>,
    },
    /// `x between (lo .. hi)`
    Between {
        expr: Box<Expr>,
        negated: bool,
        low: Box<Expr>,
        high: Box<Expr>,
    },
    /// `x has_any (a, b)` / `x has_all (...)`
    HasSet {
        expr: Box<Expr>,
        all: bool,
        list: Vec<Expr>,
    },
    /// `a.b` or `a['b']`
    Member {
        expr: Box<Expr>,
        name: String,
    },
    /// `a[0]`, `a[-1]`, `a[x]`
    Index {
        expr: Box<Expr>,
        index: Box<Expr>,
    },
    /// A parenthesised tabular expression used as a value, e.g. `toscalar((T | count))`.
    Subquery(Box<PipeExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallArg {
    /// `starttime = ago(1d)` names its parameter.
    pub name: Option<Ident>,
    pub value: PipeExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Plus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    EqCi,
    NotEqCi,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// `has`, `contains`, ... with their `!` and `_cs` forms.
    Str(StringOp),
}

/// A string predicate operator: the base test, whether it is negated (`!has`), and whether it
/// is case-sensitive (`has_cs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringOp {
    pub test: StringTest,
    pub negated: bool,
    pub case_sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringTest {
    Has,
    HasPrefix,
    HasSuffix,
    Contains,
    StartsWith,
    EndsWith,
    MatchesRegex,
    Like,
}

impl StringOp {
    pub fn from_token(token: &str) -> Option<StringOp> {
        // Kusto's older spellings, which its parser still takes (they are keywords in
        // Microsoft's analyzer): `containscs`, `notcontains`, `notcontainscs`.
        let token = match token {
            "containscs" => "contains_cs",
            "notcontains" => "!contains",
            "notcontainscs" => "!contains_cs",
            other => other,
        };
        let negated = token.starts_with('!');
        let rest = token.trim_start_matches('!');
        let (base, case_sensitive) = match rest.strip_suffix("_cs") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let test = match base {
            "has" => StringTest::Has,
            "hasprefix" => StringTest::HasPrefix,
            "hassuffix" => StringTest::HasSuffix,
            "contains" => StringTest::Contains,
            "startswith" => StringTest::StartsWith,
            "endswith" => StringTest::EndsWith,
            "like" => StringTest::Like,
            b if b.starts_with("matches") => StringTest::MatchesRegex,
            _ => return None,
        };
        let case_sensitive = case_sensitive || test == StringTest::MatchesRegex;
        Some(StringOp { test, negated, case_sensitive })
    }

    pub fn token(&self) -> String {
        let base = match self.test {
            StringTest::Has => "has",
            StringTest::HasPrefix => "hasprefix",
            StringTest::HasSuffix => "hassuffix",
            StringTest::Contains => "contains",
            StringTest::StartsWith => "startswith",
            StringTest::EndsWith => "endswith",
            StringTest::MatchesRegex => return "matches regex".to_string(),
            StringTest::Like => "like",
        };
        let mut s = String::new();
        if self.negated {
            s.push('!');
        }
        s.push_str(base);
        if self.case_sensitive {
            s.push_str("_cs");
        }
        s
    }
}

impl BinaryOp {
    pub fn token(&self) -> String {
        match self {
            BinaryOp::Or => "or".into(),
            BinaryOp::And => "and".into(),
            BinaryOp::Eq => "==".into(),
            BinaryOp::NotEq => "!=".into(),
            BinaryOp::EqCi => "=~".into(),
            BinaryOp::NotEqCi => "!~".into(),
            BinaryOp::Lt => "<".into(),
            BinaryOp::LtEq => "<=".into(),
            BinaryOp::Gt => ">".into(),
            BinaryOp::GtEq => ">=".into(),
            BinaryOp::Add => "+".into(),
            BinaryOp::Sub => "-".into(),
            BinaryOp::Mul => "*".into(),
            BinaryOp::Div => "/".into(),
            BinaryOp::Mod => "%".into(),
            BinaryOp::Str(s) => s.token(),
        }
    }

    /// Binding strength, higher binds tighter; the parser and the printer share it.
    pub fn precedence(&self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
            _ => 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Long(i64),
    /// An `int(...)` literal.
    Int(i32),
    Real(f64),
    String(String),
    /// Microseconds since the Unix epoch, UTC (see `values`).
    DateTime(i64),
    /// Nanoseconds.
    TimeSpan(i64),
    Guid(String),
    /// A `decimal(...)` literal, kept as written.
    Decimal(String),
    /// `dynamic(...)`
    Dynamic(DynValue),
    /// `int(null)`, `datetime(null)`, ...
    Null(TypeName),
}

/// The value inside `dynamic(...)`.
#[derive(Debug, Clone, PartialEq)]
pub enum DynValue {
    Null,
    Bool(bool),
    Long(i64),
    Real(f64),
    String(String),
    DateTime(i64),
    TimeSpan(i64),
    Array(Vec<DynValue>),
    Object(Vec<(String, DynValue)>),
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }

    /// The function name when this is a call, e.g. `bin` for `bin(T, 1h)`.
    pub fn call_name(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Call { name, .. } => Some(&name.name),
            _ => None,
        }
    }

    /// Calls `f` on each scalar expression directly inside this one (call arguments that are
    /// plain expressions, operands, `in` and `has_any` list items); tabular arguments and
    /// subqueries are left alone. For rewriting passes that replace some nodes.
    pub fn for_each_child_mut(&mut self, mut f: impl FnMut(&mut Expr)) {
        match &mut self.kind {
            ExprKind::Call { args, .. } => {
                for a in args {
                    if a.value.operators.is_empty()
                        && let Source::Expr(inner) = &mut a.value.source
                    {
                        f(inner);
                    }
                }
            }
            ExprKind::Unary { operand, .. } => f(operand),
            ExprKind::Binary { left, right, .. } => {
                f(left);
                f(right);
            }
            ExprKind::In { expr, list, .. } => {
                f(expr);
                for item in list {
                    if item.operators.is_empty()
                        && let Source::Expr(inner) = &mut item.source
                    {
                        f(inner);
                    }
                }
            }
            ExprKind::Between { expr, low, high, .. } => {
                f(expr);
                f(low);
                f(high);
            }
            ExprKind::HasSet { expr, list, .. } => {
                f(expr);
                list.iter_mut().for_each(&mut f);
            }
            ExprKind::Member { expr, .. } => f(expr),
            ExprKind::Index { expr, index } => {
                f(expr);
                f(index);
            }
            ExprKind::Literal(_) | ExprKind::Name(_) | ExprKind::Star | ExprKind::Subquery(_) => {}
        }
    }
}

impl TypeName {
    /// The name of a typed null literal, e.g. `datetime` for `datetime(null)`.
    pub fn null_literal(self) -> String {
        format!("{}(null)", self.as_str())
    }
}
