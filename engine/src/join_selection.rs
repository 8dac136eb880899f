//! kql's join selection: DataFusion's `JoinSelection` decisions (which input of a join is built
//! into the hash table, and whether the build side is collected into one partition), computed
//! from statistics that are walked once per plan instead of once per join.
//!
//! DataFusion's rule computes the statistics of both inputs of every join with a fresh cache,
//! so a chain of `n` joins or lookups walks its subtree `n` times, each time copying every
//! column's statistics through every projection: 199 `lookup`s in a row (a fuzzer's query,
//! `tests/fuzz/crashers/inner_lookup_chain.kql`) spent 2 of their 3.4 s there. Here one
//! `StatisticsContext` serves the whole pass, over the plan as it was before the pass: its nodes
//! stay alive for the whole pass (the context's cache is keyed by node address), and swapping
//! a join's inputs or changing its partition mode does not change its statistics.
//!
//! DataFusion's other two subrules (for unbounded inputs) have nothing to do in kql, whose
//! tables are all bounded.

use std::sync::Arc;

use datafusion::common::{Result, Statistics};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::joins::{CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

/// The name DataFusion's rule goes by; kql's takes its place in the rule list.
pub const DATAFUSION_RULE: &str = "join_selection";

#[derive(Debug, Default)]
pub struct KqlJoinSelection;

impl PhysicalOptimizerRule for KqlJoinSelection {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let stats = StatisticsContext::new();
        // `plan` (the tree as it was) is held until the pass ends, so no address in the
        // context's cache is freed and reused by a node built on the way.
        select(&plan, &Statistician { stats: &stats, config })
    }

    fn name(&self) -> &str {
        "kql_join_selection"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

struct Statistician<'a> {
    stats: &'a StatisticsContext,
    config: &'a ConfigOptions,
}

impl Statistician<'_> {
    fn of(&self, plan: &Arc<dyn ExecutionPlan>) -> Result<Arc<Statistics>> {
        self.stats.compute(plan.as_ref(), &StatisticsArgs::new())
    }

    /// Whether the right input is the smaller one (by bytes, else rows), so that it should be
    /// built from instead; never when the user turned join reordering off.
    fn should_swap(&self, left: &Arc<dyn ExecutionPlan>, right: &Arc<dyn ExecutionPlan>) -> Result<bool> {
        if !self.config.optimizer.join_reordering {
            return Ok(false);
        }
        let (l, r) = (self.of(left)?, self.of(right)?);
        Ok(match (l.total_byte_size.get_value(), r.total_byte_size.get_value()) {
            (Some(l), Some(r)) => l > r,
            _ => match (l.num_rows.get_value(), r.num_rows.get_value()) {
                (Some(l), Some(r)) => l > r,
                _ => false,
            },
        })
    }

    /// Whether `plan` is known to be small enough to collect into one partition.
    fn small(&self, plan: &Arc<dyn ExecutionPlan>) -> bool {
        let Ok(stats) = self.of(plan) else { return false };
        let optimizer = &self.config.optimizer;
        if let Some(bytes) = stats.total_byte_size.get_value() {
            *bytes < optimizer.hash_join_single_partition_threshold
        } else if let Some(rows) = stats.num_rows.get_value() {
            *rows < optimizer.hash_join_single_partition_threshold_rows
        } else {
            false
        }
    }
}

/// `plan` with every join below and at it decided, bottom up. The statistics are always those
/// of `plan`'s original inputs (see the module's comment).
fn select(plan: &Arc<dyn ExecutionPlan>, s: &Statistician) -> Result<Arc<dyn ExecutionPlan>> {
    let children: Vec<&Arc<dyn ExecutionPlan>> = plan.children();
    let mut rebuilt_children = Vec::with_capacity(children.len());
    let mut changed = false;
    for child in &children {
        let rebuilt = select(child, s)?;
        changed |= !Arc::ptr_eq(&rebuilt, child);
        rebuilt_children.push(rebuilt);
    }
    let node = if changed {
        plan.clone().replace_children(rebuilt_children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))?
    } else {
        plan.clone()
    };
    if children.len() != 2 {
        return Ok(node);
    }
    let (left, right) = (children[0], children[1]);
    if let Some(join) = node.downcast_ref::<HashJoinExec>() {
        return hash_join(join, left, right, s).map(|decided| decided.unwrap_or(node.clone()));
    }
    if let Some(join) = node.downcast_ref::<CrossJoinExec>() {
        return if s.should_swap(left, right)? { join.swap_inputs() } else { Ok(node.clone()) };
    }
    if let Some(join) = node.downcast_ref::<NestedLoopJoinExec>()
        && join.join_type().supports_swap()
        && s.should_swap(left, right)?
    {
        return join.swap_inputs();
    }
    Ok(node)
}

/// A hash join's partition mode and build side, as DataFusion's `JoinSelection` decides them:
/// collected into one partition when its build side is small (or the planner asked for it),
/// the smaller input built from, else partitioned by the keys. `None`: unchanged.
fn hash_join(
    join: &HashJoinExec,
    left: &Arc<dyn ExecutionPlan>,
    right: &Arc<dyn ExecutionPlan>,
    s: &Statistician,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let swappable = swappable(join);
    match join.partition_mode() {
        PartitionMode::Auto | PartitionMode::CollectLeft => {
            let forced = matches!(join.partition_mode(), PartitionMode::CollectLeft);
            let left_small = forced || s.small(left);
            let right_small = forced || s.small(right);
            match (left_small, right_small) {
                (true, true) if swappable && s.should_swap(left, right)? => join.swap_inputs(PartitionMode::CollectLeft).map(Some),
                (true, _) => Ok(Some(Arc::new(join.builder().with_partition_mode(PartitionMode::CollectLeft).build()?))),
                (false, true) if s.config.optimizer.join_reordering && swappable => join.swap_inputs(PartitionMode::CollectLeft).map(Some),
                _ => partitioned(join, left, right, s).map(Some),
            }
        }
        PartitionMode::Partitioned => {
            if swappable && s.should_swap(left, right)? {
                join.swap_inputs(PartitionMode::Partitioned).map(Some)
            } else {
                Ok(None)
            }
        }
    }
}

/// Whether the join's inputs may trade places: not for a null-aware anti join, whose sides
/// have fixed roles.
fn swappable(join: &HashJoinExec) -> bool {
    join.join_type().supports_swap() && !join.null_aware
}

/// A join partitioned by its keys, built from the smaller input. A null-aware anti join stays
/// collected: each partition would otherwise judge the probe side's nulls alone.
fn partitioned(
    join: &HashJoinExec,
    left: &Arc<dyn ExecutionPlan>,
    right: &Arc<dyn ExecutionPlan>,
    s: &Statistician,
) -> Result<Arc<dyn ExecutionPlan>> {
    if swappable(join) && s.should_swap(left, right)? {
        return join.swap_inputs(PartitionMode::Partitioned);
    }
    let mode = if join.null_aware { PartitionMode::CollectLeft } else { PartitionMode::Partitioned };
    Ok(Arc::new(join.builder().with_partition_mode(mode).build()?))
}
