//! A logical optimizer rule for filters on a table's nullable string columns, which kql reads
//! with their nulls as `""` (`strings_as_read.rs`: Kusto has no null string).
//!
//! DataFusion keeps a filter on such a column above the `StringsAsRead` node, where it reads
//! `""` for a null. This rule moves it below, onto the file's values: each such column `c`
//! becomes `coalesce(c, "")`, so the filter keeps the same rows. That form Parquet's pruning
//! cannot use: it only knows comparisons of a column. But where a filter keeps a row only
//! when its predicate is true, a null and a false comparison drop the row alike, so
//! `coalesce(c, "") = "x"` with `"x"` not empty may be `c = "x"` (null where `c` is null, which
//! drops the row as `"" = "x"` did), and `coalesce(c, "") in ("x", "y")` may be
//! `c in ("x", "y")`. Only under `and`/`or` from the predicate's top: below a `not` or any
//! other operator a null is not a false. The same holds for the `coalesce(c, "")` columns of
//! `externaldata`, once DataFusion has pushed a filter through their projection.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ExprSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, Filter, LogicalPlan, Operator, TableScan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use crate::functions::coalesce::coalesce;
use crate::strings_as_read::{StringsAsReadNode, is_nullable_text};

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
            // A filter on the node's output goes below it, reading the file's values as the node does.
            LogicalPlan::Filter(filter) if as_read_node(&filter.input).is_some() => {
                let Some(node) = as_read_node(&filter.input) else { return Ok(Transformed::no(LogicalPlan::Filter(filter))) };
                let read = read_as_file_values(filter.predicate.clone(), node.input.schema())?;
                let (predicate, _) = filter_form(read);
                let below = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(node.input.clone()))?);
                Ok(Transformed::yes(StringsAsReadNode::try_new(below)?.into_plan()))
            }
            // A node whose input lost every nullable string column (unused, pruned) is its input.
            LogicalPlan::Extension(extension)
                if extension.node.as_any().downcast_ref::<StringsAsReadNode>().is_some_and(|n| n.changed_columns().is_empty()) =>
            {
                match extension.node.inputs().first() {
                    Some(input) => Ok(Transformed::yes((*input).clone())),
                    None => Ok(Transformed::no(LogicalPlan::Extension(extension))),
                }
            }
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

fn as_read_node(plan: &LogicalPlan) -> Option<&StringsAsReadNode> {
    match plan {
        LogicalPlan::Extension(extension) => extension.node.as_any().downcast_ref::<StringsAsReadNode>(),
        _ => None,
    }
}

/// `predicate` over a `StringsAsRead` node's output as the same over its input (`schema`):
/// each nullable string column `c` read as `coalesce(c, "")`, with an empty string of the
/// column's own type (the optimizer runs after type coercion).
fn read_as_file_values(predicate: Expr, schema: &DFSchema) -> Result<Expr> {
    predicate
        .transform(|e| {
            let Expr::Column(c) = &e else { return Ok(Transformed::no(e)) };
            let Ok(field) = schema.field_from_column(c) else { return Ok(Transformed::no(e)) };
            if !is_nullable_text(field) {
                return Ok(Transformed::no(e));
            }
            let empty = crate::functions::coalesce::empty_text(field.data_type());
            Ok(Transformed::yes(coalesce(vec![e, Expr::Literal(empty, None)])))
        })
        .map(|t| t.data)
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

/// The value `c` of `coalesce(c, "")`: a column, or a column converted (a dictionary of
/// strings read as a string, which a Delta table's partition column is). The rewrite holds for
/// any `c`; what matters for pruning is that `c` is what the scan knows.
fn read_column(e: &Expr) -> Option<Expr> {
    as_read_value(e).cloned()
}

/// `c` when `e` is `coalesce(c, "")`: how kql reads a string that may be null in a file (the
/// shared scan's tests recognise it too).
pub fn as_read_value(e: &Expr) -> Option<&Expr> {
    let Expr::ScalarFunction(f) = e else { return None };
    if f.func.name() != crate::functions::coalesce::coalesce_udf().name() {
        return None;
    }
    match f.args.as_slice() {
        [c, fallback] if text_literal(fallback).is_some_and(str::is_empty) => Some(c),
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
    use arrow::datatypes::DataType;
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
        // A converted column (a dictionary of strings read as a string) alike.
        let converted = Expr::TryCast(datafusion::logical_expr::TryCast::new(Box::new(col("d")), DataType::Utf8));
        let (e, changed) = filter_form(coalesce(vec![converted.clone(), lit("")]).eq(lit("x")));
        assert!(changed);
        assert_eq!(e, converted.eq(lit("x")));
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
            coalesce(vec![col("s"), lit("-")]).eq(lit("x")),
        ] {
            assert_eq!(filter_form(e.clone()), (e, false));
        }
    }
}
