//! A physical optimizer rule: a `summarize` over rows sorted on some of its group keys (after
//! `serialize`, `sort by SrcIpAddr` or another such `summarize`) aggregates in one step.
//!
//! DataFusion plans every aggregation in two steps, a partial one in each input partition, a
//! hash repartition on the group keys, and a final one. Over sorted input the partial step
//! aggregates in order and emits each group as the order passes it, so it can only merge rows
//! of one group that arrive together; over the beaconing rule's 3.3 million rows it merged 0.5%
//! of them and cost as much as the final step. DataFusion skips a partial step that does not
//! reduce its input only over unsorted input. This rule replaces the three operators with a
//! repartition of the input rows on the sorted group keys (order kept) and one aggregation
//! step per partition (`SinglePartitioned`), still in sorted mode, so memory stays bounded by
//! the groups the order has not passed yet. A second `summarize` whose keys include the same
//! sorted keys then finds its input partitioned already and needs no repartition at all
//! (DataFusion takes that shortcut itself only from four partitions up).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::split_conjunction;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, InvariantLevel, ReplaceChildrenOptions};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ChildSatisfactionOptions, ExecutionPlan, ExecutionPlanProperties, InputOrderMode, Partitioning};

use crate::serial_partitioning::{column_below, inline_columns, partitioned_serial_stream, rebuild_chain};

/// How many partitions a per-partition `serialize` runs in, at least (more when DataFusion
/// planned more). Its sort sorts each batch a partition receives and then merges them all, and
/// the merge costs more per row the more batches it merges, so smaller partitions sort faster
/// although the rows are the same: the beaconing rule's sort at 10 M realistic rows took 502 ms
/// of compute in 2 partitions, 339 ms in 8, 229 ms in 16, 193 ms in 32 and 240 ms in 64 (on 2
/// cores). More partitions than cores also spread a heavy key's rows over the cores. The cost
/// shows under a memory limit, where every partition's sort spills and then merges its spill
/// files at once: at 100 M rows under `--memory-limit 2G` the rule took 16.0 s and 0.85 GB in
/// 2 partitions, 10.6 s and 1.1 GB in 16, 12.1 s and 2.2 GB in 32. The steps above run in as
/// many partitions, which any aggregation hashed on some of its keys accepts.
const SERIAL_SORT_PARTITIONS: usize = 16;

type Exprs = Vec<Arc<dyn PhysicalExpr>>;

#[derive(Debug)]
pub struct SortedAggregateInOneStep;

impl PhysicalOptimizerRule for SortedAggregateInOneStep {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        rewrite(plan)
    }

    fn name(&self) -> &str {
        "kql_sorted_aggregate_in_one_step"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with its sorted two-step aggregations made one step, bottom up (so that a lower
/// aggregation's partitioning is known to the one above it). A rebuilt operator whose inputs
/// no longer meet its requirements (order or partitioning) is left as it was.
fn rewrite(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
    let mut plan = plan;
    if !children.is_empty() {
        let mut changed = false;
        let mut new_children = Vec::with_capacity(children.len());
        for child in &children {
            let new_child = rewrite(child.clone())?;
            changed |= !Arc::ptr_eq(&new_child, child);
            new_children.push(new_child);
        }
        // An operator that cannot take the new inputs (an interleave of inputs no longer
        // partitioned alike) keeps its old ones.
        if changed
            && let Ok(rebuilt) = plan.clone().replace_children(new_children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
            && requirements_met(&rebuilt)?
        {
            plan = rebuilt;
        }
    }
    Ok(one_step(&plan)?.unwrap_or(plan))
}

/// Whether every input of `plan` has the order and the partitioning `plan` asks of it. For an
/// aggregation, a partitioning on some of its keys is enough (rows that agree on all keys agree
/// on those); any other operator must get exactly the partitioning it asks for: a join needs
/// both its inputs hashed on the same keys, or equal keys meet in different partitions.
fn requirements_met(plan: &Arc<dyn ExecutionPlan>) -> Result<bool> {
    let distributions = plan.input_distribution_requirements();
    let subset_allowed = plan.downcast_ref::<AggregateExec>().is_some();
    let orderings = plan.required_input_ordering();
    for (i, child) in plan.children().into_iter().enumerate() {
        if let Some(Some(ordering)) = orderings.get(i).cloned()
            && !child.equivalence_properties().ordering_satisfy_requirement(ordering.into_single())?
        {
            return Ok(false);
        }
        let options = ChildSatisfactionOptions::new().with_allow_subset(subset_allowed);
        if !distributions.child_satisfaction(i, child.as_ref(), options)?.is_satisfied() {
            return Ok(false);
        }
    }
    // What DataFusion's plan check also asks of an operator that is to run (a join's inputs in
    // as many partitions, for one).
    Ok(plan.check_invariants(InvariantLevel::Executable).is_ok())
}

/// The one-step form of `plan` when it is a final aggregation over a hash repartition that
/// keeps order over a partial aggregation of sorted input.
fn one_step(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(last) = plan.downcast_ref::<AggregateExec>() else { return Ok(None) };
    if !matches!(last.mode(), AggregateMode::FinalPartitioned) || last.limit_options().is_some() {
        return Ok(None);
    }
    let Some(repartition) = last.input().downcast_ref::<RepartitionExec>() else { return Ok(None) };
    let Partitioning::Hash(_, partitions) = repartition.partitioning() else { return Ok(None) };
    if !repartition.preserve_order() {
        return Ok(None);
    }
    let Some(first) = repartition.input().downcast_ref::<AggregateExec>() else { return Ok(None) };
    if !matches!(first.mode(), AggregateMode::Partial) || first.limit_options().is_some() || !first.group_expr().is_single() {
        return Ok(None);
    }
    let group_exprs: Vec<Arc<dyn PhysicalExpr>> = first.group_expr().expr().iter().map(|(e, _)| e.clone()).collect();
    let sorted_keys: Vec<Arc<dyn PhysicalExpr>> = match first.input_order_mode() {
        InputOrderMode::Linear => return Ok(None),
        InputOrderMode::Sorted => group_exprs.clone(),
        InputOrderMode::PartiallySorted(indices) => indices.iter().filter_map(|i| group_exprs.get(*i).cloned()).collect(),
    };
    if sorted_keys.is_empty() {
        return Ok(None);
    }
    let input = first.input().clone();
    // Rows of one group must meet in one partition: input hashed on group keys only (a lower
    // one-step aggregation's output) already does that; any other input is hashed on the
    // sorted keys, the order kept.
    let partitioned_by_keys = match input.output_partitioning() {
        Partitioning::Hash(exprs, count) => {
            *count >= *partitions && !exprs.is_empty() && exprs.iter().all(|e| group_exprs.iter().any(|g| g.as_ref() == e.as_ref()))
        }
        _ => false,
    };
    let input: Arc<dyn ExecutionPlan> = if partitioned_by_keys {
        input
    } else if let Some(hashed) = hash_below_round_robin(&input, &column_keys(&sorted_keys), *partitions) {
        hashed
    } else {
        Arc::new(RepartitionExec::try_new(input, Partitioning::Hash(sorted_keys, *partitions))?.with_preserve_order())
    };
    // An aggregation DataFusion cannot build this way is left in two steps.
    let Ok(single) = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        first.group_expr().clone(),
        first.aggr_expr().to_vec(),
        first.filter_expr().to_vec(),
        input,
        first.input_schema(),
    ) else {
        return Ok(None);
    };
    let single: Arc<dyn ExecutionPlan> = Arc::new(single);
    // The one step must produce what the two did, and must still aggregate in order: an
    // unsorted one-step aggregation would hold every group at once.
    let same_schema = single
        .schema()
        .fields()
        .iter()
        .zip(plan.schema().fields().iter())
        .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
        && single.schema().fields().len() == plan.schema().fields().len();
    let in_order = single.downcast_ref::<AggregateExec>().is_some_and(|a| !matches!(a.input_order_mode(), InputOrderMode::Linear));
    if !same_schema || !in_order || !requirements_met(&single)? {
        return Ok(None);
    }
    Ok(Some(single))
}

/// Rows in one sorted stream (after `serialize`) that DataFusion spread round robin over the
/// partitions for the filters and projections above it, hashed on `keys` instead, straight out
/// of the one stream: `input` is that chain of filters and projections over the round-robin
/// repartition, and the result is the same chain over a hash repartition. A hash repartition of
/// one stream keeps each partition's rows in order by itself. Hashing the round-robin
/// partitions instead keeps order only by merging them again, which encodes every row's sort
/// keys once more (in the beaconing rule, 7% of its instructions). Where the one stream is a
/// `serialize` whose filters in the chain allow it, the rows are hashed before its sort instead,
/// and it runs per partition (`serial_partitioning.rs`): no merge into one stream at all.
/// `None` when `input` is not such a chain (which may be empty), or a key is not a column that
/// the chain passes through unchanged.
fn hash_below_round_robin(
    input: &Arc<dyn ExecutionPlan>,
    top_keys: &[Arc<dyn PhysicalExpr>],
    partitions: usize,
) -> Option<Arc<dyn ExecutionPlan>> {
    // The chain from the top down, and the keys as columns of the input of each of its steps.
    let mut chain: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
    let mut keys: Vec<Arc<dyn PhysicalExpr>> = top_keys.to_vec();
    // The conjuncts of the chain's filters, over the output of the step reached.
    let mut predicates: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    let mut node = input.clone();
    loop {
        if let Some(repartition) = node.downcast_ref::<RepartitionExec>() {
            let one_stream = repartition.input().output_partitioning().partition_count() == 1;
            if !matches!(repartition.partitioning(), Partitioning::RoundRobinBatch(_)) || !one_stream {
                return None;
            }
            // Better still, a `serialize` whose filters allow it runs per partition: no
            // merge into one stream at all.
            let partitioned = match keys.as_slice() {
                [key] => partitioned_serial_stream(repartition.input(), key, partitions.max(SERIAL_SORT_PARTITIONS), &predicates),
                _ => None,
            };
            // A chain DataFusion cannot rebuild this way keeps the merge.
            let bottom: Arc<dyn ExecutionPlan> = match partitioned {
                Some(stream) => stream,
                None => Arc::new(RepartitionExec::try_new(repartition.input().clone(), Partitioning::Hash(keys, partitions)).ok()?),
            };
            let rebuilt = rebuild_chain(chain, bottom)?;
            // The chain must come out hashed on the keys it was asked for, and in its old order.
            let hashed_on_keys = match rebuilt.output_partitioning() {
                Partitioning::Hash(exprs, n) => {
                    *n >= partitions && exprs.len() == top_keys.len() && exprs.iter().zip(top_keys).all(|(e, k)| e.as_ref() == k.as_ref())
                }
                _ => false,
            };
            let same_order = rebuilt.output_ordering() == input.output_ordering();
            return (hashed_on_keys && same_order).then_some(rebuilt);
        }
        // The step's output columns as expressions over its input (none: passed through), and
        // the conjuncts it filters on, over its input.
        let (below, projected, conjuncts): (_, Option<Exprs>, Exprs) = if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
            (projection.input().clone(), Some(projection.expr().iter().map(|e| e.expr.clone()).collect()), Vec::new())
        } else if let Some(filter) = node.downcast_ref::<FilterExec>() {
            let schema = filter.input().schema();
            let projected = filter
                .projection()
                .as_ref()
                .map(|p| p.iter().map(|&j| Arc::new(Column::new(schema.field(j).name(), j)) as Arc<dyn PhysicalExpr>).collect());
            (filter.input().clone(), projected, split_conjunction(filter.predicate()).into_iter().cloned().collect())
        } else {
            return None;
        };
        if let Some(exprs) = projected {
            keys = keys.iter().map(|key| column_below(key, &exprs)).collect::<Option<Vec<_>>>()?;
            predicates = predicates.iter().map(|p| inline_columns(p, &exprs)).collect::<Option<Vec<_>>>()?;
        }
        predicates.extend(conjuncts);
        chain.push(node);
        node = below;
    }
}

/// The sorted keys that are plain columns, or all of them when none is. Rows that agree on
/// every group key agree on any of them, so hashing on a subset keeps each group in one
/// partition; a computed key (`bin(TimeGenerated, 1h)`, sorted because `bin` keeps order)
/// cannot be followed down through the steps below, a column can.
fn column_keys(sorted_keys: &[Arc<dyn PhysicalExpr>]) -> Vec<Arc<dyn PhysicalExpr>> {
    let columns: Vec<Arc<dyn PhysicalExpr>> = sorted_keys.iter().filter(|k| k.downcast_ref::<Column>().is_some()).cloned().collect();
    if columns.is_empty() { sorted_keys.to_vec() } else { columns }
}
