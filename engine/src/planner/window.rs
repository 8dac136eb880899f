//! `next`, `prev` and `row_number`: window functions over the serialized row order.
//!
//! The order is the sort keys of the last `sort`/`top` (or none after a bare `serialize`).
//! They are given to the window as its ORDER BY, so DataFusion knows the order the functions
//! depend on and keeps (or re-establishes) it.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::utils::find_window_exprs;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{cast, lit};
use kql_grammar::ast::{self, Span};

use super::expr::{ExprPlanner, evaluate_constant};
use crate::error::{KqlError, Result};

impl ExprPlanner<'_, '_> {
    pub(super) fn window_call(&self, name: &str, args: &[&ast::Expr], span: Span) -> Result<Expr> {
        let Some(order) = self.order else {
            return Err(KqlError::at(
                span,
                format!("{name}(): the row set must be serialized (use sort, order by, top or serialize before it)"),
            ));
        };
        let window = match name {
            "row_number" => {
                if args.len() > 2 {
                    return Err(KqlError::at(span, "row_number() takes at most 2 arguments"));
                }
                let rn = with_order(datafusion::functions_window::expr_fn::row_number(), order)?;
                let start = match args.first() {
                    Some(a) => self.plan(a)?,
                    None => lit(1i64),
                };
                // Kusto numbers from `start`, as a long; DataFusion from 1, as an unsigned.
                return Ok(cast(rn, DataType::Int64) + start - lit(1i64));
            }
            _ => {
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
                let default = match args.get(2) {
                    Some(a) => {
                        let t = self.type_of(&column, args[0].span)?;
                        let v = evaluate_constant(&self.plan(a)?).map_err(|e| e.or_at(a.span))?;
                        Some(v.cast_to(&t).map_err(|_| KqlError::at(a.span, format!("{name}(): the default must have the column's type")))?)
                    }
                    None => None,
                };
                if name == "next" {
                    datafusion::functions_window::expr_fn::lead(column, Some(offset), default)
                } else {
                    datafusion::functions_window::expr_fn::lag(column, Some(offset), default)
                }
            }
        };
        with_order(window, order)
    }
}

/// The window function over the serialized order (none after a bare `serialize`: the input order).
fn with_order(window: Expr, order: &[datafusion::logical_expr::SortExpr]) -> Result<Expr> {
    if order.is_empty() {
        return Ok(window);
    }
    Ok(window.order_by(order.to_vec()).build()?)
}

/// Puts the window functions that `exprs` use into window nodes under `plan`, and rewrites
/// `exprs` to read their results as columns.
pub fn add_windows(plan: LogicalPlan, exprs: Vec<Expr>) -> Result<(LogicalPlan, Vec<Expr>)> {
    let windows = find_window_exprs(&exprs);
    if windows.is_empty() {
        return Ok((plan, exprs));
    }
    let plan = LogicalPlanBuilder::window_plan(plan, windows.clone())?;
    let rewritten = exprs
        .into_iter()
        .map(|e| {
            e.transform_down(|node| {
                if windows.contains(&node) {
                    let name = node.schema_name().to_string();
                    Ok(Transformed::yes(Expr::Column(datafusion::common::Column::new_unqualified(name))))
                } else {
                    Ok(Transformed::no(node))
                }
            })
            .map(|t| t.data)
        })
        .collect::<datafusion::common::Result<Vec<_>>>()?;
    Ok((plan, rewritten))
}
