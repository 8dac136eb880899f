//! `long` arithmetic that reports overflow. Kusto's documentation ("Overflow", concepts):
//! a result too large for its type is a query failure that names the computation, never a
//! wrapped value; DataFusion's `+`, `-` and `*` on Int64 wrap around (`9223372036854775807 * 2`
//! gave -2). `kql_long_arith(l, r, 'op@start-end')` computes with Arrow's checked kernels and,
//! on overflow, fails with a message that carries the operator's place in the query text, so
//! the error points at the expression, not at the statement (see `error::runtime_span`).

use arrow::array::Datum;
use arrow::compute::kernels::numeric;
use arrow::datatypes::DataType;
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

pub fn long_arith() -> ScalarUDF {
    ScalarUDF::new_from_impl(LongArith { name: LONG_ARITH, signature: Signature::variadic_any(Volatility::Immutable) })
}

pub fn long_chain() -> ScalarUDF {
    ScalarUDF::new_from_impl(LongArith { name: LONG_CHAIN, signature: Signature::variadic_any(Volatility::Immutable) })
}

/// `kql_long_arith` or `kql_long_chain` as a DataFusion function: it returns a long whatever
/// its arguments, and names itself as every kql function does (`short_schema_name`); the
/// operators' places in the query text (the last argument) keep the names of distinct
/// operators apart.
#[derive(Debug, PartialEq, Eq, Hash)]
struct LongArith {
    name: &'static str,
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
        Ok(DataType::Int64)
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
            acc = apply(&acc, operand, operation, args.number_rows)?;
        }
        Ok(acc)
    }
}

/// The third argument of `kql_long_arith`: the operator and the span of its expression.
pub fn operation(op: &str, start: usize, end: usize) -> String {
    format!("{op}@{start}-{end}")
}

/// `left op right`, where `operation` is `op@start-end` (the place of its expression).
fn apply(left: &ColumnarValue, right: &ColumnarValue, operation: &str, rows: usize) -> Result<ColumnarValue> {
    let (op, at) = operation.split_once('@').unwrap_or((operation, ""));
    let both_scalars = matches!((left, right), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
    let left = datum(left, rows)?;
    let right = datum(right, rows)?;
    let computed = match op {
        "+" => numeric::add(left.as_ref(), right.as_ref()),
        "-" => numeric::sub(left.as_ref(), right.as_ref()),
        "*" => numeric::mul(left.as_ref(), right.as_ref()),
        "/" => numeric::div(left.as_ref(), right.as_ref()),
        other => return exec_err!("kql_long_arith: unknown operator '{other}'"),
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

/// A scalar stays a one-row scalar datum (Arrow broadcasts it); an array is used as is.
fn datum(v: &ColumnarValue, rows: usize) -> Result<Box<dyn Datum>> {
    Ok(match v {
        ColumnarValue::Scalar(s) => {
            let s = if s.data_type() == DataType::Int64 { s.clone() } else { s.cast_to(&DataType::Int64)? };
            Box::new(s.to_scalar()?)
        }
        ColumnarValue::Array(a) => {
            let a = if a.data_type() == &DataType::Int64 { a.clone() } else { arrow::compute::cast(a, &DataType::Int64)? };
            debug_assert_eq!(a.len(), rows);
            Box::new(a)
        }
    })
}
