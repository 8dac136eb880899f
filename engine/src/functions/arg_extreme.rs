//! `arg_max`/`arg_min` as aggregates of their own, for a key and a value that are both plain
//! numbers, datetimes or timespans (the common case: `arg_max(count_, TimeDelta)`,
//! `arg_max(TimeGenerated, ProcessId)`).
//!
//! DataFusion's `first_value(v ORDER BY k DESC)`, which kql plans for the other types, keeps
//! each group's ordering key as a vector of `ScalarValue`s and compares those row by row; over
//! millions of groups (the beaconing rule's second summarize) that was most of the query's time.
//! Here each group holds its best key and its value in two plain vectors.
//!
//! Semantics are those of the `first_value` plan they replace: a row whose key is null never
//! beats a row with a key, and a group whose keys are all null keeps the value of a row it saw;
//! of rows with equal keys, the first seen wins.

use std::cmp::Ordering;
use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use super::one_group::{Held, OneGroup};
use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowNativeTypeOp, DataType, DurationNanosecondType, Field, FieldRef, Float64Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};

/// `kql_arg_max(key, value)`: the value of the row with the largest key.
pub fn arg_max() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    UDAF.get_or_init(|| Arc::new(AggregateUDF::from(ArgExtreme::new("kql_arg_max", true)))).clone()
}

/// `kql_arg_min(key, value)`: the value of the row with the smallest key.
pub fn arg_min() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    UDAF.get_or_init(|| Arc::new(AggregateUDF::from(ArgExtreme::new("kql_arg_min", false)))).clone()
}

/// Whether a key or value of this type is one these aggregates hold (the planner uses
/// `first_value` for the rest).
pub fn supports(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int32
            | DataType::Int64
            | DataType::Float64
            | DataType::Timestamp(TimeUnit::Microsecond, _)
            | DataType::Duration(TimeUnit::Nanosecond)
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArgExtreme {
    name: &'static str,
    max: bool,
    signature: Signature,
}

impl ArgExtreme {
    fn new(name: &'static str, max: bool) -> ArgExtreme {
        ArgExtreme { name, max, signature: Signature::any(2, Volatility::Immutable) }
    }
}

fn input_types(args: &AccumulatorArgs) -> Result<(DataType, DataType)> {
    match args.expr_fields {
        [key, value] => Ok((key.data_type().clone(), value.data_type().clone())),
        _ => internal_err!("arg_max/arg_min take a key and a value"),
    }
}

impl AggregateUDFImpl for ArgExtreme {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [_, value] => Ok(value.clone()),
            _ => internal_err!("{} takes a key and a value", self.name),
        }
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let [key, value] = args.input_fields else { return internal_err!("{} takes a key and a value", self.name) };
        Ok(vec![
            Arc::new(Field::new(format_state_name(args.name, "key"), key.data_type().clone(), true)),
            Arc::new(Field::new(format_state_name(args.name, "value"), value.data_type().clone(), true)),
            Arc::new(Field::new(format_state_name(args.name, "seen"), DataType::Boolean, true)),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(self.groups(args)?)))
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        input_types(&args).is_ok_and(|(k, v)| supports(&k) && supports(&v))
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(self.groups(args)?)
    }
}

impl ArgExtreme {
    fn groups(&self, args: AccumulatorArgs) -> Result<Box<dyn Held>> {
        let (key, value) = input_types(&args)?;
        macro_rules! by_value {
            ($k:ty) => {
                match &value {
                    DataType::Int32 => Ok(Box::new(Groups::<$k, Int32Type>::new(self.max, key, value))),
                    DataType::Int64 => Ok(Box::new(Groups::<$k, Int64Type>::new(self.max, key, value))),
                    DataType::Float64 => Ok(Box::new(Groups::<$k, Float64Type>::new(self.max, key, value))),
                    DataType::Timestamp(TimeUnit::Microsecond, _) => {
                        Ok(Box::new(Groups::<$k, TimestampMicrosecondType>::new(self.max, key, value)))
                    }
                    DataType::Duration(TimeUnit::Nanosecond) => {
                        Ok(Box::new(Groups::<$k, DurationNanosecondType>::new(self.max, key, value)))
                    }
                    other => internal_err!("{} cannot hold a value of type {other}", self.name),
                }
            };
        }
        match &key {
            DataType::Int32 => by_value!(Int32Type),
            DataType::Int64 => by_value!(Int64Type),
            DataType::Float64 => by_value!(Float64Type),
            DataType::Timestamp(TimeUnit::Microsecond, _) => by_value!(TimestampMicrosecondType),
            DataType::Duration(TimeUnit::Nanosecond) => by_value!(DurationNanosecondType),
            other => internal_err!("{} cannot compare keys of type {other}", self.name),
        }
    }
}

/// Each group's best key so far, its value and whether the group saw any row.
#[derive(Debug)]
struct Groups<K: ArrowPrimitiveType, V: ArrowPrimitiveType> {
    max: bool,
    key_type: DataType,
    value_type: DataType,
    keys: Vec<K::Native>,
    has_key: Vec<bool>,
    values: Vec<V::Native>,
    has_value: Vec<bool>,
    seen: Vec<bool>,
}

impl<K: ArrowPrimitiveType, V: ArrowPrimitiveType> Groups<K, V> {
    fn new(max: bool, key_type: DataType, value_type: DataType) -> Self {
        Groups { max, key_type, value_type, keys: vec![], has_key: vec![], values: vec![], has_value: vec![], seen: vec![] }
    }

    fn resize(&mut self, groups: usize) {
        self.keys.resize(groups, K::Native::default());
        self.has_key.resize(groups, false);
        self.values.resize(groups, V::Native::default());
        self.has_value.resize(groups, false);
        self.seen.resize(groups, false);
    }

    /// One row (or one partial state) offered to group `g`.
    fn offer(&mut self, g: usize, key: Option<K::Native>, value: Option<V::Native>) {
        let take = match key {
            Some(k) => {
                !self.has_key[g] || {
                    let order = k.compare(self.keys[g]);
                    if self.max { order == Ordering::Greater } else { order == Ordering::Less }
                }
            }
            None => !self.seen[g],
        };
        if take {
            if let Some(k) = key {
                self.keys[g] = k;
                self.has_key[g] = true;
            }
            self.values[g] = value.unwrap_or_default();
            self.has_value[g] = value.is_some();
            self.seen[g] = true;
        }
    }

    fn offer_all(&mut self, keys: &ArrayRef, values: &ArrayRef, groups: &[usize], keep: impl Fn(usize) -> bool) -> Result<()> {
        let (Some(keys), Some(values)) = (keys.as_primitive_opt::<K>(), values.as_primitive_opt::<V>()) else {
            return internal_err!("arg_max/arg_min got arguments of other types than planned");
        };
        for (row, &g) in groups.iter().enumerate() {
            if keep(row) {
                let key = keys.is_valid(row).then(|| keys.value(row));
                let value = values.is_valid(row).then(|| values.value(row));
                self.offer(g, key, value);
            }
        }
        Ok(())
    }
}

fn primitive<T: ArrowPrimitiveType>(values: Vec<T::Native>, valid: Vec<bool>, data_type: &DataType) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(values.into(), Some(NullBuffer::from(valid))).with_data_type(data_type.clone()))
}

impl<K: ArrowPrimitiveType, V: ArrowPrimitiveType> GroupsAccumulator for Groups<K, V> {
    fn update_batch(&mut self, values: &[ArrayRef], groups: &[usize], filter: Option<&BooleanArray>, total: usize) -> Result<()> {
        self.resize(total);
        let [keys, values] = values else { return internal_err!("arg_max/arg_min take a key and a value") };
        self.offer_all(keys, values, groups, |row| filter.is_none_or(|f| f.is_valid(row) && f.value(row)))
    }

    fn merge_batch(&mut self, states: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        self.resize(total);
        let [keys, values, seen] = states else { return internal_err!("arg_max/arg_min's state has three columns") };
        let seen = seen.as_boolean();
        self.offer_all(keys, values, groups, |row| seen.is_valid(row) && seen.value(row))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let values = emit_to.take_needed(&mut self.values);
        let has_value = emit_to.take_needed(&mut self.has_value);
        emit_to.take_needed(&mut self.keys);
        emit_to.take_needed(&mut self.has_key);
        emit_to.take_needed(&mut self.seen);
        Ok(primitive::<V>(values, has_value, &self.value_type))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let keys = primitive::<K>(emit_to.take_needed(&mut self.keys), emit_to.take_needed(&mut self.has_key), &self.key_type);
        let values = primitive::<V>(emit_to.take_needed(&mut self.values), emit_to.take_needed(&mut self.has_value), &self.value_type);
        let seen: ArrayRef = Arc::new(BooleanArray::from(emit_to.take_needed(&mut self.seen)));
        Ok(vec![keys, values, seen])
    }

    /// Each input row as a state of its own, for the partial step DataFusion skips when it
    /// hardly reduces the rows (millions of distinct groups).
    fn convert_to_state(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let [keys, values] = values else { return internal_err!("arg_max/arg_min take a key and a value") };
        let seen: BooleanArray = match filter {
            Some(f) => (0..f.len()).map(|row| Some(f.is_valid(row) && f.value(row))).collect(),
            None => BooleanArray::from(vec![true; keys.len()]),
        };
        Ok(vec![Arc::clone(keys), Arc::clone(values), Arc::new(seen)])
    }

    fn size(&self) -> usize {
        self.keys.capacity() * size_of::<K::Native>()
            + self.values.capacity() * size_of::<V::Native>()
            + self.has_key.capacity()
            + self.has_value.capacity()
            + self.seen.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn longs(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    /// The path DataFusion takes when it skips the partial step: every row becomes a state of
    /// its own, and the final step merges them as it merges partial results.
    #[test]
    fn rows_converted_to_states_merge_to_the_same_answer() {
        let keys = longs(&[Some(3), Some(9), None, Some(5), Some(7)]);
        let values = longs(&[Some(30), Some(90), Some(0), Some(50), None]);
        let filter = BooleanArray::from(vec![true, false, true, true, true]);
        let partial = Groups::<Int64Type, Int64Type>::new(true, DataType::Int64, DataType::Int64);
        let states = partial.convert_to_state(&[keys, values], Some(&filter)).expect("states");
        let mut last = Groups::<Int64Type, Int64Type>::new(true, DataType::Int64, DataType::Int64);
        // Rows 0..2 to group 0, rows 3..4 to group 1; row 1 (key 9) is filtered out.
        last.merge_batch(&states, &[0, 0, 0, 1, 1], 2).expect("merges");
        let out = last.evaluate(EmitTo::All).expect("evaluates");
        assert_eq!(out.as_primitive::<Int64Type>(), &Int64Array::from(vec![Some(30), None]));
    }

    #[test]
    fn arg_min_keeps_the_first_of_equal_keys_and_a_keyless_group_its_first_row() {
        let mut groups = Groups::<Int64Type, Int64Type>::new(false, DataType::Int64, DataType::Int64);
        let keys = longs(&[Some(2), Some(2), None, None]);
        let values = longs(&[Some(1), Some(2), Some(3), Some(4)]);
        groups.update_batch(&[keys, values], &[0, 0, 1, 1], None, 2).expect("updates");
        let out = groups.evaluate(EmitTo::All).expect("evaluates");
        assert_eq!(out.as_primitive::<Int64Type>(), &Int64Array::from(vec![Some(1), Some(3)]));
    }
}
