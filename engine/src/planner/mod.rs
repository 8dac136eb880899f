//! AST → DataFusion logical plans. Names are resolved against the `let` environment and the
//! catalog; each operator has its own planning function (see `operators.rs`, `summarize.rs`).

mod basket;
mod calls;
mod evaluate;
mod expr;
mod graph;
mod join;
mod make_series;
mod mv_apply;
mod mv_expand;
mod names;
mod nulls;
mod operators;
mod parse;
mod partition;
pub mod places;
mod projection;
mod scan;
mod search;
mod sources;
mod string_sets;
mod summarize;
mod top_nested;
pub(crate) mod tuples;
mod union;
pub(crate) mod window;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::logical_expr::{LogicalPlan, SortExpr};
use kql_grammar::ast::{self, DynValue, FunctionDef, LetValue, PipeExpr, Script, Source, Statement};

use crate::catalog::Catalog;
use crate::error::{KqlError, Result};

pub use calls::supported_functions;
pub use operators::supported_operators;

/// A tabular value being planned: the plan, and the row order that `sort`/`top`/`serialize`
/// fixed, if the rows are serialized (which `next`, `prev` and `row_number` need).
#[derive(Clone, Debug)]
pub struct Tabular {
    pub plan: LogicalPlan,
    pub order: Option<Vec<SortExpr>>,
    /// The name `as` gave it, or the table it reads as is (union's `withsource` shows it).
    pub name: Option<String>,
    /// What `make-graph` made: the operators after it read the graph, not the rows.
    pub graph: Option<Arc<graph::GraphSpec>>,
}

impl Tabular {
    pub fn unordered(plan: LogicalPlan) -> Self {
        Tabular { plan, order: None, name: None, graph: None }
    }

    pub fn ordered(plan: LogicalPlan, order: Option<Vec<SortExpr>>) -> Self {
        Tabular { plan, order, name: None, graph: None }
    }
}

/// What a name in scope stands for.
#[derive(Clone, Debug)]
pub enum Binding {
    /// A scalar, already planned; `dynamic` keeps a dynamic literal's value for the places that
    /// read it at planning time (`in`, range lists).
    Scalar {
        expr: datafusion::prelude::Expr,
        dynamic: Option<DynValue>,
    },
    Tabular(Tabular),
    Function(Arc<UserFunction>),
}

/// A `let` or prelude function. Errors inside a prelude function's body point into its own
/// file (`source`), with the call that reached them.
#[derive(Debug)]
pub struct UserFunction {
    pub def: FunctionDef,
    pub name: String,
    /// The functions file or parser the definition came from; `None` for the query's own.
    pub source: Option<Arc<crate::prelude::FunctionSource>>,
}

impl std::ops::Deref for UserFunction {
    type Target = FunctionDef;
    fn deref(&self) -> &FunctionDef {
        &self.def
    }
}

impl UserFunction {
    pub fn in_prelude(&self) -> bool {
        self.source.is_some()
    }

    /// A function is called by its bare name (`F` for `F()`) when no parameter needs an
    /// argument, as Sentinel's parsers (`_Im_NetworkSession`) are.
    pub fn callable_by_name(&self) -> bool {
        self.params.iter().all(|p| p.default.is_some())
    }

    /// Places an error from inside a prelude function's body in the function's file, and
    /// remembers the call that reached it.
    pub fn locate_error(&self, e: KqlError, call: ast::Span) -> KqlError {
        let Some(source) = &self.source else { return e };
        if e.span.is_none() {
            return e.or_at(call);
        }
        if e.source.is_some() {
            return e;
        }
        let mut e = e.in_source(source.clone());
        e.message = format!("in function {}: {}", self.name, e.message);
        e.called_at = Some(call);
        e
    }
}

/// The names in scope: `let` bindings, function parameters.
#[derive(Clone, Default, Debug)]
pub struct Env {
    bindings: HashMap<String, Binding>,
    /// Planning the body of a function from a functions file: spans point into that file,
    /// so runtime errors must not claim a place in the query text.
    pub in_function_file: bool,
}

impl Env {
    pub fn get(&self, name: &str) -> Option<&Binding> {
        self.bindings.get(name)
    }
    pub fn bind(&mut self, name: &str, b: Binding) {
        self.bindings.insert(name.to_string(), b);
    }
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.bindings.keys()
    }
}

/// The `set` options that bound a result's size (see `truncation`).
const TRUNCATION_OPTIONS: &[&str] = &["notruncation", "truncationmaxrecords", "truncationmaxsize"];

/// Plans queries against a catalog at a fixed `now`.
pub struct Planner<'a> {
    pub catalog: &'a Catalog,
    /// Definitions every query can use (loaded from `--functions` files).
    pub prelude: &'a [crate::prelude::PreludeEntry],
    /// The query's single `now()`, microseconds since the epoch.
    pub now: i64,
    /// The session's DataFusion context, to compile expressions that run inside kql's own
    /// operators (`scan`, graph path functions). Planning never runs a query on it.
    pub ctx: &'a datafusion::prelude::SessionContext,
    /// The results of the data steps run so far, and the first step planning still needs
    /// (see `steps`).
    pub(crate) steps: crate::steps::StepCursor<'a>,
    /// Planning only to check a query (`kql check`): an `externaldata` URL, which is not
    /// fetched, is an empty table of its declared columns, so that the rest is checked too.
    pub checking: bool,
    /// Where watchlists and fetched files come from.
    pub options: &'a crate::session::SessionOptions,
    /// What planning let pass but a person should know (legs `union isfuzzy=true` skipped).
    pub warnings: std::cell::RefCell<Vec<String>>,
    /// Where the statement's operators and calls stand, for errors raised while it runs.
    pub places: places::PlaceRecorder,
}

/// One planned result statement and where it sits in the text.
pub struct PlannedQuery {
    pub plan: LogicalPlan,
    pub span: ast::Span,
    /// The query's closing `render`, carried with the result for front ends to draw.
    pub render: Option<Render>,
    /// Warnings planning gave, for front ends to show on stderr.
    pub warnings: Vec<String>,
    /// How much of the result may reach the client (`None` after `set notruncation;`).
    pub truncation: Option<crate::truncation::Truncation>,
    /// Whether a `set` statement of the query chose `truncation` (else it is Kusto's default).
    pub truncation_set: bool,
    /// The data steps planning needed (`Session::plan_reading_data`): the plan holds what an
    /// operator whose output depends on the data read (pivot's columns, `scan`'s rows ...).
    pub data_steps: Vec<crate::steps::StepReport>,
    /// Where its operators and function calls stand in the text.
    pub places: places::Places,
}

impl PlannedQuery {
    /// Where an error raised while the query ran belongs: the operator or function call its
    /// message names, when the statement has one of that name.
    pub fn place_of(&self, e: &KqlError) -> Option<ast::Span> {
        if e.span.is_some() { None } else { self.places.named_by(&e.message) }
    }

    /// An error raised while the query ran, placed at what it names, else at the statement.
    pub fn locate(&self, e: KqlError) -> KqlError {
        match self.place_of(&e) {
            Some(span) => e.or_at(span),
            None => e.or_at(self.span),
        }
    }
}

/// How a result asks to be drawn: `render KIND with (title="...", xcolumn=X, ycolumns=A,B)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Render {
    /// `timechart`, `barchart`, ...
    pub kind: String,
    pub title: Option<String>,
    pub xcolumn: Option<String>,
    pub ycolumns: Vec<String>,
}

impl Render {
    /// The `render` that ends `pipe`, if any (Kusto only allows it last).
    fn of(pipe: &PipeExpr) -> Option<Render> {
        let last = pipe.operators.last()?;
        let ast::OperatorKind::Render { chart, properties } = &last.kind else { return None };
        let mut render = Render { kind: chart.name.clone(), title: None, xcolumn: None, ycolumns: Vec::new() };
        for (name, values) in properties {
            let words: Vec<String> = values
                .iter()
                .filter_map(|v| match &v.kind {
                    ast::ExprKind::Name(n) => Some(n.clone()),
                    ast::ExprKind::Literal(ast::Literal::String(s)) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            match name.name.as_str() {
                "title" => render.title = words.into_iter().next(),
                "xcolumn" => render.xcolumn = words.into_iter().next(),
                "ycolumns" => render.ycolumns = words,
                _ => {}
            }
        }
        Some(render)
    }
}

impl<'a> Planner<'a> {
    /// Plans every result statement of a script; `let`s bind names for the ones after them.
    pub fn plan_script(&self, script: &Script) -> Result<Vec<PlannedQuery>> {
        let mut env = Env::default();
        for entry in self.prelude {
            self.bind_let(&mut env, &entry.stmt, Some(&entry.source)).map_err(|e| {
                let mut e = e.in_source(entry.source.clone());
                e.message = format!("in {}: {}", entry.name(), e.message);
                e
            })?;
        }
        // Places are the query's own: none of the prelude's.
        self.places.take();
        let mut out = Vec::new();
        let mut truncation = Some(crate::truncation::Truncation::default());
        let mut truncation_set = false;
        for statement in &script.statements {
            match statement {
                Statement::Set { name, value, span } if TRUNCATION_OPTIONS.contains(&name.as_str()) => {
                    truncation = self.set_truncation(&env, truncation, name, value.as_ref(), *span)?;
                    truncation_set = true;
                }
                Statement::Let(l) => self.plan_let(&mut env, l)?,
                Statement::CreateFunction { name, function, .. } => {
                    let f = UserFunction { def: function.clone(), name: name.name.clone(), source: None };
                    env.bind(&name.name, Binding::Function(Arc::new(f)))
                }
                // `set query_bin_auto_size=1h;` and `query_bin_auto_at` are what `bin_auto()`
                // reads; the other options change nothing kql computes.
                Statement::Set { name, value: Some(value), .. } if BIN_AUTO_OPTIONS.contains(&name.as_str()) => {
                    let expr = self.plan_constant(&env, value)?;
                    env.bind(&set_option_name(name), Binding::Scalar { expr, dynamic: None });
                }
                Statement::Set { .. } | Statement::DeclareParams { .. } => {}
                Statement::CreateTable { span, .. } => {
                    return Err(KqlError::at(
                        *span,
                        "`.create table` declares a table's columns in a functions file (--functions), before the table is registered; a query cannot",
                    ));
                }
                Statement::Query(pipe) => {
                    let tab = self.plan_tabular(&env, pipe)?;
                    // kql's optimizer leaves out DataFusion's rules for what only SQL writes.
                    debug_assert_eq!(crate::logical_rules::skipped_rule_input(&tab.plan), None, "a plan for {pipe}");
                    let mut warnings = std::mem::take(&mut *self.warnings.borrow_mut());
                    warnings.dedup();
                    out.push(PlannedQuery {
                        plan: tab.plan,
                        span: pipe.span,
                        render: Render::of(pipe),
                        warnings,
                        truncation,
                        truncation_set,
                        data_steps: self.steps.used(),
                        places: self.places.take(),
                    });
                }
            }
        }
        if out.is_empty() {
            let Some(last) = script.statements.last() else {
                return Err(KqlError::new("the query is empty"));
            };
            let end = statement_span(last).end;
            return Err(KqlError::at(ast::Span::new(end, end), "the query has no result statement: it only defines names"));
        }
        Ok(out)
    }

    /// `set notruncation;`, `set truncationmaxrecords = N;`, `set truncationmaxsize = N;`.
    fn set_truncation(
        &self,
        env: &Env,
        current: Option<crate::truncation::Truncation>,
        name: &str,
        value: Option<&ast::Expr>,
        span: ast::Span,
    ) -> Result<Option<crate::truncation::Truncation>> {
        if name == "notruncation" {
            return Ok(None);
        }
        let Some(value) = value else {
            return Err(KqlError::at(span, format!("set {name} needs a value: set {name} = N;")));
        };
        let n = match expr::evaluate_constant(&self.plan_constant(env, value)?).map_err(|e| e.or_at(value.span))? {
            datafusion::common::ScalarValue::Int64(Some(n)) if n > 0 => n as u64,
            datafusion::common::ScalarValue::Int32(Some(n)) if n > 0 => n as u64,
            _ => return Err(KqlError::at(value.span, format!("{name} is a positive whole number"))),
        };
        let mut limit = current.unwrap_or_default();
        if name == "truncationmaxrecords" {
            limit.max_records = n;
        } else {
            limit.max_bytes = n;
        }
        Ok(Some(limit))
    }

    /// Records a warning for the statement being planned (once, however often it recurs).
    pub fn warn(&self, warning: String) {
        let mut warnings = self.warnings.borrow_mut();
        if !warnings.contains(&warning) {
            warnings.push(warning);
        }
    }

    pub fn plan_let(&self, env: &mut Env, l: &ast::LetStmt) -> Result<()> {
        self.bind_let(env, l, None)
    }

    fn bind_let(&self, env: &mut Env, l: &ast::LetStmt, source: Option<&Arc<crate::prelude::FunctionSource>>) -> Result<()> {
        let binding = match &l.value {
            LetValue::Function(f) => {
                Binding::Function(Arc::new(UserFunction { def: f.clone(), name: l.name.name.clone(), source: source.cloned() }))
            }
            LetValue::Expr(pipe) => self.plan_let_value(env, pipe)?,
        };
        env.bind(&l.name.name, binding);
        Ok(())
    }

    /// A `let` value is tabular or scalar; which one shows only once its names resolve.
    fn plan_let_value(&self, env: &Env, pipe: &PipeExpr) -> Result<Binding> {
        if self.is_tabular(env, pipe) {
            return Ok(Binding::Tabular(self.plan_tabular(env, pipe)?));
        }
        let Some(e) = pipe.as_expr() else {
            return Ok(Binding::Tabular(self.plan_tabular(env, pipe)?));
        };
        let dynamic = match &e.kind {
            ast::ExprKind::Literal(ast::Literal::Dynamic(d)) => Some(d.clone()),
            ast::ExprKind::Name(n) => match env.get(n) {
                Some(Binding::Scalar { dynamic, .. }) => dynamic.clone(),
                _ => None,
            },
            _ => None,
        };
        let expr = self.plan_constant(env, e)?;
        Ok(Binding::Scalar { expr, dynamic })
    }

    /// Whether a pipe denotes a table (rather than a scalar), judged from its source.
    pub fn is_tabular(&self, env: &Env, pipe: &PipeExpr) -> bool {
        if !pipe.operators.is_empty() {
            return true;
        }
        match &pipe.source {
            Source::Datatable { .. }
            | Source::Range { .. }
            | Source::Print { .. }
            | Source::Union { .. }
            | Source::Search { .. }
            | Source::Find { .. }
            | Source::ExternalData { .. } => true,
            Source::Expr(e) => self.is_tabular_expr(env, e),
        }
    }

    fn is_tabular_expr(&self, env: &Env, e: &ast::Expr) -> bool {
        match &e.kind {
            ast::ExprKind::Name(n) => match env.get(n) {
                Some(Binding::Tabular(_)) => true,
                Some(Binding::Scalar { .. }) => false,
                Some(Binding::Function(f)) => f.callable_by_name() && self.is_tabular(&self.probe_scope(env, f), &f.body.result),
                None => self.catalog.contains(n),
            },
            ast::ExprKind::Call { name, .. } => match env.get(&name.name) {
                Some(Binding::Function(f)) => self.is_tabular(&self.probe_scope(env, f), &f.body.result),
                _ => matches!(name.name.as_str(), "materialize" | "view" | "table" | "_GetWatchlist"),
            },
            ast::ExprKind::Subquery(p) => self.is_tabular(env, p),
            _ => false,
        }
    }

    /// The names a function's body sees, with placeholders for its parameters and its own
    /// `let`s: enough to tell whether the body is tabular without planning it.
    fn probe_scope(&self, env: &Env, f: &UserFunction) -> Env {
        let empty_table = || {
            Binding::Tabular(Tabular::unordered(LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::empty()),
            })))
        };
        let scalar = || Binding::Scalar { expr: datafusion::prelude::lit(0), dynamic: None };
        let mut inner = env.clone();
        for p in &f.params {
            let b = match &p.ty {
                ast::ParamType::Tabular { .. } => empty_table(),
                ast::ParamType::Scalar(_) => scalar(),
            };
            inner.bind(&p.name.name, b);
        }
        for l in &f.body.lets {
            let b = match &l.value {
                LetValue::Function(def) => {
                    Binding::Function(Arc::new(UserFunction { def: def.clone(), name: l.name.name.clone(), source: f.source.clone() }))
                }
                LetValue::Expr(pipe) if self.is_tabular(&inner, pipe) => empty_table(),
                LetValue::Expr(_) => scalar(),
            };
            inner.bind(&l.name.name, b);
        }
        inner
    }
}

/// The `set` options a query reads back.
pub const BIN_AUTO_OPTIONS: [&str; 2] = ["query_bin_auto_size", "query_bin_auto_at"];

/// The hidden name under which a `set` option's value is bound (no query can write it).
pub fn set_option_name(option: &str) -> String {
    format!("$set.{option}")
}

fn statement_span(s: &Statement) -> ast::Span {
    match s {
        Statement::Let(l) => l.span,
        Statement::CreateFunction { span, .. }
        | Statement::CreateTable { span, .. }
        | Statement::Set { span, .. }
        | Statement::DeclareParams { span, .. } => *span,
        Statement::Query(p) => p.span,
    }
}
