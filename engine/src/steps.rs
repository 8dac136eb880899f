//! Data steps: what a query must read before its plan can be made.
//!
//! A few operators have output whose shape depends on the data: `evaluate pivot`'s and
//! `bag_unpack`'s columns, `scan`'s rows, the graph operators, `partition`'s branches, basket's
//! patterns, `make-series` without bounds, a `toscalar()` range bound, and an `externaldata`
//! URL's rows. The planner never reads: when it reaches such an operator it asks for a step
//! (a sub-plan to run, or a URL to fetch) and stops. The session runs the step as a query of
//! its own (streamed, cancellable, with progress; `Session::plan_reading_data`), keeps its
//! result, and plans again; the planner then finds the result at hand and goes on. Planning is
//! cheap next to reading, so planning the script once per step costs little, and a plan made
//! this way is a plain logical plan that holds what the steps read (an in-memory table).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use kql_grammar::ast::Span;

use crate::error::{ErrorKind, KqlError};

/// At most this many steps for one script: each step plans the script again.
pub const MAX_DATA_STEPS: usize = 256;

/// The error of planning that reached an operator whose output depends on data it has not
/// read (`what`: "the plugin's columns", ...).
pub(crate) fn needs_data(span: Span, what: &str) -> KqlError {
    KqlError::at(span, format!("planning this needs {what}, read from the data, which plan() does not read (plan_reading_data() does)"))
        .with_kind(ErrorKind::NeedsData)
}

/// One read that planning needs.
pub enum DataStep {
    /// Run `plan` and hand its rows to the planner.
    Query { plan: LogicalPlan, what: String, span: Span },
    /// Fetch an `externaldata` URL into the local cache.
    Fetch { url: String, span: Span },
}

impl DataStep {
    /// What the step reads, for `--explain` and progress.
    pub fn what(&self) -> String {
        match self {
            DataStep::Query { what, .. } => what.clone(),
            DataStep::Fetch { url, .. } => format!("externaldata's rows from {url}"),
        }
    }

    pub fn span(&self) -> Span {
        match self {
            DataStep::Query { span, .. } | DataStep::Fetch { span, .. } => *span,
        }
    }
}

/// What a step read.
#[derive(Clone)]
pub enum StepOutput {
    Rows(Arc<Vec<RecordBatch>>),
    /// The fetched file, and a warning to pass on (a stale cached copy was used, ...).
    File {
        path: PathBuf,
        warning: Option<String>,
    },
}

/// A finished step, for `--explain`.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub what: String,
    pub span: Span,
    /// Where the operator that needed it is: `line:col` in the query text.
    pub at: String,
    pub rows: usize,
}

/// The results of the steps run so far for one script. A step is known by its place in the
/// order the planner asks (planning is deterministic, so the n-th request is the same one each
/// time the script is planned with the same results) and by its result's columns (or URL),
/// which are checked too, so that a result never answers another request. (The plan's text
/// would not do: the planner's generated aliases differ from one planning to the next.)
#[derive(Default)]
pub struct DataSteps {
    done: HashMap<usize, (String, StepOutput, StepReport)>,
}

impl DataSteps {
    pub fn insert(&mut self, request: &StepRequest, output: StepOutput, report: StepReport) {
        self.done.insert(request.index, (request.key.clone(), output, report));
    }
}

/// A step the planner asked for, with the place it asked at.
pub struct StepRequest {
    pub index: usize,
    key: String,
    pub step: DataStep,
}

/// The planner's side: hands out results by request order and remembers the first request it
/// could not answer. That request is remembered even when the planner's caller swallows the
/// error (a fallback that tries another reading of the query), so no step is ever skipped.
#[derive(Default)]
pub(crate) struct StepCursor<'a> {
    results: Option<&'a DataSteps>,
    next: Cell<usize>,
    pending: RefCell<Option<StepRequest>>,
    /// The steps whose results planning used since `used` was last asked.
    used: RefCell<Vec<StepReport>>,
}

impl<'a> StepCursor<'a> {
    pub fn new(results: Option<&'a DataSteps>) -> StepCursor<'a> {
        StepCursor { results, next: Cell::new(0), pending: RefCell::new(None), used: RefCell::new(Vec::new()) }
    }

    /// The result of the request described by `key`, or `None` after noting the request.
    pub fn take(&self, key: String, step: impl FnOnce() -> DataStep) -> Option<StepOutput> {
        let index = self.next.get();
        self.next.set(index + 1);
        if let Some((k, output, report)) = self.results.and_then(|r| r.done.get(&index))
            && *k == key
        {
            self.used.borrow_mut().push(report.clone());
            return Some(output.clone());
        }
        let mut pending = self.pending.borrow_mut();
        if pending.is_none() {
            *pending = Some(StepRequest { index, key, step: step() });
        }
        None
    }

    /// The steps used since the last call: those of the statement just planned.
    pub fn used(&self) -> Vec<StepReport> {
        std::mem::take(&mut *self.used.borrow_mut())
    }

    /// The first request planning could not answer.
    pub fn pending(&self) -> Option<StepRequest> {
        self.pending.borrow_mut().take()
    }
}
