//! One table schema over Parquet files that store a column in different Arrow encodings of
//! one KQL type. Tools, and versions of one tool, write text as `Utf8` or `Utf8View` (pyarrow
//! and delta-rs differ), times in nanoseconds or microseconds (pandas and Spark differ), a
//! number as `int` in one file and `long` in another. Arrow's merge refuses any difference, so
//! a folder of such files could not be read at all. Here each file's schema is read alone and
//! such a column gets the type every file's values convert to without loss; the scan casts each
//! file's column to it. Columns of different KQL types (text in one file, a number in another)
//! still disagree, with an error naming the column.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::FileFormat;
use datafusion::execution::context::SessionState;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use futures::{StreamExt, TryStreamExt};

use crate::error::{KqlError, Result};

/// Footers read at once: as many as DataFusion's own inference reads.
const FOOTERS_AT_ONCE: usize = 32;

/// The schema of `objects` read one file at a time and merged by KQL type (see the module).
pub async fn merge_by_kql_type(
    state: &SessionState,
    store: &Arc<dyn ObjectStore>,
    format: &Arc<dyn FileFormat>,
    objects: &[ObjectMeta],
) -> Result<SchemaRef> {
    let schemas: Vec<SchemaRef> = futures::stream::iter(objects)
        .map(|object| format.infer_schema(state, store, std::slice::from_ref(object)))
        .buffered(FOOTERS_AT_ONCE)
        .try_collect()
        .await?;
    merge(&schemas)
}

/// The columns of all schemas, in the order they first appear.
fn merge(schemas: &[SchemaRef]) -> Result<SchemaRef> {
    let mut fields: Vec<Field> = Vec::new();
    for schema in schemas {
        for field in schema.fields() {
            let Some(merged) = fields.iter_mut().find(|f| f.name() == field.name()) else {
                fields.push(field.as_ref().clone());
                continue;
            };
            if merged.data_type() != field.data_type() {
                let common = common_type(merged.data_type(), field.data_type()).ok_or_else(|| {
                    KqlError::new(format!(
                        "its files disagree on column '{}': {} in one, {} in another (register them as separate tables)",
                        field.name(),
                        crate::types::kql_type_of(merged.data_type()),
                        crate::types::kql_type_of(field.data_type())
                    ))
                })?;
                merged.set_data_type(common);
            }
            merged.set_nullable(merged.is_nullable() || field.is_nullable());
        }
    }
    // A column some files lack reads as null in their rows.
    for field in &mut fields {
        if !schemas.iter().all(|s| s.field_with_name(field.name()).is_ok()) {
            field.set_nullable(true);
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The type both encodings convert to without loss, if they are one KQL type (or `int` and
/// `long`, or a number and `real`, which widen as JSON columns do).
fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    let (a, b) = (encoding_of(a)?, encoding_of(b)?);
    match (&a, &b) {
        _ if a == b => Some(a),
        (DataType::Int32, DataType::Int64) | (DataType::Int64, DataType::Int32) => Some(DataType::Int64),
        (DataType::Int32 | DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int32 | DataType::Int64) => {
            Some(DataType::Float64)
        }
        _ => None,
    }
}

/// The one encoding kql reads a column type as: text as `Utf8View` (DataFusion's reading of
/// Parquet text), bytes as `BinaryView`, the rest as `types::normalized_type` says. Unsigned
/// 64-bit columns are left alone: their values past `long` need the warning registration gives.
fn encoding_of(t: &DataType) -> Option<DataType> {
    match t {
        DataType::UInt64 => None,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(DataType::Utf8View),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Some(DataType::BinaryView),
        DataType::Dictionary(_, value) => encoding_of(value),
        t => Some(crate::types::normalized_type(t).unwrap_or_else(|| t.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::TimeUnit;

    fn schema(fields: Vec<(&str, DataType)>) -> SchemaRef {
        Arc::new(Schema::new(fields.into_iter().map(|(n, t)| Field::new(n, t, false)).collect::<Vec<_>>()))
    }

    #[test]
    fn encodings_of_one_kql_type_merge_and_other_types_disagree() {
        let pyarrow = schema(vec![
            ("Timestamp", DataType::Timestamp(TimeUnit::Nanosecond, None)),
            ("Account", DataType::Utf8),
            ("Failures", DataType::Int32),
        ]);
        let delta_rs = schema(vec![
            ("Timestamp", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
            ("Account", DataType::Utf8View),
            ("Failures", DataType::Int64),
            ("Extra", DataType::Float32),
        ]);
        // `Extra` is missing from the first file, so it may be null.
        let expected = Schema::new(vec![
            Field::new("Timestamp", crate::types::datetime_type(), false),
            Field::new("Account", DataType::Utf8View, false),
            Field::new("Failures", DataType::Int64, false),
            Field::new("Extra", DataType::Float32, true),
        ]);
        assert_eq!(merge(&[pyarrow, delta_rs]).expect("merges").as_ref(), &expected);
        let text = schema(vec![("Port", DataType::Utf8)]);
        let number = schema(vec![("Port", DataType::Int64)]);
        assert_eq!(
            merge(&[text, number]).expect_err("disagrees").to_string(),
            "its files disagree on column 'Port': string in one, long in another (register them as separate tables)"
        );
    }
}
