//! Kusto's rules for naming result columns that the query does not name.

use kql_grammar::ast::{Expr, ExprKind, Literal, UnaryOp};

/// How a function's result column is named when it is not given a name, as Kusto's own
/// function catalog says (`result_name_kind` in `oracle --catalog`).
enum NameKind {
    /// `tostring(X)`, `bin(X, 1h)`, `abs(X)`: the first argument's name (the catalog's
    /// `FirstArgument`).
    Passed,
    /// `strlen(X)`: `strlen_X` (`NameAndFirstArgument`).
    Named,
    /// `gettype(X)`: `type_X` (`PrefixAndFirstArgument`); the prefix is the catalog's, not
    /// always the function's name.
    Prefixed(&'static str),
}

fn name_kind(function: &str) -> Option<NameKind> {
    Some(match function {
        "tostring"
        | "tolong"
        | "toint"
        | "toreal"
        | "todouble"
        | "todatetime"
        | "totimespan"
        | "totime"
        | "tobool"
        | "toboolean"
        | "todecimal"
        | "toguid"
        | "todynamic"
        | "toobject"
        | "tohex"
        | "parse_json"
        | "parsejson"
        | "parse_csv"
        | "parse_xml"
        | "split"
        | "format_datetime"
        | "format_timespan"
        | "startofday"
        | "bin"
        | "floor"
        | "bin_at"
        | "bin_auto"
        | "binary_and"
        | "binary_or"
        | "binary_xor"
        | "binary_not"
        | "binary_shift_left"
        | "binary_shift_right"
        | "bitset_count_ones"
        | "series_fir"
        | "series_outliers"
        | "series_iir"
        | "series_fill_backward"
        | "series_fill_forward"
        | "series_fill_const"
        | "series_fill_linear"
        | "round"
        | "ceiling"
        | "pow"
        | "sqrt"
        | "log"
        | "log2"
        | "log10"
        | "exp"
        | "exp2"
        | "exp10"
        | "cos"
        | "sin"
        | "tan"
        | "acos"
        | "asin"
        | "atan"
        | "atan2"
        | "abs"
        | "rand"
        | "gamma"
        | "loggamma"
        | "erf"
        | "erfc"
        | "format_bytes" => NameKind::Passed,
        "strlen" | "string_size" | "dcount_hll" | "percentile_tdigest" => NameKind::Named,
        // The prefixes Microsoft's analyzer gives (`gettype(s)` is `type_s`, `treepath(d)` is
        // `tree_d`, `repeat(s, 2)` is `repeat_s`).
        "gettype" => NameKind::Prefixed("type"),
        "treepath" => NameKind::Prefixed("tree"),
        "repeat" => NameKind::Prefixed("repeat"),
        _ => return None,
    })
}

/// The name Kusto infers for an unnamed expression, if any.
pub fn inferred_name(e: &Expr) -> Option<String> {
    inferred_name_with(e, &|_| None)
}

/// `inferred_name` over a table with the columns `input`: an unnamed
/// `column_ifexists("X", default)` whose `X` is a column is named `X`, as Microsoft's analyzer
/// names it (the default's type decides nothing); otherwise it is a `ColumnN`.
pub fn inferred_name_over(e: &Expr, input: &datafusion::common::DFSchema) -> Option<String> {
    inferred_name_with(e, &|e| match &e.kind {
        ExprKind::Call { name, args } if matches!(name.name.as_str(), "column_ifexists" | "columnifexists") => {
            match args.first().and_then(|a| a.value.as_expr()).map(|a| &a.kind) {
                Some(ExprKind::Literal(Literal::String(column))) if input.has_column_with_unqualified_name(column) => Some(column.clone()),
                _ => None,
            }
        }
        _ => None,
    })
}

/// `inferred_name`, where `call_name` names some calls itself: in a `summarize`, an aggregate
/// call is named as its result column (`tostring(make_set(x))` is `set_x`, `strlen(max(s))` is
/// `strlen_max_s`, as Microsoft's analyzer names them).
pub fn inferred_name_with(e: &Expr, call_name: &dyn Fn(&Expr) -> Option<String>) -> Option<String> {
    if let Some(name) = call_name(e) {
        return Some(name);
    }
    let inferred_name = |e: &Expr| inferred_name_with(e, call_name);
    match &e.kind {
        ExprKind::Name(n) => Some(n.clone()),
        // `EventData.Application` is `EventData_Application`; `a['x'][0]` is `a_x_0`.
        ExprKind::Member { expr, name } => Some(format!("{}_{name}", inferred_name(expr)?)),
        ExprKind::Index { expr, index } => {
            let key = match &index.kind {
                ExprKind::Literal(Literal::String(s)) => s.clone(),
                // Kusto leaves a negative index out of the name: `a[-1]` is `a_`.
                ExprKind::Literal(Literal::Long(i)) if *i >= 0 => i.to_string(),
                ExprKind::Literal(Literal::Int(i)) if *i >= 0 => i.to_string(),
                ExprKind::Literal(Literal::Long(_) | Literal::Int(_)) => String::new(),
                ExprKind::Unary { op: UnaryOp::Neg, operand }
                    if matches!(operand.kind, ExprKind::Literal(Literal::Long(_) | Literal::Int(_))) =>
                {
                    String::new()
                }
                _ => return None,
            };
            Some(format!("{}_{key}", inferred_name(expr)?))
        }
        ExprKind::Call { name, args } => {
            let first = args.first().and_then(|a| a.value.as_expr()).and_then(inferred_name);
            match name_kind(&name.name)? {
                NameKind::Passed => first,
                NameKind::Named => Some(format!("{}_{}", name.name, first?)),
                NameKind::Prefixed(prefix) => Some(format!("{prefix}_{}", first?)),
            }
        }
        _ => None,
    }
}

/// The name of an aggregate's result: `count_`, `sum_X`, `list_X`, ...
pub fn aggregate_name(prefix: &str, first_arg: Option<&Expr>) -> String {
    format!("{prefix}_{}", first_arg.and_then(inferred_name).unwrap_or_default())
}

/// Makes `name` unique among `taken` the way Kusto does: `X`, `X1`, `X2`, ...
pub fn unique_name(name: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == name) {
        return name.to_string();
    }
    (1..).map(|i| format!("{name}{i}")).find(|n| !taken.iter().any(|t| t == n)).unwrap_or_else(|| name.to_string())
}

/// The names of a join's (or lookup's) right columns beside the left's, as Microsoft's analyzer
/// gives them: a right column whose name the left has takes the first `NameN` that no column of
/// either side has and no column renamed before took; the others keep theirs. So `b` beside a
/// left `b1` and a right `b2` becomes `b3`, and a nested join's `a1` keeps its name while the
/// outer right `a` becomes `a2`.
pub fn right_side_names(left: &[String], right: &[String]) -> Vec<String> {
    let taken: Vec<&str> = left.iter().chain(right).map(String::as_str).collect();
    let mut renamed: Vec<String> = Vec::with_capacity(right.len());
    for n in right {
        if !left.contains(n) {
            renamed.push(n.clone());
            continue;
        }
        let name =
            (1..).map(|i| format!("{n}{i}")).find(|c| !taken.contains(&c.as_str()) && !renamed.contains(c)).unwrap_or_else(|| n.clone());
        renamed.push(name);
    }
    renamed
}

/// The next `ColumnN` not already taken.
pub fn next_column_name(counter: &mut usize, taken: &[String]) -> String {
    loop {
        *counter += 1;
        let name = format!("Column{counter}");
        if !taken.contains(&name) {
            return name;
        }
    }
}
