//! `mv-apply`: expand dynamic arrays per row, run a subquery over each row's elements, and
//! append its rows to the row's other columns.
//!
//! Each input row gets an id; the subquery runs over all rows at once, with its operators made
//! per-row: `summarize` groups by the id too, `top`/`take` rank within the id. The row's other
//! columns come back by joining on the id.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, ExprFunctionExt, LogicalPlanBuilder, SortExpr};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, Ident, MvItem, NamedExpr, Operator, OperatorKind, OperatorParam, Span};

use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};

const ROW_ID: &str = "__kql_row_id";

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn names(t: &Tabular) -> Vec<String> {
    t.plan.schema().fields().iter().map(|f| f.name().clone()).collect()
}

impl Planner<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_mv_apply(
        &self,
        env: &Env,
        tab: Tabular,
        params: &[OperatorParam],
        items: &[MvItem],
        limit: Option<&ast::Expr>,
        body: &[Operator],
        span: Span,
    ) -> Result<Tabular> {
        // Number the input rows.
        let ident = |n: &str| Ident { name: n.to_string(), span };
        let numbered = self.plan_operator(
            env,
            Tabular { order: Some(tab.order.clone().unwrap_or_default()), ..tab },
            &Operator {
                kind: OperatorKind::Extend(vec![NamedExpr {
                    names: vec![ident(ROW_ID)],
                    expr: ast::Expr::new(ast::ExprKind::Call { name: ident("row_number"), args: vec![] }, span),
                    span,
                }]),
                span,
            },
        )?;
        let input_columns = names(&numbered);
        let expanded = self.plan_mv_expand(env, numbered.clone(), params, items, limit)?;
        // The expanded columns: new ones, and those an item names or expands in place
        // (`mv-apply rings on (...)` replaces `rings`).
        let is_item = |n: &String| {
            items.iter().any(|i| {
                i.column.names.iter().any(|x| x.name == *n)
                    || (i.column.names.is_empty() && super::names::inferred_name(&i.column.expr).as_ref() == Some(n))
            })
        };
        let expanded_names: Vec<String> = names(&expanded).into_iter().filter(|n| !input_columns.contains(n) || is_item(n)).collect();
        // The row's own columns, less the expanded ones.
        let context: Vec<String> = input_columns.iter().filter(|n| *n != ROW_ID && !expanded_names.contains(n)).cloned().collect();
        // The row's columns travel through the subquery under hidden names, as group keys of
        // its `summarize` and extra columns of its `project`: joining them back by row id
        // would not do, since the ids come from a numbering that is not repeatable over
        // unordered input (a second evaluation pairs rows with other rows' values).
        let hidden: Vec<String> = (0..context.len()).map(|i| format!("__kql_row_column_{i}")).collect();
        let copies: Vec<NamedExpr> = context
            .iter()
            .zip(&hidden)
            .map(|(c, h)| NamedExpr { names: vec![ident(h)], expr: ast::Expr::new(ast::ExprKind::Name(c.clone()), span), span })
            .collect();
        let mut current = if copies.is_empty() {
            expanded
        } else {
            self.plan_operator(env, expanded, &Operator { kind: OperatorKind::Extend(copies), span })?
        };
        let carried: Vec<String> = std::iter::once(ROW_ID.to_string()).chain(hidden.iter().cloned()).collect();
        for op in body {
            current = self.plan_per_row(env, current, op, &carried)?;
        }
        // The row's columns come first, in their order: each from the subquery where it gives a
        // column of that name (`project b = ...` replaces `b` in its place), else from its hidden
        // copy. Then the subquery's other columns, in its order. This is the order Microsoft's
        // analyzer gives (`mv-apply d = arr on (project z = 1, c = tostring(d))` over `a, b, c,
        // arr` is `a, b, c, arr, z`, with `c` a string).
        let out_names = names(&current);
        let mut projection: Vec<Expr> =
            context.iter().zip(&hidden).map(|(c, h)| if out_names.contains(c) { column(c) } else { column(h).alias(c) }).collect();
        projection.extend(out_names.iter().filter(|n| !carried.contains(n) && !context.contains(n)).map(|n| column(n)));
        let plan = LogicalPlanBuilder::from(current.plan).project_exact(projection)?.build()?;
        Ok(Tabular::unordered(plan))
    }

    /// One operator of the subquery, made to work within each input row. `carried` names the
    /// row id and the hidden copies of the row's columns, which `project` and `summarize` keep
    /// (each row's copies hold one value per row id, so grouping by them too changes no group).
    fn plan_per_row(&self, env: &Env, tab: Tabular, op: &Operator, carried: &[String]) -> Result<Tabular> {
        let name_expr = |n: &str| NamedExpr { names: vec![], expr: ast::Expr::new(ast::ExprKind::Name(n.into()), op.span), span: op.span };
        let keep_id = |t: Tabular| -> Result<Tabular> { Ok(t) };
        match &op.kind {
            // Row-local operators keep the row's id as they are.
            OperatorKind::Where(_)
            | OperatorKind::Extend(_)
            | OperatorKind::ProjectAway(_)
            | OperatorKind::ProjectRename(_)
            | OperatorKind::Sort(_)
            | OperatorKind::MvExpand { .. }
            | OperatorKind::Parse { .. }
            | OperatorKind::ParseKv { .. } => keep_id(self.plan_operator(env, tab, op)?),
            OperatorKind::Project(items) => {
                let mut items = items.clone();
                let projected = |n: &str| {
                    items.iter().any(|i| i.names.iter().any(|x| x.name == n) || matches!(&i.expr.kind, ast::ExprKind::Name(x) if x == n))
                };
                let kept: Vec<NamedExpr> = carried.iter().filter(|n| !projected(n)).map(|n| name_expr(n)).collect();
                items.extend(kept);
                self.plan_operator(env, tab, &Operator { kind: OperatorKind::Project(items), span: op.span })
            }
            OperatorKind::Summarize { params, aggregates, by } => {
                let present = names(&tab);
                let mut by = by.clone();
                let kept: Vec<NamedExpr> = carried.iter().filter(|n| present.contains(n)).map(|n| name_expr(n)).collect();
                by.splice(0..0, kept);
                self.plan_operator(
                    env,
                    tab,
                    &Operator {
                        kind: OperatorKind::Summarize { params: params.clone(), aggregates: aggregates.clone(), by },
                        span: op.span,
                    },
                )
            }
            OperatorKind::Top { count, key } => {
                let sort_expr = {
                    let ep = super::expr::ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
                    SortExpr::new(ep.plan(&key.expr)?, key.is_ascending(), key.nulls_first())
                };
                self.rank_within_rows(env, tab, count, vec![sort_expr])
            }
            OperatorKind::Take(count) => self.rank_within_rows(env, tab, count, vec![]),
            other => Err(KqlError::at(op.span, format!("{} inside mv-apply is not supported yet", other.keyword()))),
        }
    }

    /// The first `count` rows of each input row, in `order`.
    fn rank_within_rows(&self, env: &Env, tab: Tabular, count: &ast::Expr, order: Vec<SortExpr>) -> Result<Tabular> {
        let n = super::expr::evaluate_constant(&self.plan_constant(env, count)?).map_err(|e| e.or_at(count.span))?;
        let n = match n {
            datafusion::common::ScalarValue::Int64(Some(v)) => v,
            datafusion::common::ScalarValue::Int32(Some(v)) => v as i64,
            _ => return Err(KqlError::at(count.span, "expected a constant row count")),
        };
        let original = names(&tab);
        let mut rank = datafusion::functions_window::expr_fn::row_number().partition_by(vec![column(ROW_ID)]);
        if !order.is_empty() {
            rank = rank.order_by(order);
        }
        let rank = rank.build()?;
        let plan = LogicalPlanBuilder::window_plan(tab.plan, vec![rank])?;
        let rank_column = super::projection::last_column(&plan);
        let plan =
            LogicalPlanBuilder::from(plan).filter(rank_column.lt_eq(lit(n)))?.project_exact(original.iter().map(|c| column(c)))?.build()?;
        Ok(Tabular::unordered(plan))
    }
}
