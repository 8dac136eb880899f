//! One scan of a table shared by many queries (`kql hunt`): the table is read once, with the
//! columns any of them needs, and every decoded batch goes to each query's plan.
//!
//! A batch run of hunts (a folder of Sigma rules, say) mostly reads one table per hunt, many
//! hunts the same table. Read once per hunt, the same Parquet pages are decoded hundreds of
//! times; shared, they are decoded once and each hunt only filters batches already in memory.
//!
//! How it works: `SharedScan::rewrite` points a query's scan of the table at a `SharedTable`
//! whose `scan` registers a subscriber (its columns and a bounded channel) and returns a
//! `SubscriberExec` reading that channel. Once every query of the group has its physical plan,
//! `SharedScan::start` scans the table with the union of the subscribers' columns, one task per
//! partition, and sends each batch, cut to its columns, to every subscriber still listening.
//!
//! Backpressure bounds the memory: each channel holds `CHANNEL_BATCHES` batches, so the scan
//! goes at the pace of the slowest query, and a batch is freed once every query has taken it.
//! That is also why only a query that reads the table once, and no other table (`reads_one_table`),
//! may share a scan: a query with two shared inputs could wait on one while the other waits on
//! it (a hash join builds one side before it reads the other). A query that stops early (`take`)
//! or fails drops its receiver, and the scan stops sending to it.
//!
//! Filters: the shared table takes every filter that reads only the row (an `Exact` pushdown;
//! nothing volatile, no subquery), and the scan applies each query's filters before it sends,
//! evaluated as DataFusion evaluates them in the query's plan, over only the columns they read.
//! A query so receives only its rows, and most hunts receive none; what they compute from the
//! table's columns (string tests, `lower`) is computed once per batch for all of them
//! (`computed.rs`, `string_tests.rs`, `equal_tests.rs`). The batches are handled by up to one task per core,
//! whatever the number of the table's partitions. The table's own scan gets the OR of the
//! queries' filters (`pruning_filter`), so that the partitions, files and row groups that no
//! query wants are skipped (a folder of hunts over the last day reads the last day's files).

mod answers;
mod computed;
mod distinct_texts;
mod equal_tests;
mod string_tests;

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session as CatalogSession, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DataFusionError, Result, exec_err, internal_err};
use datafusion::datasource::{TableType, provider_as_source, source_as_provider};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::utils::{conjunction, disjunction, split_conjunction};
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableScan};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties};
use std::panic::AssertUnwindSafe;

use futures::{FutureExt, StreamExt};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use self::computed::{BatchExtender, ComputedColumns};
use crate::catalog::Catalog;

/// Batches a subscriber's channel holds before the scan waits for it.
const CHANNEL_BATCHES: usize = 2;

/// The catalog table a plan reads, when it reads exactly one scan of one catalog table (other
/// leaves, such as `datatable` or `range`, are in memory and do not count).
pub fn reads_one_table(plan: &LogicalPlan, catalog: &Catalog) -> Option<String> {
    let mut found: Vec<String> = Vec::new();
    let walked = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && let Some(name) = catalog_name(catalog, &provider)
        {
            found.push(name);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    match (walked, found.as_slice()) {
        (Ok(_), [one]) => Some(one.clone()),
        _ => None,
    }
}

/// The catalog's name of a provider, compared by identity (the planner scans the catalog's own
/// `Arc`).
fn catalog_name(catalog: &Catalog, provider: &Arc<dyn TableProvider>) -> Option<String> {
    catalog.tables().find(|(_, table)| same_provider(&table.provider, provider)).map(|(name, _)| name.clone())
}

fn same_provider(a: &Arc<dyn TableProvider>, b: &Arc<dyn TableProvider>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// One shared scan of one table, for a group of queries.
pub struct SharedScan {
    table: Arc<SharedTable>,
}

/// What a subscriber registered: the table's columns it reads, their schema, the filters it
/// pushed into the scan (over the table's columns, unqualified), and where its batches go.
struct Subscriber {
    projection: Vec<usize>,
    schema: SchemaRef,
    filters: Vec<Expr>,
    sender: mpsc::Sender<Result<RecordBatch>>,
}

/// The table as the group's queries see it: the real table, scanned by subscribing.
struct SharedTable {
    name: String,
    provider: Arc<dyn TableProvider>,
    subscribers: Mutex<Option<Vec<Subscriber>>>,
}

impl SharedScan {
    pub fn new(name: &str, provider: Arc<dyn TableProvider>) -> SharedScan {
        SharedScan { table: Arc::new(SharedTable { name: name.to_string(), provider, subscribers: Mutex::new(Some(Vec::new())) }) }
    }

    /// `plan` with its scans of the shared table reading the shared scan instead.
    pub fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        let provider = self.table.provider.clone();
        let shared: Arc<dyn TableProvider> = self.table.clone();
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::TableScan(scan) if source_as_provider(&scan.source).is_ok_and(|p| same_provider(&p, &provider)) => {
                Ok(Transformed::yes(LogicalPlan::TableScan(TableScan { source: provider_as_source(shared.clone()), ..scan })))
            }
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    /// Starts reading the table for the subscribers registered so far (the physical plans of
    /// the group's queries made since `rewrite`). A subscriber that comes later gets an error.
    /// The returned handle stops the scan when dropped.
    pub async fn start(&self, state: &dyn CatalogSession) -> RunningScan {
        let subscribers = self.table.subscribers.lock().take().unwrap_or_default();
        if subscribers.is_empty() {
            return RunningScan { tasks: Vec::new(), scan: None };
        }
        let base = self.table.provider.schema();
        let mut computed = ComputedColumns::empty();
        for s in &subscribers {
            for f in &s.filters {
                computed.collect(f, &base);
            }
        }
        // The table's columns that any subscriber reads or filters on, or a computed column
        // reads. A batch of the scan is these columns, then the computed ones (`wide`).
        let mut columns: Vec<usize> = subscribers.iter().flat_map(|s| s.projection.iter().copied()).collect();
        let named = subscribers.iter().flat_map(|s| s.filters.iter().flat_map(|f| f.column_refs())).map(|c| c.name.clone());
        let inputs = (0..computed.len()).flat_map(|i| computed.inputs(i));
        columns.extend(named.chain(inputs).filter_map(|name| base.index_of(&name).ok()));
        columns.sort_unstable();
        columns.dedup();
        let used: Vec<usize> = (0..computed.len()).collect();
        let pruning = pruning_filter(&subscribers, self.table.provider.as_ref());
        let plan = match self.table.provider.scan(state, Some(&columns), &pruning, None).await {
            Ok(plan) => plan,
            Err(e) => return RunningScan { tasks: vec![tokio::spawn(send_error_to_all(subscribers, e))], scan: None },
        };
        let scan_schema = plan.schema();
        let wide_fields: Vec<Field> =
            scan_schema.fields().iter().map(|f| f.as_ref().clone()).chain(used.iter().map(|&i| computed.field(i).clone())).collect();
        let wide = Schema::new(wide_fields);
        let extender = match BatchExtender::new(&computed, &used, &scan_schema, state) {
            Ok(extender) => Arc::new(extender),
            Err(e) => return RunningScan { tasks: vec![tokio::spawn(send_error_to_all(subscribers, e))], scan: None },
        };
        // A subscriber whose filter cannot be prepared fails alone (its query gets the error);
        // one that stopped already is left out.
        let mut targets = Vec::with_capacity(subscribers.len());
        let mut failed = Vec::new();
        for s in subscribers.into_iter().filter(|s| !s.sender.is_closed()) {
            let prepared = TargetFilter::prepare(&s.filters, &computed, &base, &wide, state).and_then(|filter| {
                let positions = s.schema.fields().iter().map(|f| wide.index_of(f.name())).collect::<std::result::Result<Vec<_>, _>>()?;
                Ok((positions, filter))
            });
            match prepared {
                Ok((positions, filter)) => targets.push(Target { positions, schema: s.schema, filter, sender: s.sender }),
                Err(e) => failed.push((s.sender, e)),
            }
        }
        let mut tasks: Vec<JoinHandle<()>> = failed
            .into_iter()
            .map(|(sender, e)| {
                tokio::spawn(async move {
                    let _ = sender.send(Err(e)).await;
                })
            })
            .collect();
        let targets = Arc::new(targets);
        let context = state.task_ctx();
        let partitions = plan.output_partitioning().partition_count();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        tasks.extend((0..partitions).map(|partition| {
            let (plan, context, targets, extender) = (plan.clone(), context.clone(), targets.clone(), extender.clone());
            tokio::spawn(async move {
                let scan = AssertUnwindSafe(broadcast_partition(plan, partition, context, extender, targets.clone(), workers));
                // A panic in the decoder is an error for every query, not a silent end of rows.
                if let Err(panic) = scan.catch_unwind().await {
                    let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
                    let error = format!("the shared scan stopped unexpectedly: {}", message.unwrap_or_default());
                    send_error(&targets, DataFusionError::Execution(error)).await;
                }
            })
        }));
        RunningScan { tasks, scan: Some(plan) }
    }
}

/// A subscriber as the scan sends to it: where its columns are among the wide batch's, the
/// schema they make, and its filter.
#[derive(Clone)]
struct Target {
    positions: Vec<usize>,
    schema: SchemaRef,
    filter: Option<TargetFilter>,
    sender: mpsc::Sender<Result<RecordBatch>>,
}

/// A subscriber's filters, as one predicate over only the columns it reads (of the wide batch):
/// evaluated over all the batch's columns, DataFusion's `and`/`or` would cut every column of the
/// batch to the rows its left side leaves undecided.
#[derive(Clone)]
struct TargetFilter {
    positions: Vec<usize>,
    schema: SchemaRef,
    predicate: Arc<dyn PhysicalExpr>,
}

impl TargetFilter {
    /// The `and` of a subscriber's filters, reading the computed columns where it can; `None`
    /// when it has none.
    fn prepare(
        filters: &[Expr],
        computed: &ComputedColumns,
        base: &Schema,
        wide: &Schema,
        state: &dyn CatalogSession,
    ) -> Result<Option<TargetFilter>> {
        let Some(predicate) = conjunction(filters.iter().cloned()) else { return Ok(None) };
        let predicate = computed.rewrite_predicate(predicate, base)?;
        let mut names: Vec<String> = predicate.column_refs().into_iter().map(|c| c.name.clone()).collect();
        names.sort_unstable();
        names.dedup();
        let positions = names.iter().map(|n| wide.index_of(n)).collect::<std::result::Result<Vec<_>, _>>()?;
        let schema = Arc::new(wide.project(&positions)?);
        let predicate = state.create_physical_expr(predicate, &DFSchema::try_from(schema.as_ref().clone())?)?;
        Ok(Some(TargetFilter { positions, schema, predicate }))
    }
}

impl Target {
    /// The subscriber's rows of a wide batch: `None` when its filter leaves none.
    fn rows_of(&self, columns: &[ArrayRef], rows: usize) -> Result<Option<RecordBatch>> {
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let cut = |schema: &SchemaRef, positions: &[usize]| {
            RecordBatch::try_new_with_options(schema.clone(), positions.iter().map(|&p| columns[p].clone()).collect(), &options)
        };
        let Some(filter) = &self.filter else { return Ok(Some(cut(&self.schema, &self.positions)?)) };
        let mask = filter.predicate.evaluate(&cut(&filter.schema, &filter.positions)?)?.into_array(rows)?;
        let Some(mask) = mask.as_any().downcast_ref::<BooleanArray>() else {
            return internal_err!("a filter of the shared scan gave {}, not booleans", mask.data_type());
        };
        // A null answer drops the row, as `where` does. Most queries keep no row of a batch:
        // their batch is only cut when they keep some.
        if mask.true_count() == 0 {
            return Ok(None);
        }
        Ok(Some(filter_record_batch(&cut(&self.schema, &self.positions)?, mask)?))
    }
}

/// Reads one partition of the scan and hands each batch to a task of its own (at most two per
/// worker at a time, so that the cores compute while this task waits to send), which computes
/// the computed columns and each subscriber's rows; the rows are sent from here, in the
/// partition's order. A table of one row group is one partition, and the filters of hundreds of
/// queries are most of the work: done batch by batch on the partition's task, they would use
/// one core.
async fn broadcast_partition(
    plan: Arc<dyn ExecutionPlan>,
    partition: usize,
    context: Arc<TaskContext>,
    extender: Arc<BatchExtender>,
    targets: Arc<Vec<Target>>,
    workers: usize,
) {
    let stream = match plan.execute(partition, context) {
        Ok(s) => s,
        Err(e) => return send_error(&targets, e).await,
    };
    // The tasks in flight are aborted when this task is (`RunningScan`), by `AbortOnDrop`.
    let mut computed = stream
        .map(|item| {
            let (extender, targets) = (extender.clone(), targets.clone());
            AbortOnDrop(tokio::spawn(async move { rows_of_batch(item, &extender, &targets) }))
        })
        .buffered(workers * 2);
    while let Some(done) = computed.next().await {
        let rows = match done {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => return send_error(&targets, e).await,
            // Not a silent end of every query's rows: each is told its input broke off.
            Err(e) => return send_error(&targets, DataFusionError::Execution(format!("the shared scan stopped unexpectedly: {e}"))).await,
        };
        for (target, rows) in targets.iter().zip(rows) {
            match rows {
                None => {}
                Some(rows) => {
                    let _ = target.sender.send(rows).await;
                }
            }
        }
        if targets.iter().all(|t| t.sender.is_closed()) {
            return;
        }
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// Each subscriber's rows of one batch, computed columns computed once: `None` for a
/// subscriber that has stopped or keeps no row of it; an error for one whose filter failed (a
/// bad cast in the data, say), which fails its query only. The batch's own error is returned.
fn rows_of_batch(item: Result<RecordBatch>, extender: &BatchExtender, targets: &[Target]) -> Result<Vec<Option<Result<RecordBatch>>>> {
    let batch = strings_as_read(item?)?;
    let (rows, columns) = (batch.num_rows(), extender.extend(&batch)?);
    Ok(targets.iter().map(|t| if t.sender.is_closed() { None } else { t.rows_of(&columns, rows).transpose() }).collect())
}

/// `batch` with the nulls of its string columns read as `""`, as each query's own plan reads
/// them (`strings_as_read.rs`): the shared tests then answer over the values the queries see,
/// and a query's `coalesce(c, "")` is its column (`computed.rs`).
fn strings_as_read(batch: RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let changed = |i: usize| schema.fields().get(i).is_some_and(|f| crate::strings_as_read::is_nullable_text(f));
    if !(0..batch.num_columns()).any(|i| changed(i) && batch.column(i).null_count() > 0) {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| if changed(i) { crate::functions::coalesce::nulls_as_empty_text(c) } else { Ok(c.clone()) })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

async fn send_error(targets: &[Target], e: DataFusionError) {
    let error = Arc::new(e);
    for t in targets {
        let _ = t.sender.send(Err(DataFusionError::Shared(error.clone()))).await;
    }
}

async fn send_error_to_all(subscribers: Vec<Subscriber>, e: DataFusionError) {
    let error = Arc::new(e);
    for s in subscribers {
        let _ = s.sender.send(Err(DataFusionError::Shared(error.clone()))).await;
    }
}

/// What the table's own scan may use to skip partitions, files and row groups: the rows any
/// subscriber can want, the OR over the subscribers of their filters that compare a column
/// with constants (a time window, an `EventID ==`). Every subscriber still applies all its
/// filters to what the scan sends, so a table that applies this one loosely or exactly gives
/// each the same rows. Only comparisons: they are what partition values and Parquet statistics
/// can rule out, and the Parquet decoder evaluates the filter row by row, where the string
/// tests of a thousand hunts would cost what the shared scan saves. None when a subscriber has
/// no such filter (it reads every row), or the table cannot use it.
fn pruning_filter(subscribers: &[Subscriber], table: &dyn TableProvider) -> Vec<Expr> {
    let bounds = |s: &Subscriber| conjunction(s.filters.iter().flat_map(split_conjunction).filter(|f| compares_a_column(f)).cloned());
    let wanted = subscribers.iter().map(bounds).collect::<Option<Vec<Expr>>>().and_then(disjunction);
    let Some(wanted) = wanted else { return Vec::new() };
    match table.supports_filters_pushdown(&[&wanted]).as_deref() {
        Ok([TableProviderFilterPushDown::Exact | TableProviderFilterPushDown::Inexact]) => vec![wanted],
        _ => Vec::new(),
    }
}

/// `column OP constant` (either way round; `=`, `!=`, `<`, `<=`, `>`, `>=`), `column between
/// constants`, `column in (constants)`, `isnull(column)`, `isnotnull(column)`; the column
/// possibly cast.
fn compares_a_column(filter: &Expr) -> bool {
    fn column(e: &Expr) -> bool {
        match e {
            Expr::Column(_) => true,
            Expr::Cast(c) => column(&c.expr),
            Expr::TryCast(c) => column(&c.expr),
            _ => false,
        }
    }
    let constant = |e: &Expr| matches!(e, Expr::Literal(..));
    match filter {
        Expr::BinaryExpr(b) => {
            use datafusion::logical_expr::Operator::*;
            matches!(b.op, Eq | NotEq | Lt | LtEq | Gt | GtEq)
                && ((column(&b.left) && constant(&b.right)) || (constant(&b.left) && column(&b.right)))
        }
        Expr::Between(b) => column(&b.expr) && constant(&b.low) && constant(&b.high),
        Expr::InList(i) => column(&i.expr) && i.list.iter().all(constant),
        Expr::IsNull(e) | Expr::IsNotNull(e) => column(e),
        _ => false,
    }
}

/// Whether the scan can apply `filter` for a query, exactly: it reads only the row (no
/// subquery, nothing volatile).
fn can_apply(filter: &Expr) -> bool {
    !filter.is_volatile()
        && !filter
            .exists(|e| Ok(matches!(e, Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_) | Expr::OuterReferenceColumn(..))))
            .unwrap_or(true)
}

/// The tasks of a started shared scan; dropping it stops them.
pub struct RunningScan {
    tasks: Vec<JoinHandle<()>>,
    /// The table's scan, whose metrics say how far it has read.
    scan: Option<Arc<dyn ExecutionPlan>>,
}

impl RunningScan {
    /// How far the scan has read, for a progress line (`None` when nothing is scanned).
    pub fn progress(&self) -> Option<crate::Progress> {
        self.scan.clone().map(crate::Progress::of)
    }
}

impl Drop for RunningScan {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl fmt::Debug for SharedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedTable({})", self.name)
    }
}

#[async_trait]
impl TableProvider for SharedTable {
    fn schema(&self) -> SchemaRef {
        self.provider.schema()
    }

    fn table_type(&self) -> TableType {
        self.provider.table_type()
    }

    /// The scan applies every filter that reads only the row, exactly: it evaluates them for
    /// all its queries at once, sharing what they compute (`computed.rs`).
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| if can_apply(f) { TableProviderFilterPushDown::Exact } else { TableProviderFilterPushDown::Unsupported })
            .collect())
    }

    /// Registers a subscriber: its columns, and its filters, which the scan applies before it
    /// sends; a limit (of the filtered rows) ends the subscriber's stream early.
    async fn scan(
        &self,
        _state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table_schema = self.provider.schema();
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..table_schema.fields().len()).collect(),
        };
        let schema = Arc::new(table_schema.project(&projection)?);
        // Over the table's columns named without the scan's qualifier.
        let filters: Vec<Expr> = filters.iter().cloned().map(unnormalize_col).collect();
        let (sender, receiver) = mpsc::channel(CHANNEL_BATCHES);
        match self.subscribers.lock().as_mut() {
            Some(subscribers) => subscribers.push(Subscriber { projection, schema: schema.clone(), filters, sender }),
            None => return internal_err!("the shared scan of {} has started; no query can join it now", self.name),
        }
        Ok(Arc::new(SubscriberExec::new(self.name.clone(), schema, receiver, limit)))
    }
}

/// The leaf of a query's plan that reads its batches of a shared scan.
pub struct SubscriberExec {
    table: String,
    schema: SchemaRef,
    receiver: Mutex<Option<mpsc::Receiver<Result<RecordBatch>>>>,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
}

impl SubscriberExec {
    fn new(table: String, schema: SchemaRef, receiver: mpsc::Receiver<Result<RecordBatch>>, limit: Option<usize>) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        SubscriberExec { table, schema, receiver: Mutex::new(Some(receiver)), limit, properties: Arc::new(properties) }
    }
}

impl fmt::Debug for SubscriberExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubscriberExec({})", self.table)
    }
}

impl DisplayAs for SubscriberExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SharedScanExec: table={}, columns={}", self.table, self.schema.fields().len())
    }
}

impl ExecutionPlan for SubscriberExec {
    fn name(&self) -> &str {
        "SharedScanExec"
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() { Ok(self) } else { internal_err!("SharedScanExec has no inputs") }
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return exec_err!("SharedScanExec has one partition, not {partition}");
        }
        let Some(receiver) = self.receiver.lock().take() else {
            return exec_err!("the shared scan of {} was read already", self.table);
        };
        // With a limit, the stream ends (and lets go of its channel, so the scan stops sending to
        // it) as soon as the limit is reached, not at the next batch.
        let stream = futures::stream::unfold((receiver, self.limit), |(mut receiver, left)| async move {
            if left == Some(0) {
                return None;
            }
            let item = receiver.recv().await?;
            let (item, left) = match (item, left) {
                (Ok(batch), Some(n)) => {
                    let take = batch.num_rows().min(n);
                    (Ok(batch.slice(0, take)), Some(n - take))
                }
                (item, left) => (item, left),
            };
            Some((item, (receiver, left)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream)))
    }
}
