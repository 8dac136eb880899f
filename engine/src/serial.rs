//! `next`, `prev` and `row_number` over the serialized row order, as a plan node of our own.
//!
//! The input arrives as one partition in the order `sort`/`top` fixed (the node requires that
//! ordering, so DataFusion keeps or restores it), or, where `serial_partitioning.rs` shows that
//! nothing after it can tell, as partitions hashed on the first sort key, each in that order.
//! Each serial column is the argument shifted by a number of rows across the whole row set (or
//! partition), or a running value (row number, sum, rank, session), which is a copy or a scan,
//! not a window computation: the node evaluates the arguments batch by batch and hands the input
//! batches on with the new columns as soon as the rows they depend on have arrived (`state.rs`).
//! Filters are never pushed below it, since that would change which row is "next".

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, SchemaRef};
use async_trait::async_trait;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, Result, ScalarValue, exec_err, internal_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, ExprSchemable, Extension, LogicalPlan, SortExpr, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, LexRequirement, OrderingRequirements, PhysicalExpr, create_physical_sort_exprs,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet, RecordOutput};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

mod state;
use state::SerialState;

/// What a serial column computes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub enum SerialFunc {
    /// The argument `offset` rows later (`next`) or earlier (`prev`, a negative offset); `default`
    /// where there is no such row.
    Shift { offset: i64, default: ScalarValue },
    /// 1, 2, 3, ... in row order, back to 1 where `restart` is true.
    RowNumber,
    /// The running sum of the argument, starting over where `restart` is true.
    CumSum,
    /// The rank of the argument's value in row order: `dense` counts distinct values
    /// (`row_rank_dense`), otherwise the row number of the first equal value (`row_rank_min`).
    Rank { dense: bool },
    /// The start of the argument's session (`row_window_session`): a new one where `restart`
    /// is true, or the value is more than `max_from_first` past the session's start or
    /// `max_gap` past the previous row's.
    WindowSession { max_from_first: i64, max_gap: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialColumn {
    pub name: String,
    pub func: SerialFunc,
    /// The shifted or summed expression (none for `row_number`).
    pub arg: Option<Expr>,
    /// A bool expression: where true, `row_number`/`row_cumsum` start over.
    pub restart: Option<Expr>,
}

/// The logical node: the input's columns, then one column per serial function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialNode {
    pub input: LogicalPlan,
    pub order: Vec<SortExpr>,
    pub columns: Vec<SerialColumn>,
    schema: DFSchemaRef,
}

impl PartialOrd for SerialNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.input.partial_cmp(&other.input) {
            Some(Ordering::Equal) => self.columns.len().partial_cmp(&other.columns.len()),
            other => other,
        }
    }
}

impl SerialNode {
    pub fn try_new(input: LogicalPlan, order: Vec<SortExpr>, columns: Vec<SerialColumn>) -> Result<Self> {
        let input_schema = input.schema().clone();
        let mut fields: Vec<(Option<datafusion::common::TableReference>, Arc<Field>)> =
            input_schema.iter().map(|(q, f)| (q.cloned(), f.clone())).collect();
        for c in &columns {
            let field = match (&c.func, &c.arg) {
                (SerialFunc::RowNumber, _) => Field::new(&c.name, DataType::Int64, false),
                (SerialFunc::Rank { .. }, _) => Field::new(&c.name, DataType::Int64, false),
                (SerialFunc::CumSum, Some(arg)) => {
                    let (_, f) = arg.to_field(input_schema.as_ref())?;
                    let t = if f.data_type().is_floating() { DataType::Float64 } else { DataType::Int64 };
                    Field::new(&c.name, t, true)
                }
                (SerialFunc::Shift { .. } | SerialFunc::WindowSession { .. }, Some(arg)) => {
                    let (_, f) = arg.to_field(input_schema.as_ref())?;
                    Field::new(&c.name, f.data_type().clone(), true).with_metadata(f.metadata().clone())
                }
                (SerialFunc::Shift { .. } | SerialFunc::CumSum | SerialFunc::WindowSession { .. }, None) => {
                    return internal_err!("a serial column needs an argument");
                }
            };
            fields.push((None, Arc::new(field)));
        }
        let schema = Arc::new(DFSchema::new_with_metadata(fields, input_schema.metadata().clone())?);
        Ok(SerialNode { input, order, columns, schema })
    }

    pub fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension { node: Arc::new(self) })
    }
}

impl UserDefinedLogicalNodeCore for SerialNode {
    fn name(&self) -> &str {
        "Serialize"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    /// Each column's argument and restart, then the ordering's expressions.
    fn expressions(&self) -> Vec<Expr> {
        self.columns
            .iter()
            .flat_map(|c| c.arg.iter().chain(c.restart.iter()).cloned())
            .chain(self.order.iter().map(|s| s.expr.clone()))
            .collect()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Serialize: order=[")?;
        for (i, s) in self.order.iter().enumerate() {
            write!(f, "{}{s}", if i > 0 { ", " } else { "" })?;
        }
        write!(f, "], columns=[")?;
        for (i, c) in self.columns.iter().enumerate() {
            write!(f, "{}{} = {:?}", if i > 0 { ", " } else { "" }, c.name, c.func)?;
        }
        write!(f, "]")
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        let mut exprs = exprs.into_iter();
        let columns = self
            .columns
            .iter()
            .map(|c| {
                let arg = c.arg.as_ref().and_then(|_| exprs.next());
                let restart = c.restart.as_ref().and_then(|_| exprs.next());
                SerialColumn { arg, restart, ..c.clone() }
            })
            .collect();
        let order = self.order.iter().map(|s| SortExpr { expr: exprs.next().unwrap_or_else(|| s.expr.clone()), ..s.clone() }).collect();
        let Some(input) = inputs.pop() else { return internal_err!("Serialize takes one input") };
        SerialNode::try_new(input, order, columns)
    }

    fn supports_limit_pushdown(&self) -> bool {
        false
    }

    /// The input columns a parent asks for; DataFusion adds those the serial columns and the
    /// ordering read. So a column that nothing after `serialize` reads is not carried through
    /// the sort before it (the beaconing rule's `SrcPortNumber`). Row order does not depend on it.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let inputs = self.input.schema().fields().len();
        Some(vec![output_columns.iter().copied().filter(|&i| i < inputs).collect()])
    }
}

/// The physical node.
#[derive(Debug)]
pub struct SerialExec {
    input: Arc<dyn ExecutionPlan>,
    ordering: Option<LexOrdering>,
    columns: Vec<PhysicalSerial>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    /// Rows out and compute time, for `--explain analyze`.
    metrics: ExecutionPlanMetricsSet,
    /// Set when the node runs once per partition of its input, hashed on this column (the first
    /// key of `ordering`), rather than over one stream: only where what reads the node cannot
    /// tell the difference (`serial_partitioning.rs`).
    partition_key: Option<Arc<dyn PhysicalExpr>>,
}

/// A serial column with its expressions planned.
#[derive(Debug, Clone)]
pub struct PhysicalSerial {
    pub func: SerialFunc,
    pub arg: Option<Arc<dyn PhysicalExpr>>,
    pub restart: Option<Arc<dyn PhysicalExpr>>,
}

impl SerialExec {
    /// The node's parts, for a plan codec (`codec.rs`).
    pub fn parts(&self) -> (&Arc<dyn ExecutionPlan>, Option<&LexOrdering>, &[PhysicalSerial], &SchemaRef) {
        (&self.input, self.ordering.as_ref(), &self.columns, &self.schema)
    }

    /// The column the node's partitions are hashed on, when it runs once per partition.
    pub fn partition_key(&self) -> Option<&Arc<dyn PhysicalExpr>> {
        self.partition_key.as_ref()
    }

    pub fn new(input: Arc<dyn ExecutionPlan>, ordering: Option<LexOrdering>, columns: Vec<PhysicalSerial>, schema: SchemaRef) -> Self {
        Self::build(input, ordering, columns, schema, None)
    }

    /// The node run once per partition of `input`, which must be hashed on `key` and sorted
    /// within each partition: each partition's rows are a row set of their own, so `next` and
    /// `prev` give the default at each partition's ends. Only `serial_partitioning.rs` decides
    /// when a plan may use it.
    pub fn partitioned(
        input: Arc<dyn ExecutionPlan>,
        ordering: LexOrdering,
        columns: Vec<PhysicalSerial>,
        schema: SchemaRef,
        key: Arc<dyn PhysicalExpr>,
    ) -> Self {
        Self::build(input, Some(ordering), columns, schema, Some(key))
    }

    fn build(
        input: Arc<dyn ExecutionPlan>,
        ordering: Option<LexOrdering>,
        columns: Vec<PhysicalSerial>,
        schema: SchemaRef,
        partition_key: Option<Arc<dyn PhysicalExpr>>,
    ) -> Self {
        let mut eq = EquivalenceProperties::new(schema.clone());
        if let Some(o) = datafusion::physical_plan::ExecutionPlanProperties::output_ordering(&input) {
            eq.add_ordering(o.iter().cloned());
        }
        // The key is one of the input's columns, which keep their places in the output.
        let partitioning = match &partition_key {
            Some(key) => {
                let count = datafusion::physical_plan::ExecutionPlanProperties::output_partitioning(&input).partition_count();
                Partitioning::Hash(vec![key.clone()], count)
            }
            None => Partitioning::UnknownPartitioning(1),
        };
        // Incremental, as it is: DataFusion then keeps the sort order through the repartitions
        // above and aggregates by it (`PartiallySorted`), emitting groups as the order passes
        // them. That costs CPU (the beaconing rule at 10 M rows: 2.8 s against 2.5 s when
        // declared Final) but holds little: at 100 M rows under a 2 GB limit, 26 s and 0.6 GB
        // peak against 42 s and 1.6 GB with spilling hash aggregations.
        let properties = PlanProperties::new(eq, partitioning, EmissionType::Incremental, Boundedness::Bounded);
        SerialExec {
            input,
            ordering,
            columns,
            schema,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
            partition_key,
        }
    }
}

impl DisplayAs for SerialExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SerialExec: columns={}", self.columns.len())?;
        if let Some(key) = &self.partition_key {
            write!(f, ", per partition of {key}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for SerialExec {
    fn name(&self) -> &str {
        "SerialExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        match &self.partition_key {
            Some(key) => vec![Distribution::KeyPartitioned(vec![key.clone()])],
            None => vec![Distribution::SinglePartition],
        }
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        vec![self.ordering.clone().map(|o| OrderingRequirements::new(LexRequirement::from(o)))]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn apply_expressions(&self, f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        for c in &self.columns {
            for e in c.arg.iter().chain(c.restart.iter()) {
                if f(e)? == TreeNodeRecursion::Stop {
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("SerialExec takes one input");
        }
        Ok(Arc::new(SerialExec::build(
            children.swap_remove(0),
            self.ordering.clone(),
            self.columns.clone(),
            self.schema.clone(),
            self.partition_key.clone(),
        )))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let partitions = self.properties.partitioning.partition_count();
        if partition >= partitions {
            return exec_err!("SerialExec has {partitions} partition(s), not {}", partition + 1);
        }
        let input = self.input.execute(partition, context.clone())?;
        let reservation = MemoryConsumer::new("SerialExec").register(context.memory_pool());
        let state = SerialState::new(self.columns.clone(), self.schema.clone())?;
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let running = Running { input, state, reservation, metrics, ready: VecDeque::new(), ended: false };
        let out_schema = self.schema.clone();
        let batches = futures::stream::try_unfold(running, |mut r| async move {
            loop {
                if let Some(batch) = r.ready.pop_front() {
                    let batch = batch.record_output(&r.metrics);
                    return Ok(Some((batch, r)));
                }
                if r.ended {
                    return Ok(None);
                }
                let input = r.input.next().await;
                let timer = r.metrics.elapsed_compute().timer();
                match input {
                    Some(batch) => r.ready.extend(r.state.push(batch?)?),
                    None => {
                        r.ready.extend(r.state.finish()?);
                        r.ended = true;
                    }
                }
                timer.done();
                // What waits for the rows after it is held outside any other operator: the
                // pool must know, or a long `next` offset grows past the memory limit unseen.
                r.reservation.try_resize(r.state.held_bytes())?;
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, batches)))
    }
}

/// A running `SerialExec`: its input, the serial state, and the batches ready to go out.
struct Running {
    input: SendableRecordBatchStream,
    state: SerialState,
    reservation: MemoryReservation,
    metrics: BaselineMetrics,
    ready: VecDeque<RecordBatch>,
    ended: bool,
}

/// Turns `Serialize` nodes into `SerialExec`.
#[derive(Debug, Default)]
pub struct SerialPlanner;

#[async_trait]
impl ExtensionPlanner for SerialPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn datafusion::catalog::Session,
        planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(serial) = node.as_any().downcast_ref::<SerialNode>() else { return Ok(None) };
        let (Some(logical), Some(physical)) = (logical_inputs.first(), physical_inputs.first()) else {
            return internal_err!("Serialize takes one input");
        };
        let input_schema = logical.schema();
        let columns = serial
            .columns
            .iter()
            .map(|c| {
                let plan =
                    |e: &Option<Expr>| e.as_ref().map(|a| planner.create_physical_expr(a, input_schema, session, planning_ctx)).transpose();
                Ok(PhysicalSerial { func: c.func.clone(), arg: plan(&c.arg)?, restart: plan(&c.restart)? })
            })
            .collect::<Result<Vec<_>>>()?;
        let ordering = if serial.order.is_empty() {
            None
        } else {
            let sort = create_physical_sort_exprs(&serial.order, input_schema, session.execution_props(), planning_ctx)?;
            LexOrdering::new(sort)
        };
        let schema: SchemaRef = Arc::new(serial.schema.as_arrow().clone());
        Ok(Some(Arc::new(SerialExec::new(physical.clone(), ordering, columns, schema))))
    }
}

/// The query planner with KQL's own plan nodes (`Serialize`, `FirstRowPerKey`, `StringsAsRead`).
#[derive(Debug, Default)]
pub struct KqlQueryPlanner;

#[async_trait]
impl datafusion::execution::context::QueryPlanner for KqlQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner = DefaultPhysicalPlanner::with_extension_planners(vec![
            Arc::new(SerialPlanner),
            Arc::new(crate::first_row::FirstRowPlanner),
            Arc::new(crate::strings_as_read::StringsAsReadPlanner),
        ]);
        planner.create_physical_plan(logical_plan, session_state).await
    }
}
