//! kql's logical optimizer rules: DataFusion's, less the ones that rewrite only what SQL
//! writes and kql's planner never builds, plus kql's own after them.
//!
//! Every rule walks the whole plan on every pass, even when it has nothing to do:
//! `rewrite_set_comparison` rebuilds the merged input schema of each node. Timed rule by rule
//! on a Sigma rule over `DeviceProcessEvents` (when a projection of all 67 columns still sat on
//! every scan), it took 0.13 ms of the 3 ms the rule took to plan.

use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::OptimizerRule;
use datafusion::optimizer::optimizer::Optimizer;

type Rule = Arc<dyn OptimizerRule + Send + Sync>;

/// The rules kql leaves out, with what each rewrites: a set comparison (`x > ANY (subquery)`)
/// and a lateral join (a join whose right side refers to the left's columns). kql's planner
/// builds neither, and no reference to an outer query's column at all: its subqueries
/// (`in (T | ...)`, `toscalar()`) stand alone. The planner checks every plan it makes in a
/// debug build (`skipped_rule_input`), so every query of the tests checks it.
pub const SQL_ONLY_RULES: [&str; 2] = ["rewrite_set_comparison", "decorrelate_lateral_join"];

pub fn rules() -> Vec<Rule> {
    let mut rules: Vec<Rule> = Optimizer::new().rules.into_iter().filter(|rule| !SQL_ONLY_RULES.contains(&rule.name())).collect();
    // After DataFusion's rules, on the projections they leave.
    rules.push(Arc::new(crate::dynamic_members::DynamicMembersOnce));
    // After `push_down_filter`, on the filters it moved onto a table's scan.
    rules.push(Arc::new(crate::string_filters::StringFiltersAsRead));
    rules
}

/// What in `plan` one of the skipped rules would rewrite, if anything: a set comparison, or a
/// reference to an outer query's column (what makes a join lateral). Looks into subqueries.
pub fn skipped_rule_input(plan: &LogicalPlan) -> Option<&'static str> {
    let mut found = None;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                match x {
                    Expr::SetComparison(_) => found = Some("a set comparison"),
                    Expr::OuterReferenceColumn(..) => found = Some("a reference to an outer query's column"),
                    _ => {}
                }
                Ok(if found.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
            })
        })
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Session, SessionOptions};

    #[test]
    fn the_rules_are_datafusions_less_the_sql_only_ones_and_kqls_last() {
        let names: Vec<String> = rules().iter().map(|r| r.name().to_string()).collect();
        let defaults = Optimizer::new().rules.len();
        assert_eq!(names.len(), defaults - SQL_ONLY_RULES.len() + 2);
        for skipped in SQL_ONLY_RULES {
            assert!(!names.iter().any(|n| n == skipped), "{skipped} is still run");
        }
        assert!(names.iter().any(|n| n == "decorrelate_predicate_subquery"), "`in (T | ...)` needs it");
        assert!(names.iter().any(|n| n == "scalar_subquery_to_join"), "`toscalar()` needs it");
        let kql_own: Vec<&str> = names.iter().rev().take(2).rev().map(String::as_str).collect();
        assert_eq!(kql_own, ["kql_dynamic_members_once", "kql_string_filters_as_read"]);
    }

    #[test]
    fn a_kql_plan_holds_nothing_the_skipped_rules_rewrite() {
        let session = Session::new(SessionOptions::default()).expect("session");
        let queries = [
            "let T = datatable(a:long, s:string)[1, 'x', 2, 'y']; T | where a in ((T | where s == 'x' | project a))",
            "let T = datatable(a:long, s:string)[1, 'x', 2, 'y']; T | where a !in ((T | project a)) | count",
            "let T = datatable(a:long)[1, 2]; let m = toscalar(T | summarize max(a)); T | where a == m",
            "let T = datatable(a:long)[1, 2]; T | extend b = toscalar(T | count)",
            "let T = datatable(a:long, s:string)[1, 'x']; T | join kind=leftsemi (T | where a > 0) on a",
            "let T = datatable(a:long, s:string)[1, 'x']; T | lookup (T | project a, t = s) on a",
        ];
        for query in queries {
            let plans = session.plan(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            for planned in &plans {
                assert_eq!(skipped_rule_input(&planned.plan), None, "{query}");
            }
        }
        // And the check sees what it looks for.
        let outer = Expr::OuterReferenceColumn(
            Arc::new(arrow::datatypes::Field::new("a", arrow::datatypes::DataType::Boolean, true)),
            datafusion::common::Column::from_name("a"),
        );
        let plan = datafusion::logical_expr::LogicalPlanBuilder::empty(true).filter(outer).and_then(|b| b.build()).expect("plan");
        assert_eq!(skipped_rule_input(&plan), Some("a reference to an outer query's column"));
    }
}
