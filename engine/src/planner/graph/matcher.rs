//! Finding a graph-match pattern's matches: every way to walk the pattern's nodes and edges.

use std::collections::HashMap;

use kql_grammar::ast::{self, EdgeDirection, GraphPattern, Ident};

use super::model::Graph;
use crate::error::{KqlError, Result};

/// The longest path a variable-length edge may take (Kusto's limit is of this order).
pub(super) const MAX_PATH_LENGTH: u32 = 255;
/// Matches past this many are surely a runaway pattern.
const MAX_MATCHES: usize = 1_000_000;
/// Path steps walked past this many too (`cycles=all` over a dense graph grows fast).
const MAX_WALK_STEPS: usize = 2_000_000;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Cycles {
    /// No edge twice in a match (Kusto's default).
    UniqueEdges,
    /// No node twice along a variable-length edge.
    NoRepeatedNodes,
    All,
}

/// A path taken by one edge of a pattern: its edges and the nodes after `from`, in order.
#[derive(Clone, Default)]
pub(super) struct Path {
    pub(super) edges: Vec<usize>,
    pub(super) nodes: Vec<usize>,
}

/// A match: a node per named node variable, a path per edge variable.
#[derive(Clone, Default)]
pub(super) struct Match {
    pub(super) nodes: HashMap<String, usize>,
    pub(super) paths: HashMap<String, Path>,
    /// Every edge used, to keep them unique, and the total length (for shortest paths).
    pub(super) used: Vec<usize>,
    /// The first node of the first pattern and the last of the last (shortest paths' pair).
    pub(super) ends: (usize, usize),
}

pub(super) struct Matcher<'g> {
    pub(super) graph: &'g Graph,
    pub(super) patterns: &'g [GraphPattern],
    pub(super) cycles: Cycles,
    pub(super) found: Vec<Match>,
    pub(super) walked: std::cell::Cell<usize>,
}

impl Matcher<'_> {
    fn node_var(p: usize, i: usize, n: &Option<Ident>) -> String {
        n.as_ref().map_or_else(|| format!("__anonymous_{p}_{i}"), |n| n.name.clone())
    }

    fn edge_var(p: usize, i: usize, e: &ast::GraphEdge) -> String {
        e.name.as_ref().map_or_else(|| format!("__anonymous_edge_{p}_{i}"), |n| n.name.clone())
    }

    pub(super) fn start(&mut self) -> Result<()> {
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
            return Err(KqlError::new(format!(
                "graph-match walked more than {MAX_WALK_STEPS} path steps: narrow the pattern (shorter paths, cycles=none)"
            )));
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
    fn walk(
        &self,
        origin: usize,
        at: usize,
        direction: EdgeDirection,
        min: u32,
        max: u32,
        path: &mut Path,
        used: &[usize],
        out: &mut Vec<Path>,
    ) {
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
