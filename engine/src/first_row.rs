//! `join kind=innerunique`'s left side, one row per join key, as a plan node of our own.
//!
//! Kusto's default join keeps one (arbitrary) left row per key value before it joins. Planned
//! as DataFusion's DISTINCT ON (an aggregate by the keys with a `first_value` per column), that
//! cost one accumulator per column and row, and an aggregate as wide as the input: every
//! optimizer pass and every physical rule walked all of those expressions, and in a chain of
//! joins (each input wider than the last) planning grew with the cube of its length (200
//! joins: 8 s). This node has only the keys as expressions and passes whole rows on: per
//! partition it remembers each key it has seen (in Arrow's row format, so nulls are keys like
//! any other value, as Kusto's join matches them) and keeps a row only for a key it has not.
//! Its input is hash-partitioned by the keys, so a key lives in one partition and is kept once.
//! The set of seen keys is charged to the memory pool: past the limit the query fails with
//! DataFusion's "resources exhausted" error rather than growing without bound.

use std::collections::HashSet as StdHashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::row::{RowConverter, SortField};
use async_trait::async_trait;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchemaRef, HashSet, Result, internal_err};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::filter_pushdown::{ChildFilterDescription, FilterDescription, FilterPushdownPhase};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties, PlanProperties};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

/// The logical node: the input's rows, at most one per value of `keys`; the input's schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd)]
pub struct FirstRowNode {
    pub input: LogicalPlan,
    /// Columns of the input.
    pub keys: Vec<Expr>,
}

/// The keys alone: a derived hash would walk the whole input plan each time the optimizer
/// hashes the node, which in a chain of joins is the square of the chain. Equal nodes have
/// equal keys, so the hash stays consistent with `Eq`.
impl Hash for FirstRowNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.keys.hash(state);
    }
}

impl FirstRowNode {
    pub fn new(input: LogicalPlan, keys: Vec<Expr>) -> Self {
        FirstRowNode { input, keys }
    }

    pub fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension { node: Arc::new(self) })
    }

    /// The names of the key columns.
    fn key_names(&self) -> StdHashSet<String> {
        self.keys.iter().flat_map(|k| k.column_refs()).map(|c| c.name.clone()).collect()
    }
}

impl UserDefinedLogicalNodeCore for FirstRowNode {
    fn name(&self) -> &str {
        "FirstRowPerKey"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        self.keys.clone()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "FirstRowPerKey: keys=[")?;
        for (i, k) in self.keys.iter().enumerate() {
            write!(f, "{}{k}", if i > 0 { ", " } else { "" })?;
        }
        write!(f, "]")
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        let Some(input) = inputs.pop() else { return internal_err!("FirstRowPerKey takes one input") };
        Ok(FirstRowNode { input, keys: exprs })
    }

    /// A filter on a key column keeps or drops every row of a key alike, so it may go below;
    /// one on another column would change which row of a key is first.
    fn prevent_predicate_push_down_columns(&self) -> StdHashSet<String> {
        let keys = self.key_names();
        self.input.schema().fields().iter().map(|f| f.name().clone()).filter(|n| !keys.contains(n)).collect()
    }

    /// The output columns the parent needs, and the keys: unused columns are not read at all.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let schema = self.input.schema();
        let mut needed = output_columns.to_vec();
        for column in self.keys.iter().flat_map(|k| k.column_refs()) {
            needed.push(schema.index_of_column(column).ok()?);
        }
        needed.sort_unstable();
        needed.dedup();
        Some(vec![needed])
    }

    /// A limit below would cut rows before their keys are known.
    fn supports_limit_pushdown(&self) -> bool {
        false
    }
}

/// The physical node.
#[derive(Debug)]
pub struct FirstRowExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    properties: Arc<PlanProperties>,
}

impl FirstRowExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, keys: Vec<Arc<dyn PhysicalExpr>>) -> Self {
        // Rows are dropped, never moved: the input's orderings, equivalences and partitioning hold.
        let properties = PlanProperties::new(
            input.equivalence_properties().clone(),
            input.output_partitioning().clone(),
            EmissionType::Incremental,
            input.boundedness(),
        );
        FirstRowExec { input, keys, properties: Arc::new(properties) }
    }

    /// The key expressions, for a plan codec (`codec.rs`).
    pub fn keys(&self) -> &[Arc<dyn PhysicalExpr>] {
        &self.keys
    }
}

impl DisplayAs for FirstRowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "FirstRowPerKeyExec: keys=[")?;
        for (i, k) in self.keys.iter().enumerate() {
            write!(f, "{}{k}", if i > 0 { ", " } else { "" })?;
        }
        write!(f, "]")
    }
}

impl ExecutionPlan for FirstRowExec {
    fn name(&self) -> &str {
        "FirstRowPerKeyExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// Every row of a key in one partition, so that the key is kept once in all.
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::KeyPartitioned(self.keys.clone())]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        datafusion::physical_plan::apply_expression_roots(self.keys.iter(), f)
    }

    /// Filters on key columns alone go below (a join's dynamic filter on the key among them):
    /// they keep or drop every row of a key alike. Others stay above.
    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        let keys = self.keys.iter().filter_map(|k| k.downcast_ref::<Column>()).map(Column::index).collect();
        let child = ChildFilterDescription::from_child_with_allowed_indices(&parent_filters, keys, &self.input)?;
        Ok(FilterDescription::new().with_child(child))
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("FirstRowPerKeyExec takes one input");
        }
        Ok(Arc::new(FirstRowExec::new(children.swap_remove(0), self.keys.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context.clone())?;
        let schema = self.input.schema();
        let fields = self.keys.iter().map(|k| Ok(SortField::new(k.data_type(&schema)?))).collect::<Result<Vec<_>>>()?;
        let reservation = MemoryConsumer::new(format!("FirstRowPerKeyExec[{partition}]")).register(context.memory_pool());
        let mut seen = SeenKeys { keys: self.keys.clone(), rows: RowConverter::new(fields)?, set: HashSet::default(), reservation };
        let batches = input.map(move |batch| seen.first_rows(batch?));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

/// The keys one partition has seen, in Arrow's row format.
struct SeenKeys {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    rows: RowConverter,
    set: HashSet<Box<[u8]>>,
    reservation: MemoryReservation,
}

/// What one remembered key costs besides its bytes: the box's pointer and length, and the
/// hash table's slot and control byte.
const PER_KEY_OVERHEAD: usize = 2 * size_of::<usize>() + 1;

impl SeenKeys {
    /// The rows of `batch` whose key was not seen before (in this batch or an earlier one).
    fn first_rows(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let keys: Vec<ArrayRef> = self.keys.iter().map(|k| k.evaluate(&batch)?.into_array(batch.num_rows())).collect::<Result<_>>()?;
        let rows = self.rows.convert_columns(&keys)?;
        let mut added = 0usize;
        let keep: BooleanArray = rows
            .iter()
            .map(|row| {
                // One hash per row; a key is copied only the first time it is seen.
                let (bytes, before) = (row.as_ref(), self.set.len());
                self.set.get_or_insert_with(bytes, |b: &[u8]| Box::from(b));
                let new = self.set.len() > before;
                if new {
                    added += bytes.len() + PER_KEY_OVERHEAD;
                }
                Some(new)
            })
            .collect();
        self.reservation.try_grow(added)?;
        Ok(filter_record_batch(&batch, &keep)?)
    }
}

/// Turns `FirstRowPerKey` nodes into `FirstRowExec`.
#[derive(Debug, Default)]
pub struct FirstRowPlanner;

#[async_trait]
impl ExtensionPlanner for FirstRowPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn datafusion::catalog::Session,
        planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(first) = node.as_any().downcast_ref::<FirstRowNode>() else { return Ok(None) };
        let (Some(logical), Some(physical)) = (logical_inputs.first(), physical_inputs.first()) else {
            return internal_err!("FirstRowPerKey takes one input");
        };
        let keys = first
            .keys
            .iter()
            .map(|k| planner.create_physical_expr(k, logical.schema(), session, planning_ctx))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Arc::new(FirstRowExec::new(physical.clone(), keys))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};
    use datafusion::physical_expr::expressions::col;

    fn batch(keys: Vec<Option<&str>>, values: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(keys)), Arc::new(Int64Array::from(values))]).unwrap()
    }

    fn seen(pool: Arc<dyn MemoryPool>) -> SeenKeys {
        let b = batch(vec![], vec![]);
        SeenKeys {
            keys: vec![col("k", &b.schema()).unwrap()],
            rows: RowConverter::new(vec![SortField::new(DataType::Utf8)]).unwrap(),
            set: HashSet::default(),
            reservation: MemoryConsumer::new("test").register(&pool),
        }
    }

    fn values(b: &RecordBatch) -> Vec<i64> {
        b.column(1).as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn keeps_the_first_row_of_each_key_across_batches_with_null_as_a_key() {
        let mut s = seen(Arc::new(GreedyMemoryPool::new(1 << 20)));
        let first = s.first_rows(batch(vec![Some("a"), Some("b"), Some("a"), None, None], vec![1, 2, 3, 4, 5])).unwrap();
        assert_eq!(values(&first), vec![1, 2, 4]);
        let second = s.first_rows(batch(vec![Some("b"), Some("c"), None], vec![6, 7, 8])).unwrap();
        assert_eq!(values(&second), vec![7]);
    }

    #[test]
    fn the_seen_keys_count_against_the_memory_limit() {
        let mut s = seen(Arc::new(GreedyMemoryPool::new(100)));
        let many: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
        let err = s.first_rows(batch(many.iter().map(|k| Some(k.as_str())).collect(), (0..100).collect())).unwrap_err();
        assert!(err.to_string().contains("Resources exhausted"), "{err}");
    }
}
