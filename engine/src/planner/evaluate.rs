//! `evaluate` plugins. `bag_unpack` and `pivot` make one column per distinct key or value in
//! the data, so planning them runs a small query first to learn those names. `ipv4_lookup`
//! joins rows to the table row whose IPv4 range holds their address.

use std::collections::BTreeSet;

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, CallArg, ExprKind, OperatorParam, Span};

use super::expr::ExprPlanner;
use super::projection::ExactProjection;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
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
            "pivot" => self.plan_pivot(env, tab, args, plugin.span),
            "ipv4_lookup" => self.plan_ipv4_lookup(env, tab, args, plugin.span),
            "basket" => self.plan_basket(env, tab, args, plugin.span),
            other => {
                let known = functions::catalog::names_of(functions::catalog::FunctionKind::Plugin).join(", ");
                Err(KqlError::at(name.span, format!("plugin {other} is not supported yet (kql has {known})")))
            }
        }
    }

    /// Runs `plan` and returns the text of its first column's values.
    fn distinct_texts(&self, plan: LogicalPlan, span: Span) -> Result<BTreeSet<String>> {
        let batches = self.collect_now(plan, span, "the plugin's columns")?;
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

    /// The rows of `plan`, for an operator whose output depends on the data (`what` it reads:
    /// pivot's columns, scan's rows, ...). The planner reads nothing itself: the rows come from
    /// the session's step that ran `plan` (see `steps`). Until it has, this is an error of kind
    /// `NeedsData`, and the request is noted for the session to run.
    pub(super) fn collect_now(&self, plan: LogicalPlan, span: Span, what: &str) -> Result<Vec<arrow::array::RecordBatch>> {
        let key = format!("{:?}", plan.schema().fields());
        let step = || crate::steps::DataStep::Query { plan, what: what.to_string(), span };
        match self.steps.take(key, step) {
            Some(crate::steps::StepOutput::Rows(batches)) => Ok(batches.as_ref().clone()),
            Some(crate::steps::StepOutput::File { .. }) => Err(KqlError::at(span, "internal error: a data step gave a file, not rows")),
            None => Err(crate::steps::needs_data(span, what)),
        }
    }

    /// `evaluate pivot(col [, agg(x)] [, key, ...])`: one column per distinct value of `col`,
    /// holding the aggregate over the rows with that value, by the other columns (or the keys).
    fn plan_pivot(&self, env: &Env, tab: Tabular, args: &[CallArg], span: Span) -> Result<Tabular> {
        use datafusion::functions_aggregate::expr_fn as agg;
        use datafusion::logical_expr::ExprFunctionExt;
        let exprs: Vec<&ast::Expr> = args.iter().filter_map(|a| a.value.as_expr()).collect();
        let Some(pivot) = exprs.first() else {
            return Err(KqlError::at(span, "pivot() takes the column to pivot on"));
        };
        let ExprKind::Name(pivot_name) = &pivot.kind else {
            return Err(KqlError::at(pivot.span, "pivot() takes a column name"));
        };
        let (aggregate, keys): (Option<&ast::Expr>, Vec<&ast::Expr>) = match exprs.get(1) {
            Some(e) if matches!(&e.kind, ExprKind::Call { .. }) => (Some(*e), exprs[2..].to_vec()),
            _ => (None, exprs[1..].to_vec()),
        };
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
        let pivot_text = ep.as_string(pivot)?;
        let values_plan =
            LogicalPlanBuilder::from(tab.plan.clone()).project_exact(vec![pivot_text.clone().alias("v")])?.distinct()?.build()?;
        let values = self.distinct_texts(values_plan, span)?;
        // The aggregate and the column it reads.
        let (agg_name, agg_arg) = match aggregate.map(|a| &a.kind) {
            None => ("count".to_string(), None),
            Some(ExprKind::Call { name, args }) => {
                let arg = args.first().and_then(|a| a.value.as_expr()).map(|e| ep.plan(e)).transpose()?;
                (name.name.clone(), arg)
            }
            Some(_) => unreachable!("checked above"),
        };
        let aggregated_column = aggregate.and_then(|a| match &a.kind {
            ExprKind::Call { args, .. } => args.first().and_then(|x| x.value.as_expr()).and_then(|e| match &e.kind {
                ExprKind::Name(n) => Some(n.clone()),
                _ => None,
            }),
            _ => None,
        });
        let key_names: Vec<String> = if keys.is_empty() {
            tab.plan
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| n != pivot_name && Some(n) != aggregated_column.as_ref())
                .collect()
        } else {
            keys.iter()
                .map(|k| match &k.kind {
                    ExprKind::Name(n) if tab.plan.schema().field_with_unqualified_name(n).is_ok() => Ok(n.clone()),
                    ExprKind::Name(n) => Err(KqlError::at(k.span, format!("pivot(): the input has no column named '{n}'"))),
                    _ => Err(KqlError::at(k.span, "pivot() groups by column names")),
                })
                .collect::<Result<_>>()?
        };
        let mut aggs = Vec::new();
        for v in &values {
            let only = pivot_text.clone().eq(lit(v.clone()));
            let base = match (agg_name.as_str(), &agg_arg) {
                ("count", _) => agg::count(lit(1i64)),
                ("sum", Some(x)) => agg::sum(x.clone()),
                ("avg", Some(x)) => agg::avg(x.clone()),
                ("min", Some(x)) => agg::min(x.clone()),
                ("max", Some(x)) => agg::max(x.clone()),
                ("dcount", Some(x)) => agg::count_distinct(x.clone()),
                ("take_any" | "any", Some(x)) => agg::first_value(x.clone(), vec![]),
                (other, _) => return Err(KqlError::at(span, format!("pivot() with {other}() is not supported yet"))),
            };
            aggs.push(base.filter(only).build()?.alias(v.clone()));
        }
        let groups: Vec<Expr> = key_names.iter().map(|k| column(k)).collect();
        // Counts and sums over no rows are 0, as in summarize.
        let zero = matches!(agg_name.as_str(), "count" | "sum" | "dcount");
        let mut finish: Vec<Expr> = key_names.iter().map(|k| column(k)).collect();
        for v in &values {
            finish.push(if zero {
                datafusion::functions::core::expr_fn::coalesce(vec![column(v), lit(0i64)]).alias(v.clone())
            } else {
                column(v)
            });
        }
        let plan = LogicalPlanBuilder::from(tab.plan).aggregate(groups, aggs)?.project_exact(finish)?.build()?;
        Ok(Tabular::unordered(plan))
    }

    /// `evaluate bag_unpack(col [, prefix])`: a dynamic column per key of the bags in `col`.
    /// `ipv4_lookup(LookupTable, SourceIP, LookupRange [, ExtraKey, ...] [, return_unmatched])`:
    /// each row with the lookup rows whose range (an address or a CIDR block) holds its address
    /// and whose extra keys are equal; with `return_unmatched`, rows without a match stay.
    fn plan_ipv4_lookup(&self, env: &Env, tab: Tabular, args: &[CallArg], span: Span) -> Result<Tabular> {
        use datafusion::common::JoinType;
        let Some(table) = args.first() else {
            return Err(KqlError::at(span, "ipv4_lookup() takes a lookup table, a column of addresses and a column of ranges"));
        };
        let lookup = self.plan_tabular(env, &table.value)?;
        let mut names = Vec::new();
        let mut return_unmatched = false;
        for (i, a) in args[1..].iter().enumerate() {
            match a.value.as_expr().map(|e| &e.kind) {
                Some(ExprKind::Name(n)) => names.push((n.clone(), a.value.span)),
                Some(ExprKind::Literal(ast::Literal::Bool(b))) if i == args.len() - 2 => return_unmatched = *b,
                _ => return Err(KqlError::at(a.value.span, "ipv4_lookup() takes column names (and a last bool, return_unmatched)")),
            }
        }
        if names.len() < 2 {
            return Err(KqlError::at(span, "ipv4_lookup() takes a column of addresses and a column of ranges"));
        }
        let (source, range, extras) = (&names[0], &names[1], &names[2..]);
        let has = |t: &Tabular, n: &str| t.plan.schema().has_column_with_unqualified_name(n);
        if !has(&tab, &source.0) {
            return Err(KqlError::at(source.1, format!("unknown column '{}'", source.0)));
        }
        if !has(&lookup, &range.0) {
            return Err(KqlError::at(range.1, format!("the lookup table has no column '{}'", range.0)));
        }
        for (k, at) in extras {
            if !has(&tab, k) || !has(&lookup, k) {
                return Err(KqlError::at(*at, format!("'{k}' must be a column of both tables")));
            }
        }
        let (l, r) = ("__kql_left", "__kql_right");
        let side = |q: &str, n: &str| Expr::Column(Column::new(Some(q), n));
        let mut on = functions::udfs().ipv4_is_in_range.call(vec![side(l, &source.0), side(r, &range.0)]);
        for (k, _) in extras {
            on = on.and(side(l, k).eq(side(r, k)));
        }
        let left_names: Vec<String> = tab.plan.schema().fields().iter().map(|f| f.name().clone()).collect();
        let right_names: Vec<String> =
            lookup.plan.schema().fields().iter().map(|f| f.name().clone()).filter(|n| !extras.iter().any(|(k, _)| k == n)).collect();
        let right = LogicalPlanBuilder::from(lookup.plan).alias(r)?.build()?;
        let kind = if return_unmatched { JoinType::Left } else { JoinType::Inner };
        let joined = LogicalPlanBuilder::from(tab.plan).alias(l)?.join_on(right, kind, vec![on])?.build()?;
        let mut taken = left_names.clone();
        let mut projection: Vec<Expr> = left_names.iter().map(|n| side(l, n).alias(n)).collect();
        for n in &right_names {
            let name = super::names::unique_name(n, &taken);
            projection.push(side(r, n).alias(&name));
            taken.push(name);
        }
        let plan = LogicalPlanBuilder::from(joined).project_exact(projection)?.build()?;
        Ok(Tabular::unordered(plan))
    }

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
            .project_exact(vec![u.expand.call(vec![u.bag_keys.call(vec![bag.clone()]), lit(false), lit(i64::MAX)]).alias("__kql_keys")])?
            .unnest_column("__kql_keys")?
            .project_exact(vec![u.dyn_to_string.call(vec![column("__kql_keys")]).alias("key")])?
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
        let plan = LogicalPlanBuilder::from(tab.plan).project_exact(projection)?.build()?;
        Ok(Tabular::unordered(plan))
    }
}
