//! `mv-expand`: one row per element of a dynamic array (or property of a bag), several columns
//! expanded side by side, the other columns repeated.

use datafusion::common::{Column, UnnestOptions};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::prelude::{cast, lit};
use kql_grammar::ast::{MvItem, OperatorParam, TypeName};

use super::expr::ExprPlanner;
use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::functions::{self, is_string};
use crate::types::arrow_type;

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl Planner<'_> {
    pub(super) fn plan_mv_expand(
        &self,
        env: &Env,
        tab: Tabular,
        params: &[OperatorParam],
        items: &[MvItem],
        limit: Option<&kql_grammar::ast::Expr>,
    ) -> Result<Tabular> {
        let mut as_arrays = false;
        let mut index_column = None;
        for p in params {
            match (p.name.as_str(), p.value.as_str()) {
                ("kind" | "bagexpansion", "array") => as_arrays = true,
                ("kind" | "bagexpansion", "bag") => as_arrays = false,
                ("with_itemindex", name) => {
                    if tab.plan.schema().fields().iter().any(|f| f.name() == name) {
                        return Err(KqlError::at(p.span, format!("with_itemindex names a column the input already has: '{name}'")));
                    }
                    index_column = Some(name.to_string())
                }
                (name, value) => return Err(KqlError::at(p.span, format!("mv-expand does not take {name}={value}"))),
            }
        }
        let limit = match limit {
            Some(e) => {
                let v = super::expr::evaluate_constant(&self.plan_constant(env, e)?).map_err(|err| err.or_at(e.span))?;
                match v {
                    datafusion::common::ScalarValue::Int64(Some(n)) if n >= 0 => n,
                    datafusion::common::ScalarValue::Int32(Some(n)) if n >= 0 => n as i64,
                    _ => return Err(KqlError::at(e.span, "the mv-expand limit is a non-negative integer")),
                }
            }
            None => i64::MAX,
        };
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), tab.order.as_deref());
        let existing: Vec<String> = tab.plan.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut expansions: Vec<Expr> = Vec::new();
        let mut expanded: Vec<(String, String, Option<TypeName>)> = Vec::new();
        let mut counter = 0;
        for (i, item) in items.iter().enumerate() {
            let name = self.name_for(&item.column, &mut counter, &existing, tab.plan.schema())?;
            let x = ep.plan(&item.column.expr)?;
            let t = ep.type_of(&x, item.column.expr.span)?;
            let x = if ep.is_dynamic(&x, item.column.expr.span)? || is_string(&t) {
                x
            } else {
                return Err(KqlError::at(
                    item.column.expr.span,
                    format!("mv-expand expands a dynamic array or bag, got {}", crate::types::kql_type_of(&t)),
                ));
            };
            let hidden = format!("__kql_mv_{i}");
            if i == 0
                && let Some(idx) = &index_column
            {
                expansions.push(functions::udfs().expand_index.call(vec![x.clone(), lit(limit)]).alias(format!("__kql_mv_index_{idx}")));
            }
            expansions.push(functions::udfs().expand.call(vec![x, lit(as_arrays), lit(limit)]).alias(&hidden));
            expanded.push((name, hidden, item.to_type));
        }
        let mut unnest: Vec<Column> = expanded.iter().map(|(_, h, _)| Column::new_unqualified(h)).collect();
        if let Some(idx) = &index_column {
            unnest.push(Column::new_unqualified(format!("__kql_mv_index_{idx}")));
        }
        // A column an expansion replaces is not carried to the unnest: a constant's copies in
        // every row (`extend r = range(1, 1000000, 1)` over 861 rows) came to 6 GB there.
        let projection: Vec<Expr> =
            existing.iter().filter(|n| !expanded.iter().any(|(name, _, _)| name == *n)).map(|n| column(n)).chain(expansions).collect();
        let plan = LogicalPlanBuilder::from(tab.plan)
            .project_exact(projection)?
            .unnest_columns_with_options(unnest, UnnestOptions::new().with_preserve_nulls(true))?
            .build()?;
        // Expanded values replace their column where it stands, or come at the end.
        let value = |hidden: &str, ty: Option<TypeName>| -> Expr {
            let x = column(hidden);
            let u = functions::udfs();
            match ty {
                None | Some(TypeName::Dynamic) => crate::types::as_dynamic(x),
                Some(TypeName::Long) => u.dyn_to_long.call(vec![x]),
                Some(TypeName::Int) => cast(u.dyn_to_long.call(vec![x]), arrow_type(TypeName::Int)),
                Some(TypeName::Real) => u.dyn_to_real.call(vec![x]),
                Some(TypeName::Decimal) => crate::types::to_decimal(u.dyn_to_string.call(vec![x])),
                Some(TypeName::Bool) => u.dyn_to_bool.call(vec![x]),
                Some(TypeName::DateTime) => u.todatetime.call(vec![u.dyn_to_string.call(vec![x])]),
                Some(TypeName::String | TypeName::Guid | TypeName::TimeSpan) => u.dyn_to_string.call(vec![x]),
            }
        };
        let mut out: Vec<Expr> = existing
            .iter()
            .map(|n| match expanded.iter().find(|(name, _, _)| name == n) {
                Some((name, hidden, ty)) => value(hidden, *ty).alias(name),
                None => column(n),
            })
            .collect();
        for (name, hidden, ty) in &expanded {
            if !existing.contains(name) {
                out.push(value(hidden, *ty).alias(name));
            }
        }
        if let Some(idx) = &index_column {
            out.push(column(&format!("__kql_mv_index_{idx}")).alias(idx));
        }
        let plan = LogicalPlanBuilder::from(plan).project_exact(out)?.build()?;
        Ok(Tabular::unordered(plan))
    }
}
