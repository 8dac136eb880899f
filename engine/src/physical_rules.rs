//! kql's physical optimizer rules: DataFusion's, less one that gave wrong answers, plus two
//! for aggregations (one drops a sort nothing needs in front of the final step, one
//! aggregates sorted input in one step) and one that lets a join's filter in a scan stop
//! filtering when it drops nothing.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::ensure_requirements::EnsureRequirements;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};

type Rule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

/// DataFusion's physical optimizer rules, with four changes:
/// - `join_selection` is kql's (`join_selection.rs`): the same decisions from statistics
///   computed once per plan, not once per join.
/// - without `aggregate_statistics`, which answers an aggregate from file statistics: over a
///   summarize that follows another summarize (or `count`) it dropped the second aggregate or
///   built a plan its own checker rejects (`summarize c = count() | summarize make_list(c)` gave
///   2, not [2]; found by the fuzzer). A wrong answer costs more than reading a footer.
/// - `EnsureRequirements` (which places repartitions and sorts) runs with statistics computed
///   once per plan (`statistics_memo.rs`), and after it `UnsortedFinalAggregate` and
///   `SortedAggregateInOneStep` (`sorted_aggregate.rs`).
/// - before the final check of the plan, `SampleJoinFilters` (`join_filter_sampling.rs`): a
///   join's filter in a scan stops looking rows up once a sample shows it keeps nearly all.
pub fn rules() -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for rule in datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules {
        if rule.name() == "aggregate_statistics" {
            continue;
        }
        if rule.name() == crate::join_selection::DATAFUSION_RULE {
            rules.push(Arc::new(crate::join_selection::KqlJoinSelection));
            continue;
        }
        if rule.name() == EnsureRequirements::new().name() {
            rules.push(Arc::new(crate::statistics_memo::MemoizedEnsureRequirements::new()));
            rules.push(Arc::new(UnsortedFinalAggregate));
            rules.push(Arc::new(crate::sorted_aggregate::SortedAggregateInOneStep));
            continue;
        }
        if rule.name() == "SanityCheckPlan" {
            rules.push(Arc::new(crate::join_filter_sampling::SampleJoinFilters));
        }
        rules.push(rule);
    }
    rules
}

/// A `summarize` whose input is already sorted on a group key (the rows after `serialize`
/// or `sort by SrcIpAddr`) is planned by DataFusion to aggregate in that order. The hash
/// repartition between its partial and final steps loses the order, and `EnsureRequirements`
/// then sorts every partition again, only so that the final step may emit groups early. Over
/// a million groups (the beaconing rule's two summarize steps) that sort costs more than it
/// saves: this rule gives the final step its unsorted input and lets it hash, as it does for
/// any other input. It leaves the aggregate alone when it still asks for an order (an
/// order-sensitive aggregate) or when an operator above asks for the order of its rows
/// (the sort's order may be what it relies on).
#[derive(Debug)]
pub struct UnsortedFinalAggregate;

impl PhysicalOptimizerRule for UnsortedFinalAggregate {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        unsort(plan, false)
    }

    fn name(&self) -> &str {
        "kql_unsorted_final_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Rewrites the final aggregations under `plan`. `order_needed`: an operator above asks for
/// the order of `plan`'s rows (up to the nearest sort, which makes its own), so no aggregate
/// whose order it may rely on is touched. An aggregation's own wish for sorted input (it
/// aggregates sorted input in order) does not count: rebuilt over an unsorted input it hashes
/// instead. A rebuilt operator whose requirements its new inputs do not meet is left as it
/// was, so the rule never makes a plan `SanityCheckPlan` would reject.
fn unsort(plan: Arc<dyn ExecutionPlan>, order_needed: bool) -> Result<Arc<dyn ExecutionPlan>> {
    if !order_needed && let Some(unsorted) = unsorted_final_aggregate(&plan)? {
        return unsort(unsorted, false);
    }
    let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
    if children.is_empty() {
        return Ok(plan);
    }
    let required = plan.required_input_ordering();
    let makes_order = plan.downcast_ref::<SortExec>().is_some();
    let aggregate = plan.downcast_ref::<AggregateExec>().is_some();
    let mut changed = false;
    let mut new_children = Vec::with_capacity(children.len());
    for (i, child) in children.iter().enumerate() {
        let own = !aggregate && required.get(i).is_some_and(Option::is_some);
        let new_child = unsort(child.clone(), own || (order_needed && !makes_order))?;
        changed |= !Arc::ptr_eq(&new_child, child);
        new_children.push(new_child);
    }
    if !changed {
        return Ok(plan);
    }
    let rebuilt = plan.clone().replace_children(new_children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))?;
    Ok(if requirements_met(&rebuilt)? { rebuilt } else { plan })
}

/// Whether every input of `plan` is in the order `plan` asks of it.
fn requirements_met(plan: &Arc<dyn ExecutionPlan>) -> Result<bool> {
    for (child, requirement) in plan.children().into_iter().zip(plan.required_input_ordering()) {
        if let Some(requirement) = requirement
            && !child.equivalence_properties().ordering_satisfy_requirement(requirement.into_single())?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `plan` without the sort between its final aggregation and the hash repartition under it,
/// when it is such an aggregation and does not ask for an order itself.
fn unsorted_final_aggregate(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(aggregate) = plan.downcast_ref::<AggregateExec>() else { return Ok(None) };
    if !matches!(aggregate.mode(), AggregateMode::FinalPartitioned) {
        return Ok(None);
    }
    let Some(sort) = aggregate.input().downcast_ref::<SortExec>() else { return Ok(None) };
    let input = sort.input();
    let hashed = input.downcast_ref::<RepartitionExec>().is_some_and(|r| matches!(r.partitioning(), Partitioning::Hash(..)));
    let same_partitions = input.output_partitioning().partition_count() == aggregate.input().output_partitioning().partition_count();
    if sort.fetch().is_some() || !hashed || !same_partitions {
        return Ok(None);
    }
    let unsorted = plan.clone().replace_children(vec![input.clone()], ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))?;
    if unsorted.required_input_ordering().iter().any(Option::is_some) {
        return Ok(None);
    }
    Ok(Some(unsorted))
}
