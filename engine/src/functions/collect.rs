//! `kql_collect(value, distinct, max_size)`: the values `make_set` (and a `make_list` with a
//! MaxSize of its own) collect, held to Kusto's MaxSize as they come and, for a set, kept once
//! each as they come.
//!
//! DataFusion's `array_agg`, which kql planned before, keeps every row's value until the end:
//! a `make_set` of a few distinct values over millions of rows held millions of values, and a
//! set of over a million distinct values failed when finished (its text was past the 32 MB a
//! value may hold) instead of being cut at Kusto's MaxSize (1,048,576 by default). Here a group
//! stops taking values at MaxSize and a set never holds a value twice, so a group's memory is
//! that of its result, charged to the memory pool as it grows (`size`). Values are held in
//! Arrow's row format, so any type hashes and compares as bytes.
//!
//! A `make_list` with the default MaxSize stays with `array_agg`, which keeps whole batches
//! without a copy per value: this aggregate's copy per value made it 3x slower. A set does not
//! look each row's value up as it comes: with thousands of groups each lookup landed in another
//! group's table and missed the cache. Values are appended to their group's pending bytes, and
//! taken into the group's set together when those fill (see `Group`).
//!
//! The result is a list of the value's type, as `array_agg` gives, so the finishing step of the
//! planner (`kql_collected_values`: dynamic arrays taken element by element, `json` equality)
//! is unchanged. A negative `max_size` means no bound here (the planner uses it for dynamic
//! values, whose arrays count by their elements, which only the finishing step sees).
//!
//! Values are kept in the order they came; over unordered rows that order is the one Kusto
//! leaves undefined. Ordered input (`make_list` after `serialize`) goes to `array_agg` with its
//! ORDER BY.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray, new_empty_array};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::row::{RowConverter, SortField};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use indexmap::IndexSet;

use super::one_group::OneGroup;
use super::pending;

/// The largest MaxSize Kusto accepts, and the default of `make_list` and `make_set`.
pub const KUSTO_MAX_SIZE: i64 = 1_048_576;

/// `kql_collect(value, distinct, max_size)`.
pub fn collect() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    UDAF.get_or_init(|| Arc::new(AggregateUDF::from(Collect { signature: Signature::any(3, Volatility::Immutable) }))).clone()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Collect {
    signature: Signature,
}

fn list_of(item: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item.clone(), true)))
}

/// The constant `distinct` and `max_size` arguments, as the planner writes them.
fn settings(args: &AccumulatorArgs) -> Result<(DataType, bool, Option<usize>)> {
    let ([value, _, _], [_, distinct, max_size]) = (args.expr_fields, args.exprs) else {
        return internal_err!("kql_collect takes a value, a distinct flag and a maximum size");
    };
    let constant = |e: &Arc<dyn PhysicalExpr>| e.downcast_ref::<Literal>().map(|l| l.value().clone());
    let distinct = match constant(distinct) {
        Some(ScalarValue::Boolean(Some(d))) => d,
        _ => return internal_err!("kql_collect's distinct flag is a constant"),
    };
    let max_size = match constant(max_size) {
        Some(ScalarValue::Int64(Some(n))) => usize::try_from(n).ok(),
        _ => return internal_err!("kql_collect's maximum size is a constant"),
    };
    Ok((value.data_type().clone(), distinct, max_size))
}

impl AggregateUDFImpl for Collect {
    fn name(&self) -> &str {
        "kql_collect"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [value, _, _] => Ok(list_of(value)),
            _ => internal_err!("kql_collect takes a value, a distinct flag and a maximum size"),
        }
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let [value, _, _] = args.input_fields else {
            return internal_err!("kql_collect takes a value, a distinct flag and a maximum size");
        };
        Ok(vec![Arc::new(Field::new(format_state_name(args.name, "values"), list_of(value.data_type()), true))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(Box::new(self.groups(args)?))))
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        settings(&args).is_ok()
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups(args)?))
    }
}

impl Collect {
    fn groups(&self, args: AccumulatorArgs) -> Result<Groups> {
        let (item_type, distinct, max_size) = settings(&args)?;
        Groups::new(item_type, distinct, max_size.unwrap_or(usize::MAX))
    }
}

/// A value in a set: the value in Arrow's row format (one column), which hashes and compares as
/// bytes and goes back to an array in one call.
type Held = Box<[u8]>;

/// A set's values, each once, in the order they came.
type Values = IndexSet<Held, ahash::RandomState>;

/// One group's values. A value is appended to `pending` (in row format; see `pending`), with
/// no lookup: a list's values stay there. A set takes its pending
/// values into `set` in one go when `pending` is full, and `pending` then has room for as many
/// bytes as the set holds (at least `pending::MIN_ROOM`), so a group holds at most about twice its
/// set. Taking a group's values together is what makes a set fast: a lookup per row, with
/// thousands of groups, lands each time in another group's table and misses the cache.
///
/// A group costs 32 bytes before its first value; millions of groups are common.
#[derive(Debug, Default)]
struct Group {
    pending: Vec<u8>,
    held: Option<Box<Taken>>,
}

/// What a group has taken beyond its pending bytes.
#[derive(Debug, Default)]
struct Taken {
    /// A list's values (pending ones included), for its bound.
    count: usize,
    set: Values,
    /// What the set's values cost (`entry_size`).
    set_bytes: usize,
}

/// Takes a set's pending values into it, each once, until it holds `max_size`; what the set's
/// values grew by.
fn take_pending(taken: &mut Taken, pending: &mut Vec<u8>, max_size: usize) -> usize {
    let before = taken.set_bytes;
    for value in pending::values(pending) {
        if taken.set.len() >= max_size {
            break;
        }
        if !taken.set.contains(value) {
            taken.set.insert(Held::from(value));
            taken.set_bytes += entry_size(value);
        }
    }
    pending.clear();
    taken.set_bytes - before
}

#[derive(Debug)]
struct Groups {
    item_type: DataType,
    distinct: bool,
    max_size: usize,
    rows: RowConverter,
    groups: Vec<Group>,
    /// What the groups hold (pending bytes' capacity, sets' values, `Taken` boxes), kept as
    /// they grow: DataFusion asks for `size` after every batch, too often to walk every group.
    bytes: usize,
}

impl Groups {
    fn new(item_type: DataType, distinct: bool, max_size: usize) -> Result<Groups> {
        let rows = RowConverter::new(vec![SortField::new(item_type.clone())])?;
        Ok(Groups { item_type, distinct, max_size, rows, groups: vec![], bytes: 0 })
    }

    fn resize(&mut self, total: usize) {
        if self.groups.len() < total {
            self.groups.resize_with(total, Group::default);
        }
    }

    /// Offers a value to group `g`: taken unless the group is full or, for a set, has it.
    fn offer(&mut self, g: usize, value: &[u8]) {
        let group = &mut self.groups[g];
        let Some(needed) = pending::room(value) else { return };
        if group.held.is_none() {
            group.held = Some(Box::default());
            self.bytes += size_of::<Taken>();
        }
        let Some(taken) = group.held.as_mut() else { return };
        let capacity = group.pending.capacity();
        if self.distinct {
            if group.pending.len() + needed > capacity {
                self.bytes += take_pending(taken, &mut group.pending, self.max_size);
                if taken.set.len() >= self.max_size {
                    // Full: it takes nothing more, and needs no room.
                    group.pending = Vec::new();
                    self.bytes -= capacity;
                    return;
                }
                group.pending.reserve(needed.max(pending::MIN_ROOM).max(taken.set_bytes));
            }
        } else {
            if taken.count >= self.max_size {
                return;
            }
            taken.count += 1;
        }
        pending::push(&mut group.pending, value);
        self.bytes = self.bytes + group.pending.capacity() - capacity;
    }

    /// The emitted groups' values as one list per group.
    fn lists(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut taken: Vec<Group> = match emit_to {
            EmitTo::All => std::mem::take(&mut self.groups),
            EmitTo::First(n) => self.groups.drain(..n.min(self.groups.len())).collect(),
        };
        for group in &mut taken {
            if let Some(held) = group.held.as_mut()
                && self.distinct
            {
                self.bytes += take_pending(held, &mut group.pending, self.max_size);
            }
            let held_bytes = group.held.as_ref().map_or(0, |h| h.set_bytes + size_of::<Taken>());
            self.bytes = self.bytes.saturating_sub(group.pending.capacity() + held_bytes);
        }
        let mut lengths = Vec::with_capacity(taken.len());
        let mut values: Vec<&[u8]> = Vec::new();
        for group in &taken {
            let before = values.len();
            match &group.held {
                Some(held) if self.distinct => values.extend(held.set.iter().map(|v| &v[..])),
                _ => values.extend(pending::values(&group.pending)),
            }
            lengths.push(values.len() - before);
        }
        let parser = self.rows.parser();
        let items = match self.rows.convert_rows(values.iter().map(|v| parser.parse(v)))?.pop() {
            Some(items) => items,
            None => new_empty_array(&self.item_type),
        };
        let field = Arc::new(Field::new_list_field(self.item_type.clone(), true));
        Ok(Arc::new(ListArray::try_new(field, OffsetBuffer::from_lengths(lengths), items, None)?))
    }
}

/// What one value in a set costs: its bytes and box, and about two words of index. A table's
/// spare capacity is not counted; it is at most as much again.
fn entry_size(value: &[u8]) -> usize {
    value.len() + size_of::<Held>() + 2 * size_of::<usize>()
}

impl GroupsAccumulator for Groups {
    fn update_batch(&mut self, values: &[ArrayRef], groups: &[usize], filter: Option<&BooleanArray>, total: usize) -> Result<()> {
        self.resize(total);
        let Some(values) = values.first() else { return internal_err!("kql_collect takes a value") };
        let rows = self.rows.convert_columns(std::slice::from_ref(values))?;
        for (row, &g) in groups.iter().enumerate() {
            if filter.is_none_or(|f| f.is_valid(row) && f.value(row)) {
                self.offer(g, rows.row(row).as_ref());
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        self.resize(total);
        let Some(lists) = states.first().and_then(|s| s.as_list_opt::<i32>()) else {
            return internal_err!("kql_collect's state is one list per group");
        };
        // Every list's values in one conversion; each list is a range of them.
        let rows = self.rows.convert_columns(std::slice::from_ref(lists.values()))?;
        let offsets = lists.value_offsets();
        for (row, &g) in groups.iter().enumerate() {
            if lists.is_valid(row) {
                for i in offsets[row] as usize..offsets[row + 1] as usize {
                    self.offer(g, rows.row(i).as_ref());
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.lists(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.lists(emit_to)?])
    }

    /// Each input row as a state of its own (a list of its value, or an empty list for a row
    /// the filter leaves out), for the partial step DataFusion skips when it hardly reduces the
    /// rows.
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let Some(values) = values.first() else { return internal_err!("kql_collect takes a value") };
        let keep: BooleanArray = match filter {
            Some(f) => (0..f.len()).map(|row| Some(f.is_valid(row) && f.value(row))).collect(),
            None => BooleanArray::from(vec![true; values.len()]),
        };
        let lengths = keep.values().iter().map(usize::from);
        let items = arrow::compute::filter(values, &keep)?;
        let field = Arc::new(Field::new_list_field(self.item_type.clone(), true));
        Ok(vec![Arc::new(ListArray::try_new(field, OffsetBuffer::from_lengths(lengths), items, None)?)])
    }

    fn size(&self) -> usize {
        self.bytes + self.groups.capacity() * size_of::<Group>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::Int64Type;

    fn groups(distinct: bool, max_size: usize) -> Groups {
        Groups::new(DataType::Int64, distinct, max_size).expect("a converter for longs")
    }

    fn longs(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    fn contents(lists: &ArrayRef) -> Vec<Vec<Option<i64>>> {
        let lists = lists.as_list::<i32>();
        (0..lists.len()).map(|i| lists.value(i).as_primitive::<Int64Type>().iter().collect()).collect()
    }

    #[test]
    fn a_set_keeps_each_value_once_in_the_order_first_seen_and_stops_at_max_size() {
        let mut set = groups(true, 3);
        let values = longs(&[Some(5), Some(1), Some(5), Some(7), Some(1), Some(9), Some(2)]);
        set.update_batch(&[values], &[0, 0, 0, 0, 1, 0, 1], None, 2).expect("updates");
        assert_eq!(contents(&set.evaluate(EmitTo::All).expect("evaluates")), vec![vec![Some(5), Some(1), Some(7)], vec![Some(1), Some(2)]]);
        assert_eq!(set.bytes, 0, "emitted values are no longer charged");
    }

    #[test]
    fn a_list_keeps_nulls_it_is_given_and_filtered_rows_are_left_out() {
        let mut list = groups(false, usize::MAX);
        let values = longs(&[Some(1), None, Some(1), Some(3)]);
        let filter = BooleanArray::from(vec![true, true, true, false]);
        list.update_batch(&[values], &[0, 0, 0, 0], Some(&filter), 1).expect("updates");
        assert_eq!(contents(&list.evaluate(EmitTo::All).expect("evaluates")), vec![vec![Some(1), None, Some(1)]]);
    }

    /// Partial states merged in the final step give the same set, held to the same size.
    #[test]
    fn partial_states_merge_to_one_bounded_set() {
        let mut first = groups(true, 4);
        first.update_batch(&[longs(&[Some(1), Some(2), Some(2)])], &[0, 0, 0], None, 1).expect("updates");
        let mut second = groups(true, 4);
        second.update_batch(&[longs(&[Some(2), Some(3), Some(4), Some(5)])], &[0, 0, 0, 0], None, 1).expect("updates");
        let mut last = groups(true, 4);
        for mut partial in [first, second] {
            let state = partial.state(EmitTo::All).expect("state");
            last.merge_batch(&state, &[0], 1).expect("merges");
        }
        assert_eq!(contents(&last.evaluate(EmitTo::All).expect("evaluates")), vec![vec![Some(1), Some(2), Some(3), Some(4)]]);
    }

    /// The path DataFusion takes when it skips the partial step: every row a state of its own.
    #[test]
    fn rows_converted_to_states_merge_to_the_same_set() {
        let values = longs(&[Some(3), Some(9), Some(3), Some(5)]);
        let filter = BooleanArray::from(vec![true, false, true, true]);
        let states = groups(true, usize::MAX).convert_to_state(&[values], Some(&filter)).expect("states");
        let mut last = groups(true, usize::MAX);
        last.merge_batch(&states, &[0, 0, 0, 1], 2).expect("merges");
        assert_eq!(contents(&last.evaluate(EmitTo::All).expect("evaluates")), vec![vec![Some(3)], vec![Some(5)]]);
    }

    #[test]
    fn size_grows_with_the_values_held_and_not_with_repeats() {
        let mut set = groups(true, usize::MAX);
        // Repeats fill the pending room again and again; each time they go into the set,
        // which does not grow, so neither does the room.
        let repeats: Vec<Option<i64>> = (0..10_000).map(|i| Some(i % 2 + 1)).collect();
        set.update_batch(&[longs(&repeats[..1000])], &[0; 1000], None, 1).expect("updates");
        let two = set.size();
        set.update_batch(&[longs(&repeats)], &[0; 10_000], None, 1).expect("updates");
        assert_eq!(set.size(), two);
        let distinct: Vec<Option<i64>> = (0..10_000).map(Some).collect();
        set.update_batch(&[longs(&distinct)], &[0; 10_000], None, 1).expect("updates");
        assert!(set.size() > two + 10_000 * 9, "each value held costs at least its 9 bytes");
        assert_eq!(contents(&set.evaluate(EmitTo::All).expect("evaluates"))[0].len(), 10_000);
        assert_eq!(set.bytes, 0, "emitted values are no longer charged");
    }

    /// Values pending and values in the set, across many rounds of taking them in, keep
    /// first-seen order, each once, and stop at MaxSize.
    #[test]
    fn a_large_set_taken_in_rounds_keeps_first_seen_order_and_its_bound() {
        let values: Vec<Option<i64>> = (0..50_000).map(|i| Some((i * 7919) % 3000)).collect();
        let mut expected: Vec<Option<i64>> = Vec::new();
        for v in &values {
            if !expected.contains(v) {
                expected.push(*v);
            }
        }
        let mut set = groups(true, 2500);
        set.update_batch(&[longs(&values)], &[0; 50_000], None, 1).expect("updates");
        expected.truncate(2500);
        assert_eq!(contents(&set.evaluate(EmitTo::All).expect("evaluates")), vec![expected]);
        let mut list = groups(false, 40_000);
        list.update_batch(&[longs(&values)], &[0; 50_000], None, 1).expect("updates");
        assert_eq!(contents(&list.evaluate(EmitTo::All).expect("evaluates")), vec![values[..40_000].to_vec()]);
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_rest() {
        let mut list = groups(false, usize::MAX);
        list.update_batch(&[longs(&[Some(1), Some(2), Some(3)])], &[0, 1, 2], None, 3).expect("updates");
        assert_eq!(contents(&list.evaluate(EmitTo::First(2)).expect("evaluates")), vec![vec![Some(1)], vec![Some(2)]]);
        assert_eq!(contents(&list.evaluate(EmitTo::All).expect("evaluates")), vec![vec![Some(3)]]);
    }
}
