//! Values as Kusto prints them: ISO 8601 UTC datetimes, `[d.]hh:mm:ss[.fffffff]` timespans,
//! `true`/`false`, dynamic values as compact JSON. Shared by `tostring()`, the CLI's output
//! formats and the tests.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, TimeUnit};
use kql_grammar::values::{format_datetime, format_datetime_full, format_timespan};
use serde_json::Value as Json;

use crate::types::is_dynamic_field;

/// The text of one cell, or `None` for null.
pub fn format_cell(array: &dyn Array, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).to_string(),
        DataType::Utf8View => array.as_string_view().value(row).to_string(),
        DataType::Boolean => array.as_boolean().value(row).to_string(),
        DataType::Float64 => format_real(array.as_primitive::<arrow::datatypes::Float64Type>().value(row)),
        DataType::Float32 => format_real(array.as_primitive::<arrow::datatypes::Float32Type>().value(row) as f64),
        DataType::Timestamp(unit, _) => format_datetime(timestamp_micros(array, *unit, row)?),
        DataType::Duration(unit) => format_timespan(duration_nanos(array, *unit, row)?),
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(..) => to_json(array, row).to_string(),
        // Decimals print their significant digits: `1.5`, not `1.500000000000000000`.
        DataType::Decimal128(_, scale) => {
            let text = arrow::array::AsArray::as_primitive::<arrow::datatypes::Decimal128Type>(array).value_as_string(row);
            if *scale > 0 { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
        }
        _ => {
            let options = arrow::util::display::FormatOptions::default();
            let formatter = arrow::util::display::ArrayFormatter::try_new(array, &options).ok()?;
            formatter.value(row).to_string()
        }
    })
}

/// A cell as `tostring()` converts it: as `format_cell`, except that datetimes always carry
/// seven fraction digits and booleans read `True`/`False` (.NET's text, which the real engine
/// gives), where the display form is shorter.
pub fn value_text(array: &dyn Array, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Boolean => Some(if array.as_boolean().value(row) { "True" } else { "False" }.to_string()),
        DataType::Timestamp(unit, _) => Some(format_datetime_full(timestamp_micros(array, *unit, row)?)),
        _ => format_cell(array, row),
    }
}

/// Reals print in their shortest round-trip form; integral values without a fraction.
pub fn format_real(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        format!("{v}")
    }
}

/// A timestamp cell as microseconds since the epoch, whatever its unit.
fn timestamp_micros(array: &dyn Array, unit: TimeUnit, row: usize) -> Option<i64> {
    use arrow::datatypes::*;
    Some(match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row).checked_mul(1_000_000)?,
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(row).checked_mul(1_000)?,
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(row),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row).div_euclid(1_000),
    })
}

fn duration_nanos(array: &dyn Array, unit: TimeUnit, row: usize) -> Option<i64> {
    use arrow::datatypes::*;
    Some(match unit {
        TimeUnit::Second => array.as_primitive::<DurationSecondType>().value(row).checked_mul(1_000_000_000)?,
        TimeUnit::Millisecond => array.as_primitive::<DurationMillisecondType>().value(row).checked_mul(1_000_000)?,
        TimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().value(row).checked_mul(1_000)?,
        TimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().value(row),
    })
}

/// An integer cell as a JSON number, read straight from its array (formatting each cell as
/// text and parsing it back made a list of a million longs take a third of a second).
fn integer_json(array: &dyn Array, row: usize) -> Json {
    use arrow::datatypes::*;
    let number: serde_json::Number = match array.data_type() {
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).into(),
        _ => return Json::Null,
    };
    Json::Number(number)
}

/// One cell as a JSON value: numbers and booleans as themselves, datetimes and timespans as
/// their Kusto text, dynamic values as the JSON they hold.
pub fn to_json(array: &dyn Array, row: usize) -> Json {
    if array.is_null(row) {
        return Json::Null;
    }
    match array.data_type() {
        DataType::Boolean => Json::Bool(array.as_boolean().value(row)),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => integer_json(array, row),
        DataType::Float64 | DataType::Float32 => {
            let v = match array.data_type() {
                DataType::Float32 => array.as_primitive::<arrow::datatypes::Float32Type>().value(row) as f64,
                _ => array.as_primitive::<arrow::datatypes::Float64Type>().value(row),
            };
            serde_json::Number::from_f64(v).map(Json::Number).unwrap_or_else(|| Json::String(format_real(v)))
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            Json::Array((0..list.len()).map(|i| to_json(list.as_ref(), i)).collect())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>().value(row);
            Json::Array((0..list.len()).map(|i| to_json(list.as_ref(), i)).collect())
        }
        DataType::FixedSizeList(..) => {
            let list = array.as_fixed_size_list().value(row);
            Json::Array((0..list.len()).map(|i| to_json(list.as_ref(), i)).collect())
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            Json::Object(fields.iter().zip(s.columns()).map(|(f, c)| (f.name().clone(), to_json(c.as_ref(), row))).collect())
        }
        // A map is a bag: each key's text names its value (format_cell comes back here for a
        // map, so it must not fall through to the text arm below).
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            Json::Object(
                (0..entries.len()).map(|i| (format_cell(keys.as_ref(), i).unwrap_or_default(), to_json(values.as_ref(), i))).collect(),
            )
        }
        // Decimals are numbers inside dynamic values.
        DataType::Decimal128(..) => {
            format_cell(array, row).and_then(|s| s.parse::<serde_json::Number>().ok()).map(Json::Number).unwrap_or(Json::Null)
        }
        // Datetimes inside dynamic values are text in Kusto's full form.
        DataType::Timestamp(..) => Json::String(value_text(array, row).unwrap_or_default()),
        _ => Json::String(format_cell(array, row).unwrap_or_default()),
    }
}

/// The text of one cell of a column described by `field`: as `format_cell`, except that a
/// dynamic string value prints bare (`a`, not `"a"`), as Kusto shows it.
pub fn format_field_cell(field: &Field, array: &dyn Array, row: usize) -> Option<String> {
    let text = format_cell(array, row)?;
    if is_dynamic_field(field)
        && text.starts_with('"')
        && let Ok(serde_json::Value::String(s)) = serde_json::from_str::<serde_json::Value>(&text)
    {
        return Some(s);
    }
    Some(text)
}

/// A cell as JSON for a column described by `field`: dynamic JSON text is parsed, not quoted.
pub fn field_to_json(field: &Field, array: &ArrayRef, row: usize) -> Json {
    if is_dynamic_field(field) && matches!(field.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) {
        return match format_cell(array.as_ref(), row) {
            Some(text) => serde_json::from_str(&text).unwrap_or(Json::String(text)),
            None => Json::Null,
        };
    }
    to_json(array.as_ref(), row)
}
