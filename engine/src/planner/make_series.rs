//! `make-series`: per group, one dynamic array per aggregate with a value for every step of
//! the axis (the default where a step has no rows), and the axis itself as an array.
//!
//! Planned as: filter to [from, to) → summarize by keys and step index → summarize by keys
//! collecting (index, value) lists → arrays laid out by index.

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::prelude::lit;
use kql_grammar::ast::{
    self, BinaryOp, CallArg, ExprKind, Ident, NamedExpr, OperatorParam, PipeExpr, SeriesAggregate, SeriesRange, Source, Span,
};

use super::expr::evaluate_constant;
use super::names::{inferred_name, next_column_name};
use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::functions;

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn ident(name: &str, span: Span) -> Ident {
    Ident { name: name.to_string(), span }
}

fn name_expr(name: &str, span: Span) -> ast::Expr {
    ast::Expr::new(ExprKind::Name(name.to_string()), span)
}

fn call(f: &str, args: Vec<ast::Expr>, span: Span) -> ast::Expr {
    let args = args
        .into_iter()
        .map(|e| CallArg { name: None, value: PipeExpr { span: e.span, source: Source::Expr(e), operators: vec![] } })
        .collect();
    ast::Expr::new(ExprKind::Call { name: ident(f, span), args }, span)
}

fn binary(op: BinaryOp, l: ast::Expr, r: ast::Expr, span: Span) -> ast::Expr {
    ast::Expr::new(ExprKind::Binary { op, left: Box::new(l), right: Box::new(r) }, span)
}

/// Kusto's limit on the length of a make-series array.
const MAX_SERIES_LENGTH: i64 = 1 << 20;

impl Planner<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_make_series(
        &self,
        env: &Env,
        tab: Tabular,
        params: &[OperatorParam],
        aggregates: &[SeriesAggregate],
        axis: &ast::Expr,
        range: &SeriesRange,
        by: &[NamedExpr],
        span: Span,
    ) -> Result<Tabular> {
        if let Some(p) = params.iter().find(|p| !(p.name == "kind" || p.name.starts_with("hint."))) {
            return Err(KqlError::at(p.span, format!("make-series does not take {}", p.name)));
        }
        // The axis orders the series: a number, a datetime or a timespan (checked before any
        // bounds are read from the data).
        {
            let ep = super::expr::ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
            let planned = ep.plan(axis)?;
            let t = ep.type_of(&planned, axis.span)?;
            let ordered =
                t.is_numeric() || matches!(t, arrow::datatypes::DataType::Timestamp(..) | arrow::datatypes::DataType::Duration(_));
            if ep.is_dynamic(&planned, axis.span)? || !ordered {
                let kind = if ep.is_dynamic(&planned, axis.span)? { "dynamic" } else { crate::types::kql_type_of(&t) };
                return Err(KqlError::at(
                    axis.span,
                    format!("the make-series axis must be a number, a datetime or a timespan, not {kind}"),
                ));
            }
        }
        let (from, to, step) = match range {
            SeriesRange::FromTo { from: Some(f), to: Some(t), step } => (f.clone(), t.clone(), step),
            SeriesRange::InRange { start, stop, step } => (start.clone(), stop.clone(), step),
            SeriesRange::FromTo { from, to, step } => {
                let (f, t) = self.series_bounds_from_data(env, &tab, axis, step, span)?;
                (from.clone().unwrap_or(f), to.clone().unwrap_or(t), step)
            }
        };
        let (from, to) = (&from, &to);
        // The number of steps, from the constant bounds.
        let constant =
            |e: &ast::Expr| -> Result<ScalarValue> { evaluate_constant(&self.plan_constant(env, e)?).map_err(|err| err.or_at(e.span)) };
        let (start, stop, step_value) = (constant(from)?, constant(to)?, constant(step)?);
        let as_i128 = |v: &ScalarValue| -> Option<f64> {
            match v {
                // Datetimes (microseconds) on the timespans' nanosecond scale.
                ScalarValue::TimestampMicrosecond(Some(x), _) => Some(*x as f64 * 1_000.0),
                ScalarValue::DurationNanosecond(Some(x)) | ScalarValue::Int64(Some(x)) => Some(*x as f64),
                ScalarValue::Int32(Some(x)) => Some(*x as f64),
                ScalarValue::Float64(Some(x)) => Some(*x),
                _ => None,
            }
        };
        let (Some(a), Some(b), Some(st)) = (as_i128(&start), as_i128(&stop), as_i128(&step_value)) else {
            return Err(KqlError::at(span, "make-series needs constant from, to and step"));
        };
        if st <= 0.0 {
            return Err(KqlError::at(step.span, "the make-series step must be positive"));
        }
        let steps = ((b - a) / st).ceil().max(0.0) as i64;
        // The docs: "The arrays generated by make-series are limited to 1048576 values (2^20).
        // Trying to generate a larger array with make-series would result in either an error
        // or a truncated array." An error says so; a truncated array would hide data.
        if steps > MAX_SERIES_LENGTH {
            return Err(KqlError::at(
                step.span,
                format!("make-series would make {steps} steps; series are limited to {MAX_SERIES_LENGTH} values (2^20): use a larger step"),
            ));
        }

        // Stage 1: rows in [from, to), summarized by keys and step index.
        let s = span;
        let in_range = binary(
            BinaryOp::And,
            binary(BinaryOp::GtEq, axis.clone(), from.clone(), s),
            binary(BinaryOp::Lt, axis.clone(), to.clone(), s),
            s,
        );
        let index = call("tolong", vec![binary(BinaryOp::Div, binary(BinaryOp::Sub, axis.clone(), from.clone(), s), step.clone(), s)], s);
        let tab = self.plan_operator(env, tab, &ast::Operator { kind: ast::OperatorKind::Where(in_range), span: s })?;
        let mut keys: Vec<NamedExpr> = by.to_vec();
        keys.push(NamedExpr { names: vec![ident("__kql_step", s)], expr: index, span: s });
        let aggs: Vec<NamedExpr> = aggregates.iter().map(|a| a.aggregate.clone()).collect();
        let tab = self.plan_summarize(env, tab, &aggs, &keys, s)?;
        let fields: Vec<String> = tab.plan.schema().fields().iter().map(|f| f.name().clone()).collect();
        let key_names: Vec<String> = fields[..by.len()].to_vec();
        let agg_names: Vec<String> = fields[by.len() + 1..].to_vec();

        // Stage 2: per group, the step indexes and values as lists.
        let lists: Vec<NamedExpr> = std::iter::once("__kql_step")
            .chain(agg_names.iter().map(String::as_str))
            .map(|n| NamedExpr { names: vec![ident(n, s)], expr: call("make_list_with_nulls", vec![name_expr(n, s)], s), span: s })
            .collect();
        let group: Vec<NamedExpr> = key_names.iter().map(|k| NamedExpr { names: vec![], expr: name_expr(k, s), span: s }).collect();
        let tab = self.plan_summarize(env, tab, &lists, &group, s)?;

        // Stage 3: the arrays.
        let u = functions::udfs();
        let mut out: Vec<Expr> = key_names.iter().map(|k| column(k)).collect();
        for (a, name) in aggregates.iter().zip(&agg_names) {
            let default = match &a.default {
                Some(d) => self.plan_constant(env, d)?,
                None => lit(0i64),
            };
            out.push(u.series_fill.call(vec![column("__kql_step"), column(name), lit(steps), default]).alias(name));
        }
        let mut counter = 0;
        let axis_name = inferred_name(axis).unwrap_or_else(|| next_column_name(&mut counter, &agg_names));
        let axis_values = u.series_axis.call(vec![Expr::Literal(start, None), Expr::Literal(step_value, None), lit(steps)]);
        out.push(axis_values.alias(axis_name));
        let nonempty = params.iter().any(|p| p.name == "kind" && p.value == "nonempty");
        let mut plan = LogicalPlanBuilder::from(tab.plan);
        if !nonempty {
            // Without keys, summarize gives one row even over no input; make-series gives none.
            plan = plan.filter(u.array_length.call(vec![column("__kql_step")]).gt(lit(0i64)))?;
        }
        let plan = plan.project_exact(out)?.build()?;
        Ok(Tabular::unordered(plan))
    }
}

impl Planner<'_> {
    /// Without `from` (or `to`), the series start at the bin of the earliest axis value and end
    /// after the bin of the latest, over all the rows (read while planning).
    fn series_bounds_from_data(
        &self,
        env: &Env,
        tab: &Tabular,
        axis: &ast::Expr,
        step: &ast::Expr,
        span: Span,
    ) -> Result<(ast::Expr, ast::Expr)> {
        use datafusion::functions_aggregate::expr_fn::{max, min};
        let ep = super::expr::ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
        let a = ep.plan(axis)?;
        let plan = LogicalPlanBuilder::from(tab.plan.clone())
            .aggregate(Vec::<Expr>::new(), vec![min(a.clone()).alias("lo"), max(a).alias("hi")])?
            .build()?;
        let batches = self.collect_now(plan, span, "make-series' range (it has no from and to)")?;
        let value = |c: usize| -> Result<ScalarValue> {
            match batches.iter().find(|b| b.num_rows() > 0) {
                Some(b) => Ok(ScalarValue::try_from_array(b.column(c), 0)?),
                None => Ok(ScalarValue::Null),
            }
        };
        let step_value = evaluate_constant(&self.plan_constant(env, step)?).map_err(|e| e.or_at(step.span))?;
        let literal = |v: i128, like: &ScalarValue| -> ast::Expr {
            let lit = match like {
                ScalarValue::TimestampMicrosecond(..) => ast::Literal::DateTime((v / 1_000) as i64),
                ScalarValue::DurationNanosecond(..) => ast::Literal::TimeSpan(v as i64),
                _ => ast::Literal::Long(v as i64),
            };
            ast::Expr::new(ExprKind::Literal(lit), span)
        };
        let whole = |v: &ScalarValue| -> Option<i128> {
            match v {
                ScalarValue::TimestampMicrosecond(Some(x), _) => Some(*x as i128 * 1_000),
                ScalarValue::DurationNanosecond(Some(x)) | ScalarValue::Int64(Some(x)) => Some(*x as i128),
                ScalarValue::Int32(Some(x)) => Some(*x as i128),
                _ => None,
            }
        };
        let (lo, hi) = (value(0)?, value(1)?);
        match (whole(&lo), whole(&hi), whole(&step_value)) {
            (Some(l), Some(h), Some(st)) if st > 0 => {
                // Datetime bins count from Kusto's origin, 0001-01-01, as bin() does.
                let origin =
                    if matches!(lo, ScalarValue::TimestampMicrosecond(..)) { kql_grammar::values::MIN_DATETIME as i128 * 1_000 } else { 0 };
                let start = origin + (l - origin).div_euclid(st) * st;
                let end = origin + (h - origin).div_euclid(st) * st + st;
                Ok((literal(start, &lo), literal(end, &lo)))
            }
            // No rows: an empty range.
            (None, None, Some(_)) if lo.is_null() => Ok((
                ast::Expr::new(ExprKind::Literal(ast::Literal::Long(0)), span),
                ast::Expr::new(ExprKind::Literal(ast::Literal::Long(0)), span),
            )),
            _ => Err(KqlError::at(
                span,
                "make-series without from and to needs a datetime, timespan or whole-number axis and a positive step",
            )),
        }
    }
}
