//! Type-directed generation of random KQL scalar expressions. Each generator function returns
//! an expression of one KQL type, built only from operators and functions that accept their
//! argument types in Kusto, so a query that kql rejects points at kql or at a typing mistake
//! here, never at a deliberately ill-typed input.
//!
//! Every compound expression is parenthesised, so no case depends on operator precedence and
//! a column can be replaced by an expression text without changing how the rest parses.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::table::{Column, STRING_POOL, Table, Ty, Value, datetime_literal, random_value, string_literal, value_literal};

/// A piece of expression text: literal text, or a reference to a column that can be
/// substituted by another expression.
#[derive(Clone, Debug)]
enum Part {
    Text(String),
    Column(String),
}

/// Expression text that remembers where it names columns.
#[derive(Clone, Debug, Default)]
pub struct Expr {
    parts: Vec<Part>,
}

impl Expr {
    pub fn column(name: &str) -> Expr {
        Expr { parts: vec![Part::Column(name.to_string())] }
    }

    /// The KQL text.
    pub fn render(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Column(c) => c.as_str(),
            })
            .collect()
    }

    /// This expression with every reference to column `name` replaced by `(replacement)`.
    pub fn substitute(&self, name: &str, replacement: &Expr) -> Expr {
        let mut parts = Vec::new();
        for part in &self.parts {
            match part {
                Part::Column(c) if c == name => {
                    parts.push(Part::Text("(".into()));
                    parts.extend(replacement.parts.iter().cloned());
                    parts.push(Part::Text(")".into()));
                }
                other => parts.push(other.clone()),
            }
        }
        Expr { parts }
    }
}

impl From<&str> for Expr {
    fn from(text: &str) -> Expr {
        Expr { parts: vec![Part::Text(text.to_string())] }
    }
}

impl From<String> for Expr {
    fn from(text: String) -> Expr {
        Expr { parts: vec![Part::Text(text)] }
    }
}

/// Concatenates text and expressions: `kql!["(", a, " + ", b, ")"]`.
macro_rules! kql {
    ($($piece:expr),* $(,)?) => {{
        let mut parts = Expr::default();
        $( parts.append(Expr::from($piece)); )*
        parts
    }};
}

impl Expr {
    fn append(&mut self, other: Expr) {
        self.parts.extend(other.parts);
    }
}

/// Comparison operators that every ordered type (numbers, datetime, timespan) takes.
const ORDER_OPS: &[&str] = &["==", "!=", "<", "<=", ">", ">="];

/// String operators whose right side is one string.
const STRING_OPS: &[&str] = &[
    "has",
    "!has",
    "has_cs",
    "!has_cs",
    "contains",
    "!contains",
    "contains_cs",
    "!contains_cs",
    "startswith",
    "!startswith",
    "startswith_cs",
    "!startswith_cs",
    "endswith",
    "!endswith",
    "endswith_cs",
    "!endswith_cs",
    "hasprefix",
    "!hasprefix",
    "hassuffix",
    "!hassuffix",
    "==",
    "!=",
    "=~",
    "!~",
];

/// String operators whose right side is a list of strings.
const STRING_LIST_OPS: &[&str] = &["in", "!in", "in~", "!in~", "has_any", "has_all"];

/// Valid regular expressions (RE2 syntax, which Kusto uses).
const REGEXES: &[&str] = &["^a", "o+", "[0-9]+", "(?i)hello", "\\s", "^$", "c$", "^[A-Z]", "\\.", "l{2}"];

/// Bin sizes and timespan literals that are positive (bin needs a positive size).
const POSITIVE_SPANS: &[&str] = &["1ms", "1s", "90s", "15m", "1h", "6h", "1d", "7d"];

/// Properties and indexes the dynamic pool's values have (and some they lack).
const DYNAMIC_STEPS: &[&str] = &[".a", ".b", ".c", "['a']", "['b']", ".c.d", "[0]", "[1]", "[-1]", ".missing"];

/// Which numbers an expression may produce.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Num {
    /// int or long
    Integer,
    Real,
    Any,
}

/// Generates expressions over the columns in scope. `depth` bounds the nesting.
pub struct ExprGen<'a> {
    pub rng: &'a mut StdRng,
    scope: Vec<Column>,
    needles: Vec<String>,
}

impl<'a> ExprGen<'a> {
    pub fn new(rng: &'a mut StdRng, table: &Table) -> ExprGen<'a> {
        let needles = needles_from(table);
        ExprGen { rng, scope: table.columns.clone(), needles }
    }

    /// Puts a column (e.g. one an `extend` defines) in scope.
    pub fn add_column(&mut self, name: &str, ty: Ty) {
        self.scope.retain(|c| c.name != name);
        self.scope.push(Column { name: name.to_string(), ty });
    }

    /// An expression of type `ty`.
    pub fn scalar(&mut self, ty: Ty, depth: u32) -> Expr {
        match ty {
            Ty::Bool => self.boolean(depth),
            Ty::Long => self.number(Num::Integer, depth),
            Ty::Int => self.int_valued(depth),
            Ty::Real => self.number(Num::Real, depth),
            Ty::Str => self.string(depth),
            Ty::DateTime => self.datetime(depth),
            Ty::TimeSpan => self.timespan(depth),
            Ty::Dynamic => self.dynamic(depth),
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
        items.choose(self.rng).copied().unwrap_or_default()
    }

    /// A column of one of `types`, if the scope has one.
    fn column_of(&mut self, types: &[Ty]) -> Option<Expr> {
        let candidates: Vec<&Column> = self.scope.iter().filter(|c| types.contains(&c.ty)).collect();
        candidates.choose(self.rng).map(|c| Expr::column(&c.name))
    }

    fn literal(&mut self, ty: Ty) -> Expr {
        let value = random_value(self.rng, ty);
        Expr::from(value_literal(&value, ty))
    }

    // ---- bool ----

    /// A predicate. Nulls propagate through comparisons, so most of these can be null.
    pub fn boolean(&mut self, depth: u32) -> Expr {
        let d = depth.saturating_sub(1);
        if depth == 0 {
            return match self.rng.random_range(0..4) {
                0 => self.column_of(&[Ty::Bool]).unwrap_or_else(|| self.numeric_comparison(0)),
                1 => self.string_predicate(0),
                2 => self.null_test(0),
                _ => self.numeric_comparison(0),
            };
        }
        match self.rng.random_range(0..20) {
            0 => self.column_of(&[Ty::Bool]).unwrap_or_else(|| Expr::from(if self.chance(0.5) { "true" } else { "false" })),
            1 | 2 => self.numeric_comparison(d),
            3 => self.temporal_comparison(d),
            4 | 5 => self.string_predicate(d),
            6 => self.string_list_predicate(d),
            7 => self.numeric_in_list(d),
            8 => self.between(d),
            9 => self.null_test(d),
            10 | 11 => self.and_or(d),
            12 => kql!["not(", self.boolean(d), ")"],
            13 => kql!["iff(", self.boolean(d), ", ", self.boolean(d), ", ", self.boolean(d), ")"],
            14 => self.dynamic_predicate(d),
            15 => kql!["(", self.string(d), format!(" matches regex {}", string_literal(self.pick(REGEXES))), ")"],
            16 => {
                let op = self.pick(&["==", "!="]);
                kql!["(", self.boolean(d), format!(" {op} "), self.boolean(d), ")"]
            }
            17 => kql!["isnull(", self.boolean(d), ")"],
            _ => self.numeric_comparison(d),
        }
    }

    /// `and`/`or`. In Kusto they never give null: a null operand counts as false.
    fn and_or(&mut self, depth: u32) -> Expr {
        let op = if self.chance(0.5) { "and" } else { "or" };
        let (left, right) = (self.boolean(depth), self.boolean(depth));
        kql!["(", left, format!(" {op} "), right, ")"]
    }

    fn numeric_comparison(&mut self, depth: u32) -> Expr {
        let op = self.pick(ORDER_OPS);
        let left = self.number(Num::Any, depth);
        let right = if self.chance(0.6) { self.number_literal(Num::Any) } else { self.number(Num::Any, depth) };
        kql!["(", left, format!(" {op} "), right, ")"]
    }

    fn temporal_comparison(&mut self, depth: u32) -> Expr {
        let op = self.pick(ORDER_OPS);
        if self.chance(0.5) {
            let right = if self.chance(0.6) { self.literal(Ty::DateTime) } else { self.datetime(depth) };
            kql!["(", self.datetime(depth), format!(" {op} "), right, ")"]
        } else {
            let right = if self.chance(0.6) { self.literal(Ty::TimeSpan) } else { self.timespan(depth) };
            kql!["(", self.timespan(depth), format!(" {op} "), right, ")"]
        }
    }

    fn string_predicate(&mut self, depth: u32) -> Expr {
        let op = self.pick(STRING_OPS);
        let left = self.string(depth);
        let right = if self.chance(0.8) { Expr::from(self.needle()) } else { self.string(depth) };
        kql!["(", left, format!(" {op} "), right, ")"]
    }

    fn string_list_predicate(&mut self, depth: u32) -> Expr {
        let op = self.pick(STRING_LIST_OPS);
        let count = self.rng.random_range(1..=3);
        let items: Vec<String> = (0..count).map(|_| self.needle()).collect();
        kql!["(", self.string(depth), format!(" {op} ({}))", items.join(", "))]
    }

    fn numeric_in_list(&mut self, depth: u32) -> Expr {
        let op = self.pick(&["in", "!in"]);
        let kind = if self.chance(0.7) { Num::Integer } else { Num::Real };
        let count = self.rng.random_range(1..=4);
        let items: Vec<String> = (0..count).map(|_| self.number_literal(kind).render()).collect();
        kql!["(", self.number(kind, depth), format!(" {op} ({}))", items.join(", "))]
    }

    fn between(&mut self, depth: u32) -> Expr {
        let op = self.pick(&["between", "!between"]);
        let (value, low, high) = match self.rng.random_range(0..3) {
            0 => {
                let kind = if self.chance(0.5) { Num::Integer } else { Num::Real };
                (self.number(kind, depth), self.number_literal(kind), self.number_literal(kind))
            }
            1 => (self.datetime(depth), self.literal(Ty::DateTime), self.literal(Ty::DateTime)),
            _ => (self.timespan(depth), self.literal(Ty::TimeSpan), self.literal(Ty::TimeSpan)),
        };
        kql!["(", value, format!(" {op} ("), low, " .. ", high, "))"]
    }

    /// `isnull`/`isnotnull` of a type that can be null, `isempty`/`isnotempty` of any type.
    fn null_test(&mut self, depth: u32) -> Expr {
        let ty = *[Ty::Long, Ty::Int, Ty::Real, Ty::Bool, Ty::DateTime, Ty::TimeSpan, Ty::Dynamic, Ty::Str]
            .choose(self.rng)
            .unwrap_or(&Ty::Long);
        let function = if ty == Ty::Str {
            self.pick(&["isempty", "isnotempty"])
        } else {
            self.pick(&["isnull", "isnotnull", "isempty", "isnotempty"])
        };
        kql![format!("{function}("), self.scalar(ty, depth), ")"]
    }

    fn dynamic_predicate(&mut self, depth: u32) -> Expr {
        let path = self.dynamic_path();
        match self.rng.random_range(0..8) {
            0 => kql![format!("{}(", self.pick(&["isnull", "isnotnull", "isempty", "isnotempty"])), path, ")"],
            1 => kql!["(array_length(", path, format!(") {} {})", self.pick(ORDER_OPS), self.rng.random_range(-1..=3))],
            2 => kql!["(tolong(", path, format!(") {} ", self.pick(ORDER_OPS)), self.number_literal(Num::Integer), ")"],
            3 => kql!["(todouble(", path, format!(") {} ", self.pick(ORDER_OPS)), self.number_literal(Num::Real), ")"],
            4 => kql!["(tostring(", path, format!(") {} {})", self.pick(STRING_OPS), self.needle())],
            5 => {
                let kind = self.pick(&["array", "dictionary", "string", "long", "int", "real", "bool", "null"]);
                kql!["(gettype(", path, format!(") == \"{kind}\")")]
            }
            // A dynamic value compared with a typed one takes that one's type.
            6 => {
                let typed = if self.chance(0.5) { self.number_literal(Num::Integer) } else { Expr::from(self.needle()) };
                kql!["(", path, format!(" {} ", self.pick(&["==", "!="])), typed, ")"]
            }
            _ => kql!["(", self.number(Num::Integer, depth), " == array_length(", path, "))"],
        }
    }

    // ---- numbers ----

    fn number_literal(&mut self, kind: Num) -> Expr {
        let integer = match kind {
            Num::Integer => true,
            Num::Real => false,
            Num::Any => self.chance(0.7),
        };
        self.literal(if integer { Ty::Long } else { Ty::Real })
    }

    fn number_leaf(&mut self, kind: Num) -> Expr {
        let types: &[Ty] = match kind {
            Num::Integer => &[Ty::Long, Ty::Int],
            Num::Real => &[Ty::Real],
            Num::Any => &[Ty::Long, Ty::Int, Ty::Real],
        };
        if self.chance(0.75)
            && let Some(column) = self.column_of(types)
        {
            return column;
        }
        self.number_literal(kind)
    }

    /// A number of the given kind. Integer results are kept far from overflow: leaves are
    /// within ±1000 and nesting is shallow.
    pub fn number(&mut self, kind: Num, depth: u32) -> Expr {
        if depth == 0 || self.chance(0.3) {
            return self.number_leaf(kind);
        }
        let d = depth - 1;
        let kind = if kind == Num::Any { if self.chance(0.7) { Num::Integer } else { Num::Real } } else { kind };
        match self.rng.random_range(0..15) {
            0..=2 => {
                let op = self.pick(&["+", "-", "*"]);
                kql!["(", self.number(kind, d), format!(" {op} "), self.number(kind, d), ")"]
            }
            3 => kql!["(", self.number(kind, d), " / ", self.nonzero_divisor(kind), ")"],
            4 if kind == Num::Integer => kql!["(", self.number(kind, d), " % ", self.nonzero_divisor(kind), ")"],
            5 => self.divide_by_expression(kind, d),
            6 => kql!["abs(", self.number(kind, d), ")"],
            7 => kql!["bin(", self.number(kind, d), format!(", {})", self.rng.random_range(1..=10))],
            8 => self.conversion_to_number(kind, d),
            9 if kind == Num::Integer => kql!["strlen(", self.string(d), ")"],
            10 if kind == Num::Integer => kql!["array_length(", self.dynamic(d), ")"],
            11 => {
                let convert = if kind == Num::Integer { "tolong" } else { "todouble" };
                kql![
                    "iff(",
                    self.boolean(d),
                    format!(", {convert}("),
                    self.number(kind, d),
                    format!("), {convert}("),
                    self.number(kind, d),
                    "))"
                ]
            }
            12 => kql!["(-", self.number(kind, d), ")"],
            13 => self.number_function(kind, d),
            _ => self.number_leaf(kind),
        }
    }

    /// Functions of several arguments, and numbers read from strings and datetimes.
    fn number_function(&mut self, kind: Num, depth: u32) -> Expr {
        let convert = if kind == Num::Integer { "tolong" } else { "todouble" };
        match self.rng.random_range(0..6) {
            0 => kql![
                "case(",
                self.boolean(depth),
                format!(", {convert}("),
                self.number(kind, depth),
                "), ",
                self.boolean(depth),
                format!(", {convert}("),
                self.number(kind, depth),
                format!("), {convert}("),
                self.number_leaf(kind),
                "))"
            ],
            1 => kql![format!("coalesce({convert}("), self.number(kind, depth), format!("), {convert}("), self.number_leaf(kind), "))"],
            2 => {
                let function = self.pick(&["max_of", "min_of"]);
                kql![format!("{function}({convert}("), self.number(kind, depth), format!("), {convert}("), self.number(kind, depth), "))"]
            }
            3 if kind == Num::Real => kql!["round(", self.number(kind, depth), format!(", {})", self.rng.random_range(0..=2))],
            4 if kind == Num::Integer => {
                let function = self.pick(&["indexof", "countof", "strcmp"]);
                kql![format!("{function}("), self.string(depth), format!(", {})", self.needle())]
            }
            _ if kind == Num::Integer => {
                let function = self.pick(&["getyear", "hourofday", "getmonth", "dayofmonth"]);
                kql![format!("{function}("), self.datetime(depth), ")"]
            }
            _ => kql!["todouble(", self.string(depth), ")"],
        }
    }

    /// A literal divisor that is never zero.
    fn nonzero_divisor(&mut self, kind: Num) -> Expr {
        let magnitude = self.rng.random_range(1..=7);
        let sign = if self.chance(0.2) { -1 } else { 1 };
        match kind {
            Num::Real => Expr::from(format!("{}.5", sign * magnitude)),
            _ => Expr::from((sign * magnitude).to_string()),
        }
    }

    /// Division by an expression that can be zero: Kusto gives null for an integer and
    /// ±infinity or NaN for a real.
    fn divide_by_expression(&mut self, kind: Num, depth: u32) -> Expr {
        let op = if kind == Num::Integer && self.chance(0.5) { "%" } else { "/" };
        kql!["(", self.number(kind, depth), format!(" {op} "), self.number_leaf(kind), ")"]
    }

    /// toint/tolong/todouble of a number, a string, a bool or a dynamic value.
    fn conversion_to_number(&mut self, kind: Num, depth: u32) -> Expr {
        let function = match kind {
            Num::Real => "todouble",
            _ => self.pick(&["toint", "tolong"]),
        };
        let argument = match self.rng.random_range(0..5) {
            // toint of a large value would overflow int: convert leaves only.
            0 | 1 => self.number_leaf(Num::Any),
            2 => self.string(depth),
            3 => self.dynamic_path(),
            _ => self.column_of(&[Ty::Bool]).unwrap_or_else(|| self.number_leaf(Num::Any)),
        };
        kql![format!("{function}("), argument, ")"]
    }

    /// An expression of type int: an int column, `toint(...)` or an int literal.
    fn int_valued(&mut self, depth: u32) -> Expr {
        match self.rng.random_range(0..3) {
            0 => self.column_of(&[Ty::Int]).unwrap_or_else(|| self.literal(Ty::Int)),
            1 => kql!["toint(", self.number_leaf(Num::Any), ")"],
            _ if depth > 0 => kql!["toint(strlen(", self.string(depth - 1), "))"],
            _ => self.literal(Ty::Int),
        }
    }

    // ---- strings ----

    /// A string from the table's strings, a word of one in another case, or a fragment.
    fn needle(&mut self) -> String {
        let word = self.needles.choose(self.rng).cloned().unwrap_or_else(|| "a".to_string());
        let text = match self.rng.random_range(0..6) {
            0 => word.to_uppercase(),
            1 => word.to_lowercase(),
            2 if word.chars().count() > 2 => word.chars().skip(1).take(2).collect(),
            _ => word,
        };
        string_literal(&text)
    }

    pub fn string(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.chance(0.35) {
            return self.column_of(&[Ty::Str]).unwrap_or_else(|| self.literal(Ty::Str));
        }
        let d = depth - 1;
        match self.rng.random_range(0..11) {
            0 => kql![format!("{}(", self.pick(&["tolower", "toupper"])), self.string(d), ")"],
            1 => kql!["strcat(", self.string(d), ", ", self.string(d), ")"],
            2 => {
                let ty =
                    *[Ty::Long, Ty::Int, Ty::Real, Ty::Bool, Ty::DateTime, Ty::TimeSpan, Ty::Dynamic].choose(self.rng).unwrap_or(&Ty::Long);
                kql!["tostring(", self.scalar(ty, d), ")"]
            }
            3 => kql!["substring(", self.string(d), format!(", {}, {})", self.rng.random_range(0..=3), self.rng.random_range(0..=5))],
            4 => kql!["iff(", self.boolean(d), ", ", self.string(d), ", ", self.string(d), ")"],
            5 => kql!["replace_string(", self.string(d), format!(", {}, {})", self.needle(), self.needle())],
            6 => kql!["tostring(", self.dynamic_path(), ")"],
            7 => self.literal(Ty::Str),
            8 => match self.rng.random_range(0..4) {
                0 => kql!["tostring(split(", self.string(d), ", \" \")[0])"],
                1 => kql!["extract(\"([a-z]+)\", 1, ", self.string(d), ")"],
                2 => kql!["reverse(", self.string(d), ")"],
                _ => kql!["format_datetime(", self.datetime(d), ", \"yyyy-MM-dd HH:mm\")"],
            },
            _ => self.column_of(&[Ty::Str]).unwrap_or_else(|| self.literal(Ty::Str)),
        }
    }

    // ---- datetime and timespan ----

    pub fn datetime(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.chance(0.35) {
            return self.column_of(&[Ty::DateTime]).unwrap_or_else(|| self.literal(Ty::DateTime));
        }
        let d = depth - 1;
        match self.rng.random_range(0..7) {
            0 | 1 => {
                let op = self.pick(&["+", "-"]);
                kql!["(", self.datetime(d), format!(" {op} "), self.timespan(d), ")"]
            }
            2 => kql!["bin(", self.datetime(d), format!(", {})", self.pick(POSITIVE_SPANS))],
            3 => {
                let function = self.pick(&["startofday", "startofmonth", "endofday", "startofweek", "endofmonth"]);
                kql![format!("{function}("), self.datetime(d), ")"]
            }
            6 if self.chance(0.5) => kql!["todatetime(tostring(", self.datetime(d), "))"],
            4 => kql!["iff(", self.boolean(d), ", ", self.datetime(d), ", ", self.datetime(d), ")"],
            5 => {
                let unit = self.pick(&["day", "hour", "minute", "month"]);
                kql![format!("datetime_add(\"{unit}\", {}, ", self.rng.random_range(-3..=3)), self.datetime(d), ")"]
            }
            _ => Expr::from(datetime_literal(0)),
        }
    }

    pub fn timespan(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.chance(0.35) {
            return self.column_of(&[Ty::TimeSpan]).unwrap_or_else(|| self.literal(Ty::TimeSpan));
        }
        let d = depth - 1;
        match self.rng.random_range(0..9) {
            0 | 1 => {
                let op = self.pick(&["+", "-"]);
                kql!["(", self.timespan(d), format!(" {op} "), self.timespan(d), ")"]
            }
            2 => kql!["(", self.datetime(d), " - ", self.datetime(d), ")"],
            3 => kql!["(", self.timespan(d), format!(" * {})", self.rng.random_range(-3..=3))],
            4 => kql!["(", self.timespan(d), format!(" / {})", self.rng.random_range(1..=4))],
            5 => kql!["bin(", self.timespan(d), format!(", {})", self.pick(POSITIVE_SPANS))],
            6 => kql!["iff(", self.boolean(d), ", ", self.timespan(d), ", ", self.timespan(d), ")"],
            7 => kql!["dayofweek(", self.datetime(d), ")"],
            _ => kql!["totimespan(tostring(", self.timespan(d), "))"],
        }
    }

    // ---- dynamic ----

    /// A dynamic column followed by zero to two property or index steps.
    fn dynamic_path(&mut self) -> Expr {
        let Some(mut path) = self.column_of(&[Ty::Dynamic]) else {
            return self.literal(Ty::Dynamic);
        };
        for _ in 0..self.rng.random_range(0..=2) {
            path.append(Expr::from(self.pick(DYNAMIC_STEPS)));
        }
        path
    }

    pub fn dynamic(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.chance(0.6) {
            return self.dynamic_path();
        }
        match self.rng.random_range(0..3) {
            0 => self.literal(Ty::Dynamic),
            1 => kql!["pack_array(", self.number(Num::Integer, depth - 1), ", ", self.string(depth - 1), ")"],
            _ => kql!["iff(", self.boolean(depth - 1), ", ", self.dynamic_path(), ", ", self.dynamic_path(), ")"],
        }
    }
}

/// The strings and alphanumeric words of the table's string columns and the string pool.
fn needles_from(table: &Table) -> Vec<String> {
    let mut needles: Vec<String> = Vec::new();
    let strings = table
        .rows
        .iter()
        .flat_map(|row| row.iter())
        .filter_map(|v| if let Value::Str(s) = v { Some(s.as_str()) } else { None })
        .chain(STRING_POOL.iter().copied());
    for s in strings {
        if !s.is_empty() {
            needles.push(s.to_string());
        }
        needles.extend(s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string));
    }
    needles.sort();
    needles.dedup();
    needles
}
