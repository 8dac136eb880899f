//! `summarize`: group keys first, then aggregates, named as Kusto names them (`count_`,
//! `sum_X`, `list_X`, `bin(T, 1h)` keeps `T`, `(A, B) = arg_max(...)` names both outputs).

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Column, ScalarValue};
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::functions_nested::expr_fn::array_slice;
use datafusion::logical_expr::{Expr, ExprFunctionExt, ExprSchemable, LogicalPlanBuilder, SortExpr};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, CallArg, ExprKind, NamedExpr, Span};

use super::expr::ExprPlanner;
use super::names::{aggregate_name, inferred_name, inferred_name_over, inferred_name_with, next_column_name, unique_name};
use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::functions::catalog::{self, FunctionKind};
use crate::functions::{arg_extreme, collect};
use crate::types::kql_type_of;

/// Whether `name` is an aggregation function (the catalog's).
pub fn is_aggregate(name: &str) -> bool {
    catalog::lookup_kind(name, FunctionKind::Aggregate).is_some()
}

/// How an aggregate's raw result becomes the KQL value, e.g. `coalesce(x, 0)` (Kusto's value
/// over no rows) or a list turned into a dynamic array.
type Finish = Arc<dyn Fn(Expr) -> Expr + Send + Sync>;

/// One output column of an aggregate call: its default name, its DataFusion aggregate, and
/// what turns the aggregate's result into the KQL value.
struct AggOutput {
    name: String,
    expr: Expr,
    finish: Option<Finish>,
}

/// Numbers the hidden aggregate columns of every summarize apart.
static NEXT_AGGREGATE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl AggOutput {
    fn new(name: String, expr: Expr) -> Self {
        AggOutput { name, expr, finish: None }
    }

    /// Over no rows Kusto gives `default` where DataFusion gives null.
    fn with_default(name: String, expr: Expr, default: Expr) -> Self {
        AggOutput { name, expr, finish: Some(Arc::new(move |x| coalesce(vec![x, default.clone()]))) }
    }
}

/// One item of the aggregate list, before the final projection.
enum Item {
    /// Columns computed by the Aggregate node: (output name, hidden aggregate column).
    Direct(Vec<(String, String)>),
    /// An expression over aggregates, rewritten to read hidden aggregate columns.
    Lifted { name: String, expr: ast::Expr },
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl Planner<'_> {
    /// Plans summarize as Aggregate → projection that finishes each aggregate (defaults,
    /// dynamic arrays) → projection of the output columns.
    pub(super) fn plan_summarize(
        &self,
        env: &Env,
        tab: Tabular,
        aggregates: &[NamedExpr],
        by: &[NamedExpr],
        span: Span,
    ) -> Result<Tabular> {
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
                [] => inferred_name_over(&key.expr, tab.plan.schema()).unwrap_or_else(|| next_column_name(&mut counter, &taken)),
                _ => return Err(KqlError::at(key.span, "a summarize key takes one name")),
            };
            if taken.contains(&name) {
                return Err(KqlError::at(key.span, format!("duplicate column name '{name}'")));
            }
            groups.push(ep.plan(&key.expr)?.alias(&name));
            taken.push(name);
        }
        let key_names = taken.clone();

        let mut aggs: Vec<(String, Expr, Option<Finish>)> = Vec::new();
        let hidden = |out: AggOutput, aggs: &mut Vec<(String, Expr, Option<Finish>)>| -> String {
            // Unique across the whole query, not per summarize: DataFusion's statistics rule
            // matched a second summarize's `__kql_agg_0` with the first's and answered
            // `summarize c = count() | summarize make_list(c)` with 2 instead of [2].
            let name = format!("__kql_agg_{}", NEXT_AGGREGATE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            aggs.push((name.clone(), out.expr, out.finish));
            name
        };
        let mut items = Vec::new();
        for item in aggregates {
            match top_level_aggregate(&item.expr) {
                Some((fname, args, call_span)) => {
                    let outs = self.aggregate_call(&ep, tab.order.as_deref(), fname, args, call_span, &key_names)?;
                    if !item.names.is_empty() && item.names.len() != outs.len() {
                        return Err(KqlError::at(
                            item.span,
                            format!("{} names given for {} result columns of {fname}()", item.names.len(), outs.len()),
                        ));
                    }
                    let mut columns = Vec::new();
                    for (i, out) in outs.into_iter().enumerate() {
                        let name = match item.names.get(i) {
                            Some(n) if taken.contains(&n.name) => {
                                return Err(KqlError::at(n.span, format!("duplicate column name '{}'", n.name)));
                            }
                            Some(n) => n.name.clone(),
                            None => unique_name(&out.name, &taken),
                        };
                        taken.push(name.clone());
                        columns.push((name, hidden(out, &mut aggs)));
                    }
                    items.push(Item::Direct(columns));
                }
                None => {
                    // An expression without aggregates is allowed when it reads only the group
                    // keys or nothing at all (`summarize z = -1 by x`); it is checked when the
                    // expressions over the aggregates are planned below.
                    let mut expr = item.expr.clone();
                    let mut error = None;
                    // Each aggregate call's result column, by where the call stands, when it has one.
                    let mut aggregate_names: Vec<(Span, String)> = Vec::new();
                    replace_aggregates(&mut expr, &mut |call: &ast::Expr| {
                        let ExprKind::Call { name, args } = &call.kind else { return None };
                        match self.aggregate_call(&ep, tab.order.as_deref(), &name.name, args, call.span, &key_names) {
                            Ok(mut outs) if !outs.is_empty() => {
                                if outs.len() == 1 {
                                    aggregate_names.push((call.span, outs[0].name.clone()));
                                }
                                Some(hidden(outs.remove(0), &mut aggs))
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
                    let aggregate_name = |call: &ast::Expr| {
                        top_level_aggregate(call)?;
                        aggregate_names.iter().find(|(span, _)| *span == call.span).map(|(_, name)| name.clone())
                    };
                    let name = match item.names.as_slice() {
                        [n] => n.name.clone(),
                        [] => inferred_name_with(&item.expr, &aggregate_name).unwrap_or_else(|| next_column_name(&mut counter, &taken)),
                        _ => return Err(KqlError::at(item.span, "one name for one expression")),
                    };
                    let name = unique_name(&name, &taken);
                    taken.push(name.clone());
                    items.push(Item::Lifted { name, expr });
                }
            }
        }

        let mut raw: Vec<Expr> = aggs.iter().map(|(n, e, _)| e.clone().alias(n)).collect();
        if raw.is_empty() && groups.is_empty() {
            // `summarize z = 5`: one row, and DataFusion wants something to aggregate.
            raw.push(agg::count(lit(1i64)).alias("__kql_rows"));
        }
        let mut finished: Vec<Expr> = key_names.iter().map(|n| column(n)).collect();
        for (n, _, finish) in &aggs {
            finished.push(match finish {
                Some(f) => f(column(n)).alias(n),
                None => column(n),
            });
        }
        let plan = LogicalPlanBuilder::from(tab.plan).aggregate(groups, raw)?.project_exact(finished)?.build()?;
        let over = ExprPlanner::new(self, env, plan.schema().clone(), None);
        let mut outputs: Vec<Expr> = key_names.iter().map(|n| column(n)).collect();
        for item in items {
            match item {
                Item::Direct(columns) => outputs.extend(columns.iter().map(|(name, h)| column(h).alias(name))),
                Item::Lifted { name, expr } => {
                    let planned = over.plan(&expr).map_err(|err| {
                        match err.message.starts_with("unknown column or name") && !contains_aggregate(&expr) {
                            true => KqlError::at(expr.span, "summarize needs an aggregate function here (count(), sum(), ...)"),
                            false => err,
                        }
                    })?;
                    outputs.push(planned.alias(&name))
                }
            }
        }
        let plan = LogicalPlanBuilder::from(plan).project_exact(outputs)?.build()?;
        Ok(Tabular::unordered(plan))
    }

    /// The MaxSize argument of `make_list`/`make_set`: a constant count of values.
    fn max_size(&self, env: &Env, a: &ast::Expr) -> Result<i64> {
        let v = super::expr::evaluate_constant(&self.plan_constant(env, a)?).map_err(|e| e.or_at(a.span))?;
        match v {
            ScalarValue::Int64(Some(n)) => Ok(n),
            ScalarValue::Int32(Some(n)) => Ok(n as i64),
            _ => Err(KqlError::at(a.span, "MaxSize is a constant number of values")),
        }
    }

    /// `order` is the input's row order when it is serialized: `make_list` keeps it.
    fn aggregate_call(
        &self,
        ep: &ExprPlanner,
        order: Option<&[SortExpr]>,
        fname: &str,
        args: &[CallArg],
        span: Span,
        keys: &[String],
    ) -> Result<Vec<AggOutput>> {
        let args: Vec<&ast::Expr> = args
            .iter()
            .map(|a| a.value.as_expr().ok_or_else(|| KqlError::at(a.value.span, "expected a scalar argument")))
            .collect::<Result<_>>()?;
        // The arity is the catalog's.
        match catalog::lookup_kind(fname, FunctionKind::Aggregate) {
            Some(def) if !def.accepts(args.len()) => return Err(KqlError::at(span, def.arity_message(args.len()))),
            Some(_) => {}
            None => return Err(KqlError::at(span, format!("{fname}() is not an aggregation function"))),
        }
        let one = |name: String, expr: Expr| Ok(vec![AggOutput::new(name, expr)]);
        let zero = |name: String, expr: Expr| Ok(vec![AggOutput::with_default(name, expr, lit(0i64))]);
        let predicate = |e: &ast::Expr| -> Result<Expr> {
            let p = ep.plan(e)?;
            let t = ep.type_of(&p, e.span)?;
            if t != arrow::datatypes::DataType::Boolean {
                return Err(KqlError::at(e.span, format!("{fname}() needs a bool predicate, got {}", kql_type_of(&t))));
            }
            Ok(p)
        };
        // `x` (planned from the argument at `span`), when it is a number.
        let require_numeric = |x: Expr, span| -> Result<Expr> {
            let t = ep.type_of(&x, span)?;
            if !(t.is_numeric() || t == arrow::datatypes::DataType::Null) {
                return Err(KqlError::at(span, format!("{fname}() needs a number, got {}", kql_type_of(&t))));
            }
            Ok(x)
        };
        let numeric = |e: &ast::Expr| -> Result<Expr> { require_numeric(ep.plan(e)?, e.span) };
        // `e` planned, and whether it is a timespan (summable and averageable as one).
        let planned_with_span = |e: &ast::Expr| -> Result<(Expr, bool)> {
            let x = ep.plan(e)?;
            let is_span = ep.type_of(&x, e.span)? == crate::types::TIMESPAN;
            Ok((x, is_span))
        };
        match fname {
            "count" => {
                // Kusto's count(x) counts rows, nulls included: x only names the column.
                match args.first() {
                    None => one("count_".into(), agg::count(lit(1i64))),
                    Some(a) => {
                        ep.plan(a)?;
                        one(aggregate_name("count", Some(a)), agg::count(lit(1i64)))
                    }
                }
            }
            "countif" => zero(aggregate_name("countif", Some(args[0])), agg::count(lit(1i64)).filter(predicate(args[0])?).build()?),
            "sum" | "sumif" => {
                // Timespans are summable too (Kusto's analyzer: "a number, timespan or
                // datetime"): summed as whole nanoseconds in a decimal, which does not wrap
                // where a long would (past about 292 years); 0s over no values, null past the
                // timespan's range.
                let name = aggregate_name(fname, Some(args[0]));
                let (x, is_span) = planned_with_span(args[0])?;
                let x = if is_span { datafusion::prelude::cast(x, DataType::Decimal128(38, 0)) } else { require_numeric(x, args[0].span)? };
                let t = ep.type_of(&x, args[0].span)?;
                let sum = if fname == "sumif" { agg::sum(x).filter(predicate(args[1])?).build()? } else { agg::sum(x) };
                if is_span {
                    let finish: Finish = Arc::new(|x| {
                        // Null over no values is 0s; a sum past the range stays null.
                        let nanos = Expr::Case(datafusion::logical_expr::Case {
                            expr: None,
                            when_then_expr: vec![(Box::new(x.clone().is_null()), Box::new(lit(0i64)))],
                            else_expr: Some(Box::new(datafusion::prelude::try_cast(x, DataType::Int64))),
                        });
                        datafusion::prelude::cast(nanos, crate::types::TIMESPAN)
                    });
                    return Ok(vec![AggOutput { name, expr: sum, finish: Some(finish) }]);
                }
                sum_output(name, sum, &t)
            }
            "avg" => {
                let name = aggregate_name("avg", Some(args[0]));
                let (x, is_span) = planned_with_span(args[0])?;
                if is_span {
                    // The mean of timespans is a timespan (of whole nanoseconds); over no values, null.
                    let finish: Finish =
                        Arc::new(|x| datafusion::prelude::cast(datafusion::prelude::try_cast(x, DataType::Int64), crate::types::TIMESPAN));
                    return Ok(vec![AggOutput {
                        name,
                        expr: agg::avg(datafusion::prelude::cast(x, DataType::Int64)),
                        finish: Some(finish),
                    }]);
                }
                // Over no values the average is 0/0 (a real: a decimal has no NaN, so a decimal
                // column is averaged as reals).
                let x = require_numeric(x, args[0].span)?;
                let x = if matches!(ep.type_of(&x, args[0].span)?, arrow::datatypes::DataType::Decimal128(..)) {
                    datafusion::prelude::cast(x, arrow::datatypes::DataType::Float64)
                } else {
                    x
                };
                Ok(vec![AggOutput::with_default(name, agg::avg(x), lit(f64::NAN))])
            }
            "min" | "max" => {
                let x = ep.plan(args[0])?;
                one(aggregate_name(fname, Some(args[0])), if fname == "min" { agg::min(x) } else { agg::max(x) })
            }
            "dcount" => zero(aggregate_name("dcount", Some(args[0])), agg::count_distinct(ep.plan(args[0])?)),
            "take_any" | "any" => {
                // `take_any(x)` keeps the name `x`, `any(x)` says `any_x`, an expression without
                // a name is `any_arg<i>`; `take_any(*)` takes every column (the analyzer's names).
                let mut outs = Vec::new();
                for (i, a) in args.iter().enumerate() {
                    if matches!(a.kind, ExprKind::Star) {
                        for f in ep.schema.fields().iter().filter(|f| !keys.contains(f.name())) {
                            outs.push(AggOutput::new(f.name().clone(), agg::first_value(column(f.name()), vec![])));
                        }
                        continue;
                    }
                    let name = match (inferred_name(a), fname) {
                        (Some(n), "take_any") => n,
                        (Some(n), _) => format!("any_{n}"),
                        (None, _) => format!("any_arg{i}"),
                    };
                    outs.push(AggOutput::new(name, agg::first_value(ep.plan(a)?, vec![])));
                }
                Ok(outs)
            }
            "take_anyif" | "anyif" => {
                let name = match (inferred_name(args[0]), fname) {
                    (Some(n), "take_anyif") => n,
                    _ => aggregate_name(fname, Some(args[0])),
                };
                one(name, agg::first_value(ep.plan(args[0])?, vec![]).filter(predicate(args[1])?).build()?)
            }
            "dcountif" | "count_distinctif" => {
                zero(aggregate_name(fname, Some(args[0])), agg::count_distinct(ep.plan(args[0])?).filter(predicate(args[1])?).build()?)
            }
            "count_distinct" => zero(aggregate_name(fname, Some(args[0])), agg::count_distinct(ep.plan(args[0])?)),
            "avgif" => one(aggregate_name(fname, Some(args[0])), agg::avg(numeric(args[0])?).filter(predicate(args[1])?).build()?),
            "minif" | "maxif" => {
                let x = ep.plan(args[0])?;
                let base = if fname == "minif" { agg::min(x) } else { agg::max(x) };
                one(aggregate_name(fname, Some(args[0])), base.filter(predicate(args[1])?).build()?)
            }
            "stdev" | "stdevp" | "variance" | "variancep" | "stdevif" | "varianceif" | "variancepif" => {
                let conditional = fname.ends_with("if");
                let x = datafusion::prelude::cast(numeric(args[0])?, arrow::datatypes::DataType::Float64);
                let base = match fname {
                    "stdev" | "stdevif" => agg::stddev(x),
                    "stdevp" => agg::stddev_pop(x),
                    "variance" | "varianceif" => agg::var_sample(x),
                    _ => agg::var_pop(x),
                };
                let expr = if conditional { base.filter(predicate(args[1])?).build()? } else { base };
                Ok(vec![AggOutput::with_default(aggregate_name(fname, Some(args[0])), expr, lit(0.0f64))])
            }
            "covariance" | "covariancep" | "covarianceif" | "covariancepif" => {
                let conditional = fname.ends_with("if");
                let (x, y) = (
                    datafusion::prelude::cast(numeric(args[0])?, arrow::datatypes::DataType::Float64),
                    datafusion::prelude::cast(numeric(args[1])?, arrow::datatypes::DataType::Float64),
                );
                let base = if fname.starts_with("covariancep") { agg::covar_pop(x, y) } else { agg::covar_samp(x, y) };
                let expr = if conditional { base.filter(predicate(args[2])?).build()? } else { base };
                Ok(vec![AggOutput::with_default(aggregate_name(fname, Some(args[0])), expr, lit(0.0f64))])
            }
            "binary_all_and" | "binary_all_or" | "binary_all_xor" => {
                let x = numeric(args[0])?;
                let expr = match fname {
                    "binary_all_and" => agg::bit_and(x),
                    "binary_all_or" => agg::bit_or(x),
                    _ => agg::bit_xor(x),
                };
                one(aggregate_name(fname, Some(args[0])), expr)
            }
            "percentile" | "percentiles" | "percentiles_array" | "percentilew" | "percentilesw" | "percentilesw_array" => {
                let weighted = fname.starts_with("percentilew") || fname.starts_with("percentilesw");
                let first_p = if weighted { 2 } else { 1 };
                let x = numeric(args[0])?;
                let input_type = ep.type_of(&x, args[0].span)?;
                let mut ps = Vec::new();
                for p in &args[first_p..] {
                    let v = super::expr::evaluate_constant(&ep.plan(p)?).map_err(|e| e.or_at(p.span))?;
                    let values = match v {
                        ScalarValue::Int64(Some(n)) => vec![n as f64],
                        ScalarValue::Int32(Some(n)) => vec![n as f64],
                        ScalarValue::Float64(Some(f)) => vec![f],
                        // `percentiles_array(x, dynamic([50, 90]))`
                        ScalarValue::Utf8(Some(text)) if fname.ends_with("_array") => {
                            match serde_json::from_str::<serde_json::Value>(&text) {
                                Ok(serde_json::Value::Array(items)) => items.iter().filter_map(serde_json::Value::as_f64).collect(),
                                _ => vec![f64::NAN],
                            }
                        }
                        _ => vec![f64::NAN],
                    };
                    for value in values {
                        if value.is_nan() {
                            return Err(KqlError::at(p.span, format!("{fname}() takes percentiles as numeric constants")));
                        }
                        if !(0.0..=100.0).contains(&value) {
                            return Err(KqlError::at(p.span, "a percentile is between 0 and 100"));
                        }
                        ps.push((value, p));
                    }
                }
                // Nearest rank over the group's values (or [value, weight] pairs), as Kusto
                // defines percentile.
                let item = if weighted { weighted_item(x.clone(), numeric(args[1])?) } else { x.clone() };
                let list = agg::array_agg(item).filter(x.is_not_null()).build()?;
                let mut outs = Vec::new();
                if fname.ends_with("_array") {
                    let call_args: Vec<Expr> = ps.iter().map(|(v, _)| lit(*v)).collect();
                    let finish: Finish = Arc::new(move |col| {
                        let mut a = vec![col];
                        a.extend(call_args.iter().cloned());
                        crate::functions::udfs().percentiles_array.call(a)
                    });
                    outs.push(AggOutput { name: aggregate_name("percentile", Some(args[0])), expr: list, finish: Some(finish) });
                } else {
                    for (value, p) in ps {
                        let suffix = super::names::inferred_name(p).unwrap_or_else(|| format!("{value}").replace('.', "_"));
                        let name = format!("percentile_{}_{suffix}", super::names::inferred_name(args[0]).unwrap_or_default());
                        let integer = input_type.is_integer();
                        // The percentile of integers is an integer (nearest rank picks one of them).
                        let finish: Finish = Arc::new(move |col| {
                            let udfs = crate::functions::udfs();
                            if integer {
                                udfs.percentile_long.call(vec![col, lit(value)])
                            } else {
                                udfs.percentile.call(vec![col, lit(value)])
                            }
                        });
                        outs.push(AggOutput { name, expr: list.clone(), finish: Some(finish) });
                    }
                }
                Ok(outs)
            }
            // A t-digest: the group's [value, weight] pairs, exact up to 20,000 distinct values
            // and compressed past them (`functions/tdigest.rs`).
            "tdigest" => {
                let x = numeric(args[0])?;
                let w = match args.get(1) {
                    Some(w) => numeric(w)?,
                    None => lit(1i64),
                };
                let real = |e: Expr| datafusion::prelude::cast(e, arrow::datatypes::DataType::Float64);
                let expr = crate::functions::tdigest::tdigest().call(vec![real(x.clone()), real(w)]).filter(x.is_not_null()).build()?;
                let finish: Finish = Arc::new(crate::types::as_dynamic);
                Ok(vec![AggOutput { name: aggregate_name(fname, Some(args[0])), expr, finish: Some(finish) }])
            }
            "tdigest_merge" => {
                let x = ep.plan(args[0])?;
                let text = match ep.type_of(&x, args[0].span)? {
                    t if crate::functions::is_string(&t) => x,
                    _ => crate::functions::udfs().to_dynamic.call(vec![x, lit(false)]),
                };
                let expr = crate::functions::tdigest::tdigest_merge().call(vec![text.clone()]).filter(text.is_not_null()).build()?;
                let finish: Finish = Arc::new(crate::types::as_dynamic);
                Ok(vec![AggOutput { name: aggregate_name(fname, Some(args[0])), expr, finish: Some(finish) }])
            }
            "buildschema" => {
                let x = ep.plan(args[0])?;
                let expr = agg::array_agg(x.clone()).filter(x.is_not_null()).build()?;
                let finish: Finish = Arc::new(|col| crate::functions::udfs().build_schema.call(vec![col]));
                Ok(vec![AggOutput { name: aggregate_name("schema", Some(args[0])), expr, finish: Some(finish) }])
            }
            // Sketches are kept exact: the set of distinct values, which hll_merge unites and
            // dcount_hll counts.
            "hll" | "hll_if" => {
                let x = ep.plan(args[0])?;
                let keep = if fname == "hll_if" { x.clone().is_not_null().and(predicate(args[1])?) } else { x.clone().is_not_null() };
                let is_json = ep.is_dynamic(&x, args[0].span)?;
                let expr = agg::array_agg(x).filter(keep).distinct().build()?;
                let finish: Finish = Arc::new(move |col| crate::functions::udfs().to_dynamic.call(vec![col, lit(is_json)]));
                Ok(vec![AggOutput { name: aggregate_name(fname, Some(args[0])), expr, finish: Some(finish) }])
            }
            "hll_merge" => {
                let x = ep.plan(args[0])?;
                let expr = agg::array_agg(x.clone()).filter(x.is_not_null()).build()?;
                let finish: Finish = Arc::new(move |col| crate::functions::udfs().merge_sets.call(vec![col]));
                Ok(vec![AggOutput { name: "hll_merged_result".to_string(), expr, finish: Some(finish) }])
            }
            "make_bag" | "make_bag_if" => {
                let x = ep.plan(args[0])?;
                let conditional = fname == "make_bag_if";
                let keep = if conditional { x.clone().is_not_null().and(predicate(args[1])?) } else { x.clone().is_not_null() };
                // MaxSize counts keys (default and most 1,048,576), which the merge sees.
                let max_size = match args.get(if conditional { 2 } else { 1 }) {
                    Some(a) => self.max_size(ep.env, a)?.clamp(0, collect::KUSTO_MAX_SIZE),
                    None => collect::KUSTO_MAX_SIZE,
                };
                // A bag in a file's struct or map column is not JSON text yet.
                let text = match ep.type_of(&x, args[0].span)? {
                    t if crate::functions::is_string(&t) => x,
                    _ => crate::functions::udfs().to_dynamic.call(vec![x, lit(false)]),
                };
                // kql's own aggregate merges the bags as rows come (`functions/bag.rs`); no rows
                // give `{}`.
                let expr = crate::functions::bag::make_bag().call(vec![text, lit(max_size)]).filter(keep).build()?;
                let finish: Finish = Arc::new(|col| crate::types::as_dynamic(coalesce(vec![col, lit("{}")])));
                Ok(vec![AggOutput { name: aggregate_name("bag", Some(args[0])), expr, finish: Some(finish) }])
            }
            "make_list" | "makelist" | "make_set" | "makeset" | "make_list_if" | "make_set_if" | "make_list_with_nulls" => {
                let conditional = fname.ends_with("_if");
                let x = ep.plan(args[0])?;
                let t = ep.type_of(&x, args[0].span)?;
                let is_json = ep.is_dynamic(&x, args[0].span)?;
                let set = fname.contains("set");
                let keep = match (conditional, fname == "make_list_with_nulls") {
                    (true, _) => x.clone().is_not_null().and(predicate(args[1])?),
                    (false, true) => lit(true),
                    (false, false) => x.clone().is_not_null(),
                };
                // MaxSize, the argument after the value (and the predicate): the first N values.
                // Kusto's default and largest is 1,048,576; the deprecated `makelist` and
                // `makeset` default to 128.
                let deprecated = fname == "makelist" || fname == "makeset";
                let explicit = args.get(if conditional { 2 } else { 1 });
                let max_size = match explicit {
                    Some(a) => self.max_size(ep.env, a)?.clamp(0, collect::KUSTO_MAX_SIZE),
                    None if deprecated => 128,
                    None => collect::KUSTO_MAX_SIZE,
                };
                // Over serialized rows (after `sort`, `serialize`) the list keeps their order,
                // which `array_agg` with an ORDER BY does. A set, and a list with a MaxSize of
                // its own (or the deprecated 128), go to kql's own aggregate, which holds each
                // group to MaxSize and a set to one of each value as rows come. A list with the
                // default MaxSize stays with `array_agg`, which keeps a batch's values without
                // a copy per value (3x faster at 10 M rows), and is cut when finished. A
                // dynamic array counts by its elements, which only the finishing step sees, so
                // there the bound is left to that step (-1).
                let ordered = order.is_some_and(|o| !o.is_empty());
                let plain_list = !ordered && !set && explicit.is_none() && !deprecated;
                let expr = match order {
                    Some(order) if ordered => agg::array_agg(x.clone()).order_by(order.to_vec()).filter(keep).build()?,
                    _ if plain_list => agg::array_agg(x.clone()).filter(keep).build()?,
                    _ => {
                        collect::collect().call(vec![x.clone(), lit(set), lit(if is_json { -1 } else { max_size })]).filter(keep).build()?
                    }
                };
                // No rows give `[]`; the list becomes a dynamic array. A set keeps its values in
                // the order first seen. Both take the elements of dynamic arrays one by one.
                let empty = Expr::Literal(ScalarValue::List(ScalarValue::new_list(&[], &t, true)), None);
                // kql's own aggregate already made the set, its values cut at MaxSize and each
                // held once, compared as bytes. Where values with other bytes have one JSON form
                // the set is made again as JSON values: 0.0 and -0.0, timespans and datetimes a
                // nanosecond apart (JSON holds 100 ns ticks), decimals past a real's digits,
                // lists and structs. Integers, text, booleans and datetimes in microseconds are
                // not made again: a set of a million longs took longer to make again than to
                // collect.
                let bytes_differ_for_equal_values = !t.is_integer()
                    && !matches!(
                        &t,
                        DataType::Utf8
                            | DataType::LargeUtf8
                            | DataType::Utf8View
                            | DataType::Boolean
                            | DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond | TimeUnit::Microsecond, _)
                    );
                let finish: Finish = Arc::new(move |x| {
                    let u = crate::functions::udfs();
                    let mut values = coalesce(vec![x, empty.clone()]);
                    if plain_list && !is_json {
                        values = array_slice(values, lit(1i64), lit(max_size), None);
                    }
                    let list = u.to_dynamic.call(vec![values, lit(is_json)]);
                    if ordered || is_json || (set && bytes_differ_for_equal_values) {
                        u.collected_values.call(vec![list, lit(is_json), lit(set), lit(max_size)])
                    } else {
                        list
                    }
                });
                Ok(vec![AggOutput { name: aggregate_name(if set { "set" } else { "list" }, Some(args[0])), expr, finish: Some(finish) }])
            }
            "arg_max" | "arg_min" | "argmax" | "argmin" => {
                let by = ep.plan(args[0])?;
                let max = fname.contains("max");
                let order = vec![SortExpr::new(by.clone(), !max, false)];
                // A number, datetime or timespan key and value go to kql's own aggregate, which
                // keeps each group's best in plain vectors; other types to `first_value`.
                let by_type = ep.type_of(&by, args[0].span)?;
                let value_of = |value: Expr| -> Result<Expr> {
                    let value_type = value.get_type(ep.schema.as_ref()).map_err(KqlError::from)?;
                    Ok(if arg_extreme::supports(&by_type) && arg_extreme::supports(&value_type) {
                        let udaf = if max { arg_extreme::arg_max() } else { arg_extreme::arg_min() };
                        udaf.call(vec![by.clone(), value])
                    } else {
                        agg::first_value(value, order.clone())
                    })
                };
                let first_name = inferred_name(args[0]).unwrap_or_else(|| format!("{}_", if max { "max" } else { "min" }));
                let mut outs = vec![AggOutput::new(first_name.clone(), if max { agg::max(by.clone()) } else { agg::min(by.clone()) })];
                for (position, a) in args.iter().enumerate().skip(1) {
                    if matches!(a.kind, ExprKind::Star) {
                        for f in ep.schema.fields() {
                            let n = f.name();
                            if keys.contains(n) || *n == first_name {
                                continue;
                            }
                            outs.push(AggOutput::new(n.clone(), value_of(column(n))?));
                        }
                    } else {
                        // The analyzer names an unnamed value `max_<key>_arg<position>` (the key's
                        // column name, empty for an expression; the position counts from the key).
                        let key_name = inferred_name(args[0]).unwrap_or_default();
                        let name =
                            inferred_name(a).unwrap_or_else(|| format!("{}_{key_name}_arg{position}", if max { "max" } else { "min" }));
                        outs.push(AggOutput::new(name, value_of(ep.plan(a)?)?));
                    }
                }
                Ok(outs)
            }
            _ => Err(KqlError::at(span, format!("unknown aggregate function '{fname}'"))),
        }
    }
}

/// One `[value, weight]` item of a weighted list (both as reals, so the list has one type).
fn weighted_item(x: Expr, w: Expr) -> Expr {
    let real = |e: Expr| datafusion::prelude::cast(e, arrow::datatypes::DataType::Float64);
    datafusion::functions_nested::expr_fn::make_array(vec![real(x), real(w)])
}

/// `sum` over no rows is 0 in Kusto, in the sum's own type.
fn sum_output(name: String, expr: Expr, input: &arrow::datatypes::DataType) -> Result<Vec<AggOutput>> {
    let default = if input.is_floating() { lit(0.0f64) } else { lit(0i64) };
    Ok(vec![AggOutput::with_default(name, expr, default)])
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
    if let ExprKind::Call { name, .. } = &e.kind
        && is_aggregate(&name.name)
    {
        if let Some(col) = f(e) {
            e.kind = ExprKind::Name(col);
        }
        return;
    }
    match &mut e.kind {
        ExprKind::Call { args, .. } => {
            for a in args {
                if let ast::Source::Expr(inner) = &mut a.value.source
                    && a.value.operators.is_empty()
                {
                    replace_aggregates(inner, f);
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
