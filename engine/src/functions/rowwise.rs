//! Row-at-a-time functions: the long tail of KQL's library (string, datetime, math, array and
//! bag helpers), written as plain Rust over one row's values. The hot functions (string
//! predicates, IP ranges, `bin`, `datetime_diff`) are vectorised in their own files instead.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Decimal128Array, Decimal128Builder, DurationNanosecondBuilder, Float64Builder, Int32Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use serde_json::Value as Json;

use crate::types::{TIMESPAN, datetime_type, dynamic_field, is_dynamic_field};

/// One argument value of one row.
#[derive(Debug, Clone)]
pub enum V<'a> {
    Null,
    Bool(bool),
    Long(i64),
    Real(f64),
    Str(&'a str),
    /// Microseconds since the epoch.
    DateTime(i64),
    /// Nanoseconds.
    TimeSpan(i64),
    /// A `dynamic` value: parsed once per row from its column, or borrowed from the one parse
    /// of a constant argument that every row of the call shares.
    Json(Cow<'a, Json>),
}

impl<'a> V<'a> {
    /// The same value, borrowing what `self` owns (a constant's parsed JSON is shared by every
    /// row, never copied).
    pub fn share(&self) -> V<'_> {
        match self {
            V::Null => V::Null,
            V::Bool(b) => V::Bool(*b),
            V::Long(v) => V::Long(*v),
            V::Real(v) => V::Real(*v),
            V::Str(s) => V::Str(s),
            V::DateTime(v) => V::DateTime(*v),
            V::TimeSpan(v) => V::TimeSpan(*v),
            V::Json(j) => V::Json(Cow::Borrowed(j.as_ref())),
        }
    }

    /// The value as text, as `tostring` would give it (null is ""). A string argument is
    /// borrowed from its column, not copied for every row.
    pub fn text(&self) -> Cow<'a, str> {
        match self {
            V::Null => Cow::Borrowed(""),
            // .NET's text for booleans, which the real engine's tostring() and strcat() give.
            V::Bool(true) => Cow::Borrowed("True"),
            V::Bool(false) => Cow::Borrowed("False"),
            V::Long(v) => Cow::Owned(v.to_string()),
            V::Real(v) => Cow::Owned(crate::render::format_real(*v)),
            V::Str(s) => Cow::Borrowed(s),
            V::DateTime(us) => Cow::Owned(kql_grammar::values::format_datetime_full(*us)),
            V::TimeSpan(ns) => Cow::Owned(kql_grammar::values::format_timespan(*ns)),
            V::Json(j) => Cow::Owned(super::dynamic::json_to_text(j)),
        }
    }

    /// The bytes `hash()` and `hash_xxhash64()` read: UTF-8 for text, little-endian ticks for
    /// datetimes and timespans, little-endian integers for numbers.
    pub fn hash_bytes(&self) -> Cow<'a, [u8]> {
        const EPOCH_TICKS: i64 = 621_355_968_000_000_000;
        match self {
            V::DateTime(us) => Cow::Owned((us * 10 + EPOCH_TICKS).to_le_bytes().to_vec()),
            V::TimeSpan(ns) => Cow::Owned(ns.div_euclid(100).to_le_bytes().to_vec()),
            V::Long(v) => Cow::Owned(v.to_le_bytes().to_vec()),
            V::Real(v) => Cow::Owned(v.to_le_bytes().to_vec()),
            // A string argument is hashed where it lies in its column.
            other => match other.text() {
                Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                Cow::Owned(s) => Cow::Owned(s.into_bytes()),
            },
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            V::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn long(&self) -> Option<i64> {
        match self {
            V::Long(v) => Some(*v),
            V::Real(v) => Some(*v as i64),
            V::Json(j) => j.as_i64(),
            _ => None,
        }
    }

    pub fn real(&self) -> Option<f64> {
        match self {
            V::Long(v) => Some(*v as f64),
            V::Real(v) => Some(*v),
            V::Json(j) => j.as_f64(),
            _ => None,
        }
    }

    /// The value as JSON (for array and bag functions): a `dynamic` argument is borrowed; a
    /// caller that changes it takes `.into_owned()`.
    pub fn json(&self) -> Cow<'_, Json> {
        Cow::Owned(match self {
            V::Json(j) => return Cow::Borrowed(j.as_ref()),
            V::Null => Json::Null,
            V::Bool(b) => Json::Bool(*b),
            V::Long(v) => Json::from(*v),
            V::Real(v) => serde_json::Number::from_f64(*v).map(Json::Number).unwrap_or(Json::Null),
            V::Str(s) => Json::String(s.to_string()),
            V::DateTime(_) | V::TimeSpan(_) => Json::String(self.text().into_owned()),
        })
    }

    pub fn is_null(&self) -> bool {
        match self {
            V::Null => true,
            V::Json(j) => j.is_null(),
            _ => false,
        }
    }
}

/// One result value.
pub enum Out {
    Null,
    Bool(bool),
    Long(i64),
    Real(f64),
    Str(String),
    /// Microseconds since the epoch; past Kusto's range it becomes null.
    DateTime(i64),
    /// Nanoseconds.
    TimeSpan(i64),
    Json(Json),
    /// A `dynamic` value already written as JSON text: a large array (`range()`) costs a
    /// `Json` value of 32 bytes per element before its text is even written.
    JsonText(String),
    /// A whole decimal (`decimal` with no fraction digits), for `parse_version`.
    Decimal(i128),
}

/// The KQL type a row function returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    Bool,
    /// Kusto's `int` (32 bits): the parts of a datetime (`getyear`, `datetime_part`, ...).
    Int,
    Long,
    Real,
    Str,
    DateTime,
    TimeSpan,
    Dynamic,
    Decimal,
}

type RowFn = fn(&[V]) -> Out;

/// Numbers as a JSON array's text, written straight from them (`serde_json`'s `itoa`/`ryu`; a
/// non-finite real is null): a million-element `range()` or series as `Json` values first cost
/// 32 bytes a number and most of the time.
pub fn json_array_text<T: serde::Serialize>(xs: &[T]) -> String {
    serde_json::to_string(xs).unwrap_or_else(|_| "null".to_string())
}

pub struct RowUdf {
    /// `kql_` and the KQL name, so that it never resolves to a DataFusion function of the same
    /// name when a plan is decoded (`replace`, `reverse`, `substring` ...).
    name: String,
    ret: Ret,
    f: RowFn,
    signature: Signature,
}

impl RowUdf {
    pub fn scalar(name: impl Into<String>, ret: Ret, f: RowFn) -> ScalarUDF {
        let name = name.into();
        // Any arguments, none included (`pi()`, `rand()`).
        // Random values are new for every row. `range()` and a series' axis of constants are
        // constants, but large ones: folded at planning into a literal (30 MB of text for an
        // axis of a million bins), they were copied and hashed by every optimizer pass (2.2 s;
        // fuzz seed 40), so they are computed when the query runs, once per batch. The rest
        // may be computed once for constants.
        let volatility = if matches!(name.as_str(), "kql_rand" | "kql_new_guid" | "kql_range" | "kql_series_axis") {
            Volatility::Volatile
        } else {
            Volatility::Immutable
        };
        let signature = Signature::one_of(vec![TypeSignature::VariadicAny, TypeSignature::Nullary], volatility);
        ScalarUDF::new_from_impl(RowUdf { name, ret, f, signature })
    }
}

impl fmt::Debug for RowUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowUdf({})", self.name)
    }
}
impl PartialEq for RowUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for RowUdf {}
impl Hash for RowUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

fn arrow_type(ret: Ret) -> DataType {
    match ret {
        Ret::Bool => DataType::Boolean,
        Ret::Int => DataType::Int32,
        Ret::Long => DataType::Int64,
        Ret::Real => DataType::Float64,
        Ret::Str | Ret::Dynamic => DataType::Utf8,
        Ret::DateTime => datetime_type(),
        Ret::TimeSpan => TIMESPAN,
        Ret::Decimal => DataType::Decimal128(38, 0),
    }
}

/// An integer column of another width as longs, cast once for the whole call rather than one
/// row at a time (a value that does not fit a long becomes null).
fn as_longs(array: ArrayRef) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            Ok(arrow::compute::cast(&array, &DataType::Int64)?)
        }
        _ => Ok(array),
    }
}

/// Reads row `i` of an argument.
fn value<'a>(array: &'a ArrayRef, field: &Field, i: usize) -> V<'a> {
    if array.is_null(i) {
        return V::Null;
    }
    match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = match array.data_type() {
                DataType::Utf8 => array.as_string::<i32>().value(i),
                DataType::LargeUtf8 => array.as_string::<i64>().value(i),
                _ => array.as_string_view().value(i),
            };
            if is_dynamic_field(field) {
                V::Json(Cow::Owned(serde_json::from_str(s).unwrap_or(Json::String(s.to_string()))))
            } else {
                V::Str(s)
            }
        }
        DataType::Boolean => V::Bool(array.as_boolean().value(i)),
        // Other integer widths are cast to longs once per call (`as_longs`).
        DataType::Int64 => V::Long(array.as_primitive::<arrow::datatypes::Int64Type>().value(i)),
        DataType::Float64 => V::Real(array.as_primitive::<arrow::datatypes::Float64Type>().value(i)),
        DataType::Float32 => V::Real(array.as_primitive::<arrow::datatypes::Float32Type>().value(i) as f64),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            V::DateTime(array.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().value(i))
        }
        DataType::Duration(TimeUnit::Nanosecond) => V::TimeSpan(array.as_primitive::<arrow::datatypes::DurationNanosecondType>().value(i)),
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) => V::Json(Cow::Owned(crate::render::to_json(array.as_ref(), i))),
        _ => V::Str(""),
    }
}

/// The largest text or `dynamic` value a row-wise function may produce: the largest value a
/// Kusto column can hold (32 MB, the `BigObject32` encoding profile; the default keeps 1 MB).
/// Nested calls that each grow their input (`parse_path` of `parse_path` of ..., which about
/// triples it) would otherwise grow without bound.
pub(crate) const MAX_VALUE_BYTES: usize = 32 << 20;

enum Builder {
    Bool(BooleanBuilder),
    Long(Int64Builder),
    Real(Float64Builder),
    Str(StringBuilder),
    Int(Int32Builder),
    DateTime(TimestampMicrosecondBuilder),
    TimeSpan(DurationNanosecondBuilder),
    Decimal(Decimal128Builder),
}

impl Builder {
    fn new(ret: Ret, n: usize) -> Builder {
        match ret {
            Ret::Bool => Builder::Bool(BooleanBuilder::with_capacity(n)),
            Ret::Int => Builder::Int(Int32Builder::with_capacity(n)),
            Ret::Long => Builder::Long(Int64Builder::with_capacity(n)),
            Ret::Real => Builder::Real(Float64Builder::with_capacity(n)),
            Ret::Str | Ret::Dynamic => Builder::Str(StringBuilder::with_capacity(n, n * 16)),
            Ret::DateTime => Builder::DateTime(TimestampMicrosecondBuilder::with_capacity(n)),
            Ret::TimeSpan => Builder::TimeSpan(DurationNanosecondBuilder::with_capacity(n)),
            Ret::Decimal => Builder::Decimal(Decimal128Builder::with_capacity(n)),
        }
    }

    /// Appends one row's value. A text value past `MAX_VALUE_BYTES`, or one that would take the
    /// column past what one Arrow string array holds or past the session's memory limit (the
    /// output of one batch alone cannot fit it), fails the call (`name` is the function's).
    fn push(&mut self, out: Out, name: &str, memory_limit: Option<usize>) -> Result<()> {
        if let Builder::Str(b) = self {
            let text = match out {
                Out::Str(v) => Some(v),
                Out::Json(Json::Null) => None,
                Out::Json(v) => Some(v.to_string()),
                Out::JsonText(v) => Some(v),
                _ => None,
            };
            match text {
                Some(v) if v.len() > MAX_VALUE_BYTES => {
                    return exec_err!(
                        "{name}(): a value of {} MB is past the {} MB a value may hold",
                        v.len() >> 20,
                        MAX_VALUE_BYTES >> 20
                    );
                }
                Some(v) => {
                    crate::config::check_batch_bytes(b.values_slice().len() + v.len(), memory_limit, || {
                        format!("{name}(): its values for one batch of rows are")
                    })?;
                    b.append_value(v)
                }
                None => b.append_null(),
            }
            return Ok(());
        }
        self.push_value(out);
        Ok(())
    }

    fn push_value(&mut self, out: Out) {
        match (self, out) {
            (Builder::Bool(b), Out::Bool(v)) => b.append_value(v),
            (Builder::Long(b), Out::Long(v)) => b.append_value(v),
            (Builder::Int(b), Out::Long(v)) => b.append_option(i32::try_from(v).ok()),
            (Builder::Real(b), Out::Real(v)) => b.append_value(v),
            (Builder::Real(b), Out::Long(v)) => b.append_value(v as f64),
            // A datetime past Kusto's range is null.
            (Builder::DateTime(b), Out::DateTime(v)) => b.append_option(kql_grammar::values::in_datetime_range(v)),
            (Builder::TimeSpan(b), Out::TimeSpan(v)) => b.append_value(v),
            (Builder::Decimal(b), Out::Decimal(v)) => b.append_value(v),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Long(b), _) => b.append_null(),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Real(b), _) => b.append_null(),
            // Text goes through `push`, which checks its size.
            (Builder::Str(b), _) => b.append_null(),
            (Builder::DateTime(b), _) => b.append_null(),
            (Builder::TimeSpan(b), _) => b.append_null(),
            (Builder::Decimal(b), _) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Long(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Real(mut b) => Arc::new(b.finish()),
            Builder::Str(mut b) => Arc::new(b.finish()),
            Builder::DateTime(mut b) => Arc::new(b.finish().with_timezone("UTC")),
            Builder::TimeSpan(mut b) => Arc::new(b.finish()),
            Builder::Decimal(mut b) => {
                Arc::new(b.finish().with_precision_and_scale(38, 0).unwrap_or_else(|_| Decimal128Array::from(Vec::<i128>::new())))
            }
        }
    }
}

impl ScalarUDFImpl for RowUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(arrow_type(self.ret))
    }
    fn schema_name(&self, args: &[datafusion::logical_expr::Expr]) -> Result<String> {
        Ok(super::short_schema_name(&self.name, args))
    }
    fn return_field_from_args(&self, _: ReturnFieldArgs) -> Result<FieldRef> {
        let field = Field::new(&self.name, arrow_type(self.ret), true);
        Ok(Arc::new(if self.ret == Ret::Dynamic { dynamic_field(field) } else { field }))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        // No arguments (`rand()`): one value per row; all constant arguments: one value.
        let all_scalar = !args.args.is_empty() && args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { rows };
        // A constant argument stays one value: it is neither repeated for every row nor, when it
        // is `dynamic`, parsed again for every row.
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Array(array) => as_longs(array.clone()),
                ColumnarValue::Scalar(constant) => constant.to_array().and_then(as_longs),
            })
            .collect::<Result<_>>()?;
        let constants: Vec<Option<V>> = args
            .args
            .iter()
            .zip(&arrays)
            .zip(&args.arg_fields)
            .map(|((arg, array), field)| matches!(arg, ColumnarValue::Scalar(_)).then(|| value(array, field, 0)))
            .collect();
        let memory_limit = crate::config::memory_limit(&args.config_options);
        let mut out = Builder::new(self.ret, n);
        let mut row: Vec<V> = Vec::with_capacity(arrays.len());
        for i in 0..n {
            row.clear();
            for ((array, field), constant) in arrays.iter().zip(&args.arg_fields).zip(&constants) {
                row.push(match constant {
                    Some(v) => v.share(),
                    None => value(array, field, i),
                });
            }
            out.push((self.f)(&row), self.name.strip_prefix("kql_").unwrap_or(&self.name), memory_limit)?;
        }
        let array = out.finish();
        if all_scalar {
            Ok(ColumnarValue::Scalar(datafusion::scalar::ScalarValue::try_from_array(&array, 0)?))
        } else {
            Ok(ColumnarValue::Array(array))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Int64Array, StringArray};
    use datafusion::config::ConfigOptions;
    use datafusion::scalar::ScalarValue;

    /// Whether the dynamic array `a[0]` holds the long `a[1]`: reads a borrowed array.
    fn holds(a: &[V]) -> Out {
        match (a[0].json().as_ref(), a[1].long()) {
            (Json::Array(items), Some(x)) => Out::Bool(items.iter().any(|i| i.as_i64() == Some(x))),
            _ => Out::Null,
        }
    }

    #[test]
    fn a_value_past_the_largest_a_column_holds_fails_the_call_by_name() {
        let mut text = Builder::new(Ret::Str, 2);
        assert!(text.push(Out::Str("x".repeat(MAX_VALUE_BYTES)), "f", None).is_ok());
        let error = text.push(Out::Str("x".repeat(MAX_VALUE_BYTES + 1)), "parse_path", None).unwrap_err().to_string();
        assert!(error.ends_with("parse_path(): a value of 32 MB is past the 32 MB a value may hold"), "{error}");
        let mut bag = Builder::new(Ret::Dynamic, 1);
        let error = bag.push(Out::Json(Json::String("x".repeat(MAX_VALUE_BYTES))), "bag_pack", None).unwrap_err().to_string();
        assert!(error.ends_with("bag_pack(): a value of 32 MB is past the 32 MB a value may hold"), "{error}");
    }

    #[test]
    fn one_batch_of_values_past_the_memory_limit_fails_the_call_by_name() {
        let mut text = Builder::new(Ret::Dynamic, 3);
        let limit = Some(3 << 20);
        assert!(text.push(Out::Str("x".repeat(1 << 20)), "range", limit).is_ok());
        assert!(text.push(Out::Str("x".repeat(1 << 20)), "range", limit).is_ok());
        let error = text.push(Out::Str("x".repeat((1 << 20) + 1)), "range", limit).unwrap_err().to_string();
        assert!(error.ends_with("range(): its values for one batch of rows are past the memory limit of 3 MB (--memory-limit)"), "{error}");
    }

    fn invoke(args: Vec<ColumnarValue>, fields: Vec<Field>, rows: usize) -> ColumnarValue {
        let udf = RowUdf::scalar("kql_test_holds", Ret::Bool, holds);
        let args = ScalarFunctionArgs {
            args,
            arg_fields: fields.into_iter().map(Arc::new).collect(),
            number_rows: rows,
            return_field: Arc::new(Field::new("r", DataType::Boolean, true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        udf.invoke_with_args(args).expect("the row function runs")
    }

    #[test]
    fn a_constant_dynamic_argument_serves_every_row() {
        let set = ColumnarValue::Scalar(ScalarValue::Utf8(Some("[1, 3, 7]".into())));
        let xs = ColumnarValue::Array(Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(7)])));
        let fields = vec![dynamic_field(Field::new("set", DataType::Utf8, true)), Field::new("x", DataType::Int64, true)];
        let ColumnarValue::Array(out) = invoke(vec![set, xs], fields, 4) else { panic!("a column of results") };
        let want = BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]);
        assert_eq!(out.as_boolean(), &want);
    }

    #[test]
    fn a_dynamic_column_is_read_row_by_row_and_constants_give_a_constant() {
        let sets = ColumnarValue::Array(Arc::new(StringArray::from(vec![Some("[2]"), None, Some("not json")])));
        let x = ColumnarValue::Scalar(ScalarValue::Int64(Some(2)));
        let fields = vec![dynamic_field(Field::new("set", DataType::Utf8, true)), Field::new("x", DataType::Int64, true)];
        let ColumnarValue::Array(out) = invoke(vec![sets, x], fields.clone(), 3) else { panic!("a column of results") };
        assert_eq!(out.as_boolean(), &BooleanArray::from(vec![Some(true), None, None]));

        let set = ColumnarValue::Scalar(ScalarValue::Utf8(Some("[5]".into())));
        let x = ColumnarValue::Scalar(ScalarValue::Int64(Some(5)));
        let ColumnarValue::Scalar(one) = invoke(vec![set, x], fields, 1000) else { panic!("constants give one value") };
        assert_eq!(one, ScalarValue::Boolean(Some(true)));
    }
}
