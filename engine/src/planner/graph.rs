//! Graphs: `make-graph` (edges from the rows, nodes from tables or from the edges' ends),
//! `graph-match` and `graph-shortest-paths` (patterns of nodes and edges, variable-length
//! edges included), and `graph-to-table`.
//!
//! `make-graph` only describes the graph; the operator after it reads the rows while planning
//! (as `evaluate pivot` does), builds the graph in memory and finds the matches. Each match
//! becomes a row of hidden columns (a node's properties, its degrees and id; an edge's
//! properties; the value of each `map()`, `any()` or `all()` over a path), and the `where` and
//! `project` clauses are planned over those rows as ordinary operators.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_expr::PhysicalExpr;
use kql_grammar::ast::{self, EdgeDirection, ExprKind, GraphPattern, Ident, NamedExpr, OperatorParam, PipeExpr, Span};

use super::expr::ExprPlanner;
use super::{Env, Planner, Tabular};
use crate::error::{KqlError, Result};
use crate::types::dynamic_field;

/// What `make-graph` said the graph is; built when an operator reads it.
#[derive(Debug, Clone)]
pub struct GraphSpec {
    edges: LogicalPlan,
    source: String,
    target: String,
    /// Node tables and their key columns.
    nodes: Vec<(LogicalPlan, String)>,
    /// `with_node_id=Name`: no node table; each node has one property, its id, so named.
    node_id: Option<String>,
    /// `graph-mark-components`: the property that numbers each node's component, and whether
    /// components are strongly connected (edges followed one way) or weakly.
    components: Option<(String, bool)>,
}

/// The longest path a variable-length edge may take (Kusto's limit is of this order).
const MAX_PATH_LENGTH: u32 = 255;
/// Matches past this many are surely a runaway pattern.
const MAX_MATCHES: usize = 1_000_000;
/// Path steps walked past this many too (`cycles=all` over a dense graph grows fast).
const MAX_WALK_STEPS: usize = 2_000_000;

struct Node {
    key: ScalarValue,
    props: Vec<ScalarValue>,
}

struct Edge {
    from: usize,
    to: usize,
    props: Vec<ScalarValue>,
}

struct Graph {
    node_fields: Vec<Field>,
    nodes: Vec<Node>,
    edge_fields: Vec<Field>,
    edges: Vec<Edge>,
    outgoing: Vec<Vec<usize>>,
    incoming: Vec<Vec<usize>>,
}

fn key_text(v: &ScalarValue) -> String {
    v.to_string()
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<ScalarValue>>> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| ScalarValue::try_from_array(c, i)).collect::<datafusion::common::Result<_>>()?);
        }
    }
    Ok(out)
}

impl Graph {
    fn node_index(&mut self, index: &mut HashMap<String, usize>, key: ScalarValue, key_column: Option<usize>) -> usize {
        let text = key_text(&key);
        if let Some(i) = index.get(&text) {
            return *i;
        }
        // A node only the edges name: null properties but its key.
        let mut props: Vec<ScalarValue> = self.node_fields.iter().map(|f| ScalarValue::try_from(f.data_type()).unwrap_or(ScalarValue::Null)).collect();
        if let Some(k) = key_column {
            props[k] = key.cast_to(self.node_fields[k].data_type()).unwrap_or(key.clone());
        }
        self.nodes.push(Node { key, props });
        self.outgoing.push(Vec::new());
        self.incoming.push(Vec::new());
        index.insert(text, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    fn path_edges(&self, at: usize, direction: EdgeDirection) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        if direction != EdgeDirection::Backward {
            out.extend(self.outgoing[at].iter().map(|e| (*e, self.edges[*e].to)));
        }
        if direction != EdgeDirection::Forward {
            out.extend(self.incoming[at].iter().map(|e| (*e, self.edges[*e].from)));
        }
        out
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Cycles {
    /// No edge twice in a match (Kusto's default).
    UniqueEdges,
    /// No node twice along a variable-length edge.
    NoRepeatedNodes,
    All,
}

/// A path taken by one edge of a pattern: its edges and the nodes after `from`, in order.
#[derive(Clone, Default)]
struct Path {
    edges: Vec<usize>,
    nodes: Vec<usize>,
}

/// A match: a node per named node variable, a path per edge variable.
#[derive(Clone, Default)]
struct Match {
    nodes: HashMap<String, usize>,
    paths: HashMap<String, Path>,
    /// Every edge used, to keep them unique, and the total length (for shortest paths).
    used: Vec<usize>,
    /// The first node of the first pattern and the last of the last (shortest paths' pair).
    ends: (usize, usize),
}

struct Matcher<'g> {
    graph: &'g Graph,
    patterns: &'g [GraphPattern],
    cycles: Cycles,
    found: Vec<Match>,
    walked: std::cell::Cell<usize>,
}

impl Matcher<'_> {
    fn node_var(p: usize, i: usize, n: &Option<Ident>) -> String {
        n.as_ref().map_or_else(|| format!("__anonymous_{p}_{i}"), |n| n.name.clone())
    }

    fn edge_var(p: usize, i: usize, e: &ast::GraphEdge) -> String {
        e.name.as_ref().map_or_else(|| format!("__anonymous_edge_{p}_{i}"), |n| n.name.clone())
    }

    fn start(&mut self) -> Result<()> {
        self.pattern(0, Match::default())
    }

    fn pattern(&mut self, p: usize, m: Match) -> Result<()> {
        if p == self.patterns.len() {
            if self.found.len() >= MAX_MATCHES {
                return Err(KqlError::new(format!("graph-match found more than {MAX_MATCHES} matches")));
            }
            self.found.push(m);
            return Ok(());
        }
        let var = Self::node_var(p, 0, &self.patterns[p].nodes[0]);
        let candidates: Vec<usize> = match m.nodes.get(&var) {
            Some(n) => vec![*n],
            None => (0..self.graph.nodes.len()).collect(),
        };
        for n in candidates {
            let mut m = m.clone();
            m.nodes.insert(var.clone(), n);
            if p == 0 {
                m.ends.0 = n;
            }
            self.step(p, 0, n, m)?;
        }
        Ok(())
    }

    /// From node `at` (position `i` of pattern `p`), every way along edge `i` to node `i + 1`.
    fn step(&mut self, p: usize, i: usize, at: usize, m: Match) -> Result<()> {
        let pattern = &self.patterns[p];
        if i == pattern.edges.len() {
            let mut m = m;
            m.ends.1 = at;
            return self.pattern(p + 1, m);
        }
        let edge = &pattern.edges[i];
        let (min, max) = edge.range.unwrap_or((1, 1));
        let max = max.min(MAX_PATH_LENGTH);
        let mut paths = Vec::new();
        self.walk(at, at, edge.direction, min, max, &mut Path::default(), &m.used, &mut paths);
        if self.walked.get() > MAX_WALK_STEPS {
            return Err(KqlError::new(format!("graph-match walked more than {MAX_WALK_STEPS} path steps: narrow the pattern (shorter paths, cycles=none)")));
        }
        let next_var = Self::node_var(p, i + 1, &pattern.nodes[i + 1]);
        let edge_var = Self::edge_var(p, i, edge);
        for path in paths {
            let end = *path.nodes.last().unwrap_or(&at);
            if m.nodes.get(&next_var).is_some_and(|n| *n != end) {
                continue;
            }
            let mut next = m.clone();
            next.nodes.insert(next_var.clone(), end);
            next.used.extend(path.edges.iter().copied());
            next.paths.insert(edge_var.clone(), path);
            self.step(p, i + 1, end, next)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(&self, origin: usize, at: usize, direction: EdgeDirection, min: u32, max: u32, path: &mut Path, used: &[usize], out: &mut Vec<Path>) {
        self.walked.set(self.walked.get() + 1);
        if self.walked.get() > MAX_WALK_STEPS {
            return;
        }
        let length = path.edges.len() as u32;
        if length >= min {
            out.push(path.clone());
        }
        if length == max {
            return;
        }
        for (e, next) in self.graph.path_edges(at, direction) {
            let repeated = match self.cycles {
                Cycles::UniqueEdges => path.edges.contains(&e) || used.contains(&e),
                Cycles::NoRepeatedNodes => next == origin || path.nodes.contains(&next) || path.edges.contains(&e),
                Cycles::All => false,
            };
            if repeated {
                continue;
            }
            path.edges.push(e);
            path.nodes.push(next);
            self.walk(origin, next, direction, min, max, path, used, out);
            path.edges.pop();
            path.nodes.pop();
        }
    }
}

/// What a variable stands for in the clauses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum VarKind {
    Node,
    /// An edge of length one: its properties are read directly.
    Edge,
    /// A variable-length edge: read through `map`, `any`, `all` or `inner_nodes`.
    Path,
}

fn hidden(var: &str, column: &str) -> String {
    format!("__kql_g_{var}_{column}")
}

/// A `map()`, `any()` or `all()` over a path's edges or inner nodes, lifted out of a clause.
struct PathFunction {
    kind: String,
    var: String,
    inner_nodes: bool,
    body: ast::Expr,
}

/// The clauses with variables replaced by hidden columns, and the path functions they use.
struct Rewriter<'a> {
    vars: &'a HashMap<String, VarKind>,
    /// The properties nodes and edges have, to name a missing one in an error.
    node_columns: Vec<String>,
    edge_columns: Vec<String>,
    functions: Vec<PathFunction>,
    error: Option<KqlError>,
}

impl Rewriter<'_> {
    fn rewrite(&mut self, e: &ast::Expr) -> ast::Expr {
        let mut e = e.clone();
        self.visit(&mut e);
        e
    }

    fn var_of(&self, e: &ast::Expr) -> Option<(String, VarKind)> {
        match &e.kind {
            ExprKind::Name(n) => self.vars.get(n).map(|k| (n.clone(), *k)),
            _ => None,
        }
    }

    fn visit(&mut self, e: &mut ast::Expr) {
        if let ExprKind::Member { expr, name } = &e.kind
            && let Some((var, kind)) = self.var_of(expr)
        {
            if kind == VarKind::Path {
                self.error.get_or_insert(KqlError::at(e.span, format!("'{var}' is a variable-length edge: read it with map(), any() or all()")));
            }
            let known = if kind == VarKind::Node { &self.node_columns } else { &self.edge_columns };
            if kind != VarKind::Path && !known.contains(name) {
                let what = if kind == VarKind::Node { "node" } else { "edge" };
                self.error.get_or_insert(KqlError::at(e.span, format!("{what} {var} has no property '{name}'")));
            }
            e.kind = ExprKind::Name(hidden(&var, name));
            return;
        }
        if let ExprKind::Call { name, args } = &e.kind {
            let first = args.first().and_then(|a| a.value.as_expr());
            match (name.name.as_str(), first.and_then(|f| self.var_of(f))) {
                ("node_degree_in" | "node_degree_out" | "node_id", Some((var, VarKind::Node))) => {
                    let column = match name.name.as_str() {
                        "node_degree_in" => "__in",
                        "node_degree_out" => "__out",
                        _ => "__id",
                    };
                    e.kind = ExprKind::Name(hidden(&var, column));
                    return;
                }
                ("map" | "any" | "all", _) if args.len() == 2 => {
                    let target = first.and_then(|f| match &f.kind {
                        ExprKind::Call { name, args } if name.name == "inner_nodes" => {
                            args.first().and_then(|a| a.value.as_expr()).and_then(|x| self.var_of(x)).map(|(v, k)| (v, k, true))
                        }
                        _ => self.var_of(f).map(|(v, k)| (v, k, false)),
                    });
                    let body = args[1].value.as_expr().cloned();
                    match (target, body) {
                        (Some((var, VarKind::Path | VarKind::Edge, inner_nodes)), Some(body)) => {
                            self.functions.push(PathFunction { kind: name.name.clone(), var, inner_nodes, body });
                            e.kind = ExprKind::Name(format!("__kql_g_fn_{}", self.functions.len() - 1));
                        }
                        _ => {
                            self.error.get_or_insert(KqlError::at(e.span, format!("{}() takes an edge variable (or inner_nodes() of one) and an expression", name.name)));
                        }
                    }
                    return;
                }
                _ => {}
            }
        }
        e.for_each_child_mut(|child| self.visit(child));
    }
}

/// Inside `map(inner_nodes(e), ...)`, `node_degree_in()` and friends read the element.
fn rewrite_element(e: &ast::Expr) -> ast::Expr {
    let mut e = e.clone();
    fn visit(e: &mut ast::Expr) {
        if let ExprKind::Call { name, args } = &e.kind
            && args.is_empty()
            && let Some(column) = match name.name.as_str() {
                "node_degree_in" => Some("__in"),
                "node_degree_out" => Some("__out"),
                "node_id" => Some("__id"),
                _ => None,
            }
        {
            e.kind = ExprKind::Name(column.to_string());
            return;
        }
        e.for_each_child_mut(visit);
    }
    visit(&mut e);
    e
}

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

/// Kusto's node and edge ids in `graph-to-table`: `hash()` of the node's key.
fn node_hash(key: &ScalarValue) -> i64 {
    let bytes = match key {
        ScalarValue::Int64(Some(v)) => v.to_le_bytes().to_vec(),
        ScalarValue::Int32(Some(v)) => (*v as i64).to_le_bytes().to_vec(),
        other => key_text(other).into_bytes(),
    };
    xxhash_rust::xxh64::xxh64(&bytes, 0) as i64
}

impl Planner<'_> {
    pub(super) fn plan_make_graph(&self, env: &Env, tab: Tabular, source: &Ident, target: &Ident, nodes: &[(PipeExpr, Ident)], params: &[OperatorParam]) -> Result<Tabular> {
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
        let spec = GraphSpec { edges: tab.plan.clone(), source: source.name.clone(), target: target.name.clone(), nodes: node_tables, node_id, components: None };
        Ok(Tabular { graph: Some(Arc::new(spec)), ..Tabular::unordered(tab.plan) })
    }

    fn build_graph(&self, spec: &GraphSpec, span: Span) -> Result<Graph> {
        let why = "the graph is read from the data, which is not read here";
        let mut graph = Graph { node_fields: Vec::new(), nodes: Vec::new(), edge_fields: Vec::new(), edges: Vec::new(), outgoing: Vec::new(), incoming: Vec::new() };
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut key_column = None;
        // Node properties: every node table's columns, by name.
        for (plan, _) in &spec.nodes {
            for f in plan.schema().fields() {
                if !graph.node_fields.iter().any(|g| g.name() == f.name()) {
                    graph.node_fields.push(f.as_ref().clone().with_nullable(true));
                }
            }
        }
        if let Some(name) = &spec.node_id {
            let t = spec.edges.schema().field_with_unqualified_name(&spec.source)?.data_type().clone();
            graph.node_fields.push(Field::new(name, t, true));
            key_column = Some(0);
        }
        for (plan, key) in &spec.nodes {
            let names: Vec<String> = plan.schema().fields().iter().map(|f| f.name().clone()).collect();
            let k = names.iter().position(|n| n == key).unwrap_or(0);
            key_column = key_column.or_else(|| graph.node_fields.iter().position(|f| f.name() == key));
            for row in rows(&self.collect_now(plan.clone(), span, why)?)? {
                if row[k].is_null() || index.contains_key(&key_text(&row[k])) {
                    continue;
                }
                let i = graph.node_index(&mut index, row[k].clone(), None);
                for (c, v) in names.iter().zip(row) {
                    if let Some(at) = graph.node_fields.iter().position(|f| f.name() == c) {
                        graph.nodes[i].props[at] = v;
                    }
                }
            }
        }
        graph.edge_fields = spec.edges.schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        let names: Vec<&String> = graph.edge_fields.iter().map(|f| f.name()).collect();
        let (s, t) = (names.iter().position(|n| **n == spec.source).unwrap_or(0), names.iter().position(|n| **n == spec.target).unwrap_or(0));
        for row in rows(&self.collect_now(spec.edges.clone(), span, why)?)? {
            if row[s].is_null() || row[t].is_null() {
                continue;
            }
            let from = graph.node_index(&mut index, row[s].clone(), key_column);
            let to = graph.node_index(&mut index, row[t].clone(), key_column);
            graph.outgoing[from].push(graph.edges.len());
            graph.incoming[to].push(graph.edges.len());
            graph.edges.push(Edge { from, to, props: row });
        }
        if let Some((name, strong)) = &spec.components {
            let ids = components(&graph, *strong);
            graph.node_fields.push(Field::new(name, DataType::Int64, false));
            for (n, id) in graph.nodes.iter_mut().zip(ids) {
                n.props.push(ScalarValue::Int64(Some(id)));
            }
        }
        Ok(graph)
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
        let mut node_columns: Vec<String> = spec.nodes.iter().flat_map(|(p, _)| p.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>()).collect();
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
        let ctx = self.executor.ok_or_else(|| KqlError::at(span, "the graph is read from the data, which is not read here").with_kind(crate::error::ErrorKind::NeedsData))?;
        let edge_schema = Arc::new(Schema::new(graph.edge_fields.clone()));
        let mut node_element_fields = graph.node_fields.clone();
        let key_type = graph.nodes.first().map_or(DataType::Utf8, |n| n.key.data_type());
        node_element_fields.extend([Field::new("__id", key_type, true), Field::new("__in", DataType::Int64, true), Field::new("__out", DataType::Int64, true)]);
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
            fields.push(if f.kind == "map" { dynamic_field(Field::new(format!("__kql_g_fn_{k}"), DataType::Utf8, true)) } else { Field::new(format!("__kql_g_fn_{k}"), DataType::Boolean, true) });
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
        let all = if batches.is_empty() { RecordBatch::new_empty(schema.clone()) } else { arrow::compute::concat_batches(&schema, &batches)? };
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
            true => (0..all.num_rows()).filter(|i| best.get(&(start[*i], end[*i])).is_some_and(|b| length[*b] == length[*i])).map(|i| i as u32).collect(),
            false => best.values().map(|i| *i as u32).collect(),
        };
        keep.sort_unstable();
        let indices = arrow::array::UInt32Array::from(keep);
        let columns = all.columns().iter().map(|c| arrow::compute::take(c.as_ref(), &indices, None)).collect::<std::result::Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let table = datafusion::catalog::MemTable::try_new(schema, vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("graph_shortest_paths", datafusion::datasource::provider_as_source(Arc::new(table)), None)?.build()?;
        Ok(Tabular::unordered(plan))
    }

    pub(super) fn plan_graph_to_table(&self, tab: Tabular, edges: bool, params: &[OperatorParam], span: Span) -> Result<Tabular> {
        let Some(spec) = tab.graph.clone() else {
            return Err(KqlError::at(span, "graph-to-table reads a graph: put make-graph before it"));
        };
        let mut id_columns: Vec<(&str, String)> = Vec::new();
        for p in params {
            match (p.name.as_str(), edges) {
                ("with_node_id", false) | ("with_source_id", true) | ("with_target_id", true) => id_columns.push((p.name.as_str(), p.value.clone())),
                (n, _) => return Err(KqlError::at(p.span, format!("graph-to-table {} does not take {n}", if edges { "edges" } else { "nodes" }))),
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
            let values: Vec<ScalarValue> = (0..rows).map(|i| if edges { graph.edges[i].props[c].clone() } else { graph.nodes[i].props[c].clone() }).collect();
            arrays.push(array_of(values, f, rows)?);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        let table = datafusion::catalog::MemTable::try_new(schema, vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("graph", datafusion::datasource::provider_as_source(Arc::new(table)), None)?.build()?;
        Ok(Tabular::unordered(plan))
    }
}

/// The component of each node, numbered from 0 in the order of the nodes' first appearance.
/// Weak components follow edges either way; strong ones need a path each way.
fn components(graph: &Graph, strong: bool) -> Vec<i64> {
    let n = graph.nodes.len();
    let reach = |start: usize, forward: bool| -> Vec<bool> {
        let mut seen = vec![false; n];
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(at) = stack.pop() {
            let next: Vec<usize> = match (strong, forward) {
                (false, _) => graph.outgoing[at].iter().map(|e| graph.edges[*e].to).chain(graph.incoming[at].iter().map(|e| graph.edges[*e].from)).collect(),
                (true, true) => graph.outgoing[at].iter().map(|e| graph.edges[*e].to).collect(),
                (true, false) => graph.incoming[at].iter().map(|e| graph.edges[*e].from).collect(),
            };
            for m in next {
                if !seen[m] {
                    seen[m] = true;
                    stack.push(m);
                }
            }
        }
        seen
    };
    let mut ids = vec![-1i64; n];
    let mut next_id = 0;
    for start in 0..n {
        if ids[start] >= 0 {
            continue;
        }
        let forward = reach(start, true);
        let members: Vec<usize> = match strong {
            false => (0..n).filter(|m| forward[*m]).collect(),
            true => {
                let backward = reach(start, false);
                (0..n).filter(|m| forward[*m] && backward[*m]).collect()
            }
        };
        for m in members {
            ids[m] = next_id;
        }
        next_id += 1;
    }
    ids
}
