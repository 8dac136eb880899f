//! The graph in memory: what `make-graph` describes, and the nodes and edges read from it.

use std::collections::HashMap;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use kql_grammar::ast::{EdgeDirection, Span};

use crate::error::Result;
use crate::planner::Planner;

/// What `make-graph` said the graph is; built when an operator reads it.
#[derive(Debug, Clone)]
pub struct GraphSpec {
    pub(super) edges: LogicalPlan,
    pub(super) source: String,
    pub(super) target: String,
    /// Node tables and their key columns.
    pub(super) nodes: Vec<(LogicalPlan, String)>,
    /// `with_node_id=Name`: no node table; each node has one property, its id, so named.
    pub(super) node_id: Option<String>,
    /// `graph-mark-components`: the property that numbers each node's component, and whether
    /// components are strongly connected (edges followed one way) or weakly.
    pub(super) components: Option<(String, bool)>,
}

pub(super) struct Node {
    pub(super) key: ScalarValue,
    pub(super) props: Vec<ScalarValue>,
}

pub(super) struct Edge {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) props: Vec<ScalarValue>,
}

pub(super) struct Graph {
    pub(super) node_fields: Vec<Field>,
    pub(super) nodes: Vec<Node>,
    pub(super) edge_fields: Vec<Field>,
    pub(super) edges: Vec<Edge>,
    pub(super) outgoing: Vec<Vec<usize>>,
    pub(super) incoming: Vec<Vec<usize>>,
}

pub(super) fn key_text(v: &ScalarValue) -> String {
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
        let mut props: Vec<ScalarValue> =
            self.node_fields.iter().map(|f| ScalarValue::try_from(f.data_type()).unwrap_or(ScalarValue::Null)).collect();
        if let Some(k) = key_column {
            props[k] = key.cast_to(self.node_fields[k].data_type()).unwrap_or(key.clone());
        }
        self.nodes.push(Node { key, props });
        self.outgoing.push(Vec::new());
        self.incoming.push(Vec::new());
        index.insert(text, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    pub(super) fn path_edges(&self, at: usize, direction: EdgeDirection) -> Vec<(usize, usize)> {
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

/// Kusto's node and edge ids in `graph-to-table`: `hash()` of the node's key.
pub(super) fn node_hash(key: &ScalarValue) -> i64 {
    let bytes = match key {
        ScalarValue::Int64(Some(v)) => v.to_le_bytes().to_vec(),
        ScalarValue::Int32(Some(v)) => (*v as i64).to_le_bytes().to_vec(),
        other => key_text(other).into_bytes(),
    };
    xxhash_rust::xxh64::xxh64(&bytes, 0) as i64
}

impl Planner<'_> {
    pub(super) fn build_graph(&self, spec: &GraphSpec, span: Span) -> Result<Graph> {
        let why = "the graph's nodes and edges";
        let mut graph = Graph {
            node_fields: Vec::new(),
            nodes: Vec::new(),
            edge_fields: Vec::new(),
            edges: Vec::new(),
            outgoing: Vec::new(),
            incoming: Vec::new(),
        };
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
        let (s, t) =
            (names.iter().position(|n| **n == spec.source).unwrap_or(0), names.iter().position(|n| **n == spec.target).unwrap_or(0));
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
}

/// The component of each node, numbered from 0 in the order of the nodes' first appearance.
/// Weak components follow edges either way; strong ones need a path each way.
pub(super) fn components(graph: &Graph, strong: bool) -> Vec<i64> {
    let n = graph.nodes.len();
    let reach = |start: usize, forward: bool| -> Vec<bool> {
        let mut seen = vec![false; n];
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(at) = stack.pop() {
            let next: Vec<usize> = match (strong, forward) {
                (false, _) => graph.outgoing[at]
                    .iter()
                    .map(|e| graph.edges[*e].to)
                    .chain(graph.incoming[at].iter().map(|e| graph.edges[*e].from))
                    .collect(),
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
