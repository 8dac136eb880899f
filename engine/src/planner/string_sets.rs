//! `where s contains "a" or s contains "b" or ...`: the `or` of string tests of one text
//! against constant needles becomes one `kql_string_test_any` call, which reads each text once
//! (for `contains`, one Aho-Corasick scan for every needle) instead of once per needle.
//!
//! Sigma rules converted to KQL are mostly such chains (a rule over `ProcessCommandLine` often
//! tests a dozen needles), and DataFusion evaluates each side of an `or` over the whole batch.
//! The rewrite keeps the meaning exactly: each test is never null (a null text is ""), so the
//! `or` of the tests is true when any test is, which is what the merged call computes; an
//! `IS TRUE` around a test (Kusto's null-as-false, `nulls.rs`) changes nothing on a value that
//! is never null and is dropped.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use crate::functions;

/// `e` with each `or` chain's tests of one text under one test kind merged into one call.
pub fn merge_string_tests(e: Expr) -> Expr {
    match e {
        Expr::BinaryExpr(BinaryExpr { op: Operator::Or, .. }) => {
            let mut disjuncts = Vec::new();
            flatten_or(e, &mut disjuncts);
            merge_disjuncts(disjuncts.into_iter().map(merge_string_tests).collect())
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            Expr::BinaryExpr(BinaryExpr::new(Box::new(merge_string_tests(*left)), Operator::And, Box::new(merge_string_tests(*right))))
        }
        Expr::Not(inner) => Expr::Not(Box::new(merge_string_tests(*inner))),
        Expr::IsTrue(inner) => Expr::IsTrue(Box::new(merge_string_tests(*inner))),
        Expr::IsNotFalse(inner) => Expr::IsNotFalse(Box::new(merge_string_tests(*inner))),
        other => other,
    }
}

fn flatten_or(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            flatten_or(*left, out);
            flatten_or(*right, out);
        }
        other => out.push(other),
    }
}

/// A string test of a text against a constant needle: the text, the test's code and the needle.
fn as_test(e: &Expr) -> Option<(&Expr, i64, &str)> {
    let e = match e {
        Expr::IsTrue(inner) => inner.as_ref(),
        other => other,
    };
    let Expr::ScalarFunction(ScalarFunction { func, args }) = e else { return None };
    if func.name() != "kql_string_test" {
        return None;
    }
    match args.as_slice() {
        [hay, Expr::Literal(ScalarValue::Utf8(Some(needle)), _), Expr::Literal(ScalarValue::Int64(Some(code)), _)] => {
            Some((hay, *code, needle.as_str()))
        }
        _ => None,
    }
}

/// The disjuncts, with the tests of one text and one code gathered into one call where the
/// first of them stood; the others keep their places.
fn merge_disjuncts(disjuncts: Vec<Expr>) -> Expr {
    // (text, code, needles, place in `out`)
    let mut groups: Vec<(Expr, i64, Vec<String>, usize)> = Vec::new();
    let mut out: Vec<Option<Expr>> = Vec::new();
    for d in disjuncts {
        let Some((hay, code, needle)) = as_test(&d) else {
            out.push(Some(d));
            continue;
        };
        match groups.iter_mut().find(|(h, c, _, _)| h == hay && *c == code) {
            Some((_, _, needles, _)) => needles.push(needle.to_string()),
            None => {
                groups.push((hay.clone(), code, vec![needle.to_string()], out.len()));
                out.push(Some(d));
            }
        }
    }
    for (hay, code, needles, place) in groups {
        if needles.len() > 1 {
            let mut args = vec![hay, Expr::Literal(ScalarValue::Int64(Some(code)), None)];
            args.extend(needles.into_iter().map(|n| Expr::Literal(ScalarValue::Utf8(Some(n)), None)));
            out[place] = Some(functions::udfs().string_test_any.call(args));
        }
    }
    // Balanced, not left-deep: see `expr::balanced_logical` (an `or` has two sides at least, so
    // `out` is never empty).
    let out: Vec<Expr> = out.into_iter().flatten().collect();
    super::expr::balanced(out, &|l, r| Expr::BinaryExpr(BinaryExpr::new(Box::new(l), Operator::Or, Box::new(r))))
}
