//! KQL types and their Arrow representation.

use arrow::datatypes::{DataType, Field, TimeUnit};
use kql_grammar::ast::TypeName;

/// `datetime`: microseconds since the epoch, UTC. Kusto's range (0001-01-01 to 9999-12-31) does
/// not fit in nanoseconds; microseconds hold it and lose only the last digit of the 100 ns tick
/// (see `kql_grammar::values`).
pub fn datetime_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}
/// `timespan`: nanoseconds (Kusto's tick is 100ns; nothing finer is ever produced).
pub const TIMESPAN: DataType = DataType::Duration(TimeUnit::Nanosecond);

/// Field metadata that marks a Utf8 column as holding `dynamic` values as JSON text.
pub const EXTENSION_KEY: &str = "ARROW:extension:name";
pub const JSON_EXTENSION: &str = "arrow.json";

/// `decimal`: 128-bit with 18 fraction digits (20 whole ones). .NET's decimal, which Kusto
/// uses, has 28-29 significant digits with a floating scale; a fixed scale keeps Arrow's exact
/// addition and comparison, and 18 digits hold every fraction real data carries.
pub const DECIMAL: DataType = DataType::Decimal128(38, 18);

/// `todecimal(x)`: numbers convert, strings parse exactly, anything else is null.
pub fn to_decimal(x: datafusion::prelude::Expr) -> datafusion::prelude::Expr {
    datafusion::prelude::Expr::TryCast(datafusion::logical_expr::TryCast::new(Box::new(x), DECIMAL))
}

pub fn arrow_type(t: TypeName) -> DataType {
    match t {
        TypeName::Bool => DataType::Boolean,
        TypeName::Int => DataType::Int32,
        TypeName::Long => DataType::Int64,
        TypeName::Real => DataType::Float64,
        TypeName::Decimal => DECIMAL,
        TypeName::String | TypeName::Guid | TypeName::Dynamic => DataType::Utf8,
        TypeName::DateTime => datetime_type(),
        TypeName::TimeSpan => TIMESPAN,
    }
}

/// The KQL type name of an Arrow column, as `getschema` and error messages show it.
pub fn kql_type_name(field: &Field) -> &'static str {
    if is_dynamic_field(field) {
        return "dynamic";
    }
    kql_type_of(field.data_type())
}

pub fn kql_type_of(t: &DataType) -> &'static str {
    match t {
        DataType::Boolean => "bool",
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => "int",
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "long",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "real",
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => "decimal",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string",
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => "datetime",
        DataType::Duration(_) | DataType::Interval(_) | DataType::Time32(_) | DataType::Time64(_) => "timespan",
        t if is_nested(t) => "dynamic",
        // Bytes read as text (base64, or a UUID's guid text): see `functions::file_types`.
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "string",
        DataType::Null => "null",
        _ => "unknown",
    }
}

pub fn is_dynamic_field(field: &Field) -> bool {
    field.metadata().get(EXTENSION_KEY).is_some_and(|v| v == JSON_EXTENSION) || is_nested(field.data_type())
}

/// Lists, structs and maps: file types that are a `dynamic` value in KQL.
pub fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
    )
}

/// How a file's column type is read as a KQL type; `None` when it is already one.
pub fn normalized_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => None,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => Some(datetime_type()),
        DataType::Duration(TimeUnit::Nanosecond) => None,
        DataType::Duration(_) => Some(TIMESPAN),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16 => Some(DataType::Int32),
        DataType::UInt32 | DataType::UInt64 => Some(DataType::Int64),
        DataType::Float16 | DataType::Float32 => Some(DataType::Float64),
        // Decimals are 128-bit, as Kusto's are, with the file's precision and scale: the
        // narrower ones fit; a 256-bit value past 38 digits reads as null (said at
        // registration).
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => Some(DataType::Decimal128(*p, *s)),
        DataType::Decimal256(p, s) => Some(wide_decimal_as_128(*p, *s)),
        DataType::Dictionary(_, v) => Some(normalized_type(v).unwrap_or_else(|| v.as_ref().clone())),
        _ => None,
    }
}

/// The 128-bit decimal a 256-bit one of precision `p` and scale `s` reads as: the same where
/// they fit, else 38 digits with as many of the scale's as fit (at most 18 after a
/// precision cut, so that whole parts keep 20 digits).
pub fn wide_decimal_as_128(p: u8, s: i8) -> DataType {
    if p <= 38 {
        return DataType::Decimal128(p, s);
    }
    DataType::Decimal128(38, s.min(18))
}

/// `e`'s JSON text as a `dynamic` value: `e` in a field with the `dynamic` tag. A function
/// call (`kql_field_metadata`), not an alias with metadata, since datafusion-proto keeps the
/// call but drops an alias's metadata.
pub fn as_dynamic(e: datafusion::logical_expr::Expr) -> datafusion::logical_expr::Expr {
    let metadata = std::collections::BTreeMap::from([(EXTENSION_KEY.to_string(), JSON_EXTENSION.to_string())]);
    let metadata = crate::functions::special::metadata_to_json(&metadata);
    crate::functions::special::field_metadata_udf().call(vec![e, datafusion::prelude::lit(metadata)])
}

/// Marks a field as holding `dynamic` values (JSON text).
pub fn dynamic_field(field: Field) -> Field {
    let mut metadata = field.metadata().clone();
    metadata.insert(EXTENSION_KEY.to_string(), JSON_EXTENSION.to_string());
    field.with_metadata(metadata)
}
