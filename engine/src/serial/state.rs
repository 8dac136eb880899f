//! The serial columns computed batch by batch, in one pass over the ordered rows.
//!
//! Every serial function but `next` depends on the rows before only, so a few values carried
//! from batch to batch (a row number, a running sum, the previous value, the last `k` values
//! for `prev(x, k)`) are all it needs. `next(x, k)` needs the `k` rows after, so a batch waits
//! in a queue until `k` more rows have arrived (or the input ended). The node thus holds about
//! one batch plus the largest `next` offset, not the whole input: at 100 M rows that is the
//! difference between a few megabytes and several gigabytes outside the memory pool.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, new_null_array};
use arrow::compute::{cast, concat};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::physical_expr::PhysicalExpr;

use super::{PhysicalSerial, SerialFunc};

/// The serial columns of one input, fed its batches in order.
pub(super) struct SerialState {
    columns: Vec<PhysicalSerial>,
    /// Each serial column's output type.
    types: Vec<DataType>,
    carried: Vec<Carried>,
    /// The largest `next` offset: how many rows after a batch must have arrived before it goes out.
    lookahead: usize,
    queue: VecDeque<Waiting>,
    /// Rows in the queue (all batches).
    queued_rows: usize,
    schema: SchemaRef,
}

/// What a column carries from one batch to the next.
enum Carried {
    RowNumber {
        n: i64,
    },
    CumSum {
        int: i64,
        float: f64,
    },
    /// The previous row's value (a one-row array), the current rank and the row within the partition.
    Rank {
        previous: Option<ArrayRef>,
        rank: i64,
        row: i64,
    },
    Session {
        start: Option<i64>,
        previous: Option<i64>,
    },
    /// `prev(x, k)`: the last `k` values seen (fewer at the start).
    Previous {
        history: Option<ArrayRef>,
    },
    /// `next(x, k)`: nothing; the rows after are in the queue.
    Next,
}

/// A batch whose `next` columns wait for the rows after it.
struct Waiting {
    batch: RecordBatch,
    /// The serial columns computed so far (none yet for `next` columns).
    computed: Vec<Option<ArrayRef>>,
    /// Per `next` column, its argument over this batch's rows.
    ahead: Vec<Option<ArrayRef>>,
}

impl SerialState {
    pub(super) fn new(columns: Vec<PhysicalSerial>, schema: SchemaRef) -> Result<Self> {
        let first_serial = schema.fields().len().saturating_sub(columns.len());
        let types: Vec<DataType> = (0..columns.len()).map(|i| schema.field(first_serial + i).data_type().clone()).collect();
        let mut lookahead = 0usize;
        let carried = columns
            .iter()
            .map(|c| {
                Ok(match (&c.func, &c.arg) {
                    (SerialFunc::RowNumber, _) => Carried::RowNumber { n: 0 },
                    (SerialFunc::CumSum, Some(_)) => Carried::CumSum { int: 0, float: 0.0 },
                    (SerialFunc::Rank { .. }, Some(_)) => Carried::Rank { previous: None, rank: 0, row: 0 },
                    (SerialFunc::WindowSession { .. }, Some(_)) => Carried::Session { start: None, previous: None },
                    (SerialFunc::Shift { offset, .. }, Some(_)) if *offset < 0 => Carried::Previous { history: None },
                    (SerialFunc::Shift { offset, .. }, Some(_)) => {
                        lookahead = lookahead.max(usize::try_from(*offset).unwrap_or(usize::MAX));
                        Carried::Next
                    }
                    (_, None) => return internal_err!("a serial column needs an argument"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SerialState { columns, types, carried, lookahead, queue: VecDeque::new(), queued_rows: 0, schema })
    }

    /// Takes the next input batch; returns the batches whose serial columns are now known.
    pub(super) fn push(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(vec![]);
        }
        let mut computed = Vec::with_capacity(self.columns.len());
        let mut ahead = Vec::with_capacity(self.columns.len());
        for i in 0..self.columns.len() {
            let (column, ty) = (&self.columns[i], &self.types[i]);
            let restart = restarts(&column.restart, &batch)?;
            // A `next` column's value waits for the rows after; its argument over this batch
            // goes `ahead` for them.
            let (value, argument) = match (&mut self.carried[i], &column.func, &column.arg) {
                (Carried::Next, _, Some(arg)) => (None, Some(evaluate(arg, &batch)?)),
                (Carried::RowNumber { n }, _, _) => (Some(row_numbers(n, &restart)), None),
                (Carried::CumSum { int, float }, _, Some(arg)) => (Some(cumsum(int, float, &evaluate(arg, &batch)?, &restart, ty)?), None),
                (Carried::Rank { previous, rank, row }, SerialFunc::Rank { dense }, Some(arg)) => {
                    (Some(ranks(previous, rank, row, *dense, evaluate(arg, &batch)?, &restart)?), None)
                }
                (Carried::Session { start, previous }, SerialFunc::WindowSession { max_from_first, max_gap }, Some(arg)) => {
                    (Some(sessions(start, previous, (*max_from_first, *max_gap), &evaluate(arg, &batch)?, &restart, ty)?), None)
                }
                (Carried::Previous { history }, SerialFunc::Shift { offset, default }, Some(arg)) => {
                    (Some(previous_values(history, offset.unsigned_abs() as usize, default, evaluate(arg, &batch)?, ty)?), None)
                }
                _ => return internal_err!("a serial column's state does not match its function"),
            };
            computed.push(value);
            ahead.push(argument);
        }
        self.queued_rows += batch.num_rows();
        self.queue.push_back(Waiting { batch, computed, ahead });
        let mut out = vec![];
        while let Some(front) = self.queue.front()
            && self.queued_rows - front.batch.num_rows() >= self.lookahead
        {
            out.push(self.release_front()?);
        }
        Ok(out)
    }

    /// The input ended: the batches still waiting, their `next` columns filled with defaults
    /// where no row follows.
    pub(super) fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(self.queue.len());
        while !self.queue.is_empty() {
            out.push(self.release_front()?);
        }
        Ok(out)
    }

    /// The bytes the node holds: the waiting batches and the carried values.
    ///
    /// Counted by the rows held, not by the buffers they point into: a sort may hand on
    /// slices of larger arrays, whose buffers `get_array_memory_size` counts whole for each
    /// slice (so counted, this node's output in the beaconing rule at 10 M rows is 4.3 GB, in
    /// a process whose peak resident memory is 0.6 GB).
    pub(super) fn held_bytes(&self) -> usize {
        let waiting: usize = self
            .queue
            .iter()
            .map(|w| {
                w.batch.columns().iter().chain(w.computed.iter().flatten()).chain(w.ahead.iter().flatten()).map(slice_bytes).sum::<usize>()
            })
            .sum();
        let carried: usize = self
            .carried
            .iter()
            .map(|c| match c {
                Carried::Previous { history: Some(a) } | Carried::Rank { previous: Some(a), .. } => slice_bytes(a),
                _ => 0,
            })
            .sum();
        waiting + carried
    }

    /// The queue's first batch with all its serial columns.
    fn release_front(&mut self) -> Result<RecordBatch> {
        let Some(front) = self.queue.front() else { return internal_err!("no batch waits") };
        let n = front.batch.num_rows();
        let mut columns = front.batch.columns().to_vec();
        for (i, column) in self.columns.iter().enumerate() {
            columns.push(match (&front.computed[i], &column.func) {
                (Some(done), _) => done.clone(),
                (None, SerialFunc::Shift { offset, default }) => {
                    let k = usize::try_from(*offset).unwrap_or(usize::MAX);
                    let parts: Vec<&ArrayRef> = self.queue.iter().filter_map(|w| w.ahead[i].as_ref()).collect();
                    following_values(&parts, k, n, default, &self.types[i])?
                }
                (None, _) => return internal_err!("a serial column was not computed"),
            });
        }
        self.queued_rows -= n;
        self.queue.pop_front();
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// The bytes of an array's own rows: its slice of the fixed-width and offset buffers, and
/// for string and binary views the text its views point at.
fn slice_bytes(array: &ArrayRef) -> usize {
    let own = array.to_data().get_slice_memory_size().unwrap_or_else(|_| array.get_array_memory_size());
    let viewed = match array.data_type() {
        DataType::Utf8View => array.as_string_view().total_buffer_bytes_used(),
        DataType::BinaryView => array.as_binary_view().total_buffer_bytes_used(),
        _ => 0,
    };
    own + viewed
}

/// Evaluates `expr` over one batch.
fn evaluate(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<ArrayRef> {
    let array = expr.evaluate(batch)?.into_array(batch.num_rows())?;
    Ok(compact_views(array))
}

/// A string or binary view array whose data buffers hold only its own values.
///
/// A view slice keeps every data buffer of the array it was cut from, and `concat` copies all
/// of them for each part: nested `next(next(...))` multiplied a column's strings per level
/// until an allocation of gigabytes failed (found by the fuzzer). Compacted first, each part
/// brings only its own strings.
fn compact_views(array: ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Utf8View => Arc::new(array.as_string_view().gc()),
        DataType::BinaryView => Arc::new(array.as_binary_view().gc()),
        _ => array,
    }
}

/// Where a restart predicate is true, per row of the batch (all false without one).
fn restarts(restart: &Option<Arc<dyn PhysicalExpr>>, batch: &RecordBatch) -> Result<Vec<bool>> {
    let Some(r) = restart else { return Ok(vec![false; batch.num_rows()]) };
    let a = r.evaluate(batch)?.into_array(batch.num_rows())?;
    let Some(a) = a.as_boolean_opt() else { return internal_err!("a restart predicate must be bool, not {}", a.data_type()) };
    Ok((0..a.len()).map(|i| a.is_valid(i) && a.value(i)).collect())
}

/// 1, 2, 3, ... continuing from `n`, back to 1 where a restart is true.
fn row_numbers(n: &mut i64, restart: &[bool]) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(restart.iter().map(|&r| {
        *n = if r { 1 } else { *n + 1 };
        *n
    })))
}

/// The running sum (nulls count as 0), starting over where a restart is true.
fn cumsum(int: &mut i64, float: &mut f64, values: &ArrayRef, restart: &[bool], ty: &DataType) -> Result<ArrayRef> {
    let values = cast(values, ty)?;
    Ok(if *ty == DataType::Float64 {
        let v = values.as_primitive::<Float64Type>();
        Arc::new(Float64Array::from_iter_values(restart.iter().enumerate().map(|(i, &r)| {
            let x = if v.is_valid(i) { v.value(i) } else { 0.0 };
            *float = if r { x } else { *float + x };
            *float
        })))
    } else {
        let v = values.as_primitive::<Int64Type>();
        Arc::new(Int64Array::from_iter_values(restart.iter().enumerate().map(|(i, &r)| {
            let x = if v.is_valid(i) { v.value(i) } else { 0 };
            *int = if r { x } else { int.wrapping_add(x) };
            *int
        })))
    })
}

/// `row_rank_dense`/`row_rank_min`: the rank of each value in row order, carried on from the
/// previous batch's last value.
fn ranks(
    previous: &mut Option<ArrayRef>,
    rank: &mut i64,
    row: &mut i64,
    dense: bool,
    values: ArrayRef,
    restart: &[bool],
) -> Result<ArrayRef> {
    let same = equal_to_previous(previous.as_ref(), &values)?;
    let first_ever = previous.is_none();
    let ranks = Int64Array::from_iter_values((0..values.len()).map(|i| {
        let new_partition = (i == 0 && first_ever) || restart[i];
        *row = if new_partition { 1 } else { *row + 1 };
        *rank = match (new_partition, same[i], dense) {
            (true, _, _) => 1,
            (false, true, _) => *rank,
            (false, false, true) => *rank + 1,
            (false, false, false) => *row,
        };
        *rank
    }));
    if !values.is_empty() {
        *previous = Some(compact_views(values.slice(values.len() - 1, 1)));
    }
    Ok(Arc::new(ranks))
}

/// Per row, whether its value equals the one before it (the last of `previous` for the first
/// row); nulls equal nulls.
fn equal_to_previous(previous: Option<&ArrayRef>, values: &ArrayRef) -> Result<Vec<bool>> {
    let n = values.len();
    if n == 0 {
        return Ok(vec![]);
    }
    let shifted = match previous {
        Some(p) if p.data_type() == values.data_type() => concat(&[p.as_ref(), values.slice(0, n - 1).as_ref()])?,
        _ => concat(&[new_null_array(values.data_type(), 1).as_ref(), values.slice(0, n - 1).as_ref()])?,
    };
    let mut same: Vec<bool> = match arrow::compute::kernels::cmp::not_distinct(values, &shifted) {
        Ok(eq) => (0..n).map(|i| eq.value(i)).collect(),
        // Nested and dictionary values: compared one by one.
        Err(_) => (0..n)
            .map(|i| Ok(ScalarValue::try_from_array(values, i)? == ScalarValue::try_from_array(&shifted, i)?))
            .collect::<Result<_>>()?,
    };
    if previous.is_none() {
        same[0] = false;
    }
    Ok(same)
}

/// `row_window_session`: each row's session start, carried on from the previous batch.
fn sessions(
    start: &mut Option<i64>,
    previous: &mut Option<i64>,
    (max_from_first, max_gap): (i64, i64),
    values: &ArrayRef,
    restart: &[bool],
    ty: &DataType,
) -> Result<ArrayRef> {
    let values = cast(values, &DataType::Int64)?;
    let v = values.as_primitive::<Int64Type>();
    let starts = Int64Array::from_iter((0..v.len()).map(|i| {
        let x = v.is_valid(i).then(|| v.value(i));
        let new_session = match (x, *start, *previous) {
            (Some(x), Some(s), Some(p)) => restart[i] || x.saturating_sub(s) > max_from_first || x.saturating_sub(p) > max_gap,
            _ => true,
        };
        if new_session {
            *start = x;
        }
        *previous = x;
        *start
    }));
    Ok(cast(&(Arc::new(starts) as ArrayRef), ty)?)
}

/// `default` repeated `n` times, as `ty`.
fn defaults(default: &ScalarValue, n: usize, ty: &DataType) -> Result<ArrayRef> {
    if default.is_null() { Ok(new_null_array(ty, n)) } else { default.cast_to(ty)?.to_array_of_size(n) }
}

/// `prev(x, k)` over one batch: each row's value `k` rows earlier, from `history` (the last
/// values of the batches before) where the batch does not reach back far enough.
fn previous_values(history: &mut Option<ArrayRef>, k: usize, default: &ScalarValue, values: ArrayRef, ty: &DataType) -> Result<ArrayRef> {
    let values = cast(&values, ty)?;
    let n = values.len();
    let combined = match history.take() {
        Some(h) => concat(&[h.as_ref(), values.as_ref()])?,
        None => values,
    };
    let h = combined.len() - n;
    // Rows before `first_known` have no row `k` before them in the input.
    let first_known = k.saturating_sub(h).min(n);
    let known = combined.slice(h + first_known - k.min(h + first_known), n - first_known);
    let out = if first_known == 0 { known } else { concat(&[defaults(default, first_known, ty)?.as_ref(), known.as_ref()])? };
    let keep = k.min(combined.len());
    *history = (keep > 0).then(|| compact_views(combined.slice(combined.len() - keep, keep)));
    Ok(out)
}

/// `next(x, k)` over the first `n` rows of `parts`: the values from row `k` on, `default` past the end.
fn following_values(parts: &[&ArrayRef], k: usize, n: usize, default: &ScalarValue, ty: &DataType) -> Result<ArrayRef> {
    let mut pieces: Vec<ArrayRef> = vec![];
    let (mut skip, mut wanted) = (k, n);
    for part in parts {
        if wanted == 0 {
            break;
        }
        let len = part.len();
        if skip >= len {
            skip -= len;
            continue;
        }
        let take = (len - skip).min(wanted);
        pieces.push(part.slice(skip, take));
        skip = 0;
        wanted -= take;
    }
    if wanted > 0 {
        pieces.push(defaults(default, wanted, ty)?);
    }
    let pieces: Vec<ArrayRef> = pieces.into_iter().map(|p| cast(&p, ty)).collect::<std::result::Result<_, _>>()?;
    Ok(match pieces.as_slice() {
        [one] => one.clone(),
        _ => concat(&pieces.iter().map(|p| p.as_ref()).collect::<Vec<_>>())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, Column, lit};

    fn x() -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new("x", 0))
    }

    fn s() -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new("s", 1))
    }

    fn serial(func: SerialFunc, arg: Option<Arc<dyn PhysicalExpr>>) -> PhysicalSerial {
        PhysicalSerial { func, arg, restart: None }
    }

    /// One column of every kind, named c0, c1, ...
    fn columns() -> Vec<(PhysicalSerial, DataType)> {
        let shift = |offset, default: ScalarValue| SerialFunc::Shift { offset, default };
        let above_seven: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(x(), Operator::Gt, lit(7i64)));
        vec![
            (PhysicalSerial { func: SerialFunc::RowNumber, arg: None, restart: Some(above_seven) }, DataType::Int64),
            (serial(SerialFunc::CumSum, Some(x())), DataType::Int64),
            (serial(SerialFunc::Rank { dense: true }, Some(x())), DataType::Int64),
            (serial(SerialFunc::Rank { dense: false }, Some(x())), DataType::Int64),
            (serial(SerialFunc::WindowSession { max_from_first: 3, max_gap: 2 }, Some(x())), DataType::Int64),
            (serial(shift(-1, ScalarValue::Int64(None)), Some(x())), DataType::Int64),
            (serial(shift(3, ScalarValue::Int64(Some(0))), Some(x())), DataType::Int64),
            (serial(shift(1, ScalarValue::Utf8(None)), Some(s())), DataType::Utf8),
            (serial(shift(-4, ScalarValue::Utf8(Some("-".into()))), Some(s())), DataType::Utf8),
            (serial(shift(100, ScalarValue::Int64(None)), Some(x())), DataType::Int64),
            (serial(shift(-100, ScalarValue::Int64(None)), Some(x())), DataType::Int64),
            (serial(shift(0, ScalarValue::Int64(None)), Some(x())), DataType::Int64),
            (serial(SerialFunc::Rank { dense: true }, Some(s())), DataType::Int64),
        ]
    }

    fn input() -> RecordBatch {
        let x = Int64Array::from(vec![Some(1), Some(1), Some(2), None, Some(3), Some(3), Some(9), Some(4)]);
        let s = StringArray::from(vec![Some("a"), Some("b"), Some("b"), None, None, Some("c"), Some("a"), Some("a")]);
        let schema = Schema::new(vec![Field::new("x", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(x), Arc::new(s)]).expect("valid batch")
    }

    /// The serial columns of `input()` fed in batches of `size` rows, as one batch.
    fn run(size: usize) -> RecordBatch {
        let input = input();
        let (columns, types): (Vec<_>, Vec<_>) = columns().into_iter().unzip();
        let mut fields: Vec<Field> = input.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(types.iter().enumerate().map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true)));
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        let mut state = SerialState::new(columns, schema.clone()).expect("state");
        let mut out = vec![];
        let mut start = 0;
        while start < input.num_rows() {
            let len = size.min(input.num_rows() - start);
            out.extend(state.push(input.slice(start, len)).expect("push"));
            start += len;
        }
        out.extend(state.finish().expect("finish"));
        assert!(state.queue.is_empty(), "no batch waits after the end");
        arrow::compute::concat_batches(&schema, &out).expect("same schema")
    }

    fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
        let column = batch.column_by_name(name).expect("column");
        column.as_primitive::<Int64Type>().iter().collect()
    }

    fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
        let column = batch.column_by_name(name).expect("column");
        column.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn the_serial_columns_over_one_batch_are_kustos() {
        let out = run(8);
        let all = |v: &[i64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        assert_eq!(ints(&out, "c0"), all(&[1, 2, 3, 4, 5, 6, 1, 2]), "row_number restarting where x > 7");
        assert_eq!(ints(&out, "c1"), all(&[1, 2, 4, 4, 7, 10, 19, 23]), "row_cumsum, null as 0");
        assert_eq!(ints(&out, "c2"), all(&[1, 1, 2, 3, 4, 4, 5, 6]), "row_rank_dense, null a value of its own");
        assert_eq!(ints(&out, "c3"), all(&[1, 1, 3, 4, 5, 5, 7, 8]), "row_rank_min");
        assert_eq!(ints(&out, "c4"), vec![Some(1), Some(1), Some(1), None, Some(3), Some(3), Some(9), Some(9)], "row_window_session");
        assert_eq!(ints(&out, "c5"), vec![None, Some(1), Some(1), Some(2), None, Some(3), Some(3), Some(9)], "prev(x)");
        assert_eq!(ints(&out, "c6"), vec![None, Some(3), Some(3), Some(9), Some(4), Some(0), Some(0), Some(0)], "next(x, 3, 0)");
        let text = |v: &[Option<&str>]| v.iter().map(|s| s.map(str::to_string)).collect::<Vec<_>>();
        assert_eq!(strings(&out, "c7"), text(&[Some("b"), Some("b"), None, None, Some("c"), Some("a"), Some("a"), None]), "next(s)");
        assert_eq!(
            strings(&out, "c8"),
            text(&[Some("-"), Some("-"), Some("-"), Some("-"), Some("a"), Some("b"), Some("b"), None]),
            "prev(s, 4, '-')"
        );
        assert_eq!(ints(&out, "c9"), vec![None; 8], "next past the end");
        assert_eq!(ints(&out, "c10"), vec![None; 8], "prev before the start");
        assert_eq!(ints(&out, "c11"), ints(&out, "x"), "next(x, 0) is x");
        assert_eq!(ints(&out, "c12"), all(&[1, 2, 2, 3, 3, 4, 5, 5]), "row_rank_dense of strings");
    }

    /// Metamorphic: where the input's batches end must not change a serial column.
    #[test]
    fn batch_boundaries_do_not_change_the_serial_columns() {
        let whole = run(8);
        for size in 1..8 {
            assert_eq!(run(size), whole, "batches of {size} rows");
        }
    }

    #[test]
    fn a_batch_waits_only_for_the_rows_its_next_columns_need() {
        let input = input();
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let next_two = serial(SerialFunc::Shift { offset: 2, default: ScalarValue::Int64(None) }, Some(x()));
        let mut state = SerialState::new(vec![next_two], schema).expect("state");
        assert!(state.push(input.slice(0, 2)).expect("push").is_empty(), "rows 0-1 wait for two more");
        assert!(state.held_bytes() > 0);
        assert!(state.push(input.slice(2, 1)).expect("push").is_empty(), "one row is not enough");
        let out = state.push(input.slice(3, 1)).expect("push");
        assert_eq!(out.len(), 1, "rows 0-1 go out once rows 2-3 arrived");
        assert_eq!(ints(&out[0], "n"), vec![Some(2), None]);
        let rest: Vec<RecordBatch> = state.finish().expect("finish");
        assert_eq!(rest.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    }
}
