//! The catalog of KQL functions: one line per function in `catalog.txt` (kind, name,
//! parameters, result, one-line doc). The planner reads each function's arity from it and
//! knows no function that is not in it; `kql check`, completion, the REPL's `.help NAME` and
//! the README's lists read it too. The implementations stay where their family lives
//! (`functions/*.rs`, the planner's arms for functions that need the query's context).

use std::collections::HashMap;
use std::sync::OnceLock;

/// Where a function may stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FunctionKind {
    Scalar,
    /// In `summarize` (and `make-series`, `top-nested`...).
    Aggregate,
    /// On serialized rows (`next`, `row_number`, ...).
    Window,
    /// Several result columns, as a whole `extend`/`project` item (`series_stats`, ...).
    Tuple,
    /// After `evaluate`.
    Plugin,
}

impl FunctionKind {
    fn parse(word: &str) -> Option<FunctionKind> {
        Some(match word {
            "scalar" => FunctionKind::Scalar,
            "aggregate" => FunctionKind::Aggregate,
            "window" => FunctionKind::Window,
            "tuple" => FunctionKind::Tuple,
            "plugin" => FunctionKind::Plugin,
            _ => return None,
        })
    }

    /// Where a function of this kind stands, for `.help NAME`.
    pub fn role(self) -> &'static str {
        match self {
            FunctionKind::Scalar => "scalar function",
            FunctionKind::Aggregate => "aggregation function, in summarize",
            FunctionKind::Window => "window function, on serialized rows",
            FunctionKind::Tuple => "several result columns",
            FunctionKind::Plugin => "plugin, after evaluate",
        }
    }

    /// The plural noun for lists (`docs/functions.md`).
    pub fn plural(self) -> &'static str {
        match self {
            FunctionKind::Scalar => "scalar functions",
            FunctionKind::Aggregate => "aggregation functions",
            FunctionKind::Window => "window functions",
            FunctionKind::Tuple => "functions with several result columns",
            FunctionKind::Plugin => "plugins",
        }
    }
}

/// One parameter of a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    /// One of the catalog's type words (`string`, `number`, `scalar`, `column`, ...).
    pub kind: &'static str,
    pub optional: bool,
}

/// One function of the catalog.
#[derive(Clone, Debug)]
pub struct FunctionDef {
    pub kind: FunctionKind,
    pub name: &'static str,
    pub params: Vec<Param>,
    /// Fewest and most arguments (`usize::MAX`: no limit).
    pub min: usize,
    pub max: usize,
    /// The result's type word (`long`, `same`, `scalar`, `table`, ...).
    pub result: &'static str,
    /// `name(params) -> result`, as written in the catalog.
    pub signature: &'static str,
    pub doc: &'static str,
}

impl FunctionDef {
    /// Whether `n` arguments are accepted.
    pub fn accepts(&self, n: usize) -> bool {
        n >= self.min && n <= self.max
    }

    /// The error for a call with `n` arguments that `accepts` refuses, e.g.
    /// "strlen() takes 1 argument, got 2".
    pub fn arity_message(&self, n: usize) -> String {
        let expected = if self.min == self.max {
            format!("{}", self.min)
        } else if self.max == usize::MAX {
            format!("at least {}", self.min)
        } else {
            format!("{} to {}", self.min, self.max)
        };
        let plural = if self.min == 1 && self.max == 1 { "" } else { "s" };
        format!("{}() takes {expected} argument{plural}, got {n}", self.name)
    }
}

const CATALOG: &str = include_str!("catalog.txt");

/// The catalog's lines, parsed once; a line that does not parse is left out (a unit test
/// requires that none is).
pub fn catalog() -> &'static [FunctionDef] {
    static DEFS: OnceLock<Vec<FunctionDef>> = OnceLock::new();
    DEFS.get_or_init(|| entries().filter_map(|(_, parsed)| parsed.ok()).collect())
}

/// Every entry line of the catalog with its line number and what parsing it gave.
fn entries() -> impl Iterator<Item = (usize, Result<FunctionDef, String>)> {
    CATALOG.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')).map(|(i, l)| (i + 1, parse_line(l)))
}

/// The function named `name` (a KQL name or alias), if kql knows it. A name of two kinds
/// (`hll_merge`, a scalar and an aggregate) gives its first line.
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    by_name(name).first().copied()
}

/// The function named `name` of one kind.
pub fn lookup_kind(name: &str, kind: FunctionKind) -> Option<&'static FunctionDef> {
    by_name(name).iter().find(|d| d.kind == kind).copied()
}

fn by_name(name: &str) -> &'static [&'static FunctionDef] {
    static BY_NAME: OnceLock<HashMap<&'static str, Vec<&'static FunctionDef>>> = OnceLock::new();
    let map = BY_NAME.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<&'static FunctionDef>> = HashMap::new();
        for d in catalog() {
            map.entry(d.name).or_default().push(d);
        }
        map
    });
    map.get(name).map_or(&[], |v| v.as_slice())
}

/// The names of one kind, sorted.
pub fn names_of(kind: FunctionKind) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = catalog().iter().filter(|d| d.kind == kind).map(|d| d.name).collect();
    names.sort_unstable();
    names
}

/// Parses `KIND NAME(PARAMS) -> RESULT | DOC`.
fn parse_line(line: &'static str) -> Result<FunctionDef, String> {
    let (head, doc) = line.split_once(" | ").ok_or("no ' | ' before the doc")?;
    let (kind, signature) = head.split_once(' ').ok_or("no kind")?;
    let kind = FunctionKind::parse(kind).ok_or_else(|| format!("unknown kind '{kind}'"))?;
    let (call, result) = signature.rsplit_once(" -> ").ok_or("no ' -> ' before the result")?;
    let open = call.find('(').ok_or("no '('")?;
    let name = &call[..open];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("bad name '{name}'"));
    }
    let inner = call[open + 1..].strip_suffix(')').ok_or("no ')' at the end of the parameters")?;
    let (params, min, max) = parse_params(inner)?;
    Ok(FunctionDef { kind, name, params, min, max, result: result.trim(), signature, doc: doc.trim() })
}

/// The parameters, and the arity they give: those outside brackets are required; a last
/// `...` repeats the parameter before it without limit, `...N` up to N arguments in all.
fn parse_params(inner: &'static str) -> Result<(Vec<Param>, usize, usize), String> {
    let mut params = Vec::new();
    let mut depth = 0usize;
    let mut repeat: Option<usize> = None;
    // Brackets and commas split the text into pieces; each piece is a parameter or `...`.
    let mut piece_start = 0;
    let bytes = inner.as_bytes();
    let mut pieces: Vec<(&'static str, usize)> = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(b, b'[' | b']' | b',') {
            pieces.push((&inner[piece_start..i], depth));
            piece_start = i + 1;
            match b {
                b'[' => depth += 1,
                b']' => depth = depth.checked_sub(1).ok_or("unbalanced ']'")?,
                _ => {}
            }
        }
    }
    pieces.push((&inner[piece_start..], depth));
    if depth != 0 {
        return Err("unbalanced '['".into());
    }
    for (piece, depth) in pieces {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        if let Some(limit) = piece.strip_prefix("...") {
            if repeat.is_some() || params.is_empty() {
                return Err("'...' must follow a parameter, once".into());
            }
            repeat = Some(if limit.is_empty() { usize::MAX } else { limit.parse().map_err(|_| format!("bad limit '{limit}'"))? });
            continue;
        }
        if repeat.is_some() {
            return Err("a parameter after '...'".into());
        }
        let (name, kind) = piece.split_once(": ").ok_or_else(|| format!("parameter '{piece}' has no ': type'"))?;
        if !TYPE_WORDS.contains(&kind) {
            return Err(format!("unknown type '{kind}'"));
        }
        params.push(Param { name, kind, optional: depth > 0 });
    }
    let min = params.iter().filter(|p| !p.optional).count();
    let max = repeat.unwrap_or(params.len());
    Ok((params, min, max))
}

/// The type words a parameter may have.
const TYPE_WORDS: &[&str] = &[
    "string",
    "long",
    "int",
    "real",
    "bool",
    "datetime",
    "timespan",
    "dynamic",
    "decimal",
    "guid",
    "number",
    "scalar",
    "type",
    "table",
    "column",
    "predicate",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses_and_names_one_function() {
        let mut seen = std::collections::HashSet::new();
        for (line, parsed) in entries() {
            let def = parsed.unwrap_or_else(|e| panic!("catalog.txt:{line}: {e}"));
            assert!(seen.insert((def.name, def.kind)), "catalog.txt:{line}: {} is listed twice", def.name);
            assert!(def.doc.len() <= 120 && !def.doc.is_empty(), "catalog.txt:{line}: the doc is one short line");
        }
    }

    #[test]
    fn arity_comes_from_the_signature() {
        let arity = |line: &'static str| {
            let d = parse_line(line).expect("parses");
            (d.min, d.max)
        };
        assert_eq!(arity("scalar f(a: string) -> long | d"), (1, 1));
        assert_eq!(arity("scalar f(a: string [, b: long [, c: long]]) -> long | d"), (1, 3));
        assert_eq!(arity("scalar f(a: string, ...) -> long | d"), (1, usize::MAX));
        assert_eq!(arity("scalar f(a: string, b: scalar, ...64) -> long | d"), (2, 64));
        assert_eq!(arity("scalar f(a: string [, b: long], c: string) -> long | d"), (2, 3));
        assert_eq!(arity("aggregate count() -> long | d"), (0, 0));
        assert!(parse_line("scalar f(a: strin) -> long | d").is_err());
        assert!(parse_line("scalar f(a: string [, b: long) -> long | d").is_err());
    }

    #[test]
    fn arity_messages_read_as_before() {
        let d = lookup("strlen").expect("strlen");
        assert_eq!(d.arity_message(2), "strlen() takes 1 argument, got 2");
        let d = lookup("substring").expect("substring");
        assert_eq!(d.arity_message(1), "substring() takes 2 to 3 arguments, got 1");
        let d = lookup("strcat").expect("strcat");
        assert_eq!(d.arity_message(0), "strcat() takes 1 to 64 arguments, got 0");
    }

    /// Every row-wise library function is in the catalog with the arity it implements.
    #[test]
    fn the_library_and_the_catalog_agree() {
        for (name, def) in super::super::library::library() {
            if name.starts_with("__") {
                continue;
            }
            let Some(entry) = lookup(name) else { panic!("{name} is implemented but not in catalog.txt") };
            // A planner arm adds a `typeof(T)` argument to some (`extract`, `percentile_tdigest`).
            assert!(
                entry.min == def.min && entry.max >= def.max,
                "{name}: catalog {}..{}, library {}..{}",
                entry.min,
                entry.max,
                def.min,
                def.max
            );
        }
    }
}
