//! `search` and `find`: a predicate over several tables. A bare string term matches rows
//! where any string column has the term; other predicates run as they are, over the tables
//! that have the columns they read. Results carry the table's name in `$table`.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, ExprKind, Literal, OperatorParam, Source, Span, UnionItem};

use super::expr::ExprPlanner;
use super::operators::glob;
use super::{Binding, Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::functions::{self, is_string};

impl Planner<'_> {
    /// The tables `search`/`find` read: those named, or every table and view in scope.
    fn search_inputs(&self, env: &Env, tables: &[UnionItem], span: Span) -> Result<Vec<(String, Tabular)>> {
        let mut inputs = Vec::new();
        let by_name = |name: &str| -> Result<Tabular> {
            let pipe = ast::PipeExpr { source: Source::Expr(ast::Expr::new(ExprKind::Name(name.to_string()), span)), operators: vec![], span };
            self.plan_tabular(env, &pipe)
        };
        if tables.is_empty() {
            for name in self.catalog.names() {
                inputs.push((name.clone(), by_name(&name)?));
            }
            let mut views: Vec<String> = env
                .names()
                .filter(|n| match env.get(n) {
                    Some(Binding::Tabular(_)) => true,
                    Some(Binding::Function(f)) => f.params.is_empty() && !f.in_prelude,
                    _ => false,
                })
                .cloned()
                .collect();
            views.sort();
            for name in views {
                inputs.push((name.clone(), by_name(&name)?));
            }
        }
        for item in tables {
            match item {
                UnionItem::Pattern { pattern, .. } => {
                    for name in self.catalog.names().into_iter().filter(|n| glob(pattern, n)) {
                        inputs.push((name.clone(), by_name(&name)?));
                    }
                }
                UnionItem::Table(pipe) => {
                    let name = match pipe.as_expr().map(|e| &e.kind) {
                        Some(ExprKind::Name(n)) => n.clone(),
                        _ => format!("union_arg{}", inputs.len()),
                    };
                    inputs.push((name, self.plan_tabular(env, pipe)?));
                }
            }
        }
        if inputs.is_empty() {
            return Err(KqlError::at(span, "search has no table to read"));
        }
        Ok(inputs)
    }

    /// Rows of one table that match: a string term against every string column, or the
    /// predicate itself. `None` when the table lacks a column the predicate reads.
    fn search_one(&self, env: &Env, tab: Tabular, predicate: &ast::Expr) -> Result<Option<Tabular>> {
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
        let condition = match &predicate.kind {
            ExprKind::Literal(Literal::String(term)) => {
                let tests: Vec<Expr> = tab
                    .plan
                    .schema()
                    .fields()
                    .iter()
                    .filter(|f| is_string(f.data_type()))
                    .map(|f| {
                        let c = Expr::Column(Column::new_unqualified(f.name()));
                        functions::udfs().string_test.call(vec![c, lit(term.clone()), Expr::Literal(functions::string::Test::Has.code(false), None)])
                    })
                    .collect();
                tests.into_iter().reduce(|a, b| a.or(b)).unwrap_or(lit(false))
            }
            _ => match ep.plan(predicate) {
                Ok(c) => c,
                Err(e) if e.message.starts_with("unknown column or name") => return Ok(None),
                Err(e) => return Err(e),
            },
        };
        let plan = LogicalPlanBuilder::from(tab.plan).filter(condition)?.build()?;
        Ok(Some(Tabular::unordered(plan)))
    }

    pub(super) fn plan_search(&self, env: &Env, first: Option<Tabular>, params: &[OperatorParam], tables: &[UnionItem], predicate: &ast::Expr, span: Span) -> Result<Tabular> {
        if let Some(p) = params.iter().find(|p| p.name != "kind") {
            return Err(KqlError::at(p.span, format!("search does not take {}", p.name)));
        }
        let inputs = match first {
            Some(t) => vec![(String::new(), t)],
            None => self.search_inputs(env, tables, span)?,
        };
        let single = inputs.len() == 1 && inputs[0].0.is_empty();
        let mut matched = Vec::new();
        for (name, tab) in inputs {
            if let Some(t) = self.search_one(env, tab, predicate)? {
                matched.push((name, t));
            }
        }
        if single {
            return matched.pop().map(|(_, t)| t).ok_or_else(|| KqlError::at(predicate.span, "the predicate reads a column the table does not have"));
        }
        if matched.is_empty() {
            return Err(KqlError::at(predicate.span, "no table has the columns the predicate reads"));
        }
        // Union by column name, the table's name first as `$table`.
        let mut env = env.clone();
        let mut items = Vec::new();
        for (i, (name, t)) in matched.into_iter().enumerate() {
            let bound = format!("__kql_search_{i}");
            env.bind(&bound, Binding::Tabular(Tabular { name: Some(name), ..t }));
            items.push(UnionItem::Table(ast::PipeExpr { source: Source::Expr(ast::Expr::new(ExprKind::Name(bound), span)), operators: vec![], span }));
        }
        let with_source = [OperatorParam { name: "withsource".into(), value: "$table".into(), span }];
        self.plan_union(&env, None, &with_source, &items, span)
    }
}
