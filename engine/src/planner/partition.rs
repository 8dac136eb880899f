//! `partition by Column (operators)`: the operators run over the rows of each value of the
//! column, and the results are put together. The values are read while planning (as
//! `evaluate pivot` does), and each becomes a branch of a union.

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use kql_grammar::ast::{self, ExprKind, Operator, OperatorParam, Span};

use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};

/// More values than this is surely not what the query meant (Kusto's native strategy stops
/// well before).
const MAX_PARTITIONS: usize = 10_000;

impl Planner<'_> {
    pub(super) fn plan_partition(
        &self,
        env: &Env,
        tab: Tabular,
        params: &[OperatorParam],
        by: &ast::Expr,
        body: &[Operator],
        span: Span,
    ) -> Result<Tabular> {
        if let Some(p) = params.iter().find(|p| !p.name.starts_with("hint.")) {
            return Err(KqlError::at(p.span, format!("partition does not take {}", p.name)));
        }
        let ExprKind::Name(key) = &by.kind else {
            return Err(KqlError::at(by.span, "partition goes by a column name"));
        };
        if !tab.plan.schema().has_column_with_unqualified_name(key) {
            return Err(KqlError::at(by.span, format!("unknown column '{key}'")));
        }
        let key_column = Expr::Column(Column::new_unqualified(key));
        let distinct = LogicalPlanBuilder::from(tab.plan.clone()).aggregate(vec![key_column.clone()], Vec::<Expr>::new())?.build()?;
        let batches = self.collect_now(distinct, span, "partition's branches")?;
        let mut values = Vec::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                values.push(ScalarValue::try_from_array(b.column(0), i)?);
            }
        }
        if values.len() > MAX_PARTITIONS {
            return Err(KqlError::at(by.span, format!("partition by {key} makes {} partitions, more than {MAX_PARTITIONS}", values.len())));
        }
        // Each value's rows, through the operators; a stable order of branches.
        values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let mut union: Option<LogicalPlanBuilder> = None;
        for v in values {
            let rows = match v.is_null() {
                true => key_column.clone().is_null(),
                false => key_column.clone().eq(Expr::Literal(v, None)),
            };
            let plan = LogicalPlanBuilder::from(tab.plan.clone()).filter(rows)?.build()?;
            let mut branch = Tabular { plan, ..tab.clone() };
            for op in body {
                branch = self.plan_operator(env, branch, op)?;
            }
            // `union` keeps one flat Union node (a nested one would grow as deep as the number
            // of values); branches whose columns differ are matched by name.
            union = Some(match union {
                None => LogicalPlanBuilder::from(branch.plan),
                Some(u) if u.schema().fields() == branch.plan.schema().fields() => u.union(branch.plan)?,
                Some(u) => u.union_by_name(branch.plan)?,
            });
        }
        let plan = match union {
            Some(u) => u.build()?,
            // No rows: the operators' output shape over no rows.
            None => {
                let mut empty = Tabular { plan: LogicalPlanBuilder::from(tab.plan.clone()).limit(0, Some(0))?.build()?, ..tab.clone() };
                for op in body {
                    empty = self.plan_operator(env, empty, op)?;
                }
                empty.plan
            }
        };
        Ok(Tabular::unordered(plan))
    }
}
