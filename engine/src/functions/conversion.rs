//! Conversions: `tostring`, `todatetime`, `tolong`, `toint`, `toreal`. A value that does not
//! convert gives null, never an error, as in Kusto.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringBuilder, TimestampMicrosecondArray};
use arrow::compute::kernels::cast::{CastOptions, cast_with_options};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use kql_grammar::values::parse_datetime;

use super::{KqlUdf, StrArray, arrays, is_string, result};
use crate::render::value_text;
use crate::types::datetime_type;

const SAFE: CastOptions<'static> = CastOptions { safe: true, format_options: arrow::util::display::FormatOptions::new() };

/// `tostring(x)`: the value as Kusto prints it; null becomes the empty string.
pub fn tostring() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_tostring",
        |_| Ok(DataType::Utf8),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let a = &arrays[0];
            let mut out = StringBuilder::with_capacity(a.len(), a.len() * 8);
            for i in 0..a.len() {
                out.append_value(value_text(a.as_ref(), i).unwrap_or_default());
            }
            result(args, Arc::new(out.finish()))
        },
    )
}

pub fn todatetime() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_todatetime",
        |_| Ok(datetime_type()),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let a = &arrays[0];
            let out: ArrayRef = if is_string(a.data_type()) {
                let s = StrArray::try_new(a)?;
                let parsed: TimestampMicrosecondArray = (0..s.len()).map(|i| s.get(i).and_then(parse_datetime)).collect();
                Arc::new(parsed.with_timezone("UTC"))
            } else {
                cast_with_options(a, &datetime_type(), &SAFE)?
            };
            result(args, out)
        },
    )
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

/// Converts strings by parsing each one, and other types by casting.
fn convert<T>(args: &[ColumnarValue], rows: usize, to: DataType, parse: fn(&str) -> Option<T::Native>) -> Result<ColumnarValue>
where
    T: arrow::datatypes::ArrowPrimitiveType,
{
    let arrays = arrays(args, rows)?;
    let a = &arrays[0];
    let out: ArrayRef = if is_string(a.data_type()) {
        let s = StrArray::try_new(a)?;
        let v: arrow::array::PrimitiveArray<T> = (0..s.len()).map(|i| s.get(i).and_then(parse)).collect();
        Arc::new(v)
    } else {
        numeric_cast(a, &to)?
    };
    result(args, out)
}

/// An integer (decimal, or hexadecimal after `0x`: `toint("0xFF")` is 255), or a real truncated
/// toward zero (`tolong("2.9")` is 2). A value outside the long range is null, not saturated.
fn parse_integer(t: &str) -> Option<i64> {
    let t = t.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    t.parse::<i64>().ok().or_else(|| {
        let f = parse_number(t)?.trunc();
        // 2^63 itself is out of range; every double below it in magnitude fits.
        (f.is_finite() && f.abs() < 9_223_372_036_854_775_808.0).then_some(f as i64)
    })
}

pub fn tolong() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_tolong",
        |_| Ok(DataType::Int64),
        |args, rows| convert::<arrow::datatypes::Int64Type>(args, rows, DataType::Int64, parse_integer),
    )
}

pub fn toint() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_toint",
        |_| Ok(DataType::Int32),
        |args, rows| {
            convert::<arrow::datatypes::Int32Type>(args, rows, DataType::Int32, |t| parse_integer(t).and_then(|v| i32::try_from(v).ok()))
        },
    )
}

pub fn toreal() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_toreal",
        |_| Ok(DataType::Float64),
        |args, rows| convert::<arrow::datatypes::Float64Type>(args, rows, DataType::Float64, parse_number),
    )
}

/// Ticks (100ns) from 0001-01-01 to the Unix epoch: Kusto's `tolong(datetime)` counts from 0001.
const EPOCH_TICKS: i64 = 621_355_968_000_000_000;

/// Numbers and bools cast; datetimes and timespans become Kusto ticks (100ns units), as
/// `tolong(1s)` is 10000000 in Kusto.
fn numeric_cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    // Datetimes hold microseconds (10 ticks each), timespans nanoseconds (a tick is 100).
    let ticks = |to_ticks: fn(i64) -> i64, offset: i64| -> Result<ArrayRef> {
        let raw = cast_with_options(a, &DataType::Int64, &SAFE)?;
        let v: Int64Array = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&raw)
            .iter()
            .map(|v| v.map(|n| to_ticks(n) + offset))
            .collect();
        Ok(Arc::new(v))
    };
    let source = match a.data_type() {
        DataType::Timestamp(..) => ticks(|us| us * 10, EPOCH_TICKS)?,
        DataType::Duration(_) => ticks(|ns| ns.div_euclid(100), 0)?,
        _ => a.clone(),
    };
    Ok(cast_with_options(&source, to, &SAFE)?)
}

/// `totimespan(x)`: `1.02:03:04`, `2h` and the like from strings; timespans as they are.
pub fn totimespan() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_totimespan",
        |_| Ok(crate::types::TIMESPAN),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let a = &arrays[0];
            let out: ArrayRef = if is_string(a.data_type()) {
                let s = StrArray::try_new(a)?;
                let v: arrow::array::DurationNanosecondArray =
                    (0..s.len()).map(|i| s.get(i).and_then(kql_grammar::values::parse_timespan)).collect();
                Arc::new(v)
            } else {
                cast_with_options(a, &crate::types::TIMESPAN, &SAFE)?
            };
            result(args, out)
        },
    )
}

/// `tobool(x)`: `true`/`false` (any case) and numbers (non-zero is true); anything else is null.
pub fn tobool() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_tobool",
        |_| Ok(DataType::Boolean),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let a = &arrays[0];
            let out: ArrayRef = if is_string(a.data_type()) {
                let s = StrArray::try_new(a)?;
                let v: arrow::array::BooleanArray = (0..s.len())
                    .map(|i| {
                        s.get(i).and_then(|t| match t.trim().to_ascii_lowercase().as_str() {
                            "true" => Some(true),
                            "false" => Some(false),
                            other => other.parse::<f64>().ok().map(|n| n != 0.0),
                        })
                    })
                    .collect();
                Arc::new(v)
            } else if arrow::compute::can_cast_types(a.data_type(), &DataType::Boolean) {
                cast_with_options(a, &DataType::Boolean, &SAFE)?
            } else {
                // A datetime, timespan or guid has no bool value: "if conversion isn't
                // successful, result will be null" (tobool's docs), never a cast error.
                arrow::array::new_null_array(&DataType::Boolean, a.len())
            };
            result(args, out)
        },
    )
}
