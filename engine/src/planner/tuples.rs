//! Functions that give several columns when they are a whole `extend`, `project` or `print`
//! item: `series_stats(y)` gives `series_stats_y_min`, `series_stats_y_min_idx`, ...;
//! `series_fit_line(y)` gives `series_fit_line_y_rsquare`, ...; `series_decompose_anomalies(y)`
//! gives `..._ad_flag`, `..._ad_score`, `..._baseline`; `array_sort_asc(a, b)` gives
//! `a_sorted` and `b_sorted`. Names given (`(r, s) = series_fit_line(y)`) replace the first
//! defaults. Each item becomes one item per column, reading its field of the function's result.

use kql_grammar::ast::{self, CallArg, ExprKind, Ident, Literal, NamedExpr, PipeExpr, Source};

use super::names::inferred_name;
use crate::error::{KqlError, Result};

#[derive(Clone, Copy)]
enum Output {
    Real,
    Long,
    Dynamic,
}

/// A tuple function (the catalog's kind `tuple`): the library function computing all fields
/// as a bag, and the fields.
fn fields_of(name: &str) -> Option<(&'static str, &'static [(&'static str, Output)])> {
    Some(match name {
        "series_stats" => (
            "series_stats_dynamic",
            &[
                ("min", Output::Real),
                ("min_idx", Output::Long),
                ("max", Output::Real),
                ("max_idx", Output::Long),
                ("avg", Output::Real),
                ("stdev", Output::Real),
                ("variance", Output::Real),
            ],
        ),
        "series_fit_line" => (
            "series_fit_line_dynamic",
            &[
                ("rsquare", Output::Real),
                ("slope", Output::Real),
                ("variance", Output::Real),
                ("rvariance", Output::Real),
                ("interception", Output::Real),
                ("line_fit", Output::Dynamic),
            ],
        ),
        "series_decompose" => (
            "__kql_series_decompose",
            &[("baseline", Output::Dynamic), ("seasonal", Output::Dynamic), ("trend", Output::Dynamic), ("residual", Output::Dynamic)],
        ),
        "series_decompose_anomalies" => (
            "__kql_series_decompose_anomalies",
            &[("ad_flag", Output::Dynamic), ("ad_score", Output::Dynamic), ("baseline", Output::Dynamic)],
        ),
        _ => return None,
    })
}

fn call(name: &str, args: Vec<ast::Expr>, span: ast::Span) -> ast::Expr {
    let args = args
        .into_iter()
        .map(|e| CallArg { name: None, value: PipeExpr { span: e.span, source: Source::Expr(e), operators: vec![] } })
        .collect();
    ast::Expr::new(ExprKind::Call { name: Ident { name: name.to_string(), span }, args }, span)
}

fn index(e: ast::Expr, key: Literal, span: ast::Span) -> ast::Expr {
    ast::Expr::new(ExprKind::Index { expr: Box::new(e), index: Box::new(ast::Expr::new(ExprKind::Literal(key), span)) }, span)
}

fn convert(e: ast::Expr, output: Output) -> ast::Expr {
    let span = e.span;
    match output {
        Output::Real => call("todouble", vec![e], span),
        Output::Long => call("tolong", vec![e], span),
        Output::Dynamic => e,
    }
}

/// The items with each tuple function call spread over its columns.
pub fn expand(items: &[NamedExpr]) -> Result<Vec<NamedExpr>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let ExprKind::Call { name, args } = &item.expr.kind else {
            out.push(item.clone());
            continue;
        };
        let span = item.expr.span;
        let arg_exprs: Vec<ast::Expr> = args.iter().filter_map(|a| a.value.as_expr().cloned()).collect();
        let columns: Vec<(String, ast::Expr)> = if let Some((inner, fields)) = fields_of(&name.name) {
            if let Some(def) = crate::functions::catalog::lookup(&name.name)
                && !def.accepts(args.len())
            {
                return Err(crate::error::KqlError::at(span, def.arity_message(args.len())));
            }
            let prefix = match arg_exprs.first().and_then(inferred_name) {
                Some(arg) => format!("{}_{arg}", name.name),
                None => name.name.clone(),
            };
            let whole = call(inner, arg_exprs.clone(), span);
            fields
                .iter()
                .map(|(field, output)| {
                    (format!("{prefix}_{field}"), convert(index(whole.clone(), Literal::String(field.to_string()), span), *output))
                })
                .collect()
        } else if matches!(name.name.as_str(), "array_sort_asc" | "array_sort_desc") {
            // The arrays (a trailing bool is the nulls-last flag); one array is no tuple.
            let arrays = match arg_exprs.last().map(|e| &e.kind) {
                Some(ExprKind::Literal(Literal::Bool(_))) => arg_exprs.len() - 1,
                _ => arg_exprs.len(),
            };
            if arrays < 2 {
                out.push(item.clone());
                continue;
            }
            let whole = item.expr.clone();
            (0..arrays)
                .map(|i| {
                    let column = inferred_name(&arg_exprs[i]).unwrap_or_else(|| format!("array{i}"));
                    (format!("{column}_sorted"), index(whole.clone(), Literal::Long(i as i64), span))
                })
                .collect()
        } else {
            out.push(item.clone());
            continue;
        };
        if item.names.len() > columns.len() {
            return Err(KqlError::at(
                item.span,
                format!("{} names given for {} columns of {}()", item.names.len(), columns.len(), name.name),
            ));
        }
        for (i, (default, expr)) in columns.into_iter().enumerate() {
            let name = item.names.get(i).cloned().unwrap_or(Ident { name: default, span });
            out.push(NamedExpr { names: vec![name], expr, span: item.span });
        }
    }
    Ok(out)
}
