//! One planning function per tabular operator (summarize has a file of its own).

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, SortExpr};
use datafusion::prelude::lit;
use kql_grammar::ast::{self, ColumnPattern, NamedExpr, Operator, OperatorKind, SortKey, Span};

use super::expr::{ExprPlanner, evaluate_constant};
use super::names::unique_name;
use super::projection::ExactProjection;
use super::window::add_serial;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::types::kql_type_name;

/// Operators the planner runs, for `README` and completion.
pub const OPERATORS: &[&str] = &[
    "as",
    "count",
    "distinct",
    "evaluate bag_unpack",
    "evaluate basket",
    "evaluate ipv4_lookup",
    "evaluate pivot",
    "extend",
    "externaldata",
    "find",
    "filter",
    "getschema",
    "join",
    "limit",
    "lookup",
    "make-series",
    "mv-apply",
    "mv-expand",
    "order by",
    "parse",
    "parse-kv",
    "parse-where",
    "project",
    "project-away",
    "graph-mark-components",
    "graph-match",
    "graph-shortest-paths",
    "graph-to-table",
    "make-graph",
    "partition",
    "project-by-names",
    "project-keep",
    "project-rename",
    "project-reorder",
    "render",
    "invoke",
    "sample",
    "scan",
    "sample-distinct",
    "search",
    "serialize",
    "sort by",
    "summarize",
    "take",
    "top",
    "top-nested",
    "union",
    "where",
];

pub fn supported_operators() -> Vec<&'static str> {
    let mut all = OPERATORS.to_vec();
    all.sort();
    all
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn names(tab: &Tabular) -> Vec<String> {
    tab.plan.schema().fields().iter().map(|f| f.name().clone()).collect()
}

impl Planner<'_> {
    pub(super) fn plan_operator(&self, env: &Env, tab: Tabular, op: &Operator) -> Result<Tabular> {
        self.places.record(op.kind.keyword(), op.span);
        let reads_graph = matches!(
            op.kind,
            OperatorKind::GraphMatch { .. } | OperatorKind::GraphToTable { .. } | OperatorKind::GraphMarkComponents { .. }
        );
        if tab.graph.is_some() && !reads_graph {
            return Err(KqlError::at(
                op.span,
                format!("{} takes rows, and make-graph made a graph: use graph-match or graph-to-table on it", op.kind.keyword()),
            ));
        }
        let planned = match &op.kind {
            OperatorKind::Where(e) => self.plan_where(env, tab, e),
            OperatorKind::Extend(items) => self.plan_extend(env, tab, items),
            OperatorKind::Project(items) => self.plan_project(env, tab, items),
            OperatorKind::ProjectAway(patterns) => self.plan_project_away(tab, patterns),
            OperatorKind::ProjectKeep(patterns) => self.plan_project_keep(tab, patterns),
            OperatorKind::ProjectByNames(exprs) => self.plan_project_by_names(env, tab, exprs),
            OperatorKind::ProjectRename(pairs) => self.plan_project_rename(tab, pairs),
            OperatorKind::ProjectReorder(keys) => self.plan_project_reorder(tab, keys),
            OperatorKind::Summarize { aggregates, by, .. } => self.plan_summarize(env, tab, aggregates, by, op.span),
            OperatorKind::Sort(keys) => self.plan_sort(env, tab, keys),
            OperatorKind::Serialize(items) => self.plan_serialize(env, tab, items),
            OperatorKind::Take(n) => self.plan_take(env, tab, n),
            OperatorKind::Top { count, key } => self.plan_top(env, tab, count, key),
            OperatorKind::Count { name } => self.plan_count(tab, name.as_ref().map(|n| n.name.as_str())),
            OperatorKind::Distinct(items) => self.plan_distinct(env, tab, items),
            OperatorKind::GetSchema => self.plan_getschema(tab),
            OperatorKind::As { name, .. } => Ok(Tabular { name: Some(name.name.clone()), ..tab }),
            OperatorKind::Join { params, right, on } => self.plan_join(env, tab, params, right, on, op.span),
            OperatorKind::Lookup { params, right, on } => self.plan_lookup(env, tab, params, right, on),
            OperatorKind::Union { params, tables } => self.plan_union(env, Some(tab), params, tables, op.span),
            OperatorKind::Parse { keep_only_matches, params, source, pattern } => {
                self.plan_parse(env, tab, *keep_only_matches, params, source, pattern, op.span)
            }
            // Charts are drawn by front ends; the rows pass unchanged.
            OperatorKind::Render { .. } => Ok(tab),
            OperatorKind::MvApply { params, items, limit, body } => {
                self.plan_mv_apply(env, tab, params, items, limit.as_ref(), body, op.span)
            }
            OperatorKind::Search { params, tables, predicate } => {
                if !tables.is_empty() {
                    return Err(KqlError::at(
                        op.span,
                        "search after a pipe reads its input; 'in (...)' goes with a search that starts a query",
                    ));
                }
                self.plan_search(env, Some(tab), params, tables, predicate, op.span)
            }
            OperatorKind::ParseKv { source, columns, settings } => self.plan_parse_kv(env, tab, source, columns, settings),
            OperatorKind::Scan { params, declare, steps } => self.plan_scan(env, tab, params, declare, steps, op.span),
            OperatorKind::Partition { params, by, body } => self.plan_partition(env, tab, params, by, body, op.span),
            OperatorKind::MakeGraph { source, target, nodes, params } => self.plan_make_graph(env, tab, source, target, nodes, params),
            OperatorKind::GraphMatch { shortest, params, patterns, filter, project } => {
                self.plan_graph_match(env, tab, *shortest, params, patterns, filter.as_ref(), project, op.span)
            }
            OperatorKind::GraphToTable { edges, params } => self.plan_graph_to_table(tab, *edges, params, op.span),
            OperatorKind::GraphMarkComponents { params } => self.plan_graph_mark_components(tab, params, op.span),
            OperatorKind::Sample(n) => {
                // Arbitrary rows: the first n that arrive.
                let n = self.row_count(env, n)?;
                Ok(Tabular::unordered(LogicalPlanBuilder::from(tab.plan).limit(0, Some(n))?.build()?))
            }
            OperatorKind::SampleDistinct { count, column } => {
                // Arbitrary distinct values: the first n that come out of a distinct.
                let n = self.row_count(env, count)?;
                let item = NamedExpr { names: vec![], expr: column.clone(), span: op.span };
                let distinct = self.plan_distinct(env, tab, std::slice::from_ref(&item))?;
                Ok(Tabular::unordered(LogicalPlanBuilder::from(distinct.plan).limit(0, Some(n))?.build()?))
            }
            OperatorKind::TopNested(levels) => self.plan_top_nested(env, tab, levels, op.span),
            OperatorKind::Evaluate { params, plugin } => self.plan_evaluate(env, tab, params, plugin),
            OperatorKind::MakeSeries { params, aggregates, axis, range, by } => {
                self.plan_make_series(env, tab, params, aggregates, axis, range, by, op.span)
            }
            OperatorKind::Invoke(call) => self.plan_invoke(env, tab, call),
            OperatorKind::MvExpand { params, items, limit } => self.plan_mv_expand(env, tab, params, items, limit.as_ref()),
            other => {
                let keyword = other.keyword();
                let end = op.span.start + keyword.len();
                Err(KqlError::at(Span::new(op.span.start, end), format!("operator {keyword} is not supported yet")))
            }
        };
        planned.map_err(|e| e.or_at(op.span))
    }

    /// `T | invoke f(a, b)` is `f(T, a, b)`.
    fn plan_invoke(&self, env: &Env, tab: Tabular, call: &ast::Expr) -> Result<Tabular> {
        let ast::ExprKind::Call { name, args } = &call.kind else {
            return Err(KqlError::at(call.span, "invoke takes a function call"));
        };
        let Some(super::Binding::Function(f)) = env.get(&name.name) else {
            return Err(KqlError::at(name.span, format!("unknown function '{}'", name.name)));
        };
        let f = f.clone();
        if f.params.is_empty() {
            return Err(KqlError::at(call.span, format!("{} takes no tabular parameter to invoke it with", name.name)));
        }
        let mut inner = env.clone();
        inner.bind("__kql_invoke_input", super::Binding::Tabular(tab));
        let input = ast::CallArg {
            name: None,
            value: ast::PipeExpr {
                source: ast::Source::Expr(ast::Expr::new(ast::ExprKind::Name("__kql_invoke_input".into()), call.span)),
                operators: vec![],
                span: call.span,
            },
        };
        let mut all_args = vec![input];
        all_args.extend(args.iter().cloned());
        let pipe = ast::PipeExpr {
            source: ast::Source::Expr(ast::Expr::new(ast::ExprKind::Call { name: name.clone(), args: all_args }, call.span)),
            operators: vec![],
            span: call.span,
        };
        self.plan_tabular(&inner, &pipe)
    }

    fn plan_where(&self, env: &Env, tab: Tabular, e: &ast::Expr) -> Result<Tabular> {
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), tab.order.as_deref());
        let predicate = ep.plan(e)?;
        let t = ep.type_of(&predicate, e.span)?;
        if !matches!(t, DataType::Boolean | DataType::Null) {
            return Err(KqlError::at(e.span, format!("where needs a bool predicate, got {}", crate::types::kql_type_of(&t))));
        }
        let (plan, mut exprs) = add_serial(tab.plan.clone(), tab.order.as_deref(), vec![predicate])?;
        let windowed = plan.schema().fields().len() != tab.plan.schema().fields().len();
        let predicate = super::string_sets::merge_string_tests(super::nulls::filter_form(exprs.remove(0)));
        let mut plan = LogicalPlanBuilder::from(plan).filter(predicate)?;
        if windowed {
            plan = plan.project_exact(names(&tab).iter().map(|n| column(n)))?;
        }
        Ok(Tabular::ordered(plan.build()?, tab.order))
    }

    /// `extend`: new columns at the end, a name that exists is replaced where it stands. Items
    /// may read columns made by earlier items of the same `extend`.
    fn plan_extend(&self, env: &Env, tab: Tabular, items: &[NamedExpr]) -> Result<Tabular> {
        let items = &super::tuples::expand(items)?;
        let mut tab = tab;
        let mut pending: Vec<(String, Expr)> = Vec::new();
        let mut counter = 0;
        for item in items {
            let pending_names: Vec<String> = pending.iter().map(|(n, _)| n.clone()).collect();
            if references_any(&item.expr, &pending_names) {
                tab = self.apply_extend(tab, std::mem::take(&mut pending))?;
            }
            let mut taken = names(&tab);
            taken.extend(pending.iter().map(|(n, _)| n.clone()));
            let name = self.name_for(item, &mut counter, &taken, tab.plan.schema())?;
            if pending.iter().any(|(n, _)| *n == name) {
                tab = self.apply_extend(tab, std::mem::take(&mut pending))?;
            }
            let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), tab.order.as_deref());
            pending.push((name, ep.plan(&item.expr)?));
        }
        self.apply_extend(tab, pending)
    }

    fn apply_extend(&self, tab: Tabular, new: Vec<(String, Expr)>) -> Result<Tabular> {
        if new.is_empty() {
            return Ok(tab);
        }
        let existing = names(&tab);
        let (names_new, exprs): (Vec<String>, Vec<Expr>) = new.into_iter().unzip();
        let (plan, exprs) = add_serial(tab.plan, tab.order.as_deref(), exprs)?;
        let mut projection: Vec<Expr> = existing
            .iter()
            .map(|n| match names_new.iter().position(|m| m == n) {
                Some(i) => exprs[i].clone().alias(n),
                None => column(n),
            })
            .collect();
        for (n, e) in names_new.iter().zip(exprs) {
            if !existing.contains(n) {
                projection.push(e.alias(n));
            }
        }
        let plan = LogicalPlanBuilder::from(plan).project_exact(projection)?.build()?;
        Ok(Tabular::ordered(plan, tab.order))
    }

    fn plan_project(&self, env: &Env, tab: Tabular, items: &[NamedExpr]) -> Result<Tabular> {
        let items = &super::tuples::expand(items)?;
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), tab.order.as_deref());
        let mut out_names: Vec<String> = Vec::new();
        let mut exprs = Vec::new();
        let mut counter = 0;
        for item in items {
            let mut name = self.name_for(item, &mut counter, &out_names, tab.plan.schema())?;
            // Only a column named outright clashes; an inferred name (`tostring(d.x)` after
            // `d.x`) takes the next free `X1`, `X2`, as in Kusto.
            let named_outright = !item.names.is_empty() || matches!(item.expr.kind, ast::ExprKind::Name(_));
            if !named_outright {
                name = unique_name(&name, &out_names);
            }
            if out_names.contains(&name) {
                return Err(KqlError::at(item.span, format!("column '{name}' is projected twice")));
            }
            exprs.push(ep.plan(&item.expr)?);
            out_names.push(name);
        }
        let (plan, exprs) = add_serial(tab.plan, tab.order.as_deref(), exprs)?;
        let projection: Vec<Expr> = exprs.into_iter().zip(&out_names).map(|(e, n)| e.alias(n)).collect();
        let plan = LogicalPlanBuilder::from(plan).project_exact(projection)?.build()?;
        let order = keep_order_if_columns_remain(tab.order, &out_names);
        Ok(Tabular::ordered(plan, order))
    }

    fn plan_project_away(&self, tab: Tabular, patterns: &[ColumnPattern]) -> Result<Tabular> {
        let all = names(&tab);
        check_patterns(&all, patterns)?;
        let kept: Vec<String> = all.into_iter().filter(|n| !patterns.iter().any(|p| glob(&p.pattern, n))).collect();
        self.select(tab, kept)
    }

    fn plan_project_keep(&self, tab: Tabular, patterns: &[ColumnPattern]) -> Result<Tabular> {
        let all = names(&tab);
        check_patterns(&all, patterns)?;
        let kept: Vec<String> = all.into_iter().filter(|n| patterns.iter().any(|p| glob(&p.pattern, n))).collect();
        self.select(tab, kept)
    }

    /// `project-by-names`: the columns the constant names (and wildcards) select, in the
    /// order given; names that are not columns are skipped.
    fn plan_project_by_names(&self, env: &Env, tab: Tabular, exprs: &[ast::Expr]) -> Result<Tabular> {
        let all = names(&tab);
        let mut kept: Vec<String> = Vec::new();
        for e in exprs {
            let value = super::expr::evaluate_constant(&self.plan_constant(env, e)?).map_err(|err| err.or_at(e.span))?;
            let text = match value {
                datafusion::common::ScalarValue::Utf8(Some(t))
                | datafusion::common::ScalarValue::LargeUtf8(Some(t))
                | datafusion::common::ScalarValue::Utf8View(Some(t)) => t,
                _ => return Err(KqlError::at(e.span, "project-by-names takes column names as strings or a dynamic array of them")),
            };
            // A dynamic array of names, or one name (which may hold wildcards).
            let patterns: Vec<String> = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
                _ => vec![text],
            };
            for p in patterns {
                kept.extend(all.iter().filter(|n| glob(&p, n) && !kept.contains(n)).cloned().collect::<Vec<_>>());
            }
        }
        self.select(tab, kept)
    }

    fn plan_project_reorder(&self, tab: Tabular, keys: &[(ColumnPattern, Option<ast::SortOrder>)]) -> Result<Tabular> {
        let all = names(&tab);
        let patterns: Vec<ColumnPattern> = keys.iter().map(|(p, _)| p.clone()).collect();
        check_patterns(&all, &patterns)?;
        let mut ordered: Vec<String> = Vec::new();
        for (p, dir) in keys {
            let mut matched: Vec<String> = all.iter().filter(|n| glob(&p.pattern, n) && !ordered.contains(n)).cloned().collect();
            match dir {
                Some(ast::SortOrder::Asc) => matched.sort(),
                Some(ast::SortOrder::Desc) => matched.sort_by(|a, b| b.cmp(a)),
                None => {}
            }
            ordered.extend(matched);
        }
        ordered.extend(all.into_iter().filter(|n| !ordered.contains(n)).collect::<Vec<_>>());
        self.select(tab, ordered)
    }

    fn plan_project_rename(&self, tab: Tabular, pairs: &[(ast::Ident, ast::Ident)]) -> Result<Tabular> {
        let all = names(&tab);
        for (_, old) in pairs {
            if !all.contains(&old.name) {
                return Err(KqlError::at(old.span, format!("unknown column '{}'", old.name)));
            }
        }
        let projection: Vec<Expr> = all
            .iter()
            .map(|n| match pairs.iter().find(|(_, old)| old.name == *n) {
                Some((new, _)) => column(n).alias(&new.name),
                None => column(n),
            })
            .collect();
        let plan = LogicalPlanBuilder::from(tab.plan).project_exact(projection)?.build()?;
        Ok(Tabular::ordered(plan, None))
    }

    fn select(&self, tab: Tabular, kept: Vec<String>) -> Result<Tabular> {
        let plan = LogicalPlanBuilder::from(tab.plan).project_exact(kept.iter().map(|n| column(n)))?.build()?;
        let order = keep_order_if_columns_remain(tab.order, &kept);
        Ok(Tabular::ordered(plan, order))
    }

    fn sort_exprs(&self, env: &Env, tab: &Tabular, keys: &[SortKey]) -> Result<Vec<SortExpr>> {
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
        keys.iter().map(|k| Ok(SortExpr::new(ep.plan(&k.expr)?, k.is_ascending(), k.nulls_first()))).collect()
    }

    fn plan_sort(&self, env: &Env, tab: Tabular, keys: &[SortKey]) -> Result<Tabular> {
        let sort = self.sort_exprs(env, &tab, keys)?;
        let plan = sorted_by_key_columns(tab.plan, &sort, None)?;
        Ok(Tabular::ordered(plan, Some(sort)))
    }

    fn plan_serialize(&self, env: &Env, tab: Tabular, items: &[NamedExpr]) -> Result<Tabular> {
        let order = Some(tab.order.clone().unwrap_or_default());
        self.plan_extend(env, Tabular { order, ..tab }, items)
    }

    fn row_count(&self, env: &Env, e: &ast::Expr) -> Result<usize> {
        let v = evaluate_constant(&self.plan_constant(env, e)?).map_err(|err| err.or_at(e.span))?;
        match v {
            ScalarValue::Int64(Some(n)) if n >= 0 => Ok(n as usize),
            ScalarValue::Int32(Some(n)) if n >= 0 => Ok(n as usize),
            _ => Err(KqlError::at(e.span, "expected a non-negative integer row count")),
        }
    }

    fn plan_take(&self, env: &Env, tab: Tabular, n: &ast::Expr) -> Result<Tabular> {
        let n = self.row_count(env, n)?;
        let plan = LogicalPlanBuilder::from(tab.plan).limit(0, Some(n))?.build()?;
        Ok(Tabular::ordered(plan, tab.order))
    }

    fn plan_top(&self, env: &Env, tab: Tabular, count: &ast::Expr, key: &SortKey) -> Result<Tabular> {
        let n = self.row_count(env, count)?;
        let sort = self.sort_exprs(env, &tab, std::slice::from_ref(key))?;
        let plan = sorted_by_key_columns(tab.plan, &sort, Some(n))?;
        let plan = LogicalPlanBuilder::from(plan).limit(0, Some(n))?.build()?;
        Ok(Tabular::ordered(plan, Some(sort)))
    }

    fn plan_count(&self, tab: Tabular, name: Option<&str>) -> Result<Tabular> {
        let count = datafusion::functions_aggregate::expr_fn::count(lit(1i64)).alias(name.unwrap_or("Count"));
        let plan = LogicalPlanBuilder::from(tab.plan).aggregate(Vec::<Expr>::new(), vec![count])?.build()?;
        Ok(Tabular::unordered(plan))
    }

    fn plan_distinct(&self, env: &Env, tab: Tabular, items: &[NamedExpr]) -> Result<Tabular> {
        if items.is_empty() {
            let plan = LogicalPlanBuilder::from(tab.plan).distinct()?.build()?;
            return Ok(Tabular::unordered(plan));
        }
        let ep = ExprPlanner::new(self, env, tab.plan.schema().clone(), None);
        let mut out: Vec<String> = Vec::new();
        let mut groups = Vec::new();
        let mut counter = 0;
        for item in items {
            let name = self.name_for(item, &mut counter, &out, tab.plan.schema())?;
            groups.push(ep.plan(&item.expr)?.alias(&name));
            out.push(name);
        }
        let plan = LogicalPlanBuilder::from(tab.plan).aggregate(groups, Vec::<Expr>::new())?.build()?;
        Ok(Tabular::unordered(plan))
    }

    fn plan_getschema(&self, tab: Tabular) -> Result<Tabular> {
        let schema = tab.plan.schema();
        let fields = schema.fields();
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        // A long, as Microsoft's analyzer types it.
        let ordinals: Vec<i64> = (0..fields.len() as i64).collect();
        let kql: Vec<&str> = fields.iter().map(|f| kql_type_name(f)).collect();
        let dotnet: Vec<&str> = kql.iter().map(|t| dotnet_type(t)).collect();
        let out_schema = Arc::new(Schema::new(vec![
            Field::new("ColumnName", DataType::Utf8, false),
            Field::new("ColumnOrdinal", DataType::Int64, false),
            Field::new("DataType", DataType::Utf8, false),
            Field::new("ColumnType", DataType::Utf8, false),
        ]));
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(names)),
            Arc::new(arrow::array::Int64Array::from(ordinals)),
            Arc::new(StringArray::from(dotnet)),
            Arc::new(StringArray::from(kql)),
        ];
        let batch = arrow::array::RecordBatch::try_new(out_schema.clone(), arrays)?;
        let table = datafusion::catalog::MemTable::try_new(out_schema, vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("getschema", datafusion::datasource::provider_as_source(Arc::new(table)), None)?;
        let plan = plan.project_exact(
            ["ColumnName", "ColumnOrdinal", "DataType", "ColumnType"].map(|n| Expr::Column(Column::new(Some("getschema"), n)).alias(n)),
        )?;
        Ok(Tabular::unordered(plan.build()?))
    }
}

/// .NET type names as Kusto's `getschema` shows them.
fn dotnet_type(kql: &str) -> &'static str {
    match kql {
        "bool" => "System.Boolean",
        "int" => "System.Int32",
        "long" => "System.Int64",
        "real" => "System.Double",
        "decimal" => "System.Data.SqlTypes.SqlDecimal",
        "datetime" => "System.DateTime",
        "timespan" => "System.TimeSpan",
        "guid" => "System.Guid",
        "dynamic" => "System.Object",
        _ => "System.String",
    }
}

/// The serialized order survives a projection only while the columns it sorts by remain.
fn keep_order_if_columns_remain(order: Option<Vec<SortExpr>>, kept: &[String]) -> Option<Vec<SortExpr>> {
    let order = order?;
    let all_remain = order.iter().all(|s| s.expr.column_refs().iter().all(|c| kept.contains(&c.name)));
    Some(if all_remain { order } else { Vec::new() })
}

/// Whether the expression reads one of `names`.
fn references_any(e: &ast::Expr, names: &[String]) -> bool {
    if names.is_empty() {
        return false;
    }
    let text_names = collect_names(e);
    text_names.iter().any(|n| names.contains(n))
}

fn collect_names(e: &ast::Expr) -> Vec<String> {
    use ast::ExprKind::*;
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            Name(n) => out.push(n.clone()),
            Call { args, .. } => stack.extend(args.iter().filter_map(|a| a.value.as_expr())),
            Unary { operand, .. } => stack.push(operand),
            Binary { left, right, .. } => {
                stack.push(left);
                stack.push(right);
            }
            In { expr, list, .. } => {
                stack.push(expr);
                stack.extend(list.iter().filter_map(|p| p.as_expr()));
            }
            Between { expr, low, high, .. } => stack.extend([expr.as_ref(), low.as_ref(), high.as_ref()]),
            HasSet { expr, list, .. } => {
                stack.push(expr);
                stack.extend(list.iter());
            }
            Member { expr, .. } => stack.push(expr),
            Index { expr, index } => stack.extend([expr.as_ref(), index.as_ref()]),
            Literal(_) | Star | Subquery(_) => {}
        }
    }
    out
}

/// A column-name pattern where `*` matches any run of characters.
pub fn glob(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// A name without wildcards must be a column.
fn check_patterns(all: &[String], patterns: &[ColumnPattern]) -> Result<()> {
    for p in patterns {
        if !p.pattern.contains('*') && !all.contains(&p.pattern) {
            return Err(KqlError::at(p.span, format!("unknown column '{}'", p.pattern)));
        }
    }
    Ok(())
}

/// `plan` sorted by `sort` (the first `limit` rows, when given). A key that is an expression
/// (`sort by strlen(x) > 5`) is computed into a column first and sorted by that column: over
/// several partitions DataFusion's plan checker does not always see that the merge of sorted
/// partitions keeps an expression's order, and rejected such plans ("does not satisfy order
/// requirements"; found by the metamorphic tests).
fn sorted_by_key_columns(plan: LogicalPlan, sort: &[SortExpr], limit: Option<usize>) -> Result<LogicalPlan> {
    let computed = sort.iter().any(|s| !matches!(s.expr, Expr::Column(_)));
    if !computed {
        return Ok(LogicalPlanBuilder::from(plan).sort_with_limit(sort.to_vec(), limit)?.build()?);
    }
    let columns: Vec<Expr> = plan.schema().columns().into_iter().map(Expr::Column).collect();
    let names: Vec<String> = plan.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut with_keys = columns;
    let mut by_columns = Vec::new();
    for (i, s) in sort.iter().enumerate() {
        let name = format!("__kql_sort_key_{i}");
        with_keys.push(s.expr.clone().alias(&name));
        by_columns.push(SortExpr::new(column(&name), s.asc, s.nulls_first));
    }
    let plan = LogicalPlanBuilder::from(plan)
        .project_exact(with_keys)?
        .sort_with_limit(by_columns, limit)?
        .project_exact(names.iter().map(|n| column(n)))?
        .build()?;
    Ok(plan)
}
