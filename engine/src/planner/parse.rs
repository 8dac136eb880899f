//! `parse` and `parse-where`: a pattern of literals, columns and `*` turned into one regular
//! expression whose named groups fill the columns.
//!
//! `kind=simple` (the default) matches literals as written, columns lazily (the last one to the
//! end of the text), typed columns by their type's shape; `kind=regex` takes the literals as
//! regular expressions and columns greedily (`flags=` sets regex flags); `kind=relaxed` is simple
//! matching where a value that does not convert to its column's type is null instead of failing
//! the match.

use datafusion::common::Column;
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, OperatorParam, ParseItem, Span, TypeName};

use super::expr::ExprPlanner;
use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::functions;
use crate::functions::kv::KvSettings;

#[derive(Clone, Copy, PartialEq)]
enum ParseKind {
    Simple,
    Regex,
    Relaxed,
}

/// The regex shape a typed column matches in simple mode.
/// In relaxed mode a typed column takes its type's shape when it can, and any text (which
/// then converts to null) when it cannot.
fn typed_group(ty: Option<TypeName>, last: bool, kind: ParseKind) -> &'static str {
    match (kind, ty) {
        (ParseKind::Relaxed, Some(TypeName::Long | TypeName::Int)) => r"(-?\d+|.*?)",
        (ParseKind::Relaxed, Some(TypeName::Real | TypeName::Decimal)) => r"(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|.*?)",
        (ParseKind::Relaxed, Some(TypeName::Bool)) => r"((?i:true|false|1|0)|.*?)",
        (ParseKind::Simple | ParseKind::Regex, Some(TypeName::Long | TypeName::Int)) => r"(-?\d+)",
        (ParseKind::Simple | ParseKind::Regex, Some(TypeName::Real | TypeName::Decimal)) => r"(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)",
        (ParseKind::Simple | ParseKind::Regex, Some(TypeName::Bool)) => r"((?i:true|false|1|0))",
        (ParseKind::Regex, _) => "(.*)",
        (_, _) if last => "(.*)",
        _ => "(.*?)",
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl Planner<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_parse(
        &self,
        env: &Env,
        tab: Tabular,
        keep_only_matches: bool,
        params: &[OperatorParam],
        source: &ast::Expr,
        pattern: &[ParseItem],
        span: Span,
    ) -> Result<Tabular> {
        let mut kind = ParseKind::Simple;
        let mut flags = String::new();
        for p in params {
            match (p.name.as_str(), p.value.as_str()) {
                ("kind", "simple") => kind = ParseKind::Simple,
                ("kind", "regex") => kind = ParseKind::Regex,
                ("kind", "relaxed") => kind = ParseKind::Relaxed,
                ("flags", f) => {
                    if !f.chars().all(|c| "Uimsx".contains(c)) {
                        return Err(KqlError::at(p.span, format!("unknown regex flags '{f}' (use U, i, m, s, x)")));
                    }
                    flags = f.to_string();
                }
                (name, value) => return Err(KqlError::at(p.span, format!("parse does not take {name}={value}"))),
            }
        }
        if !flags.is_empty() && kind != ParseKind::Regex {
            return Err(KqlError::at(span, "flags= goes with kind=regex"));
        }
        // The regular expression, and the columns its groups fill.
        let mut regex = String::new();
        if !flags.is_empty() {
            regex.push_str(&format!("(?{flags})"));
        }
        if kind != ParseKind::Regex {
            // In simple and relaxed mode `*` and the text of a column match across line breaks
            // (Microsoft's ASIM parsers read multi-line EventData this way; DESIGN.md's traps).
            regex.push_str("(?s)^");
        }
        let last_column = pattern.iter().rposition(|i| matches!(i, ParseItem::Column { .. }));
        let trailing_only_star = |pos: usize| pattern[pos + 1..].iter().all(|i| matches!(i, ParseItem::Star));
        let mut columns: Vec<(String, Option<TypeName>)> = Vec::new();
        for (pos, item) in pattern.iter().enumerate() {
            match item {
                ParseItem::Star => regex.push_str(if kind == ParseKind::Regex { ".*" } else { ".*?" }),
                ParseItem::Literal(text) => {
                    if kind == ParseKind::Regex {
                        regex.push_str(&functions::regex_syntax::kusto_regex(text));
                    } else {
                        regex.push_str(&regex::escape(text));
                    }
                }
                ParseItem::Column { name, ty } => {
                    let last = Some(pos) == last_column && trailing_only_star(pos);
                    let group = typed_group(*ty, last, kind);
                    regex.push_str(&format!("(?P<k{}>{}", columns.len(), &group[1..]));
                    if let Some(i) = columns.iter().position(|(n, _)| *n == name.name) {
                        return Err(KqlError::at(name.span, format!("column '{}' appears twice in the pattern", columns[i].0)));
                    }
                    columns.push((name.name.clone(), *ty));
                }
            }
        }
        if let Err(e) = regex::Regex::new(&regex) {
            return Err(KqlError::at(span, format!("the parse pattern is not a valid regular expression: {e}")));
        }
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), tab.order.as_deref());
        let text = ep.as_string(source)?;
        let groups = functions::udfs().parse_groups.call(vec![text, lit(regex)]);
        // Parse once into a hidden column, then read each group from it.
        let existing: Vec<String> = tab.plan.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut with_groups: Vec<Expr> = existing.iter().map(|n| column(n)).collect();
        with_groups.push(groups.alias("__kql_parsed"));
        let plan = LogicalPlanBuilder::from(tab.plan).project_exact(with_groups)?;
        let value = |i: usize, ty: Option<TypeName>| -> Expr {
            let raw = datafusion::functions_nested::expr_fn::array_element(column("__kql_parsed"), lit(i as i64 + 1));
            let u = functions::udfs();
            match ty {
                None | Some(TypeName::String) | Some(TypeName::Guid) => datafusion::functions::core::expr_fn::coalesce(vec![raw, lit("")]),
                Some(TypeName::Long) => u.tolong.call(vec![raw]),
                Some(TypeName::Int) => u.toint.call(vec![raw]),
                Some(TypeName::Real) => u.toreal.call(vec![raw]),
                Some(TypeName::Decimal) => crate::types::to_decimal(raw),
                Some(TypeName::DateTime) => u.todatetime.call(vec![raw]),
                Some(TypeName::Bool) => u.tobool.call(vec![raw]),
                Some(TypeName::Dynamic) => u.parse_json.call(vec![raw]),
                Some(TypeName::TimeSpan) => u.totimespan.call(vec![raw]),
            }
        };
        // Outside relaxed mode a typed value that does not convert fails the match, as a text
        // that does not fit the pattern does: the row gets no values (parse) or goes (parse-where).
        let is_string = |ty: Option<TypeName>| matches!(ty, None | Some(TypeName::String));
        let mut matched = column("__kql_parsed").is_not_null();
        if kind != ParseKind::Relaxed {
            for (i, (_, ty)) in columns.iter().enumerate() {
                if !is_string(*ty) {
                    matched = matched.and(value(i, *ty).is_not_null());
                }
            }
        }
        let mut plan = plan.project_exact(
            existing.iter().map(|n| column(n)).chain([column("__kql_parsed"), matched.alias("__kql_matched")]).collect::<Vec<_>>(),
        )?;
        if keep_only_matches {
            plan = plan.filter(column("__kql_matched"))?;
        }
        let checked = |i: usize, ty: Option<TypeName>| -> Result<Expr> {
            let unmatched = if is_string(ty) { lit("") } else { lit(datafusion::common::ScalarValue::Null) };
            Ok(datafusion::logical_expr::when(column("__kql_matched"), value(i, ty)).otherwise(unmatched)?)
        };
        let mut out: Vec<Expr> = Vec::new();
        for n in &existing {
            out.push(match columns.iter().position(|(c, _)| c == n) {
                Some(i) => checked(i, columns[i].1)?.alias(n),
                None => column(n),
            });
        }
        for (i, (name, ty)) in columns.iter().enumerate() {
            if !existing.contains(name) {
                out.push(checked(i, *ty)?.alias(name));
            }
        }
        let plan = plan.project_exact(out)?.build()?;
        Ok(Tabular::ordered(plan, tab.order))
    }
}

impl Planner<'_> {
    /// `parse-kv text as (k:type, ...) with (...)`: a column per key, its value converted to
    /// the column's type (see `functions/kv.rs` for the modes).
    pub(super) fn plan_parse_kv(
        &self,
        env: &Env,
        tab: Tabular,
        source: &ast::Expr,
        columns: &[ast::ColumnDecl],
        settings: &[(ast::Ident, ast::Expr)],
    ) -> Result<Tabular> {
        let mut kv_settings = KvSettings::default();
        for (name, value) in settings {
            let v = super::expr::evaluate_constant(&self.plan_constant(env, value)?).map_err(|e| e.or_at(value.span))?;
            let text = match (name.name.as_str(), v) {
                ("greedy", datafusion::common::ScalarValue::Boolean(Some(b))) => {
                    kv_settings.greedy = b;
                    continue;
                }
                ("greedy", _) => return Err(KqlError::at(value.span, "parse-kv's greedy setting is true or false")),
                (_, datafusion::common::ScalarValue::Utf8(Some(t))) => t,
                _ => return Err(KqlError::at(value.span, format!("parse-kv's {} setting is a string", name.name))),
            };
            match name.name.as_str() {
                "pair_delimiter" => kv_settings.pair = Some(text),
                "kv_delimiter" => kv_settings.kv = Some(text),
                // Quotes and escapes can be given more than once.
                "quote" => kv_settings.quotes.extend(KvSettings::quotes_from(&text)),
                "escape" => kv_settings.escapes.extend(text.chars().next()),
                "regex" => {
                    let text = functions::regex_syntax::kusto_regex(&text).into_owned();
                    if let Err(e) = regex::Regex::new(&text) {
                        return Err(KqlError::at(value.span, format!("parse-kv's regex does not compile: {e}")));
                    }
                    kv_settings.regex = Some(text)
                }
                other => return Err(KqlError::at(name.span, format!("parse-kv does not take {other}"))),
            }
        }
        if kv_settings.pair.is_some() != kv_settings.kv.is_some() {
            return Err(KqlError::at(settings[0].0.span, "parse-kv takes pair_delimiter and kv_delimiter together"));
        }
        let settings_json = kv_settings.to_json();
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), tab.order.as_deref());
        let text = ep.as_string(source)?;
        let u = functions::udfs();
        let existing: Vec<String> = tab.plan.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut out: Vec<Expr> = existing.iter().filter(|n| !columns.iter().any(|c| c.name.name == **n)).map(|n| column(n)).collect();
        for c in columns {
            let raw = u.kv_value.call(vec![text.clone(), lit(c.name.name.clone()), lit(settings_json.clone())]);
            let value = match c.ty {
                // A key that is not there gives "" for a string column, null for the others.
                TypeName::String => coalesce(vec![raw, lit("")]),
                TypeName::Guid => raw,
                TypeName::Long => u.tolong.call(vec![raw]),
                TypeName::Int => u.toint.call(vec![raw]),
                TypeName::Real => u.toreal.call(vec![raw]),
                TypeName::Decimal => crate::types::to_decimal(raw),
                TypeName::DateTime => u.todatetime.call(vec![raw]),
                TypeName::TimeSpan => u.totimespan.call(vec![raw]),
                TypeName::Bool => u.tobool.call(vec![raw]),
                TypeName::Dynamic => u.parse_json.call(vec![raw]),
            };
            out.push(value.alias(&c.name.name));
        }
        let plan = LogicalPlanBuilder::from(tab.plan).project_exact(out)?.build()?;
        Ok(Tabular::ordered(plan, tab.order))
    }
}
