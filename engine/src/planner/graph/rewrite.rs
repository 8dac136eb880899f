//! The `where` and `project` of graph-match, rewritten to read the hidden columns of a match
//! row, with the `map()`, `any()` and `all()` over paths lifted out.

use std::collections::HashMap;

use kql_grammar::ast::{self, ExprKind};

use crate::error::KqlError;

/// What a variable stands for in the clauses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum VarKind {
    Node,
    /// An edge of length one: its properties are read directly.
    Edge,
    /// A variable-length edge: read through `map`, `any`, `all` or `inner_nodes`.
    Path,
}

pub(super) fn hidden(var: &str, column: &str) -> String {
    format!("__kql_g_{var}_{column}")
}

/// A `map()`, `any()` or `all()` over a path's edges or inner nodes, lifted out of a clause.
pub(super) struct PathFunction {
    pub(super) kind: String,
    pub(super) var: String,
    pub(super) inner_nodes: bool,
    pub(super) body: ast::Expr,
}

/// The clauses with variables replaced by hidden columns, and the path functions they use.
pub(super) struct Rewriter<'a> {
    pub(super) vars: &'a HashMap<String, VarKind>,
    /// The properties nodes and edges have, to name a missing one in an error.
    pub(super) node_columns: Vec<String>,
    pub(super) edge_columns: Vec<String>,
    pub(super) functions: Vec<PathFunction>,
    pub(super) error: Option<KqlError>,
}

impl Rewriter<'_> {
    pub(super) fn rewrite(&mut self, e: &ast::Expr) -> ast::Expr {
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
                self.error
                    .get_or_insert(KqlError::at(e.span, format!("'{var}' is a variable-length edge: read it with map(), any() or all()")));
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
                            self.error.get_or_insert(KqlError::at(
                                e.span,
                                format!("{}() takes an edge variable (or inner_nodes() of one) and an expression", name.name),
                            ));
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
pub(super) fn rewrite_element(e: &ast::Expr) -> ast::Expr {
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
