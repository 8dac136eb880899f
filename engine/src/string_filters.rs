//! A logical optimizer rule: a filter on a table's nullable string column compares the column
//! itself again, so that Parquet's statistics and bloom filters can skip row groups.
//!
//! kql reads a nullable string column as `coalesce(c, "")` (Kusto has no null string,
//! `planner/nulls.rs`). Once DataFusion has pushed a `where c == "x"` down to the scan, the
//! filter reads `coalesce(c, "") = "x"`, which Parquet's pruning cannot use: it only knows
//! comparisons of a column. Where a filter keeps a row only when its predicate is true, a null
//! and a false comparison drop the row alike, so `coalesce(c, "") = "x"` with `"x"` not empty
//! may be `c = "x"` (null where `c` is null, which drops the row as `"" = "x"` did), and
//! `coalesce(c, "") in ("x", "y")` may be `c in ("x", "y")`. Only under `and`/`or` from the
//! predicate's top: below a `not` or any other operator a null is not a false.

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, Filter, LogicalPlan, Operator, TableScan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct StringFiltersAsRead;

impl OptimizerRule for StringFiltersAsRead {
    fn name(&self) -> &str {
        "kql_string_filters_as_read"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::Filter(filter) => {
                let (predicate, changed) = filter_form(filter.predicate.clone());
                if !changed {
                    return Ok(Transformed::no(LogicalPlan::Filter(filter)));
                }
                Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(predicate, filter.input)?)))
            }
            LogicalPlan::TableScan(scan) => {
                let mut any = false;
                let filters: Vec<Expr> = scan
                    .filters
                    .iter()
                    .map(|f| {
                        let (f, changed) = filter_form(f.clone());
                        any |= changed;
                        f
                    })
                    .collect();
                if !any {
                    return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
                }
                Ok(Transformed::yes(LogicalPlan::TableScan(TableScan { filters, ..scan })))
            }
            other => Ok(Transformed::no(other)),
        }
    }
}

/// `predicate` (read as a filter reads it: null drops the row) with its column-as-read
/// comparisons to non-empty texts made comparisons of the column, and whether any was.
pub fn filter_form(predicate: Expr) -> (Expr, bool) {
    match predicate {
        Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::And | Operator::Or), right }) => {
            let (left, l) = filter_form(*left);
            let (right, r) = filter_form(*right);
            (Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right))), l || r)
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => {
            let column = match (read_column(&left), read_column(&right)) {
                (Some(c), None) if non_empty_text(&right) => Some((c, *right.clone())),
                (None, Some(c)) if non_empty_text(&left) => Some((c, *left.clone())),
                _ => None,
            };
            match column {
                Some((c, value)) => (Expr::BinaryExpr(BinaryExpr::new(Box::new(c), Operator::Eq, Box::new(value))), true),
                None => (Expr::BinaryExpr(BinaryExpr::new(left, Operator::Eq, right)), false),
            }
        }
        Expr::InList(InList { expr, list, negated: false }) => match read_column(&expr) {
            Some(c) if !list.is_empty() && list.iter().all(non_empty_text) => (Expr::InList(InList::new(Box::new(c), list, false)), true),
            _ => (Expr::InList(InList::new(expr, list, false)), false),
        },
        other => (other, false),
    }
}

/// The column `c` of `coalesce(c, "")`.
fn read_column(e: &Expr) -> Option<Expr> {
    let Expr::ScalarFunction(f) = e else { return None };
    if f.func.name() != crate::functions::coalesce::coalesce_udf().name() {
        return None;
    }
    match f.args.as_slice() {
        [c @ Expr::Column(_), fallback] if text_literal(fallback).is_some_and(str::is_empty) => Some(c.clone()),
        _ => None,
    }
}

fn non_empty_text(e: &Expr) -> bool {
    text_literal(e).is_some_and(|t| !t.is_empty())
}

fn text_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(t)) | ScalarValue::Utf8View(Some(t)) | ScalarValue::LargeUtf8(Some(t)), _) => Some(t),
        Expr::Cast(cast) => text_literal(&cast.expr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::coalesce::coalesce;
    use datafusion::prelude::{col, lit};

    fn as_read(name: &str) -> Expr {
        coalesce(vec![col(name), lit("")])
    }

    #[test]
    fn a_comparison_to_a_non_empty_text_compares_the_column() {
        let (e, changed) = filter_form(as_read("s").eq(lit("x")).and(lit("y").eq(as_read("t"))));
        assert!(changed);
        assert_eq!(e, col("s").eq(lit("x")).and(col("t").eq(lit("y"))));
        let (e, changed) = filter_form(as_read("s").in_list(vec![lit("a"), lit("b")], false).or(col("n").gt(lit(1))));
        assert!(changed);
        assert_eq!(e, col("s").in_list(vec![lit("a"), lit("b")], false).or(col("n").gt(lit(1))));
    }

    #[test]
    fn what_a_null_would_change_is_left_alone() {
        // `""` is what a null reads as; `!=`, `not in` and `not` keep a null row.
        for e in [
            as_read("s").eq(lit("")),
            as_read("s").not_eq(lit("x")),
            as_read("s").in_list(vec![lit("a"), lit("")], false),
            as_read("s").in_list(vec![lit("a")], true),
            Expr::Not(Box::new(as_read("s").eq(lit("x")))),
            as_read("s").eq(col("t")),
        ] {
            assert_eq!(filter_form(e.clone()), (e, false));
        }
    }
}
