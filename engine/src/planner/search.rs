//! `search` and `find`: a predicate over several tables. A bare string term matches rows
//! where any string column has the term; other predicates run as they are, over the tables
//! that have the columns they read. Results carry the table's name in `$table`.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, ExprKind, Literal, OperatorParam, Source, Span, UnionItem};

use super::expr::ExprPlanner;
use super::operators::glob;
use super::projection::ExactProjection;
use super::{Binding, Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::functions::{self, is_string};

impl Planner<'_> {
    /// The catalog table a plan reads, when it reads exactly one.
    fn only_table_read(&self, plan: &datafusion::logical_expr::LogicalPlan) -> Option<String> {
        use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
        let mut tables = Vec::new();
        let _ = plan.apply(|node| {
            if let datafusion::logical_expr::LogicalPlan::TableScan(scan) = node {
                tables.push(scan.table_name.table().to_string());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        // Scans carry the name DataFusion normalised (lower case): give the catalog's spelling.
        match tables.as_slice() {
            [one] => self.catalog.names().into_iter().find(|n| n.eq_ignore_ascii_case(one)),
            _ => None,
        }
    }

    /// The tables `search`/`find` read: those named, or every table and view in scope.
    fn search_inputs(&self, env: &Env, tables: &[UnionItem], span: Span) -> Result<Vec<(String, Tabular)>> {
        let mut inputs = Vec::new();
        let by_name = |name: &str| -> Result<Tabular> {
            let pipe =
                ast::PipeExpr { source: Source::Expr(ast::Expr::new(ExprKind::Name(name.to_string()), span)), operators: vec![], span };
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
                    Some(Binding::Function(f)) => f.params.is_empty() && !f.in_prelude(),
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

    /// Rows of one table that match `predicate`. `None` when the table lacks a column the
    /// predicate reads.
    fn search_one(&self, env: &Env, tab: Tabular, predicate: &ast::Expr) -> Result<Option<Tabular>> {
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
        let condition = match search_condition(&ep, predicate) {
            Ok(c) => c,
            Err(e) if e.message.starts_with("unknown column or name") => return Ok(None),
            Err(e) => return Err(e),
        };
        let plan = LogicalPlanBuilder::from(tab.plan).filter(condition)?.build()?;
        Ok(Some(Tabular::unordered(plan)))
    }

    pub(super) fn plan_search(
        &self,
        env: &Env,
        first: Option<Tabular>,
        params: &[OperatorParam],
        tables: &[UnionItem],
        predicate: &ast::Expr,
        span: Span,
    ) -> Result<Tabular> {
        if let Some(p) = params.iter().find(|p| p.name != "kind") {
            return Err(KqlError::at(p.span, format!("search does not take {}", p.name)));
        }
        let table_name = first.as_ref().and_then(|t| t.name.clone().or_else(|| self.only_table_read(&t.plan)));
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
            let (_, t) =
                matched.pop().ok_or_else(|| KqlError::at(predicate.span, "the predicate reads a column the table does not have"))?;
            // The result starts with `$table`, as for several tables: the name of the table the
            // rows come from (the `as` name, or the one table the pipe reads).
            let name = table_name.unwrap_or_default();
            // A second `search` keeps the `$table` the first one gave, rather than repeat it.
            let already = t.plan.schema().fields().iter().any(|f| f.name() == "$table");
            let mut projection = if already { Vec::new() } else { vec![lit(name).alias("$table")] };
            projection.extend(t.plan.schema().columns().into_iter().map(Expr::Column));
            let plan = LogicalPlanBuilder::from(t.plan).project_exact(projection)?.build()?;
            return Ok(Tabular::unordered(plan));
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
            items.push(UnionItem::Table(ast::PipeExpr {
                source: Source::Expr(ast::Expr::new(ExprKind::Name(bound), span)),
                operators: vec![],
                span,
            }));
        }
        let with_source = [OperatorParam { name: "withsource".into(), value: "$table".into(), span }];
        self.plan_union(&env, None, &with_source, &items, span)
    }
}

/// A search predicate: a bare string term (`"a"`, `"a*"`) stands for "any string column has the
/// term", also inside `and`, `or` and `not(...)`; everything else is an ordinary predicate.
fn search_condition(ep: &ExprPlanner, predicate: &ast::Expr) -> Result<Expr> {
    match &predicate.kind {
        ExprKind::Literal(Literal::String(term)) => Ok(term_in_any_column(ep, term)),
        ExprKind::Binary { op: op @ (ast::BinaryOp::And | ast::BinaryOp::Or), left, right } => {
            let (l, r) = (search_condition(ep, left)?, search_condition(ep, right)?);
            Ok(if *op == ast::BinaryOp::And { l.and(r) } else { l.or(r) })
        }
        ExprKind::Call { name, args } if name.name == "not" && args.len() == 1 => match args[0].value.as_expr() {
            Some(inner) => Ok(std::ops::Not::not(search_condition(ep, inner)?)),
            None => ep.plan(predicate),
        },
        _ => {
            // Anything but a text term must be a predicate (a number or a datetime is neither).
            let planned = ep.plan(predicate)?;
            let t = ep.type_of(&planned, predicate.span)?;
            if !matches!(t, arrow::datatypes::DataType::Boolean | arrow::datatypes::DataType::Null) {
                return Err(KqlError::at(
                    predicate.span,
                    format!("search takes text terms (\"term\") or predicates, not a {} value", crate::types::kql_type_of(&t)),
                ));
            }
            Ok(planned)
        }
    }
}

/// `"term"` over every string column, case-insensitively: whole terms (`has`), or with a
/// leading or trailing `*` a term's prefix or suffix, or with both a substring, as Kusto's
/// `search` reads wildcards.
fn term_in_any_column(ep: &ExprPlanner, term: &str) -> Expr {
    use functions::string::Test;
    let (test, needle) = match (term.strip_prefix('*'), term.strip_suffix('*')) {
        _ if term.len() > 1 && term.starts_with('*') && term.ends_with('*') => (Test::Contains, &term[1..term.len() - 1]),
        (Some(rest), _) => (Test::HasSuffix, rest),
        (_, Some(rest)) => (Test::HasPrefix, rest),
        _ => (Test::Has, term),
    };
    ep.schema
        .iter()
        .filter(|(_, f)| is_string(f.data_type()))
        .map(|(q, f)| {
            let c = Expr::Column(Column::new(q.cloned(), f.name()));
            functions::udfs().string_test.call(vec![c, lit(needle.to_string()), Expr::Literal(test.code(false), None)])
        })
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false))
}
