//! `long` arithmetic that reports overflow. Kusto's documentation ("Overflow", concepts):
//! a result too large for its type is a query failure that names the computation, never a
//! wrapped value; DataFusion's `+`, `-` and `*` on Int64 wrap around (`9223372036854775807 * 2`
//! gave -2). `kql_long_arith(l, r, 'op@start-end')` computes with Arrow's checked kernels and,
//! on overflow, fails with a message that carries the operator's place in the query text, so
//! the error points at the expression, not at the statement (see `error::runtime_span`).
//!
//! Also here, the arithmetic that would otherwise name its operand more than once in the plan,
//! or nest as deep as the query is long: Kusto's never-negative `%` (`kql_modulo` over reals,
//! a `%` step of the long chain over longs), runs of real arithmetic (`kql_real_chain`), and
//! `datetime ± timespan` and `timespan ± timespan` (steps of a long chain: null past the
//! datetime range, saturating timespans).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Datum, PrimitiveArray};
use arrow::compute::kernels::numeric;
use arrow::datatypes::DataType;
use arrow::datatypes::{ArrowPrimitiveType, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use super::scalar_str;

/// The function's name, by which the planner recognises its calls.
pub const LONG_ARITH: &str = "kql_long_arith";

/// The name of the chain form, `kql_long_chain(x0, x1, ..., xn, 'op@start-end;...')`: one call
/// for a long run of operators (`a + b + c + ...`), computed left to right with the same
/// checks and error places as the nested calls it replaces. DataFusion types a call by typing
/// its arguments again, so `n` nested calls cost the square of `n` to plan (1,000 terms:
/// 1.7 s; 2,000: 11 s); one call of `n` arguments costs `n`.
pub const LONG_CHAIN: &str = "kql_long_chain";

/// `kql_real_chain(x0, x1, ..., xn, 'op;op;...')`: a long run of `+`, `-`, `*`, `/` over reals
/// (`1.5 + y - y * 2.0 ...`), each operand taken as a real, computed left to right with
/// Arrow's kernels, as DataFusion's own operators compute them (a division by zero is an
/// infinity or NaN, never an error). As nested operators, DataFusion named and typed the whole
/// run again at every link: 2,000 terms took 1.5 s, 5,000 11 s.
pub const REAL_CHAIN: &str = "kql_real_chain";

pub fn long_arith() -> ScalarUDF {
    arithmetic_function(LONG_ARITH, DataType::Int64)
}

pub fn long_chain() -> ScalarUDF {
    arithmetic_function(LONG_CHAIN, DataType::Int64)
}

pub fn real_chain() -> ScalarUDF {
    arithmetic_function(REAL_CHAIN, DataType::Float64)
}

fn arithmetic_function(name: &'static str, value: DataType) -> ScalarUDF {
    ScalarUDF::new_from_impl(LongArith { name, value, signature: Signature::variadic_any(Volatility::Immutable) })
}

/// The operation of `datetime + timespan` in a long chain: the datetime's microseconds plus
/// the timespan's nanoseconds in whole microseconds (towards zero), null past Kusto's
/// datetime range (0001-01-01 to 9999-12-31), never a wrapped date. Written `dt+` and `dt-`;
/// so `t + 1s + 1s + ...` is one chain. (A range check around each step held its operand
/// twice, and nested calls are named and typed again at each level: 2,000 terms took 43 s.)
pub const DATETIME_PLUS: &str = "dt+";
pub const DATETIME_MINUS: &str = "dt-";

/// The operation of `timespan ± timespan` in a long chain: nanoseconds added, saturating at
/// the bounds of what a timespan holds here (±292 years) as `datetime - datetime` does, so a
/// comparison with any shorter timespan keeps Kusto's answer; never a wrapped timespan.
/// Written `ts+` and `ts-`.
pub const TIMESPAN_PLUS: &str = "ts+";
pub const TIMESPAN_MINUS: &str = "ts-";

/// Whether `f` is one of this module's functions, which return a long or a real, never
/// `dynamic`: the planner need not type their arguments to know it.
pub fn is_arithmetic(f: &ScalarUDF) -> bool {
    let inner = f.inner();
    inner.downcast_ref::<LongArith>().is_some() || inner.downcast_ref::<Modulo>().is_some()
}

/// `kql_modulo(l, r)`: Kusto's `%`, never negative (-14 % 12 is 10, 14 % -12 is 2), of two
/// reals (the planner makes `%` over longs a step of the long chain) or two longs. As `CASE
/// WHEN l % r < 0 THEN l % r + abs(r) ELSE l % r END` it held `l` three times, so `((y % 7) %
/// 7) % 7 ...` tripled its expression at every step (12 deep: 20 s).
pub const MODULO: &str = "kql_modulo";

pub fn modulo() -> ScalarUDF {
    let signature = Signature::one_of(
        vec![
            datafusion::logical_expr::TypeSignature::Exact(vec![DataType::Int64, DataType::Int64]),
            datafusion::logical_expr::TypeSignature::Exact(vec![DataType::Float64, DataType::Float64]),
        ],
        Volatility::Immutable,
    );
    ScalarUDF::new_from_impl(Modulo { signature })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Modulo {
    signature: Signature,
}

impl ScalarUDFImpl for Modulo {
    fn name(&self) -> &str {
        MODULO
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(if args.first() == Some(&DataType::Float64) { DataType::Float64 } else { DataType::Int64 })
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::short_schema_name(MODULO, args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [l, r] = args.args.as_slice() else {
            return exec_err!("{MODULO}: takes two operands");
        };
        match (l, r) {
            // The common shape, `x % 7`: the divisor is used as it is, not made into a column
            // of its own in every batch.
            (ColumnarValue::Array(l), ColumnarValue::Scalar(r)) => Ok(ColumnarValue::Array(modulo_by_constant(l, r)?)),
            (ColumnarValue::Scalar(l), ColumnarValue::Scalar(r)) => {
                let out = modulo_by_constant(&l.to_array()?, r)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
            }
            _ => {
                let arrays = ColumnarValue::values_to_arrays(&args.args)?;
                let [l, r] = arrays.as_slice() else {
                    return exec_err!("{MODULO}: takes two operands");
                };
                Ok(ColumnarValue::Array(modulo_of_columns(l, r)?))
            }
        }
    }
}

/// `l % r` for every row of `l` by one divisor; a null or zero divisor gives nulls.
fn modulo_by_constant(l: &ArrayRef, r: &ScalarValue) -> Result<ArrayRef> {
    use arrow::array::{Float64Array, Int64Array, new_null_array};
    use arrow::datatypes::{Float64Type, Int64Type};
    Ok(match (l.as_any().downcast_ref::<Int64Array>(), r) {
        (Some(l), ScalarValue::Int64(Some(r))) if *r != 0 => Arc::new(l.unary::<_, Int64Type>(|v| long_modulo(v, *r))),
        (Some(l), ScalarValue::Int64(_)) => new_null_array(&DataType::Int64, l.len()),
        _ => match (l.as_any().downcast_ref::<Float64Array>(), r) {
            (Some(l), ScalarValue::Float64(Some(r))) => Arc::new(l.unary::<_, Float64Type>(|v| real_modulo(v, *r))),
            (Some(l), ScalarValue::Float64(None)) => new_null_array(&DataType::Float64, l.len()),
            _ => return exec_err!("{MODULO}: expected two longs or two reals, got {} and {}", l.data_type(), r.data_type()),
        },
    })
}

/// `l % r` row by row.
fn modulo_of_columns(l: &ArrayRef, r: &ArrayRef) -> Result<ArrayRef> {
    use arrow::array::{Float64Array, Int64Array};
    Ok(match (l.as_any().downcast_ref::<Int64Array>(), r.as_any().downcast_ref::<Int64Array>()) {
        (Some(l), Some(r)) => Arc::new(
            l.iter()
                .zip(r.iter())
                .map(|(l, r)| match (l, r) {
                    // A zero divisor is null (the planner makes it so; kept here too).
                    (Some(l), Some(r)) if r != 0 => Some(long_modulo(l, r)),
                    _ => None,
                })
                .collect::<Int64Array>(),
        ),
        _ => match (l.as_any().downcast_ref::<Float64Array>(), r.as_any().downcast_ref::<Float64Array>()) {
            (Some(l), Some(r)) => Arc::new(l.iter().zip(r.iter()).map(|(l, r)| Some(real_modulo(l?, r?))).collect::<Float64Array>()),
            _ => return exec_err!("{MODULO}: expected two longs or two reals, got {} and {}", l.data_type(), r.data_type()),
        },
    })
}

/// `l % r` of reals made non-negative (a zero divisor gives NaN, as `fmod` does).
fn real_modulo(l: f64, r: f64) -> f64 {
    let m = l % r;
    if m < 0.0 { m + r.abs() } else { m }
}

/// `l % r` made non-negative, without overflow: `i64::MIN % -1` is 0, and a negative
/// remainder plus `|i64::MIN|` fits.
fn long_modulo(l: i64, r: i64) -> i64 {
    let m = l.wrapping_rem(r);
    match (m < 0, r < 0) {
        (false, _) => m,
        (true, true) => m.wrapping_sub(r),
        (true, false) => m.wrapping_add(r),
    }
}

/// `kql_long_arith`, `kql_long_chain` or `kql_real_chain` as a DataFusion function: it returns
/// its `value` type (a long or a real) whatever its arguments, and names itself as every kql
/// function does (`short_schema_name`); where the last argument holds the operators' places
/// in the query text (overflow-checked long operators), they keep the names of distinct
/// operators apart. (Real chains and datetime or timespan steps carry no places; every
/// column kql projects is named by an alias, so equal names do no harm.)
#[derive(Debug, PartialEq, Eq, Hash)]
struct LongArith {
    name: &'static str,
    value: DataType,
    signature: Signature,
}

impl ScalarUDFImpl for LongArith {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.value.clone())
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::short_schema_name(self.name, args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some((operations, operands)) = args.args.split_last() else {
            return exec_err!("{}: no operands", self.name);
        };
        let Some(operations) = scalar_str(operations) else {
            return exec_err!("{}: the operation must be a constant", self.name);
        };
        // One operation for each operand after the first: `l op r` is a chain of one link.
        let [first, rest @ ..] = operands else {
            return exec_err!("{}: no operands", self.name);
        };
        let operations: Vec<&str> = operations.split(';').collect();
        if operations.len() != rest.len() {
            return exec_err!("{}: {} operations for {} operands", self.name, operations.len(), operands.len());
        }
        let mut acc = first.clone();
        for (operand, operation) in rest.iter().zip(operations) {
            acc = apply(&acc, operand, operation, &self.value, args.number_rows)?;
        }
        Ok(acc)
    }
}

/// The third argument of `kql_long_arith`: the operator and the span of its expression.
pub fn operation(op: &str, start: usize, end: usize) -> String {
    format!("{op}@{start}-{end}")
}

/// `left op right` in `value`'s type, where `operation` is `op@start-end` (the place of its
/// expression).
fn apply(left: &ColumnarValue, right: &ColumnarValue, operation: &str, value: &DataType, rows: usize) -> Result<ColumnarValue> {
    let (op, at) = operation.split_once('@').unwrap_or((operation, ""));
    match op {
        DATETIME_PLUS | DATETIME_MINUS => return datetime_step(left, right, op == DATETIME_MINUS),
        TIMESPAN_PLUS => return long_step(left, right, |l, r| Some(l?.saturating_add(r?))),
        TIMESPAN_MINUS => return long_step(left, right, |l, r| Some(l?.saturating_sub(r?))),
        // Kusto's never-negative `%`: over reals as `kql_modulo` computes it, over longs with
        // a zero divisor null.
        "%" if *value == DataType::Float64 => return typed_step::<Float64Type>(left, right, |l, r| Some(real_modulo(l?, r?))),
        "%" => return long_step(left, right, |l, r| r.filter(|r| *r != 0).and_then(|r| Some(long_modulo(l?, r)))),
        _ => {}
    }
    let both_scalars = matches!((left, right), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
    let left = datum(left, value, rows)?;
    let right = datum(right, value, rows)?;
    let computed = match op {
        "+" => numeric::add(left.as_ref(), right.as_ref()),
        "-" => numeric::sub(left.as_ref(), right.as_ref()),
        "*" => numeric::mul(left.as_ref(), right.as_ref()),
        "/" => numeric::div(left.as_ref(), right.as_ref()),
        other => return exec_err!("kql arithmetic: unknown operator '{other}'"),
    };
    match computed {
        Ok(array) if both_scalars => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)),
        Ok(array) => Ok(ColumnarValue::Array(array)),
        Err(arrow::error::ArrowError::ArithmeticOverflow(_)) => {
            exec_err!("arithmetic overflow: the result of '{op}' does not fit a long{}", crate::error::span_marker(at))
        }
        // The planner turns a divisor of 0 into null; what is left is i64::MIN / -1.
        Err(arrow::error::ArrowError::DivideByZero) => {
            exec_err!("arithmetic overflow: division by zero{}", crate::error::span_marker(at))
        }
        Err(e) => Err(e.into()),
    }
}

/// A datetime's microseconds `left` plus (or minus) a timespan's nanoseconds `right`: see
/// `DATETIME_PLUS`.
fn datetime_step(left: &ColumnarValue, right: &ColumnarValue, minus: bool) -> Result<ColumnarValue> {
    use kql_grammar::values::{MAX_DATETIME, MIN_DATETIME, NANOS_PER_MICRO};
    long_step(left, right, |micros, nanos| {
        let span = nanos? / NANOS_PER_MICRO;
        let sum = if minus { micros?.checked_sub(span) } else { micros?.checked_add(span) };
        sum.filter(|v| (MIN_DATETIME..=MAX_DATETIME).contains(v))
    })
}

/// `step` of each row's two longs (null where it gives none); two scalars give a scalar.
fn long_step(left: &ColumnarValue, right: &ColumnarValue, step: impl Fn(Option<i64>, Option<i64>) -> Option<i64>) -> Result<ColumnarValue> {
    typed_step::<Int64Type>(left, right, step)
}

/// `step` of each row's two values, both taken as `T` (null where it gives none); two scalars
/// give a scalar. A scalar operand (`TimeGenerated + 1h`) is used as it is, not made into a
/// column of its own in every batch.
fn typed_step<T: ArrowPrimitiveType>(
    left: &ColumnarValue,
    right: &ColumnarValue,
    step: impl Fn(Option<T::Native>, Option<T::Native>) -> Option<T::Native>,
) -> Result<ColumnarValue> {
    let values = |v: &ColumnarValue| -> Result<PrimitiveArray<T>> {
        let array = match v {
            ColumnarValue::Scalar(s) => s.to_array()?,
            ColumnarValue::Array(a) => Arc::clone(a),
        };
        Ok(arrow::compute::cast(&array, &T::DATA_TYPE)?.as_primitive::<T>().clone())
    };
    let (l, r) = (values(left)?, values(right)?);
    let at = |a: &PrimitiveArray<T>, i: usize| a.is_valid(i).then(|| a.value(i));
    let out: PrimitiveArray<T> = match (left, right) {
        (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)) => {
            let one: PrimitiveArray<T> = std::iter::once(step(at(&l, 0), at(&r, 0))).collect();
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&one, 0)?));
        }
        (ColumnarValue::Array(_), ColumnarValue::Scalar(_)) => {
            let r = at(&r, 0);
            l.iter().map(|l| step(l, r)).collect()
        }
        (ColumnarValue::Scalar(_), ColumnarValue::Array(_)) => {
            let l = at(&l, 0);
            r.iter().map(|r| step(l, r)).collect()
        }
        (ColumnarValue::Array(_), ColumnarValue::Array(_)) => l.iter().zip(r.iter()).map(|(l, r)| step(l, r)).collect(),
    };
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// A scalar stays a one-row scalar datum (Arrow broadcasts it); an array is used as is; both
/// in the chain's `value` type.
fn datum(v: &ColumnarValue, value: &DataType, rows: usize) -> Result<Box<dyn Datum>> {
    Ok(match v {
        ColumnarValue::Scalar(s) => {
            let s = if s.data_type() == *value { s.clone() } else { s.cast_to(value)? };
            Box::new(s.to_scalar()?)
        }
        ColumnarValue::Array(a) => {
            let a = if a.data_type() == value { a.clone() } else { arrow::compute::cast(a, value)? };
            debug_assert_eq!(a.len(), rows);
            Box::new(a)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::long_modulo;

    /// Kusto's `%` is never negative; the edges of the long range neither wrap nor panic.
    #[test]
    fn long_modulo_is_never_negative_and_never_overflows() {
        assert_eq!(long_modulo(-14, 12), 10);
        assert_eq!(long_modulo(14, -12), 2);
        assert_eq!(long_modulo(-14, -12), 10);
        assert_eq!(long_modulo(14, 12), 2);
        assert_eq!(long_modulo(i64::MIN, -1), 0);
        assert_eq!(long_modulo(i64::MIN, i64::MIN), 0);
        assert_eq!(long_modulo(i64::MIN + 1, i64::MIN), 1);
        assert_eq!(long_modulo(-1, i64::MAX), i64::MAX - 1);
        assert_eq!(long_modulo(-1, i64::MIN), i64::MAX);
    }
}
