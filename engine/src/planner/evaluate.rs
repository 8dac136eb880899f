//! `evaluate` plugins. `bag_unpack` and `pivot` make one column per distinct key or value in
//! the data, so planning them runs a small query first to learn those names.

use std::collections::BTreeSet;

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::lit;
use futures::TryStreamExt;
use kql_grammar::ast::{self, CallArg, ExprKind, OperatorParam, Span};

use super::expr::ExprPlanner;
use super::{Env, Planner, Tabular};
use crate::error::{ErrorKind, KqlError, Result};
use crate::functions;

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

impl Planner<'_> {
    pub(super) fn plan_evaluate(&self, env: &Env, tab: Tabular, _params: &[OperatorParam], plugin: &ast::Expr) -> Result<Tabular> {
        let ExprKind::Call { name, args } = &plugin.kind else {
            return Err(KqlError::at(plugin.span, "evaluate takes a plugin call"));
        };
        match name.name.as_str() {
            "bag_unpack" => self.plan_bag_unpack(env, tab, args, plugin.span),
            other => Err(KqlError::at(name.span, format!("plugin {other} is not supported yet"))),
        }
    }

    /// Runs `plan` and returns the text of its first column's values.
    fn distinct_texts(&self, plan: LogicalPlan, span: Span) -> Result<BTreeSet<String>> {
        let Some(ctx) = self.executor else {
            return Err(KqlError::at(span, "this plugin's columns depend on the data, which is not read here").with_kind(ErrorKind::NeedsData));
        };
        let run = async {
            let df = ctx.execute_logical_plan(plan).await?;
            let batches: Vec<arrow::array::RecordBatch> = df.execute_stream().await?.try_collect().await?;
            Ok::<_, datafusion::error::DataFusionError>(batches)
        };
        let batches = match tokio::runtime::Handle::try_current() {
            Ok(handle) => tokio::task::block_in_place(|| handle.block_on(run)),
            Err(_) => tokio::runtime::Builder::new_current_thread().build().map_err(|e| KqlError::new(e.to_string()))?.block_on(run),
        }
        .map_err(|e| KqlError::from(e).or_at(span))?;
        let mut out = BTreeSet::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                if let Some(t) = crate::render::format_cell(b.column(0).as_ref(), i) {
                    out.insert(t);
                }
            }
        }
        Ok(out)
    }

    /// `evaluate bag_unpack(col [, prefix])`: a dynamic column per key of the bags in `col`.
    fn plan_bag_unpack(&self, env: &Env, tab: Tabular, args: &[CallArg], span: Span) -> Result<Tabular> {
        let Some(first) = args.first().and_then(|a| a.value.as_expr()) else {
            return Err(KqlError::at(span, "bag_unpack() takes the column to unpack"));
        };
        let ExprKind::Name(bag_column) = &first.kind else {
            return Err(KqlError::at(first.span, "bag_unpack() takes a column name"));
        };
        let prefix = match args.get(1).and_then(|a| a.value.as_expr()).map(|e| &e.kind) {
            Some(ExprKind::Literal(ast::Literal::String(p))) => p.clone(),
            None => String::new(),
            Some(_) => return Err(KqlError::at(span, "bag_unpack()'s prefix is a string constant")),
        };
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
        let bag = ep.plan(first)?;
        let u = functions::udfs();
        // The keys: one row per key of every bag.
        let keys_plan = LogicalPlanBuilder::from(tab.plan.clone())
            .project(vec![u.expand.call(vec![u.bag_keys.call(vec![bag.clone()]), lit(false), lit(i64::MAX)]).alias("__kql_keys")])?
            .unnest_column("__kql_keys")?
            .project(vec![u.dyn_to_string.call(vec![column("__kql_keys")]).alias("key")])?
            .distinct()?
            .build()?;
        let keys = self.distinct_texts(keys_plan, span)?;
        let existing: Vec<String> = tab.plan.schema().fields().iter().map(|f| f.name().clone()).filter(|n| n != bag_column).collect();
        let mut projection: Vec<Expr> = existing.iter().map(|n| column(n)).collect();
        for k in &keys {
            let name = format!("{prefix}{k}");
            if existing.contains(&name) {
                return Err(KqlError::at(span, format!("bag_unpack: column '{name}' exists already")));
            }
            projection.push(u.dyn_get.call(vec![bag.clone(), lit(k.clone())]).alias(name));
        }
        let plan = LogicalPlanBuilder::from(tab.plan).project(projection)?.build()?;
        Ok(Tabular::unordered(plan))
    }
}
