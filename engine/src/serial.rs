//! `next`, `prev` and `row_number` over the serialized row order, as a plan node of our own.
//!
//! The input arrives as one partition in the order `sort`/`top` fixed (the node requires that
//! ordering, so DataFusion keeps or restores it). Each serial column is the argument shifted by
//! a number of rows across the whole row set, which is a copy, not a window computation: the
//! node evaluates the arguments, shifts them, and hands the input batches on with the new
//! columns. Filters are never pushed below it, since that would change which row is "next".

use std::cmp::Ordering;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, new_null_array};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Field, SchemaRef};
use async_trait::async_trait;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, Result, ScalarValue, exec_err, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, ExprSchemable, Extension, LogicalPlan, SortExpr, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, LexRequirement, OrderingRequirements, PhysicalExpr, create_physical_sort_exprs,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::TryStreamExt;

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
}

/// The physical node.
#[derive(Debug)]
pub struct SerialExec {
    input: Arc<dyn ExecutionPlan>,
    ordering: Option<LexOrdering>,
    columns: Vec<PhysicalSerial>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
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

    pub fn new(input: Arc<dyn ExecutionPlan>, ordering: Option<LexOrdering>, columns: Vec<PhysicalSerial>, schema: SchemaRef) -> Self {
        let mut eq = EquivalenceProperties::new(schema.clone());
        if let Some(o) = datafusion::physical_plan::ExecutionPlanProperties::output_ordering(&input) {
            eq.add_ordering(o.iter().cloned());
        }
        let properties = PlanProperties::new(eq, Partitioning::UnknownPartitioning(1), EmissionType::Final, Boundedness::Bounded);
        SerialExec { input, ordering, columns, schema, properties: Arc::new(properties) }
    }
}

impl DisplayAs for SerialExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SerialExec: columns={}", self.columns.len())
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
        vec![Distribution::SinglePartition]
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
        Ok(Arc::new(SerialExec::new(children.swap_remove(0), self.ordering.clone(), self.columns.clone(), self.schema.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return exec_err!("SerialExec has one partition, not {partition}");
        }
        let input = self.input.execute(0, context)?;
        let columns = self.columns.clone();
        let schema = self.schema.clone();
        let out_schema = schema.clone();
        let batches = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = input.try_collect().await?;
            let out = serial_columns(&batches, &columns, &schema)?;
            Ok::<_, datafusion::error::DataFusionError>(futures::stream::iter(out.into_iter().map(Ok)))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, batches)))
    }
}

/// Evaluates `expr` over every batch and joins the results into one array.
fn evaluate_all(expr: &Arc<dyn PhysicalExpr>, batches: &[RecordBatch], data_type: &DataType) -> Result<ArrayRef> {
    let parts = batches.iter().map(|b| expr.evaluate(b).and_then(|v| v.into_array(b.num_rows()))).collect::<Result<Vec<_>>>()?;
    // A string view slice keeps every data buffer of the array it was cut from, and `concat`
    // copies all of them for each part: over the slices of an earlier serial column (which
    // this operator cuts from one array) that is the whole column once per batch, and nested
    // `next(next(...))` multiplied it per level until an allocation of gigabytes failed
    // (found by the fuzzer). Compacted first, each part brings only its own strings.
    let parts: Vec<ArrayRef> = parts.into_iter().map(compact_views).collect();
    let refs: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
    Ok(if refs.is_empty() { new_null_array(data_type, 0) } else { concat(&refs)? })
}

/// A string or binary view array whose data buffers hold only its own values.
fn compact_views(array: ArrayRef) -> ArrayRef {
    use arrow::array::AsArray;
    match array.data_type() {
        DataType::Utf8View => Arc::new(array.as_string_view().gc()),
        DataType::BinaryView => Arc::new(array.as_binary_view().gc()),
        _ => array,
    }
}

/// Where a restart predicate is true, per row (all false without one).
fn restarts(restart: &Option<Arc<dyn PhysicalExpr>>, batches: &[RecordBatch], total: usize) -> Result<Vec<bool>> {
    use arrow::array::Array;
    let Some(r) = restart else { return Ok(vec![false; total]) };
    let a = evaluate_all(r, batches, &DataType::Boolean)?;
    let a = arrow::array::AsArray::as_boolean(&a);
    Ok((0..a.len()).map(|i| a.is_valid(i) && a.value(i)).collect())
}

/// Computes the serial columns over all rows and appends them to each batch.
fn serial_columns(batches: &[RecordBatch], columns: &[PhysicalSerial], schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    use arrow::array::Array;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut computed: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let field_type = schema.field(schema.fields().len() - columns.len() + i).data_type().clone();
        computed.push(match (&c.func, &c.arg) {
            (SerialFunc::RowNumber, _) => {
                let restart = restarts(&c.restart, batches, total)?;
                let mut n = 0i64;
                Arc::new(Int64Array::from_iter_values((0..total).map(|i| {
                    n = if restart[i] { 1 } else { n + 1 };
                    n
                })))
            }
            (SerialFunc::CumSum, Some(arg)) => {
                let restart = restarts(&c.restart, batches, total)?;
                let values = arrow::compute::cast(&evaluate_all(arg, batches, &field_type)?, &field_type)?;
                if field_type == DataType::Float64 {
                    let v = arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(&values);
                    let mut sum = 0.0;
                    Arc::new(arrow::array::Float64Array::from_iter_values((0..total).map(|i| {
                        let x = if v.is_valid(i) { v.value(i) } else { 0.0 };
                        sum = if restart[i] { x } else { sum + x };
                        sum
                    })))
                } else {
                    let v = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&values);
                    let mut sum = 0i64;
                    Arc::new(Int64Array::from_iter_values((0..total).map(|i| {
                        let x = if v.is_valid(i) { v.value(i) } else { 0 };
                        sum = if restart[i] { x } else { sum.wrapping_add(x) };
                        sum
                    })))
                }
            }
            (SerialFunc::Shift { offset, default }, Some(arg)) => {
                shift(&evaluate_all(arg, batches, &field_type)?, *offset, default, &field_type)?
            }
            (SerialFunc::Rank { dense }, Some(arg)) => {
                let restart = restarts(&c.restart, batches, total)?;
                let values = evaluate_all(arg, batches, &DataType::Null)?;
                let same = equal_to_previous(&values)?;
                let (mut rank, mut row) = (0i64, 0i64);
                Arc::new(Int64Array::from_iter_values((0..total).map(|i| {
                    let new_partition = i == 0 || restart[i];
                    row = if new_partition { 1 } else { row + 1 };
                    rank = match (new_partition, same[i], *dense) {
                        (true, _, _) => 1,
                        (false, true, _) => rank,
                        (false, false, true) => rank + 1,
                        (false, false, false) => row,
                    };
                    rank
                })))
            }
            (SerialFunc::WindowSession { max_from_first, max_gap }, Some(arg)) => {
                let restart = restarts(&c.restart, batches, total)?;
                let values = arrow::compute::cast(&evaluate_all(arg, batches, &field_type)?, &DataType::Int64)?;
                let v = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&values);
                let (mut start, mut previous): (Option<i64>, Option<i64>) = (None, None);
                let starts = Int64Array::from_iter((0..total).map(|i| {
                    let x = v.is_valid(i).then(|| v.value(i));
                    let new_session = match (x, start, previous) {
                        (Some(x), Some(s), Some(p)) => restart[i] || x - s > *max_from_first || x - p > *max_gap,
                        _ => true,
                    };
                    if new_session {
                        start = x;
                    }
                    previous = x;
                    start
                }));
                arrow::compute::cast(&(Arc::new(starts) as ArrayRef), &field_type)?
            }
            (SerialFunc::Shift { .. } | SerialFunc::CumSum | SerialFunc::WindowSession { .. }, None) => {
                return internal_err!("a serial column needs an argument");
            }
            (SerialFunc::Rank { .. }, None) => return internal_err!("a rank needs an argument"),
        });
    }
    let mut out = Vec::with_capacity(batches.len());
    let mut start = 0;
    for b in batches {
        let n = b.num_rows();
        let mut cols = b.columns().to_vec();
        cols.extend(computed.iter().map(|c| c.slice(start, n)));
        out.push(RecordBatch::try_new(schema.clone(), cols)?);
        start += n;
    }
    Ok(out)
}

/// Per row, whether its value equals the previous row's (nulls equal nulls).
fn equal_to_previous(values: &ArrayRef) -> Result<Vec<bool>> {
    let mut out = Vec::with_capacity(values.len());
    let mut previous: Option<ScalarValue> = None;
    for i in 0..values.len() {
        let v = ScalarValue::try_from_array(values, i)?;
        out.push(previous.as_ref() == Some(&v));
        previous = Some(v);
    }
    Ok(out)
}

/// `values` moved by `offset` rows (later rows for a positive offset), `default` filling in.
fn shift(values: &ArrayRef, offset: i64, default: &ScalarValue, data_type: &DataType) -> Result<ArrayRef> {
    let n = values.len();
    let k = (offset.unsigned_abs() as usize).min(n);
    let fill = if default.is_null() { new_null_array(data_type, k) } else { default.cast_to(data_type)?.to_array_of_size(k)? };
    Ok(if offset >= 0 {
        concat(&[values.slice(k, n - k).as_ref(), fill.as_ref()])?
    } else {
        concat(&[fill.as_ref(), values.slice(0, n - k).as_ref()])?
    })
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

/// The query planner with KQL's own plan nodes (`Serialize`, `FirstRowPerKey`).
#[derive(Debug, Default)]
pub struct KqlQueryPlanner;

#[async_trait]
impl datafusion::execution::context::QueryPlanner for KqlQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner =
            DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(SerialPlanner), Arc::new(crate::first_row::FirstRowPlanner)]);
        planner.create_physical_plan(logical_plan, session_state).await
    }
}
