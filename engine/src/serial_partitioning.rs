//! When `serialize` may run once per partition instead of over one stream.
//!
//! `next` and `prev` read the row some rows away in the whole serialized row set, so
//! `SerialExec` normally takes every row in one stream: one merge of the sorted partitions,
//! then one core for the node and whatever runs between it and the next repartition. The
//! beaconing rule (`sort by SrcIpAddr, TimeGenerated, ... | serialize | extend
//! nextSrcIpAddr = next(SrcIpAddr), ... | where SrcIpAddr == nextSrcIpAddr and ... | summarize
//! ... by SrcIpAddr, ...`) only ever keeps rows whose shifted row has the same first sort key.
//! Rows of one key are consecutive in the sorted row set, so for every row it keeps, the
//! shifted row is the same whether the row set is sorted whole or hashed on that key and
//! sorted per partition; the rows where the two differ (the shifted row lies outside the row's
//! key) are the rows the filter drops in both.
//!
//! The proof, for rows hashed on the first sort key `K`, each partition sorted as the whole was,
//! and every serial column `next`/`prev` with one offset `o` and a null default:
//! - a row whose shifted row has its own `K` gets the same shifted row either way (the rows of
//!   one `K` are consecutive, in the same order, in the row set and in its partition);
//! - any other row's shifted row has another `K` or is missing (a null default), whole or per
//!   partition. The filter above must drop both kinds: a conjunct `K == next(K, o)` (the shifted
//!   value possibly through `coalesce` with a constant, as kql plans a string comparison, where
//!   `K` cannot be null) is false for another `K`, and a conjunct that is never true where the shifted values are null
//!   (`datetime_diff('second', nextTime, Time) > 10`) drops the missing ones. The conjunct on
//!   `K` alone is not enough: `coalesce(next(K), "") == K` is true at the end of a partition
//!   for `K == ""`, where the whole row set may have a later key.
//! - what reads the filtered rows must not see their order across keys: an aggregation whose
//!   group keys include `K` (every group's rows come from one partition, in their order), which
//!   the caller (`sorted_aggregate.rs`) checks.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Column, IsNotNullExpr, Literal, NegativeExpr, NotExpr, TryCastExpr};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};

use crate::serial::{PhysicalSerial, SerialExec, SerialFunc};

/// `stream` (projections over a one-stream `SerialExec`, as the caller found it under a
/// repartition) rebuilt to run in `partitions` partitions hashed on `key`, a column of
/// `stream`'s output, when the conjuncts `predicates` (over `stream`'s output) of the filters
/// that read it drop every row where that could change an answer (the module's proof). `None`
/// when it is not such a plan.
pub fn partitioned_serial_stream(
    stream: &Arc<dyn ExecutionPlan>,
    key: &Arc<dyn PhysicalExpr>,
    partitions: usize,
    predicates: &[Arc<dyn PhysicalExpr>],
) -> Option<Arc<dyn ExecutionPlan>> {
    let Projections { chain, node, key, predicates } = below_projections(stream, key, predicates)?;
    let serial = node.downcast_ref::<SerialExec>()?;
    if serial.partition_key().is_some() {
        return None;
    }
    let (input, ordering, columns, schema) = serial.parts();
    let ordering = ordering?.clone();
    let key_index = key.downcast_ref::<Column>()?.index();
    // Rows of one key must be equal by `==`, by the sort and by the hash alike: not so for
    // floats (-0.0 and 0.0, NaN).
    let key_type = input.schema().fields().get(key_index)?.data_type().clone();
    if !(key_type.is_integer()
        || matches!(key_type, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Boolean | DataType::Timestamp(..)))
    {
        return None;
    }
    let first_sort_key = ordering.first().expr.downcast_ref::<Column>()?;
    if first_sort_key.index() != key_index || key_index >= input.schema().fields().len() {
        return None;
    }
    let shifted = shifted_columns(columns, key_index, input.schema().fields().len())?;
    let key_nullable = input.schema().fields().get(key_index)?.is_nullable();
    let drops_other_keys = predicates.iter().any(|p| compares_with_shifted(p, key_index, key_nullable, shifted.of_key));
    let drops_missing = predicates.iter().any(|p| never_true_when_null(p, &shifted.all));
    if !drops_other_keys || !drops_missing {
        return None;
    }
    let sorted = hashed_and_sorted(input, &key, partitions)?;
    // The serial node asks for its order and for rows hashed on its key: its new input must
    // give both.
    let hashed_on_key = matches!(sorted.output_partitioning(), Partitioning::Hash(exprs, n)
        if *n == partitions && matches!(exprs.as_slice(), [e] if e.as_ref() == key.as_ref()));
    if !hashed_on_key || !sorted.equivalence_properties().ordering_satisfy(ordering.iter().cloned()).ok()? {
        return None;
    }
    let serial: Arc<dyn ExecutionPlan> = Arc::new(SerialExec::partitioned(sorted, ordering, columns.to_vec(), schema.clone(), key));
    let rebuilt = rebuild_chain(chain, serial)?;
    (rebuilt.output_partitioning().partition_count() == partitions).then_some(rebuilt)
}

/// The serial node's columns as columns of its output: all of them, and the one that shifts
/// the sort key.
struct Shifted {
    all: Vec<usize>,
    of_key: usize,
}

/// The output columns of `columns` (which follow the node's `input_width` input columns) when
/// every one is `next`/`prev` with one offset and a null default, and one shifts the column
/// `key`.
fn shifted_columns(columns: &[PhysicalSerial], key: usize, input_width: usize) -> Option<Shifted> {
    let mut offset = None;
    let mut of_key = None;
    for (i, column) in columns.iter().enumerate() {
        let SerialFunc::Shift { offset: o, default } = &column.func else { return None };
        if *o == 0 || !default.is_null() || offset.is_some_and(|first| first != *o) {
            return None;
        }
        offset = Some(*o);
        if column.arg.as_ref().and_then(|a| a.downcast_ref::<Column>()).is_some_and(|c| c.index() == key) {
            of_key = Some(input_width + i);
        }
    }
    Some(Shifted { all: (input_width..input_width + columns.len()).collect(), of_key: of_key? })
}

/// The rows under a one-stream serial node (`input`: a merge of sorted partitions, or a sort of
/// one, possibly through projections) hashed on `key` (a column of `input`) into `partitions`
/// partitions before the same sort, each partition sorted by itself.
fn hashed_and_sorted(input: &Arc<dyn ExecutionPlan>, key: &Arc<dyn PhysicalExpr>, partitions: usize) -> Option<Arc<dyn ExecutionPlan>> {
    let node = if let Some(merge) = input.downcast_ref::<SortPreservingMergeExec>() {
        if merge.fetch().is_some() {
            return None;
        }
        merge.input().clone()
    } else if input.output_partitioning().partition_count() == 1 {
        input.clone()
    } else {
        return None;
    };
    let Projections { chain, node, key, .. } = below_projections(&node, key, &[])?;
    let sort = node.downcast_ref::<SortExec>()?;
    if sort.fetch().is_some() {
        return None;
    }
    let hashed = RepartitionExec::try_new(sort.input().clone(), Partitioning::Hash(vec![key], partitions)).ok()?;
    rebuild_chain(chain, Arc::new(SortExec::new(sort.expr().clone(), Arc::new(hashed)).with_preserve_partitioning(true)))
}

/// The projections at the top of a plan, the first node below them, and a key column and
/// predicates of the top's output as the same over that node's output.
struct Projections {
    /// From the top down.
    chain: Vec<Arc<dyn ExecutionPlan>>,
    node: Arc<dyn ExecutionPlan>,
    key: Arc<dyn PhysicalExpr>,
    predicates: Vec<Arc<dyn PhysicalExpr>>,
}

/// `None` when the key is not a column the projections pass through unchanged.
fn below_projections(
    top: &Arc<dyn ExecutionPlan>,
    key: &Arc<dyn PhysicalExpr>,
    predicates: &[Arc<dyn PhysicalExpr>],
) -> Option<Projections> {
    let mut found = Projections { chain: Vec::new(), node: top.clone(), key: key.clone(), predicates: predicates.to_vec() };
    while let Some(projection) = found.node.downcast_ref::<ProjectionExec>() {
        let exprs: Vec<Arc<dyn PhysicalExpr>> = projection.expr().iter().map(|e| e.expr.clone()).collect();
        found.key = column_below(&found.key, &exprs)?;
        found.predicates = found.predicates.iter().map(|p| inline_columns(p, &exprs)).collect::<Option<Vec<_>>>()?;
        let input = projection.input().clone();
        found.chain.push(std::mem::replace(&mut found.node, input));
    }
    Some(found)
}

/// `chain` (plans of one input each, from the top down) rebuilt over `bottom`; `None` where
/// DataFusion refuses a step's new input.
pub fn rebuild_chain(chain: Vec<Arc<dyn ExecutionPlan>>, bottom: Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let mut rebuilt = bottom;
    for step in chain.into_iter().rev() {
        rebuilt = step.replace_children(vec![rebuilt], ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute)).ok()?;
    }
    Some(rebuilt)
}

/// The column of a projection's input that `key`, a column of its output, reads unchanged;
/// `projected` holds the projection's output columns as expressions over its input.
pub fn column_below(key: &Arc<dyn PhysicalExpr>, projected: &[Arc<dyn PhysicalExpr>]) -> Option<Arc<dyn PhysicalExpr>> {
    let below = projected.get(key.downcast_ref::<Column>()?.index())?;
    below.downcast_ref::<Column>()?;
    Some(below.clone())
}

/// `expr`, a predicate over a projection's output, over the projection's input instead.
pub fn inline_columns(expr: &Arc<dyn PhysicalExpr>, projected: &[Arc<dyn PhysicalExpr>]) -> Option<Arc<dyn PhysicalExpr>> {
    let mut missing = false;
    let inlined = expr
        .clone()
        .transform(|e| {
            Ok(match e.downcast_ref::<Column>() {
                Some(c) => match projected.get(c.index()) {
                    Some(below) => Transformed::yes(below.clone()),
                    None => {
                        missing = true;
                        Transformed::no(e)
                    }
                },
                None => Transformed::no(e),
            })
        })
        .ok()?
        .data;
    (!missing).then_some(inlined)
}

/// Whether `predicate` is `K == next(K)` (either side), the shifted value possibly in
/// `coalesce(shifted, constant)`: false wherever the shifted row has another key. The
/// `coalesce` form only for a key that cannot be null: a null key's rows are a key of their
/// own, sorted next to the empty one, and `coalesce` would make them equal.
fn compares_with_shifted(predicate: &Arc<dyn PhysicalExpr>, key: usize, key_nullable: bool, shifted: usize) -> bool {
    let Some(eq) = predicate.downcast_ref::<BinaryExpr>() else { return false };
    if *eq.op() != Operator::Eq {
        return false;
    }
    let is_column = |e: &Arc<dyn PhysicalExpr>, i: usize| e.downcast_ref::<Column>().is_some_and(|c| c.index() == i);
    let is_shifted = |e: &Arc<dyn PhysicalExpr>| {
        if is_column(e, shifted) {
            return true;
        }
        let Some(f) = e.downcast_ref::<ScalarFunctionExpr>().filter(|_| !key_nullable) else { return false };
        matches!(f.args(), [value, fallback] if f.name() == "kql_coalesce" && is_column(value, shifted) && fallback.downcast_ref::<Literal>().is_some())
    };
    (is_column(eq.left(), key) && is_shifted(eq.right())) || (is_column(eq.right(), key) && is_shifted(eq.left()))
}

/// Whether `predicate` is null or false on every row where the columns `nulls` are null.
fn never_true_when_null(predicate: &Arc<dyn PhysicalExpr>, nulls: &[usize]) -> bool {
    if null_when_null(predicate, nulls) {
        return true;
    }
    if let Some(is_not_null) = predicate.downcast_ref::<IsNotNullExpr>() {
        return null_when_null(is_not_null.arg(), nulls);
    }
    let Some(binary) = predicate.downcast_ref::<BinaryExpr>() else { return false };
    match binary.op() {
        Operator::And => never_true_when_null(binary.left(), nulls) || never_true_when_null(binary.right(), nulls),
        Operator::Or => never_true_when_null(binary.left(), nulls) && never_true_when_null(binary.right(), nulls),
        _ => false,
    }
}

/// Whether `expr` is null on every row where the columns `nulls` are null: a conservative
/// list of operators and functions that give null for a null operand.
fn null_when_null(expr: &Arc<dyn PhysicalExpr>, nulls: &[usize]) -> bool {
    if let Some(c) = expr.downcast_ref::<Column>() {
        return nulls.contains(&c.index());
    }
    if let Some(literal) = expr.downcast_ref::<Literal>() {
        return matches!(literal.value(), ScalarValue::Null);
    }
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        use Operator::*;
        return matches!(binary.op(), Eq | NotEq | Lt | LtEq | Gt | GtEq | Plus | Minus | Multiply | Divide | Modulo)
            && (null_when_null(binary.left(), nulls) || null_when_null(binary.right(), nulls));
    }
    if let Some(cast) = expr.downcast_ref::<CastExpr>() {
        return null_when_null(cast.expr(), nulls);
    }
    if let Some(cast) = expr.downcast_ref::<TryCastExpr>() {
        return null_when_null(cast.expr(), nulls);
    }
    if let Some(negative) = expr.downcast_ref::<NegativeExpr>() {
        return null_when_null(negative.arg(), nulls);
    }
    if let Some(not) = expr.downcast_ref::<NotExpr>() {
        return null_when_null(not.arg(), nulls);
    }
    if let Some(f) = expr.downcast_ref::<ScalarFunctionExpr>() {
        // `datetime_diff(unit, a, b)` is null where `a` or `b` is (`functions/datetime.rs`).
        return f.name() == "kql_datetime_diff" && f.args().iter().skip(1).any(|a| null_when_null(a, nulls));
    }
    false
}
