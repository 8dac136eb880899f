//! Projections exactly as the planner writes them.
//!
//! `LogicalPlanBuilder::project` "columnizes" its expressions for SQL's sake: any expression
//! equal to one the input projection computes is replaced by that input column. For KQL that
//! is a wrong answer, not an optimisation: in `extend x = x + 1 | extend x = x + 1` the second
//! `x + 1` equals the first one's expression, so it was replaced by the column `x` and the
//! second increment was lost. Every projection of the planner goes through `project_exact`.
//!
//! DataFusion's optimizer has the same trap in another place: `OptimizeProjections` drops a
//! projection whose expression list equals its input projection's ("a fast path"), which is
//! only right for idempotent lists, and filter push-down makes such pairs adjacent
//! (`extend x = x + 1 | where x > 0 | extend x = x + 1`). So each projection qualifies its
//! outputs with a relation name of its own (`__kql_p<n>`, invisible in column names): the next
//! projection then reads `__kql_p<n>.x` and writes `__kql_p<n+1>.x`, and no two projections of
//! a plan can be equal.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::common::TableReference;
use datafusion::logical_expr::expr::Alias;
use datafusion::logical_expr::expr_rewriter::normalize_col_with_schemas_and_ambiguity_check;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Projection};

use crate::error::Result;

pub trait ExactProjection: Sized {
    /// Projects `exprs` over the plan, resolving column names but never substituting input
    /// columns for equal expressions.
    fn project_exact(self, exprs: impl IntoIterator<Item = Expr>) -> Result<Self>;
}

impl ExactProjection for LogicalPlanBuilder {
    fn project_exact(self, exprs: impl IntoIterator<Item = Expr>) -> Result<Self> {
        let plan = self.build()?;
        let relation = TableReference::bare(format!("__kql_p{}", NEXT_PROJECTION.fetch_add(1, Ordering::Relaxed)));
        // What DataFusion's `normalize_col` finds anew for every column reference (it walks the
        // whole input plan for its USING joins each time: 122 `extend`s of 250 columns took
        // seconds), found once.
        let using_columns = plan.using_columns()?;
        let fallback = plan.fallback_normalize_schemas();
        let schemas: [&[&datafusion::common::DFSchema]; 2] = [&[plan.schema().as_ref()], &fallback];
        let exprs = exprs
            .into_iter()
            .map(|e| Ok(qualified_output(normalize_col_with_schemas_and_ambiguity_check(e, &schemas, &using_columns)?, &relation)))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let projection = Projection::try_new(exprs, Arc::new(plan))?;
        Ok(LogicalPlanBuilder::from(LogicalPlan::Projection(projection)))
    }
}

static NEXT_PROJECTION: AtomicU64 = AtomicU64::new(0);

/// `e` with its output named as before, under `relation`.
fn qualified_output(e: Expr, relation: &TableReference) -> Expr {
    match e {
        Expr::Alias(Alias { expr, name, metadata, .. }) => Expr::Alias(Alias { expr, relation: Some(relation.clone()), name, metadata }),
        other => {
            let name = other.schema_name().to_string();
            let name = match &other {
                Expr::Column(c) => c.name.clone(),
                _ => name,
            };
            Expr::Alias(Alias { expr: Box::new(other), relation: Some(relation.clone()), name, metadata: None })
        }
    }
}

/// The last column of a plan's output, by position: a window function's result, whose
/// generated name depends on how its arguments were qualified.
pub fn last_column(plan: &LogicalPlan) -> Expr {
    let schema = plan.schema();
    let (qualifier, field) = schema.qualified_field(schema.fields().len() - 1);
    Expr::Column(datafusion::common::Column::new(qualifier.cloned(), field.name()))
}
