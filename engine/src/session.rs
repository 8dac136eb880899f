//! A session: the DataFusion context with every KQL function, the registered tables, the
//! function prelude and the options (such as a fixed `now`). Every front end uses it.

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;
use kql_grammar::ast::Span;

use crate::catalog::{Catalog, open_table};
use crate::error::{KqlError, Result};
use crate::planner::{PlannedQuery, Planner};
use crate::prelude::{FunctionSource, LoadReport, PreludeEntry};
use crate::steps::{DataStep, DataSteps, StepOutput, StepReport};
use datafusion::logical_expr::LogicalPlan;

#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Fixes `now()` (microseconds since the epoch, UTC); `None` reads the clock per query.
    pub now: Option<i64>,
    /// Caps the memory that sorts, joins and aggregations hold before they spill to disk.
    pub memory_limit: Option<usize>,
    /// Threads to use; `None` uses every core.
    pub target_partitions: Option<usize>,
    /// Rows per batch; `None` is DataFusion's default (8,192). The metamorphic tests use tiny
    /// batches so that their small tables still travel as many batches through repartitions.
    pub batch_size: Option<usize>,
    /// Runs plans without DataFusion's logical optimizer rules but one: expression
    /// simplification, which some functions need to run at all (`coalesce` is rewritten to
    /// `CASE` there and fails if it is not). The analyzer's type coercion still runs, and so do
    /// the physical optimizer rules: DataFusion relies on them for correctness (they insert the
    /// merges and repartitions that multi-partition aggregates and sorts need). The metamorphic
    /// tests compare results with and without the rules to catch a rewrite that changes one.
    pub without_logical_optimizer: bool,
    /// The folder `_GetWatchlist('name')` reads `name.csv` / `name.jsonl` from.
    pub watchlists: Option<std::path::PathBuf>,
    /// Whether `externaldata` may fetch http(s) URLs.
    pub network: crate::network::NetworkPolicy,
    /// Where fetched files are cached; `None` is the user's cache folder.
    pub cache_dir: Option<std::path::PathBuf>,
    /// How many lines of JSON and CSV tables one scan may skip (each reported) because they
    /// cannot be read; one more fails the query. 0: the first such line fails it.
    pub max_bad_rows: u64,
    /// Where Parquet copies of the JSON and CSV files that scans read are kept and reused
    /// (`--text-cache`); `None` keeps none.
    pub text_cache: Option<std::path::PathBuf>,
}

/// One result set of a query.
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// What a table's registration imports now, if anything (a quick look at `.evtx` files): the
/// location and the events read so far. A front end holds a clone to draw a progress line
/// while `register_table` runs.
#[derive(Clone, Default)]
pub struct LoadProgress(Arc<parking_lot::Mutex<Option<(String, u64)>>>);

impl LoadProgress {
    pub fn now(&self) -> Option<(String, u64)> {
        self.0.lock().clone()
    }

    fn set(&self, now: Option<(String, u64)>) {
        *self.0.lock() = now;
    }
}

pub struct Session {
    ctx: SessionContext,
    catalog: Catalog,
    prelude: Vec<PreludeEntry>,
    pub options: SessionOptions,
    cancel: Arc<crate::cancel::Cancellation>,
    /// The data step running now, for `step_progress`.
    step_running: std::sync::Mutex<Option<(String, Progress)>>,
    /// The import a table's registration runs now, for `load_progress`.
    loading: LoadProgress,
    /// What scans of text tables reported (lines skipped, fields no column holds), until a
    /// front end takes them (`take_read_warnings`).
    read_warnings: Arc<parking_lot::Mutex<Vec<String>>>,
    /// `.create table` declarations of the loaded functions files, by table name: a table
    /// registered later is read with these columns.
    declarations: std::collections::BTreeMap<String, crate::prelude::TableDeclaration>,
    /// What scans of partitioned tables skipped, for `explain`.
    scan_notes: Arc<parking_lot::Mutex<Vec<String>>>,
    /// Folders of `.evtx` files imported for `--table Event=logs/*.evtx`, removed with the session.
    imported: Vec<std::path::PathBuf>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for dir in &self.imported {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Session {
    /// The one constructor of the DataFusion context: the CLI, the tests and any other front
    /// end get the same configuration.
    pub fn new(options: SessionOptions) -> Result<Session> {
        crate::object_stores::choose_tls_cryptography();
        let state = session_state(&options)?;
        Ok(Session::with_state(options, state))
    }

    /// A session whose queries plan and run in `state`: kql's own (`session_state`), or one
    /// made from it that runs plans elsewhere (a cluster's client, `kql-cluster`).
    pub fn with_state(options: SessionOptions, state: datafusion::execution::SessionState) -> Session {
        let ctx = SessionContext::new_with_state(state);
        Session {
            ctx,
            catalog: Catalog::default(),
            prelude: Vec::new(),
            options,
            cancel: Default::default(),
            step_running: Default::default(),
            loading: Default::default(),
            read_warnings: Default::default(),
            declarations: Default::default(),
            scan_notes: Default::default(),
            imported: Vec::new(),
        }
    }

    /// The handle that stops this session's running query while it is planned (its data reads:
    /// see `cancel`). A front end resets it before each query.
    pub fn cancellation(&self) -> Arc<crate::cancel::Cancellation> {
        self.cancel.clone()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Registers a Parquet, JSON lines or CSV file, folder or glob, a Delta table (`delta.rs`) or
    /// `.evtx` files as table `name`. Returns
    /// warnings: files of a folder that were left out.
    pub async fn register_table(&mut self, name: &str, location: &str) -> Result<Vec<String>> {
        if crate::evtx_import::is_evtx_location(location) {
            return self.register_evtx(name, location).await;
        }
        if let Some(delta) = crate::delta::location_of(&self.ctx.state(), location).await? {
            let (table, warnings) = crate::delta::open(&self.ctx.state(), location, &delta, self.declarations.get(name)).await?;
            self.catalog.insert(name, table);
            return Ok(warnings);
        }
        self.register_table_files(name, location).await
    }

    async fn register_table_files(&mut self, name: &str, location: &str) -> Result<Vec<String>> {
        let text = crate::text_source::TextOptions {
            max_bad_rows: self.options.max_bad_rows,
            warnings: self.read_warnings.clone(),
            location_prefix: "/".into(),
            cache: self.options.text_cache.as_ref().map(|dir| Arc::new(crate::text_source::TextCache::new(dir.clone()))),
        };
        let (table, warnings) = open_table(&self.ctx.state(), location, &text, self.declarations.get(name), &self.scan_notes).await?;
        self.catalog.insert(name, table);
        Ok(warnings)
    }

    /// A quick look at raw event logs: the `.evtx` files are imported into a folder the session
    /// removes when it ends, and the table of the name (`WindowsEvent`, `SecurityEvent`,
    /// `Event`; any other name is `WindowsEvent`) is registered from it.
    async fn register_evtx(&mut self, name: &str, location: &str) -> Result<Vec<String>> {
        let files = crate::evtx_import::files_of_location(location)?;
        let dir = std::env::temp_dir().join(format!("kql-evtx-{}-{}", std::process::id(), self.imported.len()));
        self.imported.push(dir.clone());
        let out = dir.clone();
        let (loading, shown) = (self.loading.clone(), location.to_string());
        loading.set(Some((shown.clone(), 0)));
        let imported = tokio::task::spawn_blocking(move || {
            crate::evtx_import::import(&files, &out, |_, events| loading.set(Some((shown.clone(), events))))
        })
        .await;
        self.loading.set(None);
        let report = imported.map_err(|e| KqlError::new(format!("importing '{location}' stopped: {e}")))??;
        let table = if crate::evtx_import::TABLES.contains(&name) { name } else { "WindowsEvent" };
        let folder = dir.join(table);
        if !folder.is_dir() {
            return Err(KqlError::new(format!(
                "'{location}' holds no {table} events ({} events in all: {})",
                report.records,
                report.rows.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut warnings = report.problems;
        warnings.extend(self.register_table_files(name, &folder.to_string_lossy()).await?);
        Ok(warnings)
    }

    /// Registers every table file and sub-folder of the local folder `dir` under its own name
    /// (see `register_data`).
    pub async fn register_data_dir(&mut self, dir: &Path) -> Result<(Vec<String>, Vec<String>)> {
        self.register_data(&dir.to_string_lossy()).await
    }

    /// Registers every table file and sub-folder of a data location (a local folder, or a
    /// bucket or container prefix: `data_location`) under its own name. A file or folder that
    /// cannot be read is left out with a warning (returned), so one damaged file does not cost
    /// every table. Returns the names registered and the warnings.
    pub async fn register_data(&mut self, location: &str) -> Result<(Vec<String>, Vec<String>)> {
        let mut names = Vec::new();
        let (tables, mut warnings) = crate::data_location::tables_at(&self.ctx.state(), location).await?;
        for (name, location) in tables {
            match self.register_table(&name, &location).await {
                Ok(w) => {
                    warnings.extend(w);
                    names.push(name);
                }
                Err(e) => warnings.push(format!("table {name} left out: {e}")),
            }
        }
        Ok((names, warnings))
    }

    /// What scans of JSON and CSV tables reported since the last call: lines skipped under
    /// `max_bad_rows`, fields that no column of the table holds.
    pub fn take_read_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.read_warnings.lock())
    }

    /// Loads `let` definitions and `.create function` commands that every query can use.
    /// Returns the names defined.
    pub fn load_prelude(&mut self, text: &str) -> Result<Vec<String>> {
        let (entries, tables) = crate::prelude::read_source(&Arc::new(FunctionSource::kql("<functions>", text)))?;
        self.declare_tables(tables);
        Ok(self.add_to_prelude(entries))
    }

    /// Loads a functions file (`.kql`, or an ASIM parser `.yaml`) or a folder of them (searched
    /// recursively; its files that cannot be loaded are reported and skipped).
    pub fn load_functions(&mut self, path: &Path) -> Result<LoadReport> {
        let mut report = crate::prelude::load_path(path)?;
        let entries = std::mem::take(&mut report.entries);
        self.add_to_prelude(entries.clone());
        report.entries = entries;
        self.declare_tables(report.tables.clone());
        Ok(report)
    }

    /// Keeps table declarations for the tables registered after them; a name declared again
    /// takes the later declaration.
    fn declare_tables(&mut self, tables: Vec<crate::prelude::TableDeclaration>) {
        for table in tables {
            self.declarations.insert(table.name.clone(), table);
        }
    }

    /// Whether a table of this name is declared and already registered without it.
    pub fn declared_after_registration(&self) -> Vec<String> {
        self.declarations.keys().filter(|n| self.catalog.get(n).is_some_and(|t| t.declared.is_none())).cloned().collect()
    }

    /// Adds definitions; a name defined again replaces the earlier definition.
    fn add_to_prelude(&mut self, entries: Vec<PreludeEntry>) -> Vec<String> {
        let mut names = Vec::new();
        for entry in entries {
            names.push(entry.name().to_string());
            self.prelude.retain(|p| p.name() != entry.name());
            self.prelude.push(entry);
        }
        names
    }

    /// The prelude's definitions, each with the file it came from.
    pub fn prelude(&self) -> &[PreludeEntry] {
        &self.prelude
    }

    fn now(&self) -> i64 {
        self.options.now.unwrap_or_else(|| {
            let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            d.as_micros() as i64
        })
    }

    /// Parses and plans every result statement of `text`, without reading a byte of data. A
    /// query with an operator whose output depends on the data (`evaluate pivot`'s and
    /// `bag_unpack`'s columns, `scan`, graphs, `toscalar()` bounds, an `externaldata` URL)
    /// fails with an error of kind `NeedsData`: `plan_reading_data` plans it.
    pub fn plan(&self, text: &str) -> Result<Vec<PlannedQuery>> {
        self.plan_script(&kql_grammar::parse(text)?)
    }

    /// `plan` of a parsed script.
    pub fn plan_script(&self, script: &kql_grammar::ast::Script) -> Result<Vec<PlannedQuery>> {
        self.planner(None, false, self.now()).plan_script(script)
    }

    /// Plans a script only to check it (`kql check`): as `plan`, but an `externaldata` URL is
    /// an empty table of its declared columns (nothing is fetched), so the rest is checked too.
    pub fn check_script(&self, script: &kql_grammar::ast::Script) -> Result<Vec<PlannedQuery>> {
        self.planner(None, true, self.now()).plan_script(script)
    }

    /// Plans every result statement of `text`, first reading the data that operators whose
    /// output depends on it need: the session's step before a query runs (see `steps`). Each
    /// step the planner asks for runs as a query of its own, streamed, racing the session's
    /// cancellation (`cancellation`), its scans shown by `step_progress`; then the script is
    /// planned again with the step's result at hand. A query that needs no step is planned
    /// once, as `plan` plans it. The steps a query used come back in its `data_steps`.
    pub async fn plan_reading_data(&self, text: &str) -> Result<Vec<PlannedQuery>> {
        let script = kql_grammar::parse(text)?;
        let mut steps = DataSteps::default();
        // One `now()` for the query, its steps and every planning of it.
        let now = self.now();
        for round in 0..=crate::steps::MAX_DATA_STEPS {
            let planner = self.planner(Some(&steps), false, now);
            let planned = planner.plan_script(&script);
            let Some(request) = planner.steps.pending() else {
                return planned;
            };
            if round == crate::steps::MAX_DATA_STEPS {
                break;
            }
            let (output, rows) = self.run_step(&request.step).await?;
            let span = request.step.span();
            let (line, col) = crate::error::line_col(text, span.start);
            let report = StepReport { what: request.step.what(), span, at: format!("{line}:{col}"), rows };
            steps.insert(&request, output, report);
        }
        Err(KqlError::new(format!("planning this query needs more than {} reads of the data", crate::steps::MAX_DATA_STEPS)))
    }

    /// Makes the physical plan of a planned query without running it: what a query costs to
    /// plan in all (`kql check --timings`).
    pub async fn physical_plan_only(&self, query: &PlannedQuery) -> Result<()> {
        self.physical_plan(query.plan.clone()).await.map(|_| ()).map_err(|e| located(e, query))
    }

    /// The physical plan of `plan` in this session, and the task context to run it in.
    async fn physical_plan(
        &self,
        plan: LogicalPlan,
    ) -> datafusion::error::Result<(Arc<dyn datafusion::physical_plan::ExecutionPlan>, Arc<datafusion::execution::TaskContext>)> {
        let df = self.ctx.execute_logical_plan(plan).await?;
        let task = Arc::new(df.task_ctx());
        Ok((df.create_physical_plan().await?, task))
    }

    /// The declared Parquet tables, whose conversion errors name a file (`declared.rs`).
    fn declared_tables(&self) -> Vec<crate::declared::DeclaredTable> {
        self.catalog.tables().filter_map(|(_, t)| Some((t.declared.clone()?, t.declared_files.clone()?))).collect()
    }

    /// Runs one data step: a query whose rows planning needs, or a fetch.
    async fn run_step(&self, step: &DataStep) -> Result<(StepOutput, usize)> {
        match step {
            DataStep::Query { plan, what, span } => {
                let (physical, task) = self.physical_plan(plan.clone()).await.map_err(|e| KqlError::from(e).or_at(*span))?;
                // Shown while the step runs; cleared however it ends (a dropped future too).
                let _shown = StepShown::new(&self.step_running, what.clone(), Progress { plan: physical.clone() });
                let read = async {
                    let stream = datafusion::physical_plan::execute_stream(physical, task)?;
                    crate::declared::naming_failing_files(stream, self.declared_tables()).try_collect::<Vec<RecordBatch>>().await
                };
                let read = tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => Err(datafusion::error::DataFusionError::Execution(crate::cancel::CANCELLED.to_string())),
                    read = read => read,
                };
                let batches = read.map_err(|e| KqlError::from(e).or_at(*span))?;
                let rows = batches.iter().map(|b| b.num_rows()).sum();
                Ok((StepOutput::Rows(Arc::new(batches)), rows))
            }
            DataStep::Fetch { url, span } => {
                let (url, policy) = (url.clone(), self.options.network);
                let dir = crate::network::cache_dir(self.options.cache_dir.as_deref());
                let fetch = tokio::task::spawn_blocking(move || crate::network::fetch(&url, policy, &dir));
                let fetched = tokio::select! {
                    biased;
                    () = self.cancel.cancelled() => return Err(KqlError::new(crate::cancel::CANCELLED)),
                    fetched = fetch => fetched.map_err(|e| KqlError::at(*span, format!("the fetch stopped unexpectedly: {e}")))?,
                };
                let fetched = fetched.map_err(|e| KqlError::at(*span, e))?;
                Ok((StepOutput::File { path: fetched.path, warning: fetched.warning }, 0))
            }
        }
    }

    /// A handle on what a table's registration imports now (see `LoadProgress`).
    pub fn load_progress(&self) -> LoadProgress {
        self.loading.clone()
    }

    /// The data step running now, if any: what it reads, and the rows and bytes its scans have
    /// read so far (for a progress line).
    pub fn step_progress(&self) -> Option<(String, (usize, usize))> {
        let step = self.step_running.lock().ok()?;
        step.as_ref().map(|(what, progress)| (what.clone(), progress.scanned()))
    }

    fn planner<'a>(&'a self, steps: Option<&'a DataSteps>, checking: bool, now: i64) -> Planner<'a> {
        Planner {
            catalog: &self.catalog,
            prelude: &self.prelude,
            now,
            ctx: &self.ctx,
            steps: crate::steps::StepCursor::new(steps),
            checking,
            options: &self.options,
            warnings: Default::default(),
            places: Default::default(),
        }
    }

    /// Runs one planned query for viewing, streaming its batches.
    pub async fn stream(&self, query: &PlannedQuery) -> Result<SendableRecordBatchStream> {
        Ok(self.stream_with_progress(query, ResultUse::View).await?.0)
    }

    /// Runs one planned query like `stream`, and also returns a handle on its physical plan from
    /// which the progress of its scans can be read while it runs.
    pub async fn stream_with_progress(&self, query: &PlannedQuery, used: ResultUse) -> Result<(SendableRecordBatchStream, Progress)> {
        self.stream_planned(query, used, false).await
    }

    /// `stream_with_progress`, with the query planned for one partition: for queries that run
    /// side by side (hunts over one shared scan, `shared_scan.rs`), whose parallelism is across
    /// the queries; each would otherwise split its one input again for every core.
    pub async fn stream_in_one_partition(&self, query: &PlannedQuery, used: ResultUse) -> Result<(SendableRecordBatchStream, Progress)> {
        self.stream_planned(query, used, true).await
    }

    async fn stream_planned(
        &self,
        query: &PlannedQuery,
        used: ResultUse,
        one_partition: bool,
    ) -> Result<(SendableRecordBatchStream, Progress)> {
        // Partition notes are for `explain`; a query's scans leave none behind.
        self.scan_notes.lock().clear();
        let planned = if one_partition {
            let mut state = self.ctx.state();
            state.config_mut().options_mut().execution.target_partitions = 1;
            let task = Arc::new(datafusion::execution::TaskContext::from(&state));
            state.create_physical_plan(&query.plan).await.map(|plan| (plan, task))
        } else {
            self.physical_plan(query.plan.clone()).await
        };
        let (plan, task) = planned.map_err(|e| located(e, query))?;
        let stream = datafusion::physical_plan::execute_stream(plan.clone(), task).map_err(|e| located(e, query))?;
        let limit = match used {
            ResultUse::View => query.truncation,
            ResultUse::Export if query.truncation_set => query.truncation,
            ResultUse::Export => None,
        };
        let stream = crate::declared::naming_failing_files(stream, self.declared_tables());
        Ok((crate::truncation::limit(stream, limit), Progress { plan }))
    }

    /// Runs every result statement of `text` and collects the results.
    pub async fn execute(&self, text: &str) -> Result<Vec<QueryResult>> {
        let mut results = Vec::new();
        for query in self.plan_reading_data(text).await? {
            let stream = self.stream(&query).await?;
            let schema = stream.schema();
            let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| located(e, &query))?;
            results.push(QueryResult { schema, batches });
        }
        Ok(results)
    }

    /// The optimized logical and physical plans; with `analyze`, the query runs and each step
    /// shows its rows and time.
    pub async fn explain(&self, query: &PlannedQuery, analyze: bool) -> Result<String> {
        self.scan_notes.lock().clear();
        let df = self.ctx.execute_logical_plan(query.plan.clone()).await.map_err(|e| located(e, query))?;
        let explained = df.explain(false, analyze).map_err(|e| located(e, query))?;
        let batches = match explained.collect().await {
            Ok(batches) => batches,
            Err(e) => return Err(located(crate::declared::with_failing_file(e, &self.declared_tables()).await, query)),
        };
        let mut text = String::new();
        let mut notes = std::mem::take(&mut *self.scan_notes.lock());
        notes.dedup();
        if !notes.is_empty() {
            text.push_str("Partitions:\n");
            for note in notes {
                text.push_str(&format!("  {note}\n"));
            }
        }
        if !query.data_steps.is_empty() {
            text.push_str(READ_WHILE_PLANNING);
            text.push('\n');
            for step in &query.data_steps {
                text.push_str(&format!("  {} (at {}): {} rows\n", step.what, step.at, step.rows));
            }
        }
        for batch in &batches {
            for row in 0..batch.num_rows() {
                for column in batch.columns() {
                    text.push_str(&crate::render::format_cell(column.as_ref(), row).unwrap_or_default());
                    text.push('\n');
                }
            }
        }
        Ok(text)
    }
}

/// The running data step, in the session's slot for `step_progress` while it lives.
struct StepShown<'a>(&'a std::sync::Mutex<Option<(String, Progress)>>);

impl<'a> StepShown<'a> {
    fn new(slot: &'a std::sync::Mutex<Option<(String, Progress)>>, what: String, progress: Progress) -> StepShown<'a> {
        if let Ok(mut step) = slot.lock() {
            *step = Some((what, progress));
        }
        StepShown(slot)
    }
}

impl Drop for StepShown<'_> {
    fn drop(&mut self) {
        if let Ok(mut step) = self.0.lock() {
            *step = None;
        }
    }
}

/// What `explain` says of a query whose planning read data.
pub const READ_WHILE_PLANNING: &str = "Data steps: operators of this query depend on the data, which these steps read before the plan below was made, and the plan holds what they read:";

/// DataFusion's state as kql configures it: its settings, physical planner and optimizer
/// rules, and every kql function in the registry. Everything that plans or runs kql's plans
/// starts from it: a session, and a plan decoded elsewhere (`codec::round_trip_stream`).
pub fn session_state(options: &SessionOptions) -> Result<datafusion::execution::SessionState> {
    session_state_with_config(options, SessionConfig::new())
}

/// `session_state` over a configuration that holds settings of its own: a cluster's scheduler
/// and executors start from the one their client sent (`kql-cluster`), and add kql's.
pub fn session_state_with_config(options: &SessionOptions, config: SessionConfig) -> Result<datafusion::execution::SessionState> {
    let mut config = config.with_information_schema(false);
    // DataFusion's own settings, set in the environment as its CLI reads them
    // (`DATAFUSION_EXECUTION_TARGET_PARTITIONS=8`), replace kql's choices below; `--threads`
    // and the session's other options still win.
    let mut from_environment = Vec::new();
    // Only DataFusion's own: the entries also hold extensions' (kql's, Ballista's).
    for entry in config.options().entries().into_iter().filter(|e| e.key.starts_with("datafusion.")) {
        let name = entry.key.to_uppercase().replace('.', "_");
        if let Ok(value) = std::env::var(&name) {
            from_environment.push((entry.key, name, value));
        }
    }
    // Filters are evaluated while decoding Parquet pages, so rows that fail never materialise.
    config.options_mut().execution.parquet.pushdown_filters = true;
    config.options_mut().execution.parquet.reorder_filters = true;
    // DataFusion's physical planner and its logical schema can disagree on whether an
    // expression is nullable (`x IS NOT FALSE` once common subexpressions are split out, a
    // simplified `coalesce`), and the aggregate's schema check then rejects a correct plan.
    // Only that check of nullability is skipped, not any work; the metamorphic tests found it.
    config.options_mut().execution.skip_physical_aggregate_schema_check = true;
    for (key, name, value) in from_environment {
        config.options_mut().set(&key, &value).map_err(|e| KqlError::new(format!("{name}={value}: {e}")))?;
    }
    if let Some(n) = options.target_partitions {
        config = config.with_target_partitions(n.max(1));
    }
    if let Some(n) = options.batch_size {
        config = config.with_batch_size(n.max(1));
    }
    // Functions read the limit from here: a row-wise function's output for one batch is held
    // to it (`functions::rowwise`).
    let mut kql_config = config.options().extensions.get::<crate::config::KqlConfig>().cloned().unwrap_or_default();
    if let Some(limit) = options.memory_limit {
        kql_config.memory_limit = limit;
    }
    config.options_mut().extensions.insert(kql_config);
    // DataFusion keeps a folder's listing for the whole session by default: files added to a
    // folder table after its first query (the next hour a log shipper writes, in a REPL left
    // open) would never be read, and the session would answer "no hits" on them. Each query
    // lists the folder again instead.
    let caches = datafusion::execution::cache::cache_manager::CacheManagerConfig::default().with_list_files_cache_limit(0);
    let mut runtime = RuntimeEnvBuilder::new()
        .with_cache_manager(caches)
        .with_object_store_registry(Arc::new(crate::store_registry::StoreRegistry::default()));
    if let Some(limit) = options.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(crate::memory_pool::RelaxedFairPool::new(limit)));
    }
    let runtime = runtime.build_arc()?;
    let mut state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_query_planner(Arc::new(crate::serial::KqlQueryPlanner))
        .with_physical_optimizer_rules(crate::physical_rules::rules());
    if options.without_logical_optimizer {
        state = state.with_optimizer_rules(vec![Arc::new(datafusion::optimizer::simplify_expressions::SimplifyExpressions::new())]);
    } else {
        state = state.with_optimizer_rules(crate::logical_rules::rules());
    }
    let mut state = state.build();
    crate::functions::registry::register(&mut state)?;
    Ok(state)
}

/// What a result is for, which decides whether Kusto's result limit (500,000 records, 64 MB;
/// see `truncation`) applies. A view (a table on the terminal, the REPL, an embedder's
/// collected batches) is what Kusto's limit protects, and gets it. An export (CSV, JSON lines
/// or Parquet written for another program, a hunt's output file) is Kusto's `.export`: bounded
/// by the memory limit only, as batches stream into the file, unless the query itself sets a
/// limit with `set truncationmaxrecords`/`truncationmaxsize`/`notruncation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultUse {
    View,
    Export,
}

/// The scans of a running query, read from the live metrics of its physical plan.
pub struct Progress {
    plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
}

impl Progress {
    /// The scans of `plan`, once it runs.
    pub(crate) fn of(plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> Progress {
        Progress { plan }
    }

    /// Rows and bytes the query's scans (the leaves of its plan) have read so far.
    pub fn scanned(&self) -> (usize, usize) {
        fn walk(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>, rows: &mut usize, bytes: &mut usize) {
            let children = plan.children();
            if children.is_empty()
                && let Some(metrics) = plan.metrics()
            {
                *rows += metrics.output_rows().unwrap_or(0);
                *bytes += metrics.sum_by_name("bytes_scanned").map_or(0, |v| v.as_usize());
            }
            for child in children {
                walk(child, rows, bytes);
            }
        }
        let (mut rows, mut bytes) = (0, 0);
        walk(&self.plan, &mut rows, &mut bytes);
        (rows, bytes)
    }
}

/// An execution error points at the operator or call it names, else at the statement that
/// failed.
fn located(e: datafusion::error::DataFusionError, query: &PlannedQuery) -> KqlError {
    let e = KqlError::from(e);
    match query.place_of(&e) {
        Some(span) => e.or_at(span),
        None => e.or_at(Span::new(query.span.start, query.span.start)),
    }
}
