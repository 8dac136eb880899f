//! `top-nested`: for each level, the top N values of a column by an aggregate, within each
//! value of the levels above. Level k is a summarize by the first k columns, ranked within its
//! parent's values, joined to the level above.

use datafusion::common::{Column, JoinType};
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, SortExpr};
use datafusion::prelude::lit;
use kql_grammar::ast::{NamedExpr, Span, TopNestedLevel};

use super::names::inferred_name;
use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl Planner<'_> {
    pub(super) fn plan_top_nested(&self, env: &Env, tab: Tabular, levels: &[TopNestedLevel], span: Span) -> Result<Tabular> {
        let mut keys: Vec<NamedExpr> = Vec::new();
        let mut key_names: Vec<String> = Vec::new();
        let mut result: Option<(LogicalPlan, Vec<String>)> = None;
        for (k, level) in levels.iter().enumerate() {
            if level.others.is_some() {
                return Err(KqlError::at(span, "top-nested with others is not supported yet"));
            }
            let key_name = match level.of.names.as_slice() {
                [n] => n.name.clone(),
                _ => inferred_name(&level.of.expr)
                    .ok_or_else(|| KqlError::at(level.of.span, "top-nested needs a name for this expression"))?,
            };
            keys.push(NamedExpr {
                names: vec![kql_grammar::ast::Ident { name: key_name.clone(), span: level.of.span }],
                expr: level.of.expr.clone(),
                span: level.of.span,
            });
            let agg_name = match level.by.names.as_slice() {
                [n] => n.name.clone(),
                _ => format!("aggregated_{key_name}"),
            };
            let by = NamedExpr { names: vec![kql_grammar::ast::Ident { name: agg_name.clone(), span: level.by.span }], ..level.by.clone() };
            let summarized = self.plan_summarize(env, tab.clone(), std::slice::from_ref(&by), &keys, span)?;
            // Rank within the parent's values; keep the top N.
            let order = vec![SortExpr::new(column(&agg_name), level.order == Some(kql_grammar::ast::SortOrder::Asc), false)];
            let rank = datafusion::functions_window::expr_fn::row_number()
                .partition_by(key_names.iter().map(|n| column(n)).collect())
                .order_by(order)
                .build()?;
            let rank_name = format!("__kql_rank_{k}");
            let mut plan = LogicalPlanBuilder::window_plan(summarized.plan, vec![rank])?;
            let mut projected: Vec<Expr> = key_names.iter().map(|n| column(n)).collect();
            projected.push(column(&key_name));
            projected.push(column(&agg_name));
            projected.push(super::projection::last_column(&plan).alias(&rank_name));
            plan = LogicalPlanBuilder::from(plan).project_exact(projected)?.build()?;
            if let Some(n) = &level.count {
                let n = super::expr::evaluate_constant(&self.plan_constant(env, n)?).map_err(|e| e.or_at(n.span))?;
                let n = match n {
                    datafusion::common::ScalarValue::Int64(Some(v)) => v,
                    datafusion::common::ScalarValue::Int32(Some(v)) => v as i64,
                    _ => return Err(KqlError::at(span, "top-nested takes a constant count")),
                };
                plan = LogicalPlanBuilder::from(plan).filter(column(&rank_name).lt_eq(lit(n)))?.build()?;
            }
            result = Some(match result {
                None => {
                    let plan = LogicalPlanBuilder::from(plan).project_exact(vec![column(&key_name), column(&agg_name)])?.build()?;
                    (plan, vec![key_name.clone(), agg_name.clone()])
                }
                Some((above, mut names)) => {
                    // Join on the parent keys; keep the levels' columns in order.
                    let left = LogicalPlanBuilder::from(above).alias("__kql_up")?.build()?;
                    let right = LogicalPlanBuilder::from(plan).alias("__kql_down")?.build()?;
                    let on: Vec<Expr> = key_names
                        .iter()
                        .map(|n| Expr::Column(Column::new(Some("__kql_up"), n)).eq(Expr::Column(Column::new(Some("__kql_down"), n))))
                        .collect();
                    let mut out: Vec<Expr> = names.iter().map(|n| Expr::Column(Column::new(Some("__kql_up"), n)).alias(n)).collect();
                    out.push(Expr::Column(Column::new(Some("__kql_down"), &key_name)).alias(&key_name));
                    out.push(Expr::Column(Column::new(Some("__kql_down"), &agg_name)).alias(&agg_name));
                    let plan = LogicalPlanBuilder::from(left).join_on(right, JoinType::Inner, on)?.project_exact(out)?.build()?;
                    names.push(key_name.clone());
                    names.push(agg_name.clone());
                    (plan, names)
                }
            });
            key_names.push(key_name);
        }
        let (plan, _) = result.ok_or_else(|| KqlError::at(span, "top-nested needs a level"))?;
        Ok(Tabular::unordered(plan))
    }
}
