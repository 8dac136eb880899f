//! Columns of file types that have no KQL type of their own, read as the KQL type Kusto gives
//! them: Parquet lists, structs and maps are `dynamic` (Kusto's Parquet mapping converts LIST,
//! MAP and STRUCT to dynamic only), a UUID is a `guid`, other bytes are `string` (base64, the
//! text Kusto's own byte functions use, which keeps every byte).
//!
//! A table scan projects such a column through `kql_file_value`, so that every operator and
//! function after it sees JSON text tagged `dynamic`, as it sees a dynamic column kql wrote.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use base64::Engine;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// `col` as its KQL value, when its file type is not a KQL type kql reads directly.
pub fn as_kql_value(col: Expr, field: &Field) -> Option<Expr> {
    if let Some(span) = as_timespan(col.clone(), field.data_type()) {
        return Some(span);
    }
    let style = match field.data_type() {
        t if crate::types::is_nested(t) => "dynamic",
        DataType::FixedSizeBinary(16) if is_uuid(field) => "guid",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "base64",
        _ => return None,
    };
    let call = file_value_udf().call(vec![col, datafusion::prelude::lit(style)]);
    Some(if style == "dynamic" { crate::types::as_dynamic(call) } else { call })
}

/// A time of day or an interval as a `timespan` (Kusto has neither type; `getschema` shows
/// both as `timespan`): a time is the span since midnight (Arrow casts no time to a duration,
/// so it goes through its nanoseconds); an interval is its days of 24 hours plus its time, and
/// one that counts months (which have no fixed length) is null (`kql_interval_span`).
fn as_timespan(col: Expr, t: &DataType) -> Option<Expr> {
    use arrow::datatypes::TimeUnit;
    use datafusion::logical_expr::Cast;
    let cast = |e: Expr, t: DataType| Expr::Cast(Cast::new(Box::new(e), t));
    match t {
        DataType::Time32(_) | DataType::Time64(_) => {
            let nanos = cast(cast(col, DataType::Time64(TimeUnit::Nanosecond)), DataType::Int64);
            Some(cast(nanos, crate::types::TIMESPAN))
        }
        DataType::Interval(_) => {
            let exact = cast(col, DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano));
            Some(interval_span_udf().call(vec![exact]))
        }
        _ => None,
    }
}

pub fn interval_span_udf() -> &'static Arc<ScalarUDF> {
    static UDF: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    UDF.get_or_init(|| Arc::new(ScalarUDF::new_from_impl(IntervalSpan { signature: Signature::any(1, Volatility::Immutable) })))
}

/// `kql_interval_span(interval)`: a month-day-nanosecond interval as a timespan. Arrow's own
/// cast nulls every interval with days, since a calendar day may not last 24 hours; Kusto's
/// days do.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalSpan {
    signature: Signature,
}

impl ScalarUDFImpl for IntervalSpan {
    fn name(&self) -> &str {
        "kql_interval_span"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(crate::types::TIMESPAN)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use arrow::datatypes::IntervalMonthDayNanoType;
        let rows = args.number_rows;
        let Some(value) = args.args.into_iter().next() else { return exec_err!("kql_interval_span takes an interval") };
        let array = value.into_array(rows)?;
        let Some(intervals) = array.as_primitive_opt::<IntervalMonthDayNanoType>() else {
            return exec_err!("kql_interval_span takes a month-day-nanosecond interval, got {}", array.data_type());
        };
        const NANOS_PER_DAY: i64 = 86_400_000_000_000;
        let spans: arrow::array::DurationNanosecondArray = intervals
            .iter()
            .map(|v| {
                let v = v?;
                if v.months != 0 {
                    return None;
                }
                i64::from(v.days).checked_mul(NANOS_PER_DAY)?.checked_add(v.nanoseconds)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(spans)))
    }
}

/// Arrow's canonical UUID extension, as Parquet's UUID logical type is read.
fn is_uuid(field: &Field) -> bool {
    field.metadata().get(crate::types::EXTENSION_KEY).is_some_and(|v| v == "arrow.uuid")
}

pub fn file_value_udf() -> &'static Arc<ScalarUDF> {
    static UDF: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    UDF.get_or_init(|| Arc::new(ScalarUDF::new_from_impl(FileValue { signature: Signature::any(2, Volatility::Immutable) })))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FileValue {
    signature: Signature,
}

impl ScalarUDFImpl for FileValue {
    fn name(&self) -> &str {
        "kql_file_value"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::short_schema_name(self.name(), args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let style = match args.args.get(1) {
            Some(ColumnarValue::Scalar(datafusion::scalar::ScalarValue::Utf8(Some(s)))) => s.clone(),
            _ => return exec_err!("kql_file_value takes its conversion as constant text"),
        };
        let rows = args.number_rows;
        let Some(value) = args.args.into_iter().next() else { return exec_err!("kql_file_value takes a value") };
        let array = value.into_array(rows)?;
        Ok(ColumnarValue::Array(convert(&array, &style)))
    }
}

fn convert(array: &ArrayRef, style: &str) -> ArrayRef {
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    for row in 0..array.len() {
        if array.is_null(row) {
            out.append_null();
            continue;
        }
        match style {
            "dynamic" => out.append_value(crate::render::to_json(array.as_ref(), row).to_string()),
            _ => match bytes(array.as_ref(), row) {
                Some(b) if style == "guid" && b.len() == 16 => out.append_value(guid_text(b)),
                Some(b) => out.append_value(base64::engine::general_purpose::STANDARD.encode(b)),
                None => out.append_null(),
            },
        }
    }
    Arc::new(out.finish())
}

fn bytes(array: &dyn Array, row: usize) -> Option<&[u8]> {
    Some(match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row),
        DataType::LargeBinary => array.as_binary::<i64>().value(row),
        DataType::BinaryView => array.as_binary_view().value(row),
        DataType::FixedSizeBinary(_) => array.as_fixed_size_binary().value(row),
        _ => return None,
    })
}

/// A UUID's 16 bytes (big-endian, as Parquet stores them) as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
fn guid_text(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, FixedSizeBinaryArray, Int64Array, ListArray, StringArray};
    use arrow::datatypes::Int64Type;

    fn texts(array: &ArrayRef) -> Vec<Option<String>> {
        let s = array.as_string::<i32>();
        (0..s.len()).map(|i| (!s.is_null(i)).then(|| s.value(i).to_string())).collect()
    }

    #[test]
    fn lists_structs_and_bytes_become_kql_values() {
        let list: ArrayRef =
            Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1), None]), None, Some(vec![])]));
        assert_eq!(texts(&convert(&list, "dynamic")), vec![Some("[1,null]".into()), None, Some("[]".into())]);
        let strukt: ArrayRef = Arc::new(arrow::array::StructArray::from(vec![
            (Arc::new(Field::new("a", DataType::Int64, true)), Arc::new(Int64Array::from(vec![Some(1)])) as ArrayRef),
            (Arc::new(Field::new("b", DataType::Utf8, true)), Arc::new(StringArray::from(vec![Some("x")])) as ArrayRef),
        ]));
        assert_eq!(texts(&convert(&strukt, "dynamic")), vec![Some("{\"a\":1,\"b\":\"x\"}".into())]);
        let bin: ArrayRef = Arc::new(BinaryArray::from(vec![Some(&b"MZ\x90"[..]), None]));
        assert_eq!(texts(&convert(&bin, "base64")), vec![Some("TVqQ".into()), None]);
        let uuid: ArrayRef = Arc::new(
            FixedSizeBinaryArray::try_from_iter(
                vec![[0x10u8, 0xe9, 0x96, 0x26, 0xbc, 0x2b, 0x75, 0x4c, 0xbb, 0x3e, 0xfe, 0x60, 0x6d, 0xe2, 0x57, 0x00]].into_iter(),
            )
            .expect("uuid"),
        );
        assert_eq!(texts(&convert(&uuid, "guid")), vec![Some("10e99626-bc2b-754c-bb3e-fe606de25700".into())]);
    }
}
