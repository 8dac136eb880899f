//! Fresh queries from a small grammar: a source (a sample table, `range`, `print`, a
//! `datatable` of hostile rows), then operators over the columns known at each step, with
//! expressions that are mostly well typed and now and then a random call of any function.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::mutate::hostile;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Long,
    Real,
    Str,
    Bool,
    Date,
    Span,
    Dyn,
    /// Any of the others, picked when the expression is made.
    Any,
}

const TYPES: [Ty; 7] = [Ty::Long, Ty::Real, Ty::Str, Ty::Bool, Ty::Date, Ty::Span, Ty::Dyn];

pub fn ty_of_kql(name: &str) -> Option<Ty> {
    Some(match name {
        "int" | "long" => Ty::Long,
        "real" | "decimal" => Ty::Real,
        "string" | "guid" => Ty::Str,
        "bool" => Ty::Bool,
        "datetime" => Ty::Date,
        "timespan" => Ty::Span,
        "dynamic" => Ty::Dyn,
        _ => return None,
    })
}

fn kql_name(ty: Ty) -> &'static str {
    match ty {
        Ty::Long => "long",
        Ty::Real => "real",
        Ty::Str => "string",
        Ty::Bool => "bool",
        Ty::Date => "datetime",
        Ty::Span => "timespan",
        Ty::Dyn | Ty::Any => "dynamic",
    }
}

pub struct Generator<'a> {
    pub tables: &'a [(String, Vec<(String, Ty)>)],
    pub functions: &'a [String],
}

type Columns = Vec<(String, Ty)>;

fn any(rng: &mut StdRng) -> Ty {
    *TYPES.choose(rng).unwrap_or(&Ty::Long)
}

impl Generator<'_> {
    pub fn query(&self, rng: &mut StdRng) -> String {
        let (mut text, mut cols) = self.source(rng, 0);
        for _ in 0..rng.random_range(0..6) {
            let (op, next) = self.operator(rng, &cols, 0);
            text.push_str("\n| ");
            text.push_str(&op);
            cols = next;
        }
        if rng.random_ratio(1, 6) {
            let name = format!("v{}", rng.random_range(0..3));
            let expr = self.expr(rng, &[], Ty::Any, 0);
            text = format!("let {name} = {expr};\n{text}");
        }
        text
    }

    fn source(&self, rng: &mut StdRng, depth: u32) -> (String, Columns) {
        match rng.random_range(0..10) {
            0..=3 if !self.tables.is_empty() => {
                let (name, cols) = self.tables.choose(rng).expect("tables");
                let take = rng.random_range(1..300);
                (format!("{name} | take {take}"), cols.clone())
            }
            4 | 5 => {
                let (from, to, step) = if rng.random_ratio(1, 5) {
                    (hostile(rng), hostile(rng), hostile(rng))
                } else {
                    ("1".into(), rng.random_range(0..50).to_string(), rng.random_range(1..4).to_string())
                };
                (format!("range x from {from} to {to} step {step}"), vec![("x".into(), Ty::Long)])
            }
            6 => {
                let n = rng.random_range(1..4);
                let mut cols = Vec::new();
                let mut parts = Vec::new();
                for i in 0..n {
                    let ty = Ty::Any;
                    parts.push(format!("p{i} = {}", self.expr(rng, &[], ty, depth)));
                    cols.push((format!("p{i}"), ty));
                }
                (format!("print {}", parts.join(", ")), cols)
            }
            _ => {
                let cols: Columns = vec![
                    ("a".into(), Ty::Long),
                    ("r".into(), Ty::Real),
                    ("s".into(), Ty::Str),
                    ("b".into(), Ty::Bool),
                    ("d".into(), Ty::Date),
                    ("t".into(), Ty::Span),
                    ("y".into(), Ty::Dyn),
                ];
                let header: Vec<String> = cols.iter().map(|(n, t)| format!("{n}:{}", kql_name(*t))).collect();
                let mut cells = Vec::new();
                for _ in 0..rng.random_range(0..5) {
                    for (_, ty) in &cols {
                        cells.push(self.literal(rng, *ty));
                    }
                }
                (format!("datatable({})[{}]", header.join(", "), cells.join(", ")), cols)
            }
        }
    }

    fn column(&self, rng: &mut StdRng, cols: &[(String, Ty)], ty: Option<Ty>) -> Option<String> {
        let fit: Vec<&(String, Ty)> = cols.iter().filter(|(_, t)| ty.is_none_or(|w| w == *t)).collect();
        fit.choose(rng).map(|(n, _)| n.clone())
    }

    fn literal(&self, rng: &mut StdRng, ty: Ty) -> String {
        let ty = if ty == Ty::Any { any(rng) } else { ty };
        if rng.random_ratio(1, 3) {
            return hostile(rng);
        }
        match ty {
            Ty::Long => rng.random_range(-5..100).to_string(),
            Ty::Real => format!("{:.2}", rng.random_range(-10.0..10.0)),
            Ty::Str => ["'a'", "'abc'", "'10.1.5.23'", "'x y'", "'443'", "'2024-05-01'", "''"].choose(rng).unwrap_or(&"''").to_string(),
            Ty::Bool => ["true", "false"].choose(rng).unwrap_or(&"true").to_string(),
            Ty::Date => format!("datetime(2024-05-0{} 0{}:00)", rng.random_range(1..4), rng.random_range(0..10)),
            Ty::Span => ["1h", "5m", "1d", "30s", "100ms"].choose(rng).unwrap_or(&"1h").to_string(),
            Ty::Dyn | Ty::Any => ["dynamic([1,2,3])", "dynamic({'a':1})", "dynamic(['x','y'])", "dynamic(5)"]
                .choose(rng)
                .unwrap_or(&"dynamic(1)")
                .to_string(),
        }
    }

    /// An expression of (mostly) type `ty` over `cols`.
    pub fn expr(&self, rng: &mut StdRng, cols: &[(String, Ty)], ty: Ty, depth: u32) -> String {
        let ty = if ty == Ty::Any { any(rng) } else { ty };
        if depth > 4 || rng.random_ratio(1, 3) {
            if rng.random_bool(0.6)
                && let Some(c) = self.column(rng, cols, Some(ty))
            {
                return c;
            }
            return self.literal(rng, ty);
        }
        let d = depth + 1;
        if rng.random_ratio(1, 6) {
            // Any function, any arguments.
            let f = self.functions.choose(rng).map_or("strlen", |s| s.as_str());
            let n = rng.random_range(0..4);
            let args: Vec<String> = (0..n).map(|_| self.expr(rng, cols, Ty::Any, d)).collect();
            return format!("{f}({})", args.join(", "));
        }
        let e = |rng: &mut StdRng, t: Ty| self.expr(rng, cols, t, d);
        match ty {
            Ty::Long => match rng.random_range(0..8) {
                0 => format!("{} {} {}", e(rng, Ty::Long), ["+", "-", "*", "/", "%"].choose(rng).unwrap_or(&"+"), e(rng, Ty::Long)),
                1 => format!("strlen({})", e(rng, Ty::Str)),
                2 => format!("tolong({})", e(rng, Ty::Any)),
                3 => format!("array_length({})", e(rng, Ty::Dyn)),
                4 => format!(
                    "datetime_diff('{}', {}, {})",
                    ["day", "second", "year", "nanosecond"].choose(rng).unwrap_or(&"day"),
                    e(rng, Ty::Date),
                    e(rng, Ty::Date)
                ),
                5 => format!("countof({}, {})", e(rng, Ty::Str), e(rng, Ty::Str)),
                6 => format!("binary_shift_left({}, {})", e(rng, Ty::Long), e(rng, Ty::Long)),
                _ => format!("abs({})", e(rng, Ty::Long)),
            },
            Ty::Real => match rng.random_range(0..5) {
                0 => format!("{} / {}", e(rng, Ty::Real), e(rng, Ty::Real)),
                1 => format!("round({}, {})", e(rng, Ty::Real), e(rng, Ty::Long)),
                2 => format!("pow({}, {})", e(rng, Ty::Real), e(rng, Ty::Real)),
                3 => format!("toreal({})", e(rng, Ty::Str)),
                _ => format!("log({})", e(rng, Ty::Real)),
            },
            Ty::Str => match rng.random_range(0..9) {
                0 => format!("strcat({}, {})", e(rng, Ty::Str), e(rng, Ty::Any)),
                1 => format!("substring({}, {}, {})", e(rng, Ty::Str), e(rng, Ty::Long), e(rng, Ty::Long)),
                2 => format!("tostring({})", e(rng, Ty::Any)),
                3 => format!("extract({}, {}, {})", e(rng, Ty::Str), e(rng, Ty::Long), e(rng, Ty::Str)),
                4 => format!("replace_regex({}, {}, {})", e(rng, Ty::Str), e(rng, Ty::Str), e(rng, Ty::Str)),
                5 => format!(
                    "format_datetime({}, {})",
                    e(rng, Ty::Date),
                    ["'yyyy-MM-dd'", "'HH:mm:ss.fffffff'", "''", "'%'"].choose(rng).unwrap_or(&"''")
                ),
                6 => format!("strrep({}, {})", e(rng, Ty::Str), e(rng, Ty::Long)),
                7 => format!("tohex({}, {})", e(rng, Ty::Long), e(rng, Ty::Long)),
                _ => format!("trim({}, {})", e(rng, Ty::Str), e(rng, Ty::Str)),
            },
            Ty::Bool => match rng.random_range(0..8) {
                0 => format!("{} {} {}", e(rng, Ty::Long), ["==", "!=", "<", ">=", "<>"].choose(rng).unwrap_or(&"=="), e(rng, Ty::Long)),
                1 => format!(
                    "{} {} {}",
                    e(rng, Ty::Str),
                    ["has", "contains", "startswith", "=~", "!has", "matches regex", "has_cs", "in~"].choose(rng).unwrap_or(&"has"),
                    e(rng, Ty::Str)
                ),
                2 => format!("({}) and ({})", e(rng, Ty::Bool), e(rng, Ty::Bool)),
                3 => format!("not({})", e(rng, Ty::Bool)),
                4 => format!("isnull({})", e(rng, Ty::Any)),
                5 => format!("{} between ({} .. {})", e(rng, Ty::Date), e(rng, Ty::Date), e(rng, Ty::Date)),
                6 => format!("{} in ({}, {})", e(rng, Ty::Long), e(rng, Ty::Long), e(rng, Ty::Long)),
                _ => format!("{} > {}", e(rng, Ty::Date), e(rng, Ty::Date)),
            },
            Ty::Date => match rng.random_range(0..6) {
                0 => format!("{} + {}", e(rng, Ty::Date), e(rng, Ty::Span)),
                1 => format!("bin({}, {})", e(rng, Ty::Date), e(rng, Ty::Span)),
                2 => format!("todatetime({})", e(rng, Ty::Str)),
                3 => format!(
                    "datetime_add('{}', {}, {})",
                    ["day", "month", "year", "microsecond"].choose(rng).unwrap_or(&"day"),
                    e(rng, Ty::Long),
                    e(rng, Ty::Date)
                ),
                4 => format!("startofmonth({})", e(rng, Ty::Date)),
                _ => format!("ago({})", e(rng, Ty::Span)),
            },
            Ty::Span => match rng.random_range(0..5) {
                0 => format!("{} - {}", e(rng, Ty::Date), e(rng, Ty::Date)),
                1 => format!("{} * {}", e(rng, Ty::Span), e(rng, Ty::Long)),
                2 => format!("totimespan({})", e(rng, Ty::Str)),
                3 => format!("make_timespan({}, {})", e(rng, Ty::Long), e(rng, Ty::Long)),
                _ => format!("{} / {}", e(rng, Ty::Span), e(rng, Ty::Long)),
            },
            Ty::Dyn | Ty::Any => match rng.random_range(0..6) {
                0 => format!("pack_array({}, {})", e(rng, Ty::Long), e(rng, Ty::Str)),
                1 => format!("parse_json({})", e(rng, Ty::Str)),
                2 => format!("split({}, {})", e(rng, Ty::Str), e(rng, Ty::Str)),
                3 => format!("bag_pack({}, {})", e(rng, Ty::Str), e(rng, Ty::Long)),
                4 => format!("range({}, {}, {})", e(rng, Ty::Long), e(rng, Ty::Long), e(rng, Ty::Long)),
                _ => format!("{}[{}]", e(rng, Ty::Dyn), e(rng, Ty::Long)),
            },
        }
    }

    fn aggregate(&self, rng: &mut StdRng, cols: &Columns) -> (String, Ty) {
        let any = Ty::Any;
        let x = self.expr(rng, cols, any, 2);
        let l = self.expr(rng, cols, Ty::Long, 2);
        match rng.random_range(0..10) {
            0 => ("count()".into(), Ty::Long),
            1 => (format!("dcount({x})"), Ty::Long),
            2 => (format!("sum({l})"), Ty::Long),
            3 => (format!("avg({l})"), Ty::Real),
            4 => (format!("make_list({x})"), Ty::Dyn),
            5 => (format!("make_set({x}, {})", self.literal(rng, Ty::Long)), Ty::Dyn),
            6 => (format!("max({x})"), any),
            7 => (format!("percentile({l}, {})", self.literal(rng, Ty::Real)), Ty::Real),
            8 => (format!("countif({})", self.expr(rng, cols, Ty::Bool, 2)), Ty::Long),
            _ => (format!("stdev({l})"), Ty::Real),
        }
    }

    fn operator(&self, rng: &mut StdRng, cols: &Columns, depth: u32) -> (String, Columns) {
        let mut cols = cols.clone();
        let op = match rng.random_range(0..20) {
            0..=2 => format!("where {}", self.expr(rng, &cols, Ty::Bool, 0)),
            3 | 4 => {
                let ty = Ty::Any;
                let name =
                    if rng.random_ratio(1, 3) { self.column(rng, &cols, None).unwrap_or("e".into()) } else { format!("e{}", cols.len()) };
                let e = self.expr(rng, &cols, ty, 0);
                cols.retain(|(n, _)| *n != name);
                cols.push((name.clone(), ty));
                format!("extend {name} = {e}")
            }
            5 => {
                let keep: Columns = cols.iter().filter(|_| rng.random_bool(0.5)).cloned().collect();
                let keep = if keep.is_empty() { cols.iter().take(1).cloned().collect() } else { keep };
                cols = keep;
                format!("project {}", cols.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "))
            }
            6 | 7 => {
                let (agg, ty) = self.aggregate(rng, &cols);
                let mut out: Columns = vec![("agg".into(), ty)];
                let by = if rng.random_bool(0.7) {
                    let k = self.column(rng, &cols, None);
                    match k {
                        Some(k) if rng.random_bool(0.5) => {
                            let kt = cols.iter().find(|(n, _)| *n == k).map_or(Ty::Long, |c| c.1);
                            out.insert(0, (k.clone(), kt));
                            format!(" by {k}")
                        }
                        Some(k) if cols.iter().any(|(n, t)| *n == k && *t == Ty::Date) => {
                            out.insert(0, (k.clone(), Ty::Date));
                            format!(" by bin({k}, {})", self.literal(rng, Ty::Span))
                        }
                        _ => String::new(),
                    }
                } else {
                    String::new()
                };
                cols = out;
                format!("summarize agg = {agg}{by}")
            }
            8 => format!(
                "sort by {} {}",
                self.column(rng, &cols, None).unwrap_or("1".into()),
                ["asc", "desc", "", "asc nulls first"].choose(rng).unwrap_or(&"")
            ),
            9 => format!("take {}", self.literal(rng, Ty::Long)),
            10 => format!("top {} by {}", self.literal(rng, Ty::Long), self.expr(rng, &cols, Ty::Any, 2)),
            11 => {
                let c = self.column(rng, &cols, None).unwrap_or("x".into());
                cols.retain(|(n, _)| *n == c);
                format!("distinct {c}")
            }
            12 => {
                let c = self.column(rng, &cols, Some(Ty::Dyn)).unwrap_or_else(|| "y".into());
                format!(
                    "mv-expand {c}{}",
                    if rng.random_bool(0.3) { format!(" limit {}", self.literal(rng, Ty::Long)) } else { String::new() }
                )
            }
            13 => {
                let c = self.column(rng, &cols, Some(Ty::Str)).unwrap_or_else(|| "s".into());
                cols.push(("pv".into(), Ty::Long));
                format!(
                    "parse {}{c} with * {} pv:long *",
                    ["", "kind=regex ", "kind=relaxed "].choose(rng).unwrap_or(&""),
                    self.literal(rng, Ty::Str)
                )
            }
            14 if depth < 2 => {
                let (sub, sub_cols) = self.source(rng, depth + 1);
                let key = cols.iter().find(|(n, t)| sub_cols.iter().any(|(m, u)| m == n && u == t)).map(|(n, _)| n.clone());
                match key {
                    Some(k) => format!(
                        "join kind={} ({sub}) on {k}",
                        ["inner", "leftouter", "innerunique", "leftanti", "fullouter", "rightsemi"].choose(rng).unwrap_or(&"inner")
                    ),
                    None => {
                        cols.extend(sub_cols);
                        format!("union ({sub})")
                    }
                }
            }
            15 => {
                let d = self.column(rng, &cols, Some(Ty::Date));
                match d {
                    Some(d) => {
                        cols = vec![("v".into(), Ty::Dyn), (d.clone(), Ty::Dyn)];
                        format!(
                            "make-series v = count() default = 0 on {d} from {} to {} step {}",
                            self.literal(rng, Ty::Date),
                            self.literal(rng, Ty::Date),
                            self.literal(rng, Ty::Span)
                        )
                    }
                    None => "count".into(),
                }
            }
            16 => {
                cols.push(("rn".into(), Ty::Long));
                "serialize rn = row_number()".into()
            }
            17 => {
                cols = vec![("Count".into(), Ty::Long)];
                "count".into()
            }
            18 => {
                let c = self.column(rng, &cols, None).unwrap_or("x".into());
                cols.retain(|(n, _)| *n != c);
                format!("project-away {c}")
            }
            _ => {
                cols.push(("e_prev".into(), Ty::Long));
                format!(
                    "sort by {} | extend e_prev = prev({})",
                    self.column(rng, &cols, None).unwrap_or("1".into()),
                    self.column(rng, &cols, None).unwrap_or("1".into())
                )
            }
        };
        (op, cols)
    }
}
