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
        Arc::new(KqlUdf::new(
            "kql_serial_shift",
            |types| Ok(types.first().cloned().unwrap_or(DataType::Null)),
            |_, _| datafusion::common::exec_err!("next()/prev() run only inside a Serialize node"),
        ))
    })
}

/// `kql_serial_row_number()`: a placeholder that `add_serial` replaces.
fn row_number_marker() -> &'static Arc<ScalarUDF> {
    static MARKER: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        Arc::new(KqlUdf::new(
            "kql_serial_row_number",
            |_| Ok(DataType::Int64),
            |_, _| datafusion::common::exec_err!("row_number() runs only inside a Serialize node"),
        ))
    })
}

fn is_marker(e: &Expr) -> bool {
    matches!(e, Expr::ScalarFunction(f) if f.func.name() == "kql_serial_shift" || f.func.name() == "kql_serial_row_number")
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
            if args.len() == 2 {
                return Err(KqlError::at(args[1].span, "row_number() with a restart predicate is not supported yet"));
            }
            let start = match args.first() {
                Some(a) => self.plan(a)?,
                None => lit(1i64),
            };
            // Kusto numbers from `start`.
            return Ok(row_number_marker().call(vec![]) + cast(start, DataType::Int64) - lit(1i64));
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

/// Moves the serial functions that `exprs` use into a `Serialize` node over `plan`, and
/// rewrites `exprs` to read their results as columns.
pub fn add_serial(plan: LogicalPlan, order: Option<&[SortExpr]>, exprs: Vec<Expr>) -> Result<(LogicalPlan, Vec<Expr>)> {
    let mut markers: Vec<Expr> = Vec::new();
    for e in &exprs {
        e.apply(|node| {
            if is_marker(node) && !markers.contains(node) {
                markers.push(node.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    if markers.is_empty() {
        return Ok((plan, exprs));
    }
    let base = plan.schema().fields().len();
    let columns: Vec<SerialColumn> = markers
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let name = format!("__kql_serial_{base}_{i}");
            match m {
                Expr::ScalarFunction(f) if f.func.name() == "kql_serial_shift" => {
                    let offset = match &f.args[1] {
                        Expr::Literal(ScalarValue::Int64(Some(o)), _) => *o,
                        _ => 1,
                    };
                    let default = match &f.args[2] {
                        Expr::Literal(v, _) => v.clone(),
                        _ => ScalarValue::Null,
                    };
                    SerialColumn { name, func: SerialFunc::Shift { offset, default }, arg: Some(f.args[0].clone()) }
                }
                _ => SerialColumn { name, func: SerialFunc::RowNumber, arg: None },
            }
        })
        .collect();
    let node = SerialNode::try_new(plan, order.map(|o| o.to_vec()).unwrap_or_default(), columns.clone())?;
    let rewritten = exprs
        .into_iter()
        .map(|e| {
            e.transform_down(|node| match markers.iter().position(|m| *m == node) {
                Some(i) => Ok(Transformed::yes(Expr::Column(datafusion::common::Column::new_unqualified(&columns[i].name)))),
                None => Ok(Transformed::no(node)),
            })
            .map(|t| t.data)
        })
        .collect::<datafusion::common::Result<Vec<_>>>()?;
    Ok((node.into_plan(), rewritten))
}
