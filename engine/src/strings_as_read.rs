//! A table's nullable string columns as Kusto reads them, as a plan node of our own: a string
//! is never null in Kusto (null-values.md), so a null from a file is `""`. Without it a
//! `summarize`, `distinct` or `join` by such a column kept the null and empty keys apart (two
//! groups that print alike), and a sort ordered them apart.
//!
//! A projection of `coalesce(c, "")` per column said the same, but a table is read whole until
//! DataFusion prunes its unused columns, and a hunt's result is often every column: each
//! optimizer rule and each physical rule then walked a projection as wide as the table: the
//! corpus queries that plan in full, most of them Sigma rules over Defender's 67 columns, took
//! 2.9 ms median over a nullable copy of that table, 1.0 ms over the not-null file (1.55 ms
//! through this node).
//! This node has no expressions: its schema is its input's with those columns never null,
//! and its physical form makes each null such a column holds the empty string (sharing the
//! strings, `functions/coalesce.rs`).
//!
//! A filter on such a column must not reach the file as written (`s == ""` would drop the null
//! rows), so DataFusion keeps it above the node; `string_filters.rs` moves it below with each
//! such column read as `coalesce(c, "")`, and compares the column itself where that keeps the
//! answer, so that Parquet's statistics still prune.

use std::collections::HashSet as StdHashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DFSchemaRef, Result, Statistics, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_plan::filter_pushdown::{ChildFilterDescription, FilterDescription, FilterPushdownPhase};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

/// Whether Kusto reads a column of this field as a string that may be null in the file.
pub fn is_nullable_text(field: &Field) -> bool {
    matches!(field.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
        && field.is_nullable()
        && !crate::types::is_dynamic_field(field)
}

/// The logical node: its input's rows, with the input's nullable string columns never null.
#[derive(Debug, Clone)]
pub struct StringsAsReadNode {
    pub input: LogicalPlan,
    schema: DFSchemaRef,
}

impl StringsAsReadNode {
    pub fn try_new(input: LogicalPlan) -> Result<Self> {
        let from = input.schema();
        let fields = from
            .iter()
            .map(|(q, f)| (q.cloned(), if is_nullable_text(f) { Arc::new(f.as_ref().clone().with_nullable(false)) } else { f.clone() }))
            .collect();
        let schema = DFSchema::new_with_metadata(fields, from.metadata().clone())?
            .with_functional_dependencies(from.functional_dependencies().clone())?;
        Ok(StringsAsReadNode { input, schema: Arc::new(schema) })
    }

    pub fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension { node: Arc::new(self) })
    }

    /// `plan` read through the node, when it has a column the node changes.
    pub fn over(plan: LogicalPlan) -> Result<LogicalPlan> {
        if plan.schema().fields().iter().any(|f| is_nullable_text(f)) {
            Ok(StringsAsReadNode::try_new(plan)?.into_plan())
        } else {
            Ok(plan)
        }
    }

    /// The names of the columns the node changes.
    pub fn changed_columns(&self) -> StdHashSet<String> {
        self.input.schema().fields().iter().filter(|f| is_nullable_text(f)).map(|f| f.name().clone()).collect()
    }
}

/// The schema follows from the input, so the input alone says what the node is.
impl PartialEq for StringsAsReadNode {
    fn eq(&self, other: &Self) -> bool {
        self.input == other.input
    }
}

impl Eq for StringsAsReadNode {}

impl PartialOrd for StringsAsReadNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.input.partial_cmp(&other.input)
    }
}

impl Hash for StringsAsReadNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
    }
}

impl UserDefinedLogicalNodeCore for StringsAsReadNode {
    fn name(&self) -> &str {
        "StringsAsRead"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let changed: Vec<&str> = self.input.schema().fields().iter().filter(|f| is_nullable_text(f)).map(|f| f.name().as_str()).collect();
        write!(f, "StringsAsRead: null as \"\" in [{}]", changed.join(", "))
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        let Some(input) = inputs.pop() else { return internal_err!("StringsAsRead takes one input") };
        StringsAsReadNode::try_new(input)
    }

    /// A filter on a column the node changes would read the file's nulls: it stays above, for
    /// `string_filters.rs` to move below as it reads. Filters on other columns go below as
    /// they are.
    fn prevent_predicate_push_down_columns(&self) -> StdHashSet<String> {
        self.changed_columns()
    }

    /// Column `i` of the output is column `i` of the input: unused columns are not read.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![output_columns.to_vec()])
    }

    /// Row for row: a limit may go below.
    fn supports_limit_pushdown(&self) -> bool {
        true
    }
}

/// The physical node.
#[derive(Debug)]
pub struct StringsAsReadExec {
    input: Arc<dyn ExecutionPlan>,
    /// The input's columns that it changes.
    columns: Vec<usize>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl StringsAsReadExec {
    pub fn try_new(input: Arc<dyn ExecutionPlan>) -> Result<Self> {
        let from = input.schema();
        let columns: Vec<usize> = from.fields().iter().enumerate().filter(|(_, f)| is_nullable_text(f)).map(|(i, _)| i).collect();
        let fields: Vec<Arc<Field>> = from
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| if columns.contains(&i) { Arc::new(f.as_ref().clone().with_nullable(false)) } else { f.clone() })
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, from.metadata().clone()));
        // Rows neither move nor change partition. An order on a changed column may not hold
        // (nulls sorted last, then read as the smallest string), so it is dropped.
        let touches_changed = input
            .output_ordering()
            .is_some_and(|o| o.iter().any(|s| s.expr.downcast_ref::<Column>().is_none_or(|c| columns.contains(&c.index()))));
        let equivalences = if touches_changed {
            EquivalenceProperties::new(schema.clone())
        } else {
            input.equivalence_properties().clone().with_new_schema(schema.clone())?
        };
        let properties =
            PlanProperties::new(equivalences, input.output_partitioning().clone(), input.pipeline_behavior(), input.boundedness());
        Ok(StringsAsReadExec { input, columns, schema, properties: Arc::new(properties) })
    }
}

impl DisplayAs for StringsAsReadExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.columns.iter().map(|&i| self.schema.field(i).name().as_str()).collect();
        write!(f, "StringsAsReadExec: null as \"\" in [{}]", names.join(", "))
    }
}

impl ExecutionPlan for StringsAsReadExec {
    fn name(&self) -> &str {
        "StringsAsReadExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// Its own orderings say which of the input's hold. Saying it keeps the input's order would
    /// also let DataFusion push a sort below it, onto the file's nulls, where a null and an
    /// empty string sort apart (`sort by k, t` would order `t` within each of them).
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    /// Row for row: a limit may go below, to the scan.
    fn supports_limit_pushdown(&self) -> bool {
        true
    }

    /// Filters go below with each changed column `c` read as `coalesce(c, "")`, so that they
    /// keep the rows they keep here (a join's dynamic filter on a string key among them: a
    /// null key below is the empty key here).
    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        let config = Arc::new(config.clone());
        let input_schema = self.input.schema();
        let read = parent_filters
            .into_iter()
            .map(|filter| {
                filter
                    .transform_up(|e| {
                        let Some(column) = e.downcast_ref::<Column>().filter(|c| self.columns.contains(&c.index())) else {
                            return Ok(Transformed::no(e));
                        };
                        let empty = crate::functions::coalesce::empty_text(input_schema.field(column.index()).data_type());
                        let args: Vec<Arc<dyn PhysicalExpr>> = vec![e.clone(), Arc::new(Literal::new(empty))];
                        let udf = crate::functions::coalesce::coalesce_udf().clone();
                        Ok(Transformed::yes(
                            Arc::new(ScalarFunctionExpr::try_new(udf, args, &input_schema, config.clone())?) as Arc<dyn PhysicalExpr>
                        ))
                    })
                    .map(|t| t.data)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FilterDescription::new().with_child(ChildFilterDescription::from_child(&read, &self.input)?))
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    /// The input's, with no nulls in the changed columns (a join picks its sides by them).
    fn statistics_from_inputs(&self, input_stats: &[Arc<Statistics>], _args: &StatisticsArgs) -> Result<Arc<Statistics>> {
        let Some(input) = input_stats.first() else { return Ok(Arc::new(Statistics::new_unknown(&self.schema))) };
        let mut statistics = input.as_ref().clone();
        for &i in &self.columns {
            if let Some(column) = statistics.column_statistics.get_mut(i) {
                column.null_count = Precision::Exact(0);
            }
        }
        Ok(Arc::new(statistics))
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("StringsAsReadExec takes one input");
        }
        Ok(Arc::new(StringsAsReadExec::try_new(children.swap_remove(0))?))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let (schema, columns) = (self.schema.clone(), self.columns.clone());
        let out = schema.clone();
        let batches = input.map(move |batch| {
            let batch = batch?;
            let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
            for &i in &columns {
                if let Some(array) = arrays.get_mut(i)
                    && array.null_count() > 0
                {
                    *array = crate::functions::coalesce::nulls_as_empty_text(array)?;
                }
            }
            // The row count said outright: a batch of no columns (`T | count`) has rows too.
            let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            Ok(RecordBatch::try_new_with_options(out.clone(), arrays, &options)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

/// Turns `StringsAsRead` nodes into `StringsAsReadExec`.
#[derive(Debug, Default)]
pub struct StringsAsReadPlanner;

#[async_trait]
impl ExtensionPlanner for StringsAsReadPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn datafusion::catalog::Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if node.as_any().downcast_ref::<StringsAsReadNode>().is_none() {
            return Ok(None);
        }
        let Some(physical) = physical_inputs.first() else { return internal_err!("StringsAsRead takes one input") };
        Ok(Some(Arc::new(StringsAsReadExec::try_new(physical.clone())?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array, StringViewArray};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::prelude::SessionContext;

    async fn through_node(batch: RecordBatch) -> (SchemaRef, Vec<RecordBatch>) {
        let scan = MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], batch.schema(), None).expect("a scan");
        let node = Arc::new(StringsAsReadExec::try_new(scan).expect("the node"));
        let out = datafusion::physical_plan::collect(node.clone(), SessionContext::new().task_ctx()).await.expect("rows");
        (node.schema(), out)
    }

    #[tokio::test]
    async fn nulls_of_string_columns_read_as_empty_and_the_rest_as_they_are() {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8View, true), Field::new("n", DataType::Int64, true)]));
        let s: ArrayRef = Arc::new(StringViewArray::from(vec![Some("a"), None, Some("")]));
        let n: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
        let (schema, out) = through_node(RecordBatch::try_new(schema, vec![s, n]).expect("a batch")).await;
        assert!(!schema.field(0).is_nullable() && schema.field(1).is_nullable());
        let texts: Vec<Option<&str>> = out[0].column(0).as_string_view().iter().collect();
        assert_eq!(texts, [Some("a"), Some(""), Some("")]);
        assert_eq!(out[0].column(1).null_count(), 1);
    }

    #[tokio::test]
    async fn a_batch_of_no_columns_keeps_its_rows() {
        let batch =
            RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &RecordBatchOptions::new().with_row_count(Some(3)))
                .expect("a batch");
        let (_, out) = through_node(batch).await;
        assert_eq!(out.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    }
}
