//! `next`, `prev` and `row_number` read the serialized row order: the sort keys of the last
//! `sort`/`top` (or the input order after a bare `serialize`).
//!
//! While an expression is planned they are marker calls; `add_serial` then moves them into a
//! `Serialize` node (see `crate::serial`) and reads their results as columns.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, ScalarUDF, SortExpr};
use datafusion::prelude::{cast, lit};
use kql_grammar::ast::{self, Span};

use super::expr::{ExprPlanner, evaluate_constant};
use crate::error::{KqlError, Result};
use crate::functions::KqlUdf;
use crate::serial::{SerialColumn, SerialFunc, SerialNode};

/// `kql_serial_shift(arg, offset, default)`: a placeholder that `add_serial` replaces.
fn shift_marker() -> &'static Arc<ScalarUDF> {
    static MARKER: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        Arc::new(KqlUdf::scalar(
            "kql_serial_shift",
            |types| Ok(types.first().cloned().unwrap_or(DataType::Null)),
            |_, _| datafusion::common::exec_err!("next()/prev() run only inside a Serialize node"),
        ))
    })
}

/// `kql_serial_row_number(restart)`: a placeholder that `add_serial` replaces.
fn row_number_marker() -> &'static Arc<ScalarUDF> {
    static MARKER: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        Arc::new(KqlUdf::scalar(
            "kql_serial_row_number",
            |_| Ok(DataType::Int64),
            |_, _| datafusion::common::exec_err!("row_number() runs only inside a Serialize node"),
        ))
    })
}

/// `kql_serial_cumsum(arg, restart)`: a placeholder that `add_serial` replaces.
fn cumsum_marker() -> &'static Arc<ScalarUDF> {
    static MARKER: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        Arc::new(KqlUdf::scalar(
            "kql_serial_cumsum",
            |types| Ok(if types.first().is_some_and(|t| t.is_floating()) { DataType::Float64 } else { DataType::Int64 }),
            |_, _| datafusion::common::exec_err!("row_cumsum() runs only inside a Serialize node"),
        ))
    })
}

/// `kql_serial_rank(arg, restart, dense)` and `kql_serial_window_session(arg, max_from_first,
/// max_gap, restart)`: placeholders that `add_serial` replaces.
fn rank_marker() -> &'static Arc<ScalarUDF> {
    static MARKER: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        Arc::new(KqlUdf::scalar(
            "kql_serial_rank",
            |_| Ok(DataType::Int64),
            |_, _| datafusion::common::exec_err!("row_rank_*() runs only inside a Serialize node"),
        ))
    })
}

fn window_session_marker() -> &'static Arc<ScalarUDF> {
    static MARKER: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        Arc::new(KqlUdf::scalar(
            "kql_serial_window_session",
            |types| Ok(types.first().cloned().unwrap_or(DataType::Null)),
            |_, _| datafusion::common::exec_err!("row_window_session() runs only inside a Serialize node"),
        ))
    })
}

/// The placeholders, for the session's function registry: a plan that still holds one (it
/// never runs) must decode like any other.
pub fn markers() -> [&'static Arc<ScalarUDF>; 5] {
    [shift_marker(), row_number_marker(), cumsum_marker(), rank_marker(), window_session_marker()]
}

fn is_marker(e: &Expr) -> bool {
    matches!(e, Expr::ScalarFunction(f) if matches!(f.func.name(), "kql_serial_shift" | "kql_serial_row_number" | "kql_serial_cumsum" | "kql_serial_rank" | "kql_serial_window_session"))
}

impl ExprPlanner<'_, '_> {
    pub(super) fn window_call(&self, name: &str, args: &[&ast::Expr], span: Span) -> Result<Expr> {
        if self.order.is_none() {
            return Err(KqlError::at(
                span,
                format!("{name}(): the row set must be serialized (use sort, order by, top or serialize before it)"),
            ));
        }
        if name == "row_number" {
            if args.len() > 2 {
                return Err(KqlError::at(span, "row_number() takes at most 2 arguments"));
            }
            let start = match args.first() {
                Some(a) => {
                    let e = self.plan(a)?;
                    let t = self.type_of(&e, a.span)?;
                    if self.is_dynamic(&e, a.span)? || !(t.is_integer() || t == DataType::Null) {
                        let kind = if self.is_dynamic(&e, a.span)? { "dynamic" } else { crate::types::kql_type_of(&t) };
                        return Err(KqlError::at(a.span, format!("row_number(): the start index must be a long, got {kind}")));
                    }
                    e
                }
                None => lit(1i64),
            };
            let restart = match args.get(1) {
                Some(a) => self.restart_arg(a)?,
                None => lit(false),
            };
            // Kusto numbers from `start`.
            return Ok(row_number_marker().call(vec![restart]) + cast(start, DataType::Int64) - lit(1i64));
        }
        if name == "row_cumsum" {
            if args.is_empty() || args.len() > 2 {
                return Err(KqlError::at(span, "row_cumsum() takes 1 or 2 arguments"));
            }
            let term = self.plan(args[0])?;
            let t = self.type_of(&term, args[0].span)?;
            if !t.is_numeric() {
                return Err(KqlError::at(args[0].span, format!("row_cumsum() sums numbers, got {}", crate::types::kql_type_of(&t))));
            }
            let restart = match args.get(1) {
                Some(a) => self.restart_arg(a)?,
                None => lit(false),
            };
            return Ok(cumsum_marker().call(vec![term, restart]));
        }
        if name == "row_rank_min" || name == "row_rank_dense" {
            if args.is_empty() || args.len() > 2 {
                return Err(KqlError::at(span, format!("{name}() takes 1 or 2 arguments")));
            }
            let term = self.plan(args[0])?;
            let restart = match args.get(1) {
                Some(a) => self.restart_arg(a)?,
                None => lit(false),
            };
            return Ok(rank_marker().call(vec![term, restart, lit(name == "row_rank_dense")]));
        }
        if name == "row_window_session" {
            if args.len() < 3 || args.len() > 4 {
                return Err(KqlError::at(span, "row_window_session() takes 3 or 4 arguments"));
            }
            let term = self.plan(args[0])?;
            if !matches!(self.type_of(&term, args[0].span)?, DataType::Timestamp(..)) {
                return Err(KqlError::at(args[0].span, "row_window_session() takes a datetime"));
            }
            let mut limits = Vec::new();
            for a in &args[1..3] {
                match evaluate_constant(&self.plan(a)?).map_err(|e| e.or_at(a.span))? {
                    // On the datetimes' microsecond scale.
                    ScalarValue::DurationNanosecond(Some(ns)) => limits.push(ns / kql_grammar::values::NANOS_PER_MICRO),
                    _ => return Err(KqlError::at(a.span, "row_window_session() takes its limits as constant timespans")),
                }
            }
            let restart = match args.get(3) {
                Some(a) => self.restart_arg(a)?,
                None => lit(false),
            };
            return Ok(window_session_marker().call(vec![term, lit(limits[0]), lit(limits[1]), restart]));
        }
        if args.is_empty() || args.len() > 3 {
            return Err(KqlError::at(span, format!("{name}() takes 1 to 3 arguments")));
        }
        let column = self.plan(args[0])?;
        let offset = match args.get(1) {
            Some(a) => match evaluate_constant(&self.plan(a)?).map_err(|e| e.or_at(a.span))? {
                ScalarValue::Int64(Some(v)) => v,
                ScalarValue::Int32(Some(v)) => v as i64,
                _ => return Err(KqlError::at(a.span, format!("{name}(): the offset must be a constant integer"))),
            },
            None => 1,
        };
        let t = self.type_of(&column, args[0].span)?;
        let default = match args.get(2) {
            Some(a) => {
                let v = evaluate_constant(&self.plan(a)?).map_err(|e| e.or_at(a.span))?;
                v.cast_to(&t).map_err(|_| KqlError::at(a.span, format!("{name}(): the default must have the column's type")))?
            }
            None => ScalarValue::try_from(&t).unwrap_or(ScalarValue::Null),
        };
        let offset = if name == "next" { offset } else { -offset };
        Ok(shift_marker().call(vec![column, lit(offset), Expr::Literal(default, None)]))
    }
}

impl ExprPlanner<'_, '_> {
    fn restart_arg(&self, a: &ast::Expr) -> Result<Expr> {
        let r = self.plan(a)?;
        if self.type_of(&r, a.span)? != DataType::Boolean {
            return Err(KqlError::at(a.span, "the restart argument is a bool"));
        }
        Ok(r)
    }
}

/// Moves the serial functions that `exprs` use into `Serialize` nodes over `plan`, and
/// rewrites `exprs` to read their results as columns. A serial function whose arguments use
/// another (`row_number(1, prev(k) != k)`) goes in a node above the one that computes those.
pub fn add_serial(plan: LogicalPlan, order: Option<&[SortExpr]>, exprs: Vec<Expr>) -> Result<(LogicalPlan, Vec<Expr>)> {
    let mut plan = plan;
    let mut exprs = exprs;
    loop {
        let mut leaves: Vec<Expr> = Vec::new();
        for e in &exprs {
            e.apply(|node| {
                if is_marker(node) && !contains_marker_below(node) && !leaves.contains(node) {
                    leaves.push(node.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
        }
        if leaves.is_empty() {
            return Ok((plan, exprs));
        }
        let base = plan.schema().fields().len();
        let columns: Vec<SerialColumn> =
            leaves.iter().enumerate().map(|(i, m)| serial_column(format!("__kql_serial_{base}_{i}"), m)).collect();
        plan = SerialNode::try_new(plan, order.map(|o| o.to_vec()).unwrap_or_default(), columns.clone())?.into_plan();
        exprs = exprs
            .into_iter()
            .map(|e| {
                e.transform_up(|node| match leaves.iter().position(|m| *m == node) {
                    Some(i) => Ok(Transformed::yes(Expr::Column(datafusion::common::Column::new_unqualified(&columns[i].name)))),
                    None => Ok(Transformed::no(node)),
                })
                .map(|t| t.data)
            })
            .collect::<datafusion::common::Result<Vec<_>>>()?;
    }
}

/// Whether a marker's arguments hold another marker.
fn contains_marker_below(marker: &Expr) -> bool {
    let Expr::ScalarFunction(f) = marker else { return false };
    f.args.iter().any(|a| {
        let mut found = false;
        let _ = a.apply(|n| {
            found |= is_marker(n);
            Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        });
        found
    })
}

/// The serial column a marker call stands for.
fn serial_column(name: String, marker: &Expr) -> SerialColumn {
    match marker {
        Expr::ScalarFunction(f) if f.func.name() == "kql_serial_shift" => {
            let offset = match &f.args[1] {
                Expr::Literal(ScalarValue::Int64(Some(o)), _) => *o,
                _ => 1,
            };
            let default = match &f.args[2] {
                Expr::Literal(v, _) => v.clone(),
                _ => ScalarValue::Null,
            };
            SerialColumn { name, func: SerialFunc::Shift { offset, default }, arg: Some(f.args[0].clone()), restart: None }
        }
        Expr::ScalarFunction(f) if f.func.name() == "kql_serial_cumsum" => {
            SerialColumn { name, func: SerialFunc::CumSum, arg: Some(f.args[0].clone()), restart: restart_of(&f.args[1]) }
        }
        Expr::ScalarFunction(f) if f.func.name() == "kql_serial_rank" => {
            let dense = matches!(&f.args[2], Expr::Literal(ScalarValue::Boolean(Some(true)), _));
            SerialColumn { name, func: SerialFunc::Rank { dense }, arg: Some(f.args[0].clone()), restart: restart_of(&f.args[1]) }
        }
        Expr::ScalarFunction(f) if f.func.name() == "kql_serial_window_session" => {
            let micros = |e: &Expr| match e {
                Expr::Literal(ScalarValue::Int64(Some(v)), _) => *v,
                _ => 0,
            };
            let func = SerialFunc::WindowSession { max_from_first: micros(&f.args[1]), max_gap: micros(&f.args[2]) };
            SerialColumn { name, func, arg: Some(f.args[0].clone()), restart: restart_of(&f.args[3]) }
        }
        Expr::ScalarFunction(f) => {
            SerialColumn { name, func: SerialFunc::RowNumber, arg: None, restart: f.args.first().and_then(restart_of) }
        }
        _ => SerialColumn { name, func: SerialFunc::RowNumber, arg: None, restart: None },
    }
}

/// A restart predicate, unless it is the constant `false` (no restart).
fn restart_of(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Literal(ScalarValue::Boolean(Some(false)), _) => None,
        other => Some(other.clone()),
    }
}
