//! Join filters that stop filtering rows once they are seen to keep nearly all of them.
//!
//! DataFusion pushes a hash join's build side into the scan of its probe side, as a dynamic
//! filter: the range of the build side's keys (which prunes row groups and pages from their
//! statistics) and, row by row, a lookup in the join's hash table. The lookup pays when few probe
//! rows find a partner. When nearly all do, it is pure cost: `bench/queries/join.kql` (the
//! sources with rare ports, joined to the sources with more than 25 destinations) looked up each
//! of 10 million rows, 876 ms of compute, to drop 2,500 of them.
//!
//! This rule wraps each such filter in the scan's predicate in a [`SampledJoinFilter`]. The
//! wrapper filters the first [`SAMPLE_ROWS`] rows the scan decodes (over all its partitions)
//! with the join's filter; if they kept more than [`KEEP_LIMIT`] of them, it keeps every row
//! from then on. That never changes an answer: the join itself still matches every row, and the
//! filter only ever drops rows that the join would drop. The statistics pruning is untouched:
//! the pruning code reads the filter's current expression through [`PhysicalExpr::snapshot`],
//! which the wrapper passes on.
//!
//! Only filters that a hash join produced are wrapped. A `top`'s filter tightens as the
//! operator sees rows, so an early sample says nothing about it.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use datafusion::arrow::array::{AsArray, BooleanArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr_common::physical_expr::snapshot_physical_expr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// Rows a scan filters with the join's filter before it judges the filter.
pub const SAMPLE_ROWS: u64 = 131_072;
/// The share of the sampled rows above which the filter is judged not worth its lookups.
pub const KEEP_LIMIT: f64 = 0.9;

/// The physical optimizer rule; it runs after DataFusion's last filter pushdown.
#[derive(Debug, Default)]
pub struct SampleJoinFilters;

impl PhysicalOptimizerRule for SampleJoinFilters {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let joins = join_filter_ids(&plan)?;
        if joins.is_empty() {
            return Ok(plan);
        }
        plan.transform_up(|node| wrap_in_scan(node, &joins)).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "kql_sample_join_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The identities of the dynamic filters that the plan's operators produce for hash joins.
fn join_filter_ids(plan: &Arc<dyn ExecutionPlan>) -> Result<HashSet<u64>> {
    let mut ids = HashSet::new();
    plan.apply(|node| {
        if node.is::<datafusion::physical_plan::joins::HashJoinExec>() {
            ids.extend(node.dynamic_expressions_produced().iter().filter_map(|e| e.expression_id()));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(ids)
}

/// `node` with the join filters in its Parquet predicate wrapped, when it is a Parquet scan.
fn wrap_in_scan(node: Arc<dyn ExecutionPlan>, joins: &HashSet<u64>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some(exec) = node.downcast_ref::<DataSourceExec>() else { return Ok(Transformed::no(node)) };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else { return Ok(Transformed::no(node)) };
    let Some(parquet) = config.file_source().downcast_ref::<ParquetSource>() else { return Ok(Transformed::no(node)) };
    let Some(predicate) = parquet.filter() else { return Ok(Transformed::no(node)) };
    let wrapped = predicate.transform_down(|expr| {
        if expr.is::<SampledJoinFilter>() {
            return Ok(Transformed::new(expr, false, TreeNodeRecursion::Jump));
        }
        let from_join = expr.is::<DynamicFilterPhysicalExpr>() && expr.expression_id().is_some_and(|id| joins.contains(&id));
        if !from_join {
            return Ok(Transformed::no(expr));
        }
        let sampled: Arc<dyn PhysicalExpr> = Arc::new(SampledJoinFilter::new(expr));
        Ok(Transformed::new(sampled, true, TreeNodeRecursion::Jump))
    })?;
    if !wrapped.transformed {
        return Ok(Transformed::no(node));
    }
    let source = Arc::new(parquet.with_predicate(wrapped.data));
    let config = FileScanConfigBuilder::from(config.clone()).with_source(source).build();
    Ok(Transformed::yes(DataSourceExec::from_data_source(config)))
}

/// What the scan's partitions saw of one filter, shared between them.
#[derive(Debug, Default)]
struct Sample {
    rows: AtomicU64,
    kept: AtomicU64,
    /// Set once the sample judged the filter not worth applying.
    stopped: AtomicBool,
}

/// A hash join's dynamic filter that keeps every row once a sample showed it drops too few
/// (see the module's comment).
#[derive(Debug)]
pub struct SampledJoinFilter {
    inner: Arc<dyn PhysicalExpr>,
    sample: Arc<Sample>,
}

impl SampledJoinFilter {
    fn new(inner: Arc<dyn PhysicalExpr>) -> Self {
        SampledJoinFilter { inner, sample: Arc::default() }
    }

    /// Counts one batch's result into the sample, and stops the filter when the sample is
    /// complete and kept too many rows. A filter still waiting for its join's build side keeps
    /// every row; its batches say nothing about the filter and are not counted.
    fn record(&self, kept: &BooleanArray) {
        if self.inner.snapshot_generation() <= 1 {
            return;
        }
        let rows = kept.len() as u64;
        let kept_rows = kept.true_count() as u64;
        let seen = self.sample.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let kept_total = self.sample.kept.fetch_add(kept_rows, Ordering::Relaxed) + kept_rows;
        if seen >= SAMPLE_ROWS && kept_total as f64 > KEEP_LIMIT * seen as f64 {
            self.sample.stopped.store(true, Ordering::Relaxed);
        }
    }
}

impl PhysicalExpr for SampledJoinFilter {
    fn data_type(&self, input_schema: &Schema) -> Result<DataType> {
        self.inner.data_type(input_schema)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.inner.nullable(input_schema)
    }

    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        self.inner.return_field(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let rows = batch.num_rows();
        if self.sample.stopped.load(Ordering::Relaxed) {
            return Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(BooleanBuffer::new_set(rows), None))));
        }
        let sampling = self.sample.rows.load(Ordering::Relaxed) < SAMPLE_ROWS;
        let result = self.inner.evaluate(batch)?;
        if sampling {
            let kept = result.to_array(rows)?;
            if let Some(kept) = kept.as_boolean_opt() {
                self.record(kept);
            }
        }
        Ok(result)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.inner]
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn PhysicalExpr>>) -> Result<Arc<dyn PhysicalExpr>> {
        let Some(inner) = children.pop().filter(|_| children.is_empty()) else {
            return datafusion::common::internal_err!("a sampled join filter has one child");
        };
        // The copies (one per file, remapped to its columns) share one sample.
        Ok(Arc::new(SampledJoinFilter { inner, sample: Arc::clone(&self.sample) }))
    }

    /// The join's filter as it stands, for pruning from statistics.
    fn snapshot(&self) -> Result<Option<Arc<dyn PhysicalExpr>>> {
        Ok(Some(snapshot_physical_expr(Arc::clone(&self.inner))?))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt_sql(f)
    }
}

impl fmt::Display for SampledJoinFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)?;
        if self.sample.stopped.load(Ordering::Relaxed) {
            let rows = self.sample.rows.load(Ordering::Relaxed);
            let kept = self.sample.kept.load(Ordering::Relaxed);
            write!(f, " (stopped filtering rows: the first {rows} kept {kept})")?;
        }
        Ok(())
    }
}

impl PartialEq for SampledJoinFilter {
    fn eq(&self, other: &Self) -> bool {
        self.inner.as_ref() == other.inner.as_ref()
    }
}

impl Eq for SampledJoinFilter {}

impl Hash for SampledJoinFilter {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}
