//! `kql_make_bag(bag, max_keys)`: the bag `make_bag` (and `make_bag_if`) builds of a group's
//! bags, merged as rows come.
//!
//! kql planned `make_bag` as DataFusion's `array_agg` of every row's bag, merged when finished:
//! a group of a million rows held a million bags, however few keys they had between them. Here
//! a group holds its merged bag (and the bags not merged yet: see `Group`): each key once, with
//! the first value that came for it (Kusto: "an arbitrary value, out of the possible values for
//! this key, is selected"), and no more than `max_keys` keys (MaxSize). The merge is the one
//! kql made before: a row whose value is not a bag (an array, a number, a string, even one that
//! holds a bag's text) adds nothing ("Non-dictionary values will be skipped"), and a key whose
//! value is null is kept.
//!
//! A row's text is read once, without building its values: each member's text is borrowed and
//! only a new key's value is copied, in JSON's compact form. The result is the bag's JSON text
//! (`{}` for a group without bags); the planner tags it `dynamic`.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, BooleanArray, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};
use datafusion::physical_expr::expressions::Literal;
use indexmap::IndexMap;
use serde_json::value::RawValue;

use super::StrArray;
use super::one_group::OneGroup;
use super::pending;

/// `kql_make_bag(bag, max_keys)`.
pub fn make_bag() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    UDAF.get_or_init(|| Arc::new(AggregateUDF::from(MakeBag { signature: Signature::any(2, Volatility::Immutable) }))).clone()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeBag {
    signature: Signature,
}

/// The constant `max_keys` argument, as the planner writes it.
fn max_keys(args: &AccumulatorArgs) -> Result<usize> {
    let [_, max_keys] = args.exprs else {
        return internal_err!("kql_make_bag takes a bag and a maximum number of keys");
    };
    match max_keys.downcast_ref::<Literal>().map(|l| l.value().clone()) {
        Some(ScalarValue::Int64(Some(n))) => Ok(usize::try_from(n).unwrap_or(0)),
        _ => internal_err!("kql_make_bag's maximum number of keys is a constant"),
    }
}

impl AggregateUDFImpl for MakeBag {
    fn name(&self) -> &str {
        "kql_make_bag"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format_state_name(args.name, "bag"), DataType::Utf8, true))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(Box::new(Bags::new(max_keys(&args)?)))))
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        max_keys(&args).is_ok()
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Bags::new(max_keys(&args)?)))
    }
}

/// A group's bag: each key's value as compact JSON text, in the order the keys came.
type Bag = IndexMap<Box<str>, Box<str>, ahash::RandomState>;

/// One group. A row's bag text is appended to `pending` (see `pending`), with no lookup; when `pending` is full its bags are merged into `merged`
/// together, and `pending` then has room for as many bytes as the merged bag holds (at least
/// `pending::MIN_ROOM`), so a group holds at most about twice its bag. Merging a group's rows
/// together is what makes this fast: a lookup per row, with thousands of groups, lands each
/// time in another group's table and misses the cache (merging row by row took 6-7 s where
/// `array_agg` took 4.3 s, for `make_bag` by 20,000 sources over 10 M rows).
///
/// A group costs 32 bytes before its first bag; millions of groups are common.
#[derive(Debug, Default)]
struct Group {
    pending: Vec<u8>,
    merged: Option<Box<Merged>>,
}

#[derive(Debug, Default)]
struct Merged {
    bag: Bag,
    /// What the bag's keys cost (`entry_size`).
    bytes: usize,
}

#[derive(Debug)]
struct Bags {
    max_keys: usize,
    groups: Vec<Group>,
    /// What the groups hold (pending bytes' capacity, merged bags, their boxes), kept as they
    /// grow: DataFusion asks for `size` after every batch, too often to walk every group.
    bytes: usize,
}

/// What one key of a bag costs: its text and value's, two boxes, and about two words of index.
fn entry_size(key: &str, value: &str) -> usize {
    key.len() + value.len() + 2 * size_of::<Box<str>>() + 2 * size_of::<usize>()
}

impl Bags {
    fn new(max_keys: usize) -> Bags {
        Bags { max_keys, groups: vec![], bytes: 0 }
    }

    /// Offers the bag written as `text` to group `g` (see `Group`).
    fn offer(&mut self, g: usize, text: &str) {
        let group = &mut self.groups[g];
        let Some(needed) = pending::room(text.as_bytes()) else { return };
        let capacity = group.pending.capacity();
        if group.pending.len() + needed > capacity {
            if group.merged.is_none() {
                self.bytes += size_of::<Merged>();
            }
            let merged = group.merged.get_or_insert_with(Box::default);
            self.bytes = self.bytes.saturating_add_signed(merge_pending(merged, &mut group.pending, self.max_keys));
            if merged.bag.len() >= self.max_keys {
                // Full: it takes nothing more, and needs no room.
                group.pending = Vec::new();
                self.bytes -= capacity;
                return;
            }
            group.pending.reserve(needed.max(pending::MIN_ROOM).max(merged.bytes));
        }
        pending::push(&mut group.pending, text.as_bytes());
        self.bytes = self.bytes + group.pending.capacity() - capacity;
    }

    /// The emitted groups' bags as JSON text (null for a group that was offered none).
    fn bags(&mut self, emit_to: EmitTo) -> ArrayRef {
        let taken: Vec<Group> = match emit_to {
            EmitTo::All => std::mem::take(&mut self.groups),
            EmitTo::First(n) => self.groups.drain(..n.min(self.groups.len())).collect(),
        };
        let mut out = StringBuilder::with_capacity(taken.len(), taken.len() * 16);
        let mut text = String::new();
        for mut group in taken {
            // What the group was charged, before its last bags are merged.
            let charged = group.pending.capacity() + group.merged.as_ref().map_or(0, |m| size_of::<Merged>() + m.bytes);
            self.bytes = self.bytes.saturating_sub(charged);
            if !group.pending.is_empty() {
                let merged = group.merged.get_or_insert_with(Box::default);
                merge_pending(merged, &mut group.pending, self.max_keys);
            }
            let Some(merged) = group.merged else {
                out.append_null();
                continue;
            };
            text.clear();
            text.push('{');
            for (i, (key, value)) in merged.bag.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&serde_json::Value::String(key.to_string()).to_string());
                text.push(':');
                text.push_str(value);
            }
            text.push('}');
            out.append_value(&text);
        }
        Arc::new(out.finish())
    }
}

/// Merges the bags in `pending` into `merged`, in the order they came, and empties `pending`;
/// what the merged bag's cost grew by.
fn merge_pending(merged: &mut Merged, pending: &mut Vec<u8>, max_keys: usize) -> isize {
    let mut found = Vec::new();
    let mut grew = 0;
    for text in pending::values(pending) {
        if merged.bag.len() >= max_keys {
            break;
        }
        if let Ok(text) = std::str::from_utf8(text) {
            grew += merge_bag(&mut merged.bag, text, &mut found, max_keys);
        }
    }
    pending.clear();
    merged.bytes = merged.bytes.saturating_add_signed(grew);
    grew
}

/// Merges the bag written as `text` into `bag`: its keys the bag does not have yet, up to
/// `max_keys`. Text that is not a JSON bag adds nothing. `found` is room for the row's
/// members, reused from row to row. What the bag's cost grew by.
fn merge_bag<'t>(bag: &mut Bag, text: &'t str, found: &mut Vec<(&'t str, &'t RawValue)>, max_keys: usize) -> isize {
    let row_start = bag.len();
    let mut grew = 0;
    if read_members(text, found) {
        for (key, value) in found.iter() {
            grew += add(bag, row_start, max_keys, key, || compact(value.get()));
        }
    } else if let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(text) {
        // Keys with escapes, which cannot be borrowed: the bag read as a value.
        for (key, value) in &object {
            grew += add(bag, row_start, max_keys, key, || value.to_string());
        }
    }
    grew
}

/// Adds `key` to `bag` unless the bag has it or is full. A key the same row added before (at
/// `row_start` or later) takes the row's later value, as a parsed bag keeps the last of equal
/// keys. What the bag's cost grew by.
fn add(bag: &mut Bag, row_start: usize, max_keys: usize, key: &str, value: impl FnOnce() -> String) -> isize {
    match bag.get_index_of(key) {
        Some(i) if i >= row_start => {
            let value = value();
            let Some((_, old)) = bag.get_index_mut(i) else { return 0 };
            let grew = value.len() as isize - old.len() as isize;
            *old = value.into();
            grew
        }
        Some(_) => 0,
        None if bag.len() >= max_keys => 0,
        None => {
            let value = value();
            let grew = entry_size(key, &value) as isize;
            bag.insert(key.into(), value.into());
            grew
        }
    }
}

/// Reads a JSON bag's members into `found` (each key and the text of its value, borrowed from
/// `text`, in order); false when `text` is not a JSON bag whose keys are free of escapes.
fn read_members<'t>(text: &'t str, found: &mut Vec<(&'t str, &'t RawValue)>) -> bool {
    found.clear();
    super::dynamic::each_member(text, |key, value| found.push((key, value)))
}

/// A member's value in JSON's compact form (as a parsed bag writes it).
fn compact(value: &str) -> String {
    if super::dynamic::plain_json_string(value).is_some() || value == "true" || value == "false" || value == "null" {
        return value.to_string();
    }
    serde_json::from_str::<serde_json::Value>(value).map_or_else(|_| value.to_string(), |v| v.to_string())
}

impl GroupsAccumulator for Bags {
    fn update_batch(&mut self, values: &[ArrayRef], groups: &[usize], filter: Option<&BooleanArray>, total: usize) -> Result<()> {
        if self.groups.len() < total {
            self.groups.resize_with(total, Group::default);
        }
        let Some(values) = values.first() else { return internal_err!("kql_make_bag takes a bag") };
        // A value that is not text (a number, a list) is not a bag: it adds nothing.
        let Ok(texts) = StrArray::try_new(values) else { return Ok(()) };
        for (row, &g) in groups.iter().enumerate() {
            if filter.is_none_or(|f| f.is_valid(row) && f.value(row))
                && let Some(text) = texts.get(row)
            {
                self.offer(g, text);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        self.update_batch(states, groups, None, total)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.bags(emit_to))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.bags(emit_to)])
    }

    /// Each row's bag as a state of its own (null for a row the filter leaves out).
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let Some(values) = values.first() else { return internal_err!("kql_make_bag takes a bag") };
        let texts = match StrArray::try_new(values) {
            Ok(texts) => texts,
            Err(_) => return Ok(vec![arrow::array::new_null_array(&DataType::Utf8, values.len())]),
        };
        let mut out = StringBuilder::with_capacity(values.len(), 0);
        for row in 0..values.len() {
            match texts.get(row) {
                Some(text) if filter.is_none_or(|f| f.is_valid(row) && f.value(row)) => out.append_value(text),
                _ => out.append_null(),
            }
        }
        Ok(vec![Arc::new(out.finish())])
    }

    fn size(&self) -> usize {
        self.bytes + self.groups.capacity() * size_of::<Group>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, StringArray};

    fn texts(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(values.iter().copied().collect::<StringArray>())
    }

    fn strings(array: &ArrayRef) -> Vec<Option<String>> {
        array.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn bags_merge_first_value_per_key_in_the_order_keys_came_and_skip_what_is_not_a_bag() {
        let mut bags = Bags::new(usize::MAX);
        let rows = texts(&[
            Some(r#"{"z":1,"b":{"x" : [1, 2]}}"#),
            Some(r#""{\"a\":1}""#),
            Some("[1]"),
            Some("not json"),
            Some(r#"{"b":3,"c":null,"d":"v\"q","d":"last"}"#),
            None,
            Some(r#"{"e\u0041":1,"z":9}"#),
            Some(r#"{"a":1}"#),
        ]);
        bags.update_batch(&[rows], &[0, 0, 0, 0, 0, 0, 0, 1], None, 3).expect("updates");
        assert_eq!(
            strings(&bags.evaluate(EmitTo::All).expect("evaluates")),
            vec![Some(r#"{"z":1,"b":{"x":[1,2]},"c":null,"d":"last","eA":1}"#.to_string()), Some(r#"{"a":1}"#.to_string()), None]
        );
        assert_eq!(bags.bytes, 0, "emitted bags are no longer charged");
    }

    #[test]
    fn a_bag_stops_at_max_keys_and_partial_bags_merge_to_the_same_bound() {
        let mut first = Bags::new(3);
        first.update_batch(&[texts(&[Some(r#"{"a":1,"b":2}"#)])], &[0], None, 1).expect("updates");
        let mut second = Bags::new(3);
        second.update_batch(&[texts(&[Some(r#"{"c":3,"d":4,"a":5}"#)])], &[0], None, 1).expect("updates");
        let mut last = Bags::new(3);
        for mut partial in [first, second] {
            let state = partial.state(EmitTo::All).expect("state");
            last.merge_batch(&state, &[0], 1).expect("merges");
        }
        assert_eq!(strings(&last.evaluate(EmitTo::All).expect("evaluates")), vec![Some(r#"{"a":1,"b":2,"c":3}"#.to_string())]);
    }

    /// Bags merged over many rounds of pending bytes, in three interleaved groups: each key's
    /// first value, keys in the order they came, at most `max_keys` of them.
    #[test]
    fn bags_merged_in_rounds_keep_first_values_in_order_and_their_bound() {
        let rows: Vec<String> = (0..20_000).map(|i| format!(r#"{{"k{}":{i}}}"#, (i * 7) % 50)).collect();
        let groups: Vec<usize> = (0..20_000).map(|i| i % 3).collect();
        let mut bags = Bags::new(40);
        bags.update_batch(&[texts(&rows.iter().map(|r| Some(r.as_str())).collect::<Vec<_>>())], &groups, None, 3).expect("updates");
        let got = strings(&bags.evaluate(EmitTo::All).expect("evaluates"));
        for (g, bag) in got.iter().enumerate() {
            let mut expected: Vec<(String, usize)> = Vec::new();
            for i in (0..20_000).filter(|i| i % 3 == g) {
                let key = format!("k{}", (i * 7) % 50);
                if expected.len() < 40 && !expected.iter().any(|(k, _)| *k == key) {
                    expected.push((key, i));
                }
            }
            let text: Vec<String> = expected.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
            assert_eq!(bag.as_deref(), Some(format!("{{{}}}", text.join(",")).as_str()), "group {g}");
        }
    }

    #[test]
    fn repeated_keys_do_not_grow_a_bag() {
        let mut bags = Bags::new(usize::MAX);
        // Repeats fill the pending room again and again; each time they are merged into a bag
        // that does not grow, so neither does the room.
        let repeats: Vec<Option<&str>> = vec![Some(r#"{"a":2}"#); 10_000];
        bags.update_batch(&[texts(&repeats[..1000])], &[0; 1000], None, 1).expect("updates");
        let one = bags.size();
        bags.update_batch(&[texts(&repeats)], &[0; 10_000], None, 1).expect("updates");
        assert_eq!(bags.size(), one);
        assert_eq!(strings(&bags.evaluate(EmitTo::All).expect("evaluates")), vec![Some(r#"{"a":2}"#.to_string())]);
        assert_eq!(bags.bytes, 0, "emitted bags are no longer charged");
    }
}
