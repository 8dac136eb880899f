//! Kusto's null rules for logic and equality, which are not SQL's three-valued logic
//! (logical-operators.md and null-values.md):
//! - `and`/`or` take a null operand as false: `bool(null) and true` is false, `bool(null) or
//!   true` is true, and neither ever yields null (so `not(a and b)` keeps a row with a null `a`).
//! - `x == v` with one side null is false and `x != v` is true; two nulls compare as null.
//!   Strings are never null in Kusto: a null string from a file compares as `""`.
//! - `!in`, `!has`, `!contains` and the other negated tests hold for a null value, as they do
//!   for Kusto's empty string.
//!
//! The exact forms (`IS TRUE`, `IS NOT FALSE`) would hide plain comparisons from Parquet
//! pruning, so `filter_form` removes them again where a `where` cannot tell null from false.

use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{Expr, ExprSchemable, Operator, binary_expr};

/// A nullable string column of `externaldata`, or a table's dictionary of strings converted to
/// a string, as Kusto reads it: a string is never null in Kusto, so a null from a file is `""`
/// (`coalesce(c, "")`, never null). A table's string columns are read so by a node of their own
/// (`strings_as_read.rs`). `None` for any other column (a `dynamic` held as JSON text keeps
/// its nulls).
pub fn string_as_read(c: Expr, field: &arrow::datatypes::Field) -> Option<Expr> {
    crate::strings_as_read::is_nullable_text(field).then(|| crate::functions::coalesce::coalesce(vec![c, datafusion::prelude::lit("")]))
}

/// `e`, with a null taken as false.
pub fn null_as_false(e: Expr) -> Expr {
    if never_null(&e) { e } else { Expr::IsTrue(Box::new(e)) }
}

/// `e`, with a null taken as true.
pub fn null_as_true(e: Expr) -> Expr {
    if never_null(&e) { e } else { Expr::IsNotFalse(Box::new(e)) }
}

/// Kusto's `and`/`or`.
pub fn logical(l: Expr, op: Operator, r: Expr) -> Expr {
    binary_expr(null_as_false(l), op, null_as_false(r))
}

/// Kusto's `==` and `!=` of two strings. A string is never null in Kusto (a missing one is
/// `""`), so a null from a file compares as the empty string and the result is never null.
pub fn string_equality(l: Expr, op: Operator, r: Expr) -> Expr {
    let empty = |e: &Expr| matches!(e, Expr::Literal(ScalarValue::Utf8(Some(t)) | ScalarValue::Utf8View(Some(t)) | ScalarValue::LargeUtf8(Some(t)), _) if t.is_empty());
    let literal = |e: &Expr| is_non_null_literal(e);
    let (column, value) = match (literal(&l), literal(&r)) {
        (false, true) => (l, r),
        (true, false) => (r, l),
        _ => {
            let text = |e: Expr| crate::functions::coalesce::coalesce(vec![e, datafusion::prelude::lit("")]);
            return binary_expr(text(l), op, text(r));
        }
    };
    match (empty(&value), op) {
        // `s == ""`: null or empty.
        (true, Operator::Eq) => column.clone().is_null().or(binary_expr(column, op, value)),
        (true, _) => column.clone().is_not_null().and(binary_expr(column, op, value)),
        // A null (`""`) never equals a non-empty text: the comparison as written, made non-null.
        (false, Operator::Eq) => null_as_false(binary_expr(column, op, value)),
        (false, _) => null_as_true(binary_expr(column, op, value)),
    }
}

/// Kusto's `==` and `!=`: one null side gives false (`==`) or true (`!=`); two give null.
pub fn equality(l: Expr, op: Operator, r: Expr, schema: &DFSchema) -> Expr {
    let nullable = |e: &Expr| e.nullable(schema).unwrap_or(true) && !is_non_null_literal(e);
    let both_nullable = nullable(&l) && nullable(&r);
    let compared = binary_expr(l.clone(), op, r.clone());
    let one_null = if op == Operator::Eq { null_as_false(compared) } else { null_as_true(compared) };
    if !both_nullable {
        return one_null;
    }
    let both_null = l.is_null().and(r.is_null());
    Expr::Case(datafusion::logical_expr::expr::Case::new(
        None,
        vec![(Box::new(both_null), Box::new(Expr::Literal(ScalarValue::Boolean(None), None)))],
        Some(Box::new(one_null)),
    ))
}

/// A `where` predicate with the null-as-false wrappers removed where they cannot change which
/// rows pass (a row passes only on true), so that comparisons reach Parquet pruning as written.
pub fn filter_form(e: Expr) -> Expr {
    match e {
        Expr::BinaryExpr(b) if matches!(b.op, Operator::And | Operator::Or) => {
            binary_expr(filter_form(*b.left), b.op, filter_form(*b.right))
        }
        Expr::IsTrue(inner) => filter_form(*inner),
        other => other,
    }
}

fn is_non_null_literal(e: &Expr) -> bool {
    matches!(e, Expr::Literal(v, _) if !v.is_null())
}

/// Expressions that cannot be null: `IS TRUE`-style tests, null checks, Kusto's and/or (whose
/// operands are made non-null), non-null literals.
fn never_null(e: &Expr) -> bool {
    match e {
        Expr::IsTrue(_) | Expr::IsFalse(_) | Expr::IsNotTrue(_) | Expr::IsNotFalse(_) | Expr::IsNull(_) | Expr::IsNotNull(_) => true,
        Expr::BinaryExpr(b) if matches!(b.op, Operator::And | Operator::Or) => never_null(&b.left) && never_null(&b.right),
        Expr::Not(inner) => never_null(inner),
        Expr::Alias(a) => never_null(&a.expr),
        other => is_non_null_literal(other),
    }
}
