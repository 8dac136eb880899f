//! A groups accumulator run as a plain `Accumulator` (an aggregate without `by`): one group,
//! the same code. kql's own aggregates (`arg_extreme`, `collect`) share it.

use std::fmt::Debug;

use arrow::array::{Array, ArrayRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

/// A groups accumulator that `OneGroup` can hold.
pub trait Held: GroupsAccumulator + Sync + Debug {}
impl<T: GroupsAccumulator + Sync + Debug> Held for T {}

/// The one group's entry of `array`; a null of its type when no row ever came.
fn the_group(array: &ArrayRef) -> Result<ScalarValue> {
    if array.is_empty() { ScalarValue::try_from(array.data_type()) } else { ScalarValue::try_from_array(array, 0) }
}

/// The aggregate without `by`.
#[derive(Debug)]
pub struct OneGroup(pub Box<dyn Held>);

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; rows], 1)
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        the_group(&self.0.evaluate(EmitTo::All)?)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.state(EmitTo::All)?.iter().map(the_group).collect()
    }
    fn size(&self) -> usize {
        self.0.size()
    }
}
