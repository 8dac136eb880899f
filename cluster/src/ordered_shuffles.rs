//! The scheduler's last physical optimizer rule: a hash repartition that keeps order by merging
//! several sorted inputs becomes a plain hash repartition and a sort of each partition.
//!
//! On one machine DataFusion's `RepartitionExec` with `preserve_order` merges what its inputs
//! send to a partition, so each partition stays sorted. Ballista runs every repartition as a
//! shuffle (the end of one stage, the start of the next), and a shuffle reader concatenates what
//! each map task wrote for its partition instead of merging it. The operator above, promised
//! sorted rows, then got runs of sorted rows: a `summarize` in sorted mode
//! (`kql_engine::sorted_aggregate`) emitted its groups out of order, and the `sort by` after
//! it, which DataFusion had left to a merge of those partitions, returned unsorted rows
//! (`tests/slt/beaconing.slt` on the test cluster). A group split over two runs would even be
//! emitted twice. Sorting each partition after the shuffle gives the order the plan counts on.
//!
//! A repartition of one input keeps its order: one map task writes each partition's rows in
//! order, and each reader reads that one task's output.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

#[derive(Debug)]
pub struct OrderedShufflesRule;

impl PhysicalOptimizerRule for OrderedShufflesRule {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| Ok(sorted_after_shuffle(&node)?.map_or(Transformed::no(node), Transformed::yes))).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "kql_ordered_shuffles"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` as a plain repartition under a sort per partition, when it is a repartition that
/// merges several sorted inputs to keep their order.
fn sorted_after_shuffle(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(repartition) = node.downcast_ref::<RepartitionExec>() else { return Ok(None) };
    let input = repartition.input();
    if !repartition.preserve_order() || input.output_partitioning().partition_count() <= 1 {
        return Ok(None);
    }
    let Some(ordering) = input.output_ordering().cloned() else { return Ok(None) };
    let plain = RepartitionExec::try_new(input.clone(), repartition.partitioning().clone())?;
    Ok(Some(Arc::new(SortExec::new(ordering, Arc::new(plain)).with_preserve_partitioning(true))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::col;
    use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
    use datafusion::physical_plan::Partitioning;
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::empty::EmptyExec;

    fn sorted_partitions(partitions: usize) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
        let source: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(schema.clone()).with_partitions(partitions));
        let ordering = LexOrdering::new(vec![PhysicalSortExpr::new_default(col("k", &schema).expect("column k"))]).expect("one key");
        Arc::new(SortExec::new(ordering, source).with_preserve_partitioning(true))
    }

    fn hashed(input: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        let key = col("k", &input.schema()).expect("column k");
        Arc::new(RepartitionExec::try_new(input, Partitioning::Hash(vec![key], 4)).expect("repartition").with_preserve_order())
    }

    fn shown(plan: &Arc<dyn ExecutionPlan>) -> String {
        displayable(plan.as_ref()).indent(false).to_string()
    }

    #[test]
    fn a_merging_repartition_becomes_a_sort_after_a_plain_one() {
        let plan = OrderedShufflesRule.optimize(hashed(sorted_partitions(2)), &ConfigOptions::default()).expect("optimize");
        assert_eq!(
            shown(&plan),
            "SortExec: expr=[k@0 ASC], preserve_partitioning=[true]\n  \
             RepartitionExec: partitioning=Hash([k@0], 4), input_partitions=2\n    \
             SortExec: expr=[k@0 ASC], preserve_partitioning=[true]\n      \
             EmptyExec\n"
        );
        assert_eq!(plan.output_ordering(), hashed(sorted_partitions(2)).output_ordering());
    }

    #[test]
    fn a_repartition_of_one_stream_is_left_as_it_is() {
        let plan = hashed(sorted_partitions(1));
        let optimized = OrderedShufflesRule.optimize(plan.clone(), &ConfigOptions::default()).expect("optimize");
        assert_eq!(shown(&optimized), shown(&plan));
    }
}
