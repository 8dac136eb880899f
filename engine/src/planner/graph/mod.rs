//! Graphs: `make-graph` (edges from the rows, nodes from tables or from the edges' ends),
//! `graph-match` and `graph-shortest-paths` (patterns of nodes and edges, variable-length
//! edges included), and `graph-to-table`.
//!
//! `make-graph` only describes the graph; the operator after it reads the rows while planning
//! (as `evaluate pivot` does), builds the graph in memory and finds the matches. Each match
//! becomes a row of hidden columns (a node's properties, its degrees and id; an edge's
//! properties; the value of each `map()`, `any()` or `all()` over a path), and the `where` and
//! `project` clauses are planned over those rows as ordinary operators.

mod matcher;
mod model;
mod rewrite;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_expr::PhysicalExpr;
use kql_grammar::ast::{self, ExprKind, GraphPattern, Ident, NamedExpr, OperatorParam, PipeExpr, Span};

use super::expr::ExprPlanner;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::types::dynamic_field;
use matcher::{Cycles, Matcher};
pub use model::GraphSpec;
use model::node_hash;
use rewrite::{Rewriter, VarKind, hidden, rewrite_element};

fn one_row_batch(schema: &Arc<Schema>, values: &[ScalarValue]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = values
        .iter()
        .zip(schema.fields())
        .map(|(v, f)| match v.is_null() {
            true => Ok(new_null_array(f.data_type(), 1)),
            false => v.to_array_of_size(1).and_then(|a| arrow::compute::cast(&a, f.data_type()).map_err(Into::into)),
        })
        .collect::<datafusion::common::Result<_>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn array_of(values: Vec<ScalarValue>, field: &Field, rows: usize) -> Result<ArrayRef> {
    Ok(match values.is_empty() {
        true => new_null_array(field.data_type(), rows),
        false => arrow::compute::cast(&ScalarValue::iter_to_array(values)?, field.data_type())?,
    })
}

impl Planner<'_> {
    pub(super) fn plan_make_graph(
        &self,
        env: &Env,
        tab: Tabular,
        source: &Ident,
        target: &Ident,
        nodes: &[(PipeExpr, Ident)],
        params: &[OperatorParam],
    ) -> Result<Tabular> {
        for column in [source, target] {
            if !tab.plan.schema().has_column_with_unqualified_name(&column.name) {
                return Err(KqlError::at(column.span, format!("unknown column '{}'", column.name)));
            }
        }
        let mut node_id = None;
        for p in params {
            match p.name.as_str() {
                "with_node_id" => node_id = Some(p.value.clone()),
                n if n.starts_with("hint.") => {}
                other => return Err(KqlError::at(p.span, format!("make-graph does not take {other}"))),
            }
        }
        let mut node_tables = Vec::new();
        for (table, key) in nodes {
            let t = self.plan_tabular(env, table)?;
            if !t.plan.schema().has_column_with_unqualified_name(&key.name) {
                return Err(KqlError::at(key.span, format!("the node table has no column '{}'", key.name)));
            }
            node_tables.push((t.plan, key.name.clone()));
        }
        if node_tables.is_empty() && node_id.is_none() {
            node_id = Some("NodeId".to_string());
        }
        let spec = GraphSpec {
            edges: tab.plan.clone(),
            source: source.name.clone(),
            target: target.name.clone(),
            nodes: node_tables,
            node_id,
            components: None,
        };
        Ok(Tabular { graph: Some(Arc::new(spec)), ..Tabular::unordered(tab.plan) })
    }

    pub(super) fn plan_graph_mark_components(&self, tab: Tabular, params: &[OperatorParam], span: Span) -> Result<Tabular> {
        let Some(spec) = tab.graph.clone() else {
            return Err(KqlError::at(span, "graph-mark-components reads a graph: put make-graph before it"));
        };
        let (mut name, mut strong) = ("ComponentId".to_string(), false);
        for p in params {
            match (p.name.as_str(), p.value.as_str()) {
                ("with_component_id", v) => name = v.to_string(),
                ("kind", "weak") => strong = false,
                ("kind", "strong") => strong = true,
                (n, v) => return Err(KqlError::at(p.span, format!("graph-mark-components does not take {n}={v}"))),
            }
        }
        let spec = GraphSpec { components: Some((name, strong)), ..spec.as_ref().clone() };
        Ok(Tabular { graph: Some(Arc::new(spec)), ..tab })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_graph_match(
        &self,
        env: &Env,
        tab: Tabular,
        shortest: bool,
        params: &[OperatorParam],
        patterns: &[GraphPattern],
        filter: Option<&ast::Expr>,
        project: &[NamedExpr],
        span: Span,
    ) -> Result<Tabular> {
        let Some(spec) = tab.graph.clone() else {
            return Err(KqlError::at(span, "graph-match reads a graph: put make-graph before it"));
        };
        let mut cycles = if shortest { Cycles::NoRepeatedNodes } else { Cycles::UniqueEdges };
        let mut all_shortest = false;
        for p in params {
            match (p.name.as_str(), p.value.as_str()) {
                ("cycles", "none") => cycles = Cycles::NoRepeatedNodes,
                ("cycles", "all") => cycles = Cycles::All,
                ("cycles", "unique_edges") => cycles = Cycles::UniqueEdges,
                ("output", "all") if shortest => all_shortest = true,
                ("output", "any") if shortest => all_shortest = false,
                (n, _) if n.starts_with("hint.") => {}
                (n, v) => return Err(KqlError::at(p.span, format!("graph-match does not take {n}={v}"))),
            }
        }
        // The variables and what they stand for.
        let mut vars: HashMap<String, VarKind> = HashMap::new();
        for pattern in patterns {
            for n in pattern.nodes.iter().flatten() {
                vars.insert(n.name.clone(), VarKind::Node);
            }
            for e in pattern.edges.iter() {
                if let Some(n) = &e.name {
                    if vars.contains_key(&n.name) {
                        return Err(KqlError::at(n.span, format!("'{}' names more than one thing in the pattern", n.name)));
                    }
                    vars.insert(n.name.clone(), if e.range.is_some() { VarKind::Path } else { VarKind::Edge });
                }
            }
        }
        // The properties, from the tables' columns (the graph itself is read later).
        let mut node_columns: Vec<String> =
            spec.nodes.iter().flat_map(|(p, _)| p.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>()).collect();
        node_columns.extend(spec.node_id.clone());
        if let Some((name, _)) = &spec.components {
            node_columns.push(name.clone());
        }
        let edge_columns: Vec<String> = spec.edges.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut rewriter = Rewriter { vars: &vars, node_columns, edge_columns, functions: Vec::new(), error: None };
        let filter = filter.map(|f| rewriter.rewrite(f));
        let project: Vec<NamedExpr> = project
            .iter()
            .map(|item| {
                // Unnamed items keep the name their text gives (`a.name` is `a_name`).
                let names = match (item.names.is_empty(), super::names::inferred_name(&item.expr), &item.expr.kind) {
                    (false, _, _) => item.names.clone(),
                    (true, Some(n), _) => vec![Ident { name: n, span: item.span }],
                    (true, None, ExprKind::Call { name, .. }) => vec![Ident { name: name.name.clone(), span: item.span }],
                    (true, None, _) => vec![],
                };
                NamedExpr { names, expr: rewriter.rewrite(&item.expr), span: item.span }
            })
            .collect();
        if let Some(err) = rewriter.error {
            return Err(err);
        }
        let functions = rewriter.functions;

        // The hidden columns of a match row.
        let graph = self.build_graph(&spec, span)?;
        let mut fields: Vec<Field> = Vec::new();
        let mut sorted_vars: Vec<(&String, &VarKind)> = vars.iter().collect();
        sorted_vars.sort();
        for (var, kind) in &sorted_vars {
            match kind {
                VarKind::Node => {
                    fields.extend(graph.node_fields.iter().map(|f| f.clone().with_name(hidden(var, f.name()))));
                    let key_type = graph.nodes.first().map_or(DataType::Utf8, |n| n.key.data_type());
                    fields.push(Field::new(hidden(var, "__id"), key_type, true));
                    fields.push(Field::new(hidden(var, "__in"), DataType::Int64, true));
                    fields.push(Field::new(hidden(var, "__out"), DataType::Int64, true));
                }
                VarKind::Edge => fields.extend(graph.edge_fields.iter().map(|f| f.clone().with_name(hidden(var, f.name())))),
                VarKind::Path => {}
            }
        }
        // Path functions: each body is evaluated per edge (or inner node) of the path.
        let ctx = self.ctx;
        let edge_schema = Arc::new(Schema::new(graph.edge_fields.clone()));
        let mut node_element_fields = graph.node_fields.clone();
        let key_type = graph.nodes.first().map_or(DataType::Utf8, |n| n.key.data_type());
        node_element_fields.extend([
            Field::new("__id", key_type, true),
            Field::new("__in", DataType::Int64, true),
            Field::new("__out", DataType::Int64, true),
        ]);
        let node_schema = Arc::new(Schema::new(node_element_fields));
        let mut compiled: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
        for (k, f) in functions.iter().enumerate() {
            let schema = if f.inner_nodes { node_schema.clone() } else { edge_schema.clone() };
            let df_schema = Arc::new(DFSchema::try_from(schema.as_ref().clone())?);
            let ep = ExprPlanner::new(self, env, df_schema.clone(), None);
            let body = rewrite_element(&f.body);
            let logical = ep.plan(&body)?;
            let result = ep.type_of(&logical, body.span)?;
            if f.kind != "map" && result != DataType::Boolean {
                return Err(KqlError::at(body.span, format!("{}() needs a bool condition", f.kind)));
            }
            compiled.push(ctx.create_physical_expr(logical, &df_schema).map_err(|e| KqlError::from(e).or_at(body.span))?);
            fields.push(if f.kind == "map" {
                dynamic_field(Field::new(format!("__kql_g_fn_{k}"), DataType::Utf8, true))
            } else {
                Field::new(format!("__kql_g_fn_{k}"), DataType::Boolean, true)
            });
        }
        fields.push(Field::new("__kql_g_length", DataType::Int64, false));
        fields.push(Field::new("__kql_g_start", DataType::Int64, false));
        fields.push(Field::new("__kql_g_end", DataType::Int64, false));

        let mut matcher = Matcher { graph: &graph, patterns, cycles, found: Vec::new(), walked: std::cell::Cell::new(0) };
        matcher.start()?;
        let matches = matcher.found;
        let degree = |n: usize| (graph.incoming[n].len() as i64, graph.outgoing[n].len() as i64);
        let node_element = |n: usize| -> Vec<ScalarValue> {
            let (din, dout) = degree(n);
            let mut v = graph.nodes[n].props.clone();
            v.extend([graph.nodes[n].key.clone(), ScalarValue::Int64(Some(din)), ScalarValue::Int64(Some(dout))]);
            v
        };
        let mut columns: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(matches.len()); fields.len()];
        let unbound = |var: &str| KqlError::at(span, format!("'{var}' is not bound by the pattern"));
        for m in &matches {
            let mut row: Vec<ScalarValue> = Vec::with_capacity(fields.len());
            for (var, kind) in &sorted_vars {
                match kind {
                    VarKind::Node => row.extend(node_element(*m.nodes.get(*var).ok_or_else(|| unbound(var))?)),
                    VarKind::Edge => {
                        let edge = m.paths.get(*var).and_then(|p| p.edges.first()).ok_or_else(|| unbound(var))?;
                        row.extend(graph.edges[*edge].props.clone())
                    }
                    VarKind::Path => {}
                }
            }
            for (f, expr) in functions.iter().zip(&compiled) {
                let path = m.paths.get(&f.var).ok_or_else(|| unbound(&f.var))?;
                let elements: Vec<Vec<ScalarValue>> = match f.inner_nodes {
                    true => path.nodes[..path.nodes.len().saturating_sub(1)].iter().map(|n| node_element(*n)).collect(),
                    false => path.edges.iter().map(|e| graph.edges[*e].props.clone()).collect(),
                };
                let schema = if f.inner_nodes { &node_schema } else { &edge_schema };
                let mut values = Vec::with_capacity(elements.len());
                for element in &elements {
                    let out = expr.evaluate(&one_row_batch(schema, element)?)?.into_array(1)?;
                    values.push(out);
                }
                row.push(match f.kind.as_str() {
                    "map" => {
                        let items: Vec<serde_json::Value> = values.iter().map(|a| crate::render::to_json(a.as_ref(), 0)).collect();
                        ScalarValue::Utf8(Some(serde_json::Value::Array(items).to_string()))
                    }
                    kind => {
                        let truth = values.iter().map(|a| a.as_boolean_opt().is_some_and(|b| b.is_valid(0) && b.value(0)));
                        let mut truth = truth.collect::<Vec<_>>().into_iter();
                        ScalarValue::Boolean(Some(if kind == "any" { truth.any(|t| t) } else { truth.all(|t| t) }))
                    }
                });
            }
            row.push(ScalarValue::Int64(Some(m.used.len() as i64)));
            row.push(ScalarValue::Int64(Some(m.ends.0 as i64)));
            row.push(ScalarValue::Int64(Some(m.ends.1 as i64)));
            for (c, v) in row.into_iter().enumerate() {
                columns[c].push(v);
            }
        }
        let schema = Arc::new(Schema::new(fields.clone()));
        let arrays = columns.into_iter().zip(&fields).map(|(values, f)| array_of(values, f, matches.len())).collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        let table = datafusion::catalog::MemTable::try_new(schema, vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("graph_match", datafusion::datasource::provider_as_source(Arc::new(table)), None)?.build()?;
        let mut current = Tabular::unordered(plan);
        if let Some(f) = filter {
            current = self.plan_operator(env, current, &ast::Operator { kind: ast::OperatorKind::Where(f), span })?;
        }
        if shortest {
            current = self.keep_shortest(current, all_shortest, span)?;
        }
        self.plan_operator(env, current, &ast::Operator { kind: ast::OperatorKind::Project(project), span })
    }

    /// `graph-shortest-paths`: per pair of end nodes, one of the shortest matches (all of them
    /// with `output=all`).
    fn keep_shortest(&self, tab: Tabular, all_shortest: bool, span: Span) -> Result<Tabular> {
        let batches = self.collect_now(tab.plan.clone(), span, "the graph is read from the data, which is not read here")?;
        let schema = tab.plan.schema().inner().clone();
        let all =
            if batches.is_empty() { RecordBatch::new_empty(schema.clone()) } else { arrow::compute::concat_batches(&schema, &batches)? };
        let column = |name: &str| -> Result<Vec<i64>> {
            let i = schema.index_of(name)?;
            Ok(all.column(i).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec())
        };
        let (length, start, end) = (column("__kql_g_length")?, column("__kql_g_start")?, column("__kql_g_end")?);
        let mut best: HashMap<(i64, i64), usize> = HashMap::new();
        for i in 0..all.num_rows() {
            let e = best.entry((start[i], end[i])).or_insert(i);
            if length[i] < length[*e] {
                *e = i;
            }
        }
        let mut keep: Vec<u32> = match all_shortest {
            true => (0..all.num_rows())
                .filter(|i| best.get(&(start[*i], end[*i])).is_some_and(|b| length[*b] == length[*i]))
                .map(|i| i as u32)
                .collect(),
            false => best.values().map(|i| *i as u32).collect(),
        };
        keep.sort_unstable();
        let indices = arrow::array::UInt32Array::from(keep);
        let columns =
            all.columns().iter().map(|c| arrow::compute::take(c.as_ref(), &indices, None)).collect::<std::result::Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let table = datafusion::catalog::MemTable::try_new(schema, vec![vec![batch]])?;
        let plan =
            LogicalPlanBuilder::scan("graph_shortest_paths", datafusion::datasource::provider_as_source(Arc::new(table)), None)?.build()?;
        Ok(Tabular::unordered(plan))
    }

    pub(super) fn plan_graph_to_table(&self, tab: Tabular, edges: bool, params: &[OperatorParam], span: Span) -> Result<Tabular> {
        let Some(spec) = tab.graph.clone() else {
            return Err(KqlError::at(span, "graph-to-table reads a graph: put make-graph before it"));
        };
        let mut id_columns: Vec<(&str, String)> = Vec::new();
        for p in params {
            match (p.name.as_str(), edges) {
                ("with_node_id", false) | ("with_source_id", true) | ("with_target_id", true) => {
                    id_columns.push((p.name.as_str(), p.value.clone()))
                }
                (n, _) => {
                    return Err(KqlError::at(
                        p.span,
                        format!("graph-to-table {} does not take {n}", if edges { "edges" } else { "nodes" }),
                    ));
                }
            }
        }
        let graph = self.build_graph(&spec, span)?;
        let mut fields: Vec<Field> = id_columns.iter().map(|(_, n)| Field::new(n, DataType::Int64, false)).collect();
        let props = if edges { &graph.edge_fields } else { &graph.node_fields };
        fields.extend(props.iter().cloned());
        let rows = if edges { graph.edges.len() } else { graph.nodes.len() };
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (kind, _) in &id_columns {
            let ids = (0..rows).map(|i| match *kind {
                "with_source_id" => node_hash(&graph.nodes[graph.edges[i].from].key),
                "with_target_id" => node_hash(&graph.nodes[graph.edges[i].to].key),
                _ => node_hash(&graph.nodes[i].key),
            });
            arrays.push(Arc::new(arrow::array::Int64Array::from_iter_values(ids)));
        }
        for (c, f) in props.iter().enumerate() {
            let values: Vec<ScalarValue> =
                (0..rows).map(|i| if edges { graph.edges[i].props[c].clone() } else { graph.nodes[i].props[c].clone() }).collect();
            arrays.push(array_of(values, f, rows)?);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        let table = datafusion::catalog::MemTable::try_new(schema, vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("graph", datafusion::datasource::provider_as_source(Arc::new(table)), None)?.build()?;
        Ok(Tabular::unordered(plan))
    }
}
