//! Stage outputs whose text columns carry only their own strings.
//!
//! kql reads text as `Utf8View`: each value is a view into data buffers that many arrays
//! share. A sort's output batches are `take`n from the whole sorted input, so each batch of
//! 8,192 rows points into buffers that hold every string of the partition. Arrow's IPC writer,
//! which writes Ballista's shuffle files, writes every buffer a batch refers to in full: the
//! beaconing rule over 10 M rows wrote 31 GB of shuffle files from one sorted stage (15 GB per
//! partition for 191 MB of Parquet) before the disk was full. Ballista avoids view types for
//! this reason, but kql's tables declare them (`kql_engine::schema_merge`). So each stage's
//! output batches are compacted before they are written: a view column whose buffers hold
//! more than twice the bytes its own values need is copied into buffers of its own.
//!
//! The same node holds each task's output to the executor's budget (`--max-task-output`): a
//! stage writes all its rows before the next one reads them, so rows that multiply from stage
//! to stage (a chain of `lookup`s that each double them) would otherwise be written until the
//! executor's disk is full, long before Kusto's result limit could stop them at the end.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, GenericByteViewArray, RecordBatch};
use arrow::datatypes::{ByteViewType, DataType};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

/// Gives the stage plan's root (Ballista's shuffle writer) its inputs compacted, each task's
/// output held to `budget` bytes (of its rows' values, about what the IPC files take).
pub fn compact_stage_output(stage: Arc<dyn ExecutionPlan>, budget: Option<u64>) -> Result<Arc<dyn ExecutionPlan>> {
    let inputs: Vec<Arc<dyn ExecutionPlan>> = stage
        .children()
        .into_iter()
        .map(|input| Arc::new(CompactViewsExec { input: input.clone(), budget }) as Arc<dyn ExecutionPlan>)
        .collect();
    if inputs.is_empty() {
        return Ok(stage);
    }
    // The same rows, order and partitions go in: the writer's properties stand.
    stage.replace_children(inputs, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep))
}

/// Its input's batches, each view column compacted where it refers to much more than its
/// own values. Added on the executor after the stage is decoded, so never sent anywhere.
#[derive(Debug)]
struct CompactViewsExec {
    input: Arc<dyn ExecutionPlan>,
    budget: Option<u64>,
}

impl DisplayAs for CompactViewsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "CompactViewsExec")
    }
}

impl ExecutionPlan for CompactViewsExec {
    fn name(&self) -> &str {
        "CompactViewsExec"
    }
    /// It computes no expressions of its own.
    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    /// Rows, order and partitions are its input's.
    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(CompactViewsExec { input, budget: self.budget })),
            _ => Err(DataFusionError::Internal("CompactViewsExec takes one input".to_string())),
        }
    }
    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let schema = stream.schema();
        let mut written = Budget { budget: self.budget, used: 0 };
        let batches = stream.map(move |batch| batch.and_then(compact_batch).and_then(|b| written.take(b)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

/// What one task has output, against the executor's budget.
struct Budget {
    budget: Option<u64>,
    used: u64,
}

impl Budget {
    /// `batch`, or the error that stops the task once its output passes the budget.
    fn take(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        // The bytes of the rows themselves: a batch sliced out of a larger one (a sort's output)
        // shares its buffers, which `get_array_memory_size` would count whole for every slice.
        let bytes: usize =
            batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or_else(|_| c.get_array_memory_size())).sum();
        self.used += bytes as u64;
        match self.budget {
            Some(budget) if self.used > budget => Err(DataFusionError::Execution(format!(
                "a task of this query wrote more than {} MB for the next stage, over its executor's --max-task-output (a quarter of the free disk of its --work-dir unless set): on a cluster each stage writes all its rows before the next reads them, so rows that multiply from stage to stage (joins or lookups that each multiply them) are not stopped by the result limit",
                budget >> 20
            ))),
            _ => Ok(batch),
        }
    }
}

/// The batch with each oversized view column compacted (`compact_column`).
fn compact_batch(batch: RecordBatch) -> Result<RecordBatch> {
    if !batch.columns().iter().any(|c| matches!(c.data_type(), DataType::Utf8View | DataType::BinaryView)) {
        return Ok(batch);
    }
    let columns: Vec<ArrayRef> = batch.columns().iter().map(compact_column).collect();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// A view column whose data buffers hold more than twice what its values use, copied into
/// buffers of its own (`gc`); any other column as it is.
fn compact_column(column: &ArrayRef) -> ArrayRef {
    match column.data_type() {
        DataType::Utf8View => compact_views(column, column.as_string_view()),
        DataType::BinaryView => compact_views(column, column.as_binary_view()),
        _ => column.clone(),
    }
}

/// `views` (which is `column`) compacted when its buffers are oversized, else `column`.
fn compact_views<T: ByteViewType>(column: &ArrayRef, views: &GenericByteViewArray<T>) -> ArrayRef {
    let buffers: usize = views.data_buffers().iter().map(|b| b.len()).sum();
    if buffers > 2 * views.total_buffer_bytes_used().max(4096) { Arc::new(views.gc()) } else { column.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringViewArray;
    use arrow::datatypes::{Field, Schema};

    fn buffer_bytes(column: &ArrayRef) -> usize {
        column.as_string_view().data_buffers().iter().map(|b| b.len()).sum()
    }

    #[test]
    fn a_slice_of_a_large_view_column_keeps_only_its_own_strings() {
        let values: Vec<String> = (0..100_000).map(|i| format!("host-{i:08}-workstation.corp.example")).collect();
        let all: ArrayRef = Arc::new(StringViewArray::from_iter_values(values.iter()));
        let slice = all.slice(500, 10);
        assert!(buffer_bytes(&slice) > 3_000_000);
        let schema = Arc::new(Schema::new(vec![Field::new("Host", DataType::Utf8View, false)]));
        let batch = compact_batch(RecordBatch::try_new(schema, vec![slice.clone()]).expect("a batch")).expect("compacted");
        let compacted = batch.column(0);
        assert!(buffer_bytes(compacted) < 4096, "{}", buffer_bytes(compacted));
        assert_eq!(compacted.as_string_view().iter().collect::<Vec<_>>(), slice.as_string_view().iter().collect::<Vec<_>>());
    }

    #[test]
    fn a_task_past_its_budget_fails_naming_it() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(arrow::array::Int64Array::from(vec![1i64; 200_000]))]).expect("a batch");
        let mut budget = Budget { budget: Some(2 << 20), used: 0 };
        assert!(budget.take(batch.clone()).is_ok());
        let e = budget.take(batch).expect_err("past the budget").to_string();
        assert!(
            e.starts_with(
                "Execution error: a task of this query wrote more than 2 MB for the next stage, over its executor's --max-task-output"
            ),
            "{e}"
        );
        // Slices of one large batch count their own rows only, not the buffers they share.
        let mut budget = Budget { budget: Some(2 << 20), used: 0 };
        let big = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
            vec![Arc::new(arrow::array::Int64Array::from(vec![1i64; 1_000_000]))],
        )
        .expect("a batch");
        for start in (0..100_000).step_by(1_000) {
            assert!(budget.take(big.slice(start, 1_000)).is_ok(), "slice at {start}: {} bytes counted", budget.used);
        }
        assert_eq!(budget.used, 800_000);
        let mut unlimited = Budget { budget: None, used: u64::MAX / 2 };
        assert!(unlimited.take(RecordBatch::new_empty(Arc::new(Schema::empty()))).is_ok());
    }

    #[test]
    fn a_column_that_uses_its_buffers_is_left_alone() {
        let values: Vec<String> = (0..1_000).map(|i| format!("host-{i:08}-workstation.corp.example")).collect();
        let all: ArrayRef = Arc::new(StringViewArray::from_iter_values(values.iter()));
        assert!(Arc::ptr_eq(&compact_column(&all), &all));
    }
}
