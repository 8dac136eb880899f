//! `summarize`: group keys first, then aggregates, named as Kusto names them (`count_`,
//! `sum_X`, `list_X`, `bin(T, 1h)` keeps `T`, `(A, B) = arg_max(...)` names both outputs).

use datafusion::common::Column;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlanBuilder, SortExpr};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, CallArg, ExprKind, NamedExpr, Span};

use super::expr::ExprPlanner;
use super::names::{aggregate_name, inferred_name, next_column_name, unique_name};
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::types::kql_type_of;

pub const AGGREGATE_FUNCTIONS: &[&str] = &[
    "any", "arg_max", "arg_min", "avg", "count", "countif", "dcount", "make_list", "make_set", "makelist", "makeset",
    "max", "min", "sum", "sumif", "take_any",
];

pub fn is_aggregate(name: &str) -> bool {
    AGGREGATE_FUNCTIONS.contains(&name)
}

/// One output column of an aggregate call: its default name, its DataFusion aggregate, and the
/// value Kusto gives it over no rows (0 for counts and sums, `[]` for lists) when that is not
/// null.
struct AggOutput {
    name: String,
    expr: Expr,
    default: Option<Expr>,
}

impl AggOutput {
    fn new(name: String, expr: Expr) -> Self {
        AggOutput { name, expr, default: None }
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl Planner<'_> {
    pub(super) fn plan_summarize(&self, env: &Env, tab: Tabular, aggregates: &[NamedExpr], by: &[NamedExpr], span: Span) -> Result<Tabular> {
        if aggregates.is_empty() && by.is_empty() {
            return Err(KqlError::at(span, "summarize needs an aggregate or a by clause"));
        }
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
        let mut taken: Vec<String> = Vec::new();
        let mut counter = 0;
        let mut groups = Vec::new();
        for key in by {
            if contains_aggregate(&key.expr) {
                return Err(KqlError::at(key.span, "a summarize key cannot be an aggregate"));
            }
            let name = match key.names.as_slice() {
                [n] => n.name.clone(),
                [] => inferred_name(&key.expr).unwrap_or_else(|| next_column_name(&mut counter, &taken)),
                _ => return Err(KqlError::at(key.span, "a summarize key takes one name")),
            };
            if taken.contains(&name) {
                return Err(KqlError::at(key.span, format!("duplicate column name '{name}'")));
            }
            groups.push(ep.plan(&key.expr)?.alias(&name));
            taken.push(name);
        }
        let key_names = taken.clone();
        let key_types = groups
            .iter()
            .zip(by)
            .map(|(g, k)| ep.type_of(g, k.span))
            .collect::<Result<Vec<_>>>()?;
        let keys: Vec<(String, arrow::datatypes::DataType)> = key_names.iter().cloned().zip(key_types).collect();

        // Aggregates computed by the Aggregate node, and the output columns over them.
        let mut aggs: Vec<Expr> = Vec::new();
        let mut outputs: Vec<Expr> = key_names.iter().map(|n| column(n)).collect();
        let mut needs_projection = false;
        for item in aggregates {
            match top_level_aggregate(&item.expr) {
                Some((fname, args, call_span)) => {
                    let outs = self.aggregate_call(&ep, fname, args, call_span, &key_names)?;
                    if !item.names.is_empty() && item.names.len() != outs.len() {
                        return Err(KqlError::at(
                            item.span,
                            format!("{} names given for {} result columns of {fname}()", item.names.len(), outs.len()),
                        ));
                    }
                    for (i, out) in outs.into_iter().enumerate() {
                        let name = match item.names.get(i) {
                            Some(n) => {
                                if taken.contains(&n.name) {
                                    return Err(KqlError::at(n.span, format!("duplicate column name '{}'", n.name)));
                                }
                                n.name.clone()
                            }
                            None => unique_name(&out.name, &taken),
                        };
                        match out.default {
                            Some(default) => {
                                let hidden = format!("__kql_agg_{}", aggs.len());
                                aggs.push(out.expr.alias(&hidden));
                                outputs.push(datafusion::functions::core::expr_fn::coalesce(vec![column(&hidden), default]).alias(&name));
                                needs_projection = true;
                            }
                            None => {
                                aggs.push(out.expr.alias(&name));
                                outputs.push(column(&name));
                            }
                        }
                        taken.push(name);
                    }
                }
                None => {
                    if !contains_aggregate(&item.expr) {
                        return Err(KqlError::at(item.span, "summarize needs an aggregate function here (count(), sum(), ...)"));
                    }
                    // An expression over aggregates: aggregate first, then compute on top.
                    needs_projection = true;
                    let outer = self.lift_aggregates(&ep, &item.expr, &mut aggs, &keys)?;
                    let name = match item.names.as_slice() {
                        [n] => n.name.clone(),
                        [] => inferred_name(&item.expr).unwrap_or_else(|| next_column_name(&mut counter, &taken)),
                        _ => return Err(KqlError::at(item.span, "one name for one expression")),
                    };
                    let name = unique_name(&name, &taken);
                    outputs.push(outer.alias(&name));
                    taken.push(name);
                }
            }
        }
        let mut plan = LogicalPlanBuilder::from(tab.plan).aggregate(groups, aggs)?;
        if needs_projection {
            plan = plan.project(outputs)?;
        }
        Ok(Tabular::unordered(plan.build()?))
    }

    /// Replaces each aggregate call inside `e` by a hidden aggregate column and plans the rest
    /// of the expression over the aggregated row.
    fn lift_aggregates(&self, ep: &ExprPlanner, e: &ast::Expr, aggs: &mut Vec<Expr>, keys: &[(String, arrow::datatypes::DataType)]) -> Result<Expr> {
        let key_names: Vec<String> = keys.iter().map(|(n, _)| n.clone()).collect();
        let mut rewritten = e.clone();
        let mut hidden: Vec<(String, Expr, Option<Expr>)> = Vec::new();
        let mut error = None;
        replace_aggregates(&mut rewritten, &mut |call: &ast::Expr| {
            let ExprKind::Call { name, args } = &call.kind else { return None };
            match self.aggregate_call(ep, &name.name, args, call.span, &key_names) {
                Ok(mut outs) if !outs.is_empty() => {
                    let hidden_name = format!("__kql_agg_{}", aggs.len() + hidden.len());
                    let out = outs.remove(0);
                    hidden.push((hidden_name.clone(), out.expr, out.default));
                    Some(hidden_name)
                }
                Ok(_) => None,
                Err(err) => {
                    error.get_or_insert(err);
                    None
                }
            }
        });
        if let Some(err) = error {
            return Err(err);
        }
        // Plan the outer expression against a schema of the keys and hidden aggregate columns.
        let mut fields: Vec<(Option<datafusion::common::TableReference>, std::sync::Arc<arrow::datatypes::Field>)> = Vec::new();
        for (k, t) in keys {
            fields.push((None, std::sync::Arc::new(arrow::datatypes::Field::new(k, t.clone(), true))));
        }
        for (n, a, _) in &hidden {
            let t = ep.type_of(a, e.span)?;
            fields.push((None, std::sync::Arc::new(arrow::datatypes::Field::new(n, t, true))));
        }
        let schema = std::sync::Arc::new(datafusion::common::DFSchema::new_with_metadata(fields, Default::default())?);
        let outer = ExprPlanner::new(ep.planner, ep.env, schema, None).plan(&rewritten)?;
        // Aggregates with a default over no rows read through it.
        let outer = outer.transform_up(|node| match &node {
            Expr::Column(c) => match hidden.iter().find(|(n, _, d)| *n == c.name && d.is_some()) {
                Some((_, _, Some(d))) => Ok(Transformed::yes(datafusion::functions::core::expr_fn::coalesce(vec![node.clone(), d.clone()]))),
                _ => Ok(Transformed::no(node)),
            },
            _ => Ok(Transformed::no(node)),
        })?.data;
        for (n, a, _) in hidden {
            aggs.push(a.alias(n));
        }
        Ok(outer)
    }

    fn aggregate_call(&self, ep: &ExprPlanner, fname: &str, args: &[CallArg], span: Span, keys: &[String]) -> Result<Vec<AggOutput>> {
        let args: Vec<&ast::Expr> = args
            .iter()
            .map(|a| a.value.as_expr().ok_or_else(|| KqlError::at(a.value.span, "expected a scalar argument")))
            .collect::<Result<_>>()?;
        let arity = |min: usize, max: usize| -> Result<()> {
            if args.len() < min || args.len() > max {
                let expected = if min == max { min.to_string() } else if max == usize::MAX { format!("at least {min}") } else { format!("{min} to {max}") };
                return Err(KqlError::at(span, format!("{fname}() takes {expected} arguments, got {}", args.len())));
            }
            Ok(())
        };
        let one = |name: String, expr: Expr| Ok(vec![AggOutput::new(name, expr)]);
        let zero = |name: String, expr: Expr| Ok(vec![AggOutput { name, expr, default: Some(lit(0i64)) }]);
        let predicate = |e: &ast::Expr| -> Result<Expr> {
            let p = ep.plan(e)?;
            let t = ep.type_of(&p, e.span)?;
            if t != arrow::datatypes::DataType::Boolean {
                return Err(KqlError::at(e.span, format!("{fname}() needs a bool predicate, got {}", kql_type_of(&t))));
            }
            Ok(p)
        };
        let numeric = |e: &ast::Expr| -> Result<Expr> {
            let x = ep.plan(e)?;
            let t = ep.type_of(&x, e.span)?;
            if !(t.is_numeric() || t == arrow::datatypes::DataType::Null) {
                return Err(KqlError::at(e.span, format!("{fname}() needs a number, got {}", kql_type_of(&t))));
            }
            Ok(x)
        };
        match fname {
            "count" => {
                arity(0, 1)?;
                // Kusto's count(x) counts rows, nulls included: x only names the column.
                match args.first() {
                    None => one("count_".into(), agg::count(lit(1i64))),
                    Some(a) => {
                        ep.plan(a)?;
                        one(aggregate_name("count", Some(a)), agg::count(lit(1i64)))
                    }
                }
            }
            "countif" => {
                arity(1, 1)?;
                zero(aggregate_name("countif", Some(args[0])), agg::count(lit(1i64)).filter(predicate(args[0])?).build()?)
            }
            "sum" => {
                arity(1, 1)?;
                let x = numeric(args[0])?;
                let t = ep.type_of(&x, args[0].span)?;
                sum_output(aggregate_name("sum", Some(args[0])), agg::sum(x), &t)
            }
            "sumif" => {
                arity(2, 2)?;
                let x = numeric(args[0])?;
                let t = ep.type_of(&x, args[0].span)?;
                sum_output(aggregate_name("sumif", Some(args[0])), agg::sum(x).filter(predicate(args[1])?).build()?, &t)
            }
            "avg" => {
                arity(1, 1)?;
                one(aggregate_name("avg", Some(args[0])), agg::avg(numeric(args[0])?))
            }
            "min" | "max" => {
                arity(1, 1)?;
                let x = ep.plan(args[0])?;
                one(aggregate_name(fname, Some(args[0])), if fname == "min" { agg::min(x) } else { agg::max(x) })
            }
            "dcount" => {
                arity(1, 2)?;
                zero(aggregate_name("dcount", Some(args[0])), agg::count_distinct(ep.plan(args[0])?))
            }
            "take_any" | "any" => {
                arity(1, 1)?;
                one(aggregate_name(fname, Some(args[0])), agg::first_value(ep.plan(args[0])?, vec![]))
            }
            "make_list" | "makelist" | "make_set" | "makeset" => {
                arity(1, 2)?;
                let x = ep.plan(args[0])?;
                let t = ep.type_of(&x, args[0].span)?;
                let set = fname.contains("set");
                let base = agg::array_agg(x.clone()).filter(x.is_not_null());
                let expr = if set { base.distinct().build()? } else { base.build()? };
                let empty = datafusion::common::ScalarValue::List(datafusion::common::ScalarValue::new_list(&[], &t, true));
                Ok(vec![AggOutput {
                    name: aggregate_name(if set { "set" } else { "list" }, Some(args[0])),
                    expr,
                    default: Some(Expr::Literal(empty, None)),
                }])
            }
            "arg_max" | "arg_min" => {
                arity(2, usize::MAX)?;
                let by = ep.plan(args[0])?;
                let max = fname == "arg_max";
                let order = vec![SortExpr::new(by.clone(), !max, false)];
                let first_name = inferred_name(args[0]).unwrap_or_else(|| format!("{}_", if max { "max" } else { "min" }));
                let mut outs = vec![AggOutput::new(first_name.clone(), if max { agg::max(by) } else { agg::min(by) })];
                let mut counter = 0;
                for a in &args[1..] {
                    if matches!(a.kind, ExprKind::Star) {
                        for f in ep.schema.fields() {
                            let n = f.name();
                            if keys.contains(n) || *n == first_name {
                                continue;
                            }
                            outs.push(AggOutput::new(n.clone(), agg::first_value(column(n), order.clone())));
                        }
                    } else {
                        let taken: Vec<String> = outs.iter().map(|o| o.name.clone()).collect();
                        let name = inferred_name(a).unwrap_or_else(|| next_column_name(&mut counter, &taken));
                        outs.push(AggOutput::new(name, agg::first_value(ep.plan(a)?, order.clone())));
                    }
                }
                Ok(outs)
            }
            _ => Err(KqlError::at(span, format!("unknown aggregate function '{fname}'"))),
        }
    }
}

/// `sum` over no rows is 0 in Kusto, in the sum's own type.
fn sum_output(name: String, expr: Expr, input: &arrow::datatypes::DataType) -> Result<Vec<AggOutput>> {
    let default = if input.is_floating() { lit(0.0f64) } else { lit(0i64) };
    Ok(vec![AggOutput { name, expr, default: Some(default) }])
}

/// `count()`, `sum(x)`, ... when the whole item is one aggregate call.
fn top_level_aggregate(e: &ast::Expr) -> Option<(&str, &[CallArg], Span)> {
    match &e.kind {
        ExprKind::Call { name, args } if is_aggregate(&name.name) => Some((name.name.as_str(), args.as_slice(), e.span)),
        _ => None,
    }
}

fn contains_aggregate(e: &ast::Expr) -> bool {
    let mut found = false;
    let mut copy = e.clone();
    replace_aggregates(&mut copy, &mut |_| {
        found = true;
        None
    });
    found
}

/// Walks `e` and offers each aggregate call to `f`; where `f` returns a column name, the call
/// is replaced by a reference to that column.
fn replace_aggregates(e: &mut ast::Expr, f: &mut dyn FnMut(&ast::Expr) -> Option<String>) {
    if let ExprKind::Call { name, .. } = &e.kind {
        if is_aggregate(&name.name) {
            if let Some(col) = f(e) {
                e.kind = ExprKind::Name(col);
            }
            return;
        }
    }
    match &mut e.kind {
        ExprKind::Call { args, .. } => {
            for a in args {
                if let ast::Source::Expr(inner) = &mut a.value.source {
                    if a.value.operators.is_empty() {
                        replace_aggregates(inner, f);
                    }
                }
            }
        }
        ExprKind::Unary { operand, .. } => replace_aggregates(operand, f),
        ExprKind::Binary { left, right, .. } => {
            replace_aggregates(left, f);
            replace_aggregates(right, f);
        }
        ExprKind::Between { expr, low, high, .. } => {
            replace_aggregates(expr, f);
            replace_aggregates(low, f);
            replace_aggregates(high, f);
        }
        ExprKind::In { expr, .. } | ExprKind::HasSet { expr, .. } | ExprKind::Member { expr, .. } => replace_aggregates(expr, f),
        ExprKind::Index { expr, index } => {
            replace_aggregates(expr, f);
            replace_aggregates(index, f);
        }
        _ => {}
    }
}
