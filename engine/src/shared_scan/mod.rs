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
//! Filters stay in each query's plan (`SharedTable` takes none), so every row a query sees is
//! filtered by its own predicate, exactly as without sharing; only the pushing of predicates
//! into the Parquet decoder (and pruning of row groups and partitions) is given up. What the
//! predicates compute from the table's columns (string tests, `lower`) the scan computes once
//! per batch for all of them (`computed.rs`, `string_tests.rs`).

mod computed;
mod string_tests;

use std::fmt;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session as CatalogSession, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Column, DataFusionError, Result, exec_err, internal_err};
use datafusion::datasource::{TableType, provider_as_source, source_as_provider};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, Projection, TableScan, TableScanBuilder};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties};
use futures::StreamExt;
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

/// A `where` over a scan of `provider` (with no limit on the scan), directly or through one
/// projection (the planner's naming of the table's columns).
struct FilterOverScan<'a> {
    filter: &'a Filter,
    projection: Option<&'a Projection>,
    scan: &'a TableScan,
}

impl<'a> FilterOverScan<'a> {
    fn of(node: &'a LogicalPlan, provider: &Arc<dyn TableProvider>) -> Option<FilterOverScan<'a>> {
        let LogicalPlan::Filter(filter) = node else { return None };
        let (projection, scan) = match filter.input.as_ref() {
            LogicalPlan::TableScan(scan) => (None, scan),
            LogicalPlan::Projection(projection) => match projection.input.as_ref() {
                LogicalPlan::TableScan(scan) => (Some(projection), scan),
                _ => return None,
            },
            _ => return None,
        };
        let reads = scan.fetch.is_none() && source_as_provider(&scan.source).is_ok_and(|p| same_provider(&p, provider));
        reads.then_some(FilterOverScan { filter, projection, scan })
    }

    /// The table's column that a column of the filter's predicate is, if it is one unchanged.
    fn table_column(&self, column: &Column) -> Option<String> {
        let Some(projection) = self.projection else {
            return self.scan.projected_schema.has_column(column).then(|| column.name.clone());
        };
        let i = projection.schema.index_of_column(column).ok()?;
        match projection.expr.get(i)?.clone().unalias_nested().data {
            Expr::Column(c) if self.scan.projected_schema.has_column(&c) => Some(c.name),
            _ => None,
        }
    }
}

/// One shared scan of one table, for a group of queries.
pub struct SharedScan {
    table: Arc<SharedTable>,
}

/// What a subscriber registered: the shared table's columns it reads (the table's, then the
/// computed ones), their schema, and where its batches go.
struct Subscriber {
    projection: Vec<usize>,
    schema: SchemaRef,
    sender: mpsc::Sender<Result<RecordBatch>>,
}

/// The table as the group's queries see it: the real table's columns and the computed ones,
/// scanned by subscribing.
struct SharedTable {
    name: String,
    provider: Arc<dyn TableProvider>,
    computed: ComputedColumns,
    schema: SchemaRef,
    subscribers: Mutex<Option<Vec<Subscriber>>>,
}

impl SharedScan {
    /// The shared scan of `provider` for the group of queries `plans`: what their `where`s over
    /// the table compute becomes computed columns of the shared table.
    pub fn new<'a>(name: &str, provider: Arc<dyn TableProvider>, plans: impl IntoIterator<Item = &'a LogicalPlan>) -> SharedScan {
        let base = provider.schema();
        let mut computed = ComputedColumns::empty();
        for plan in plans {
            let _ = plan.apply_with_subqueries(|node| {
                if let Some(over) = FilterOverScan::of(node, &provider) {
                    computed.collect(&over.filter.predicate, &base, &|c| over.table_column(c));
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        let schema = computed.extend_schema(&base);
        let table = SharedTable { name: name.to_string(), provider, computed, schema, subscribers: Mutex::new(Some(Vec::new())) };
        SharedScan { table: Arc::new(table) }
    }

    /// `plan` with its scans of the table reading the shared scan instead, and the `where`
    /// directly over a scan reading the computed columns in place of what they hold.
    pub fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        let provider = &self.table.provider;
        let base = provider.schema();
        let shared = provider_as_source(self.table.clone());
        let all_columns = || (0..base.fields().len()).collect::<Vec<usize>>();
        plan.transform_down_with_subqueries(|node| {
            if let Some(over) = FilterOverScan::of(&node, provider) {
                let scan = over.scan;
                let (predicate, used) =
                    self.table
                        .computed
                        .rewrite_predicate(over.filter.predicate.clone(), &scan.table_name, &base, &|c| over.table_column(c))?;
                if !used.is_empty() {
                    // The scan with the computed columns, passed through the projection if there
                    // is one, filtered, then cut back to the columns the filter gave before, so
                    // the plan above sees the same schema.
                    let original: Vec<Expr> = over.filter.input.schema().columns().into_iter().map(Expr::Column).collect();
                    let mut projection = scan.projection.clone().unwrap_or_else(all_columns);
                    projection.extend(used.iter().map(|i| base.fields().len() + i));
                    let scan = TableScanBuilder::new(scan.table_name.clone(), shared.clone())
                        .with_projection(Some(projection))
                        .with_filters(scan.filters.clone())
                        .build()?;
                    let mut input = LogicalPlan::TableScan(scan);
                    if let Some(projection) = over.projection {
                        let computed = used
                            .iter()
                            .map(|&i| Expr::Column(Column::new(Some(over.scan.table_name.clone()), self.table.computed.name(i))));
                        let exprs = projection.expr.iter().cloned().chain(computed).collect();
                        input = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(input))?);
                    }
                    let filter = Filter::try_new(predicate, Arc::new(input))?;
                    let projected = Projection::try_new(original, Arc::new(LogicalPlan::Filter(filter)))?;
                    return Ok(Transformed::new(LogicalPlan::Projection(projected), true, TreeNodeRecursion::Jump));
                }
            }
            match node {
                LogicalPlan::TableScan(scan) if source_as_provider(&scan.source).is_ok_and(|p| same_provider(&p, provider)) => {
                    let projection = Some(scan.projection.clone().unwrap_or_else(all_columns));
                    let scan = TableScanBuilder::new(scan.table_name, shared.clone())
                        .with_projection(projection)
                        .with_filters(scan.filters)
                        .with_fetch(scan.fetch)
                        .build()?;
                    Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
                }
                other => Ok(Transformed::no(other)),
            }
        })
        .map(|t| t.data)
    }

    /// Starts reading the table for the subscribers registered so far (the physical plans of
    /// the group's queries made since `rewrite`). A subscriber that comes later gets an error.
    /// The returned handle stops the scan when dropped.
    pub async fn start(&self, state: &dyn CatalogSession) -> RunningScan {
        let subscribers = self.table.subscribers.lock().take().unwrap_or_default();
        if subscribers.is_empty() {
            return RunningScan { tasks: Vec::new() };
        }
        // The table's columns any subscriber reads, or any computed column it reads needs;
        // the computed columns read. A batch of the scan is these columns, then those.
        let base = self.table.provider.schema();
        let table_columns = base.fields().len();
        let mut used: Vec<usize> =
            subscribers.iter().flat_map(|s| s.projection.iter().filter_map(|&c| c.checked_sub(table_columns))).collect();
        used.sort_unstable();
        used.dedup();
        let inputs = used.iter().flat_map(|&i| self.table.computed.inputs(i)).filter_map(|name| base.index_of(&name).ok());
        let mut columns: Vec<usize> =
            subscribers.iter().flat_map(|s| s.projection.iter().copied().filter(|&c| c < table_columns)).chain(inputs).collect();
        columns.sort_unstable();
        columns.dedup();
        let position = |c: usize| match c.checked_sub(table_columns) {
            None => columns.binary_search(&c).ok(),
            Some(i) => used.binary_search(&i).ok().map(|k| columns.len() + k),
        };
        let targets: Vec<Target> = subscribers
            .into_iter()
            .map(|s| Target { positions: s.projection.iter().filter_map(|&c| position(c)).collect(), schema: s.schema, sender: s.sender })
            .collect();
        let plan = match self.table.provider.scan(state, Some(&columns), &[], None).await {
            Ok(plan) => plan,
            Err(e) => return RunningScan { tasks: vec![tokio::spawn(async move { send_error(&targets, e).await })] },
        };
        let extender = match BatchExtender::new(&self.table.computed, &used, &plan.schema(), state) {
            Ok(extender) => Arc::new(extender),
            Err(e) => return RunningScan { tasks: vec![tokio::spawn(async move { send_error(&targets, e).await })] },
        };
        let context = state.task_ctx();
        let partitions = plan.output_partitioning().partition_count();
        let tasks = (0..partitions)
            .map(|partition| {
                let (plan, context, targets, extender) = (plan.clone(), context.clone(), targets.clone(), extender.clone());
                tokio::spawn(broadcast_partition(plan, partition, context, extender, targets))
            })
            .collect();
        RunningScan { tasks }
    }
}

/// A subscriber as the scan sends to it: where its columns are among the scan's batch and the
/// computed columns, and the schema they make.
#[derive(Clone)]
struct Target {
    positions: Vec<usize>,
    schema: SchemaRef,
    sender: mpsc::Sender<Result<RecordBatch>>,
}

/// Reads one partition of the scan, computes the computed columns of each batch, and sends it
/// to every subscriber still listening.
async fn broadcast_partition(
    plan: Arc<dyn ExecutionPlan>,
    partition: usize,
    context: Arc<TaskContext>,
    extender: Arc<BatchExtender>,
    mut targets: Vec<Target>,
) {
    let mut stream = match plan.execute(partition, context) {
        Ok(s) => s,
        Err(e) => return send_error(&targets, e).await,
    };
    while let Some(item) = stream.next().await {
        let (rows, columns) = match item.and_then(|b| Ok((b.num_rows(), extender.extend(&b)?))) {
            Ok(extended) => extended,
            Err(e) => return send_error(&targets, e).await,
        };
        let mut listening = Vec::with_capacity(targets.len());
        for target in targets {
            let cut = RecordBatch::try_new_with_options(
                target.schema.clone(),
                target.positions.iter().map(|&p| columns[p].clone()).collect(),
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )
            .map_err(DataFusionError::from);
            if target.sender.send(cut).await.is_ok() {
                listening.push(target);
            }
        }
        targets = listening;
        if targets.is_empty() {
            return;
        }
    }
}

async fn send_error(targets: &[Target], e: DataFusionError) {
    let error = Arc::new(e);
    for t in targets {
        let _ = t.sender.send(Err(DataFusionError::Shared(error.clone()))).await;
    }
}

/// The tasks of a started shared scan; dropping it stops them.
pub struct RunningScan {
    tasks: Vec<JoinHandle<()>>,
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
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.provider.table_type()
    }

    /// Registers a subscriber. Filters are not taken (the default `supports_filters_pushdown`
    /// says so), so none arrive here; a limit ends the subscriber's stream early.
    async fn scan(
        &self,
        _state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&projection)?);
        let (sender, receiver) = mpsc::channel(CHANNEL_BATCHES);
        match self.subscribers.lock().as_mut() {
            Some(subscribers) => subscribers.push(Subscriber { projection, schema: schema.clone(), sender }),
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
        let batches = tokio_stream_of(receiver);
        let stream: futures::stream::BoxStream<'static, Result<RecordBatch>> = match self.limit {
            None => batches.boxed(),
            Some(limit) => batches
                .scan(limit, |left, item| {
                    let out = match item {
                        Ok(_) if *left == 0 => None,
                        Ok(batch) => {
                            let take = batch.num_rows().min(*left);
                            *left -= take;
                            Some(Ok(batch.slice(0, take)))
                        }
                        Err(e) => Some(Err(e)),
                    };
                    futures::future::ready(out)
                })
                .boxed(),
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream)))
    }
}

/// A receiver as a stream of its items, ending when every sender is gone.
fn tokio_stream_of(receiver: mpsc::Receiver<Result<RecordBatch>>) -> impl futures::Stream<Item = Result<RecordBatch>> + Send {
    futures::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|item| (item, r)) })
}
