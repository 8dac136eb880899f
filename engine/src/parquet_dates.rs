//! Parquet datetime columns stored in seconds, milliseconds or days can hold dates past Kusto's
//! years 1 to 9999; a scan reads those values as null (`planner/sources.rs`). The files'
//! row-group statistics tell at registration whether any value lies outside, so that a warning
//! names the column and the file instead of letting the values vanish unseen.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type, Schema, TimeUnit};
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use futures::StreamExt;
use kql_grammar::values::{MAX_DATETIME, MICROS_PER_DAY, MIN_DATETIME};

/// Footers read at once.
const FOOTERS_AT_ONCE: usize = 16;

/// Whether a file type holds dates Kusto's range may not: seconds, milliseconds, days.
fn is_wide(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, _) | DataType::Date32 | DataType::Date64)
}

/// The table's columns whose files may hold such dates.
pub fn wide_columns(schema: &Schema) -> Vec<String> {
    schema.fields().iter().filter(|f| is_wide(f.data_type())).map(|f| f.name().clone()).collect()
}

/// A warning for each file and column of `columns` whose statistics show a value outside Kusto's
/// datetime range; `shown` names a file as the user knows it.
pub async fn out_of_range(
    store: &Arc<dyn ObjectStore>,
    objects: &[ObjectMeta],
    columns: &[String],
    shown: impl Fn(&ObjectMeta) -> String,
) -> Vec<String> {
    let found: Vec<Vec<String>> = futures::stream::iter(objects)
        .map(|object| async move { columns_outside(store, object, columns).await })
        .buffered(FOOTERS_AT_ONCE)
        .collect()
        .await;
    let mut warnings = Vec::new();
    for (object, names) in objects.iter().zip(found) {
        for name in names {
            warnings.push(format!(
                "column '{name}' of '{}' holds dates outside 0001-01-01 to 9999-12-31, which Kusto's datetime cannot hold: they read as null",
                shown(object)
            ));
        }
    }
    warnings
}

/// The columns of one file whose row groups reach outside the range. A footer that cannot be
/// read says nothing here: the scan reports it.
async fn columns_outside(store: &Arc<dyn ObjectStore>, object: &ObjectMeta, columns: &[String]) -> Vec<String> {
    let Ok(meta) = DFParquetMetadata::new(store.as_ref(), object).fetch_metadata().await else { return Vec::new() };
    let parquet_schema = meta.file_metadata().schema_descr();
    let Ok(schema) = parquet_to_arrow_schema(parquet_schema, meta.file_metadata().key_value_metadata()) else { return Vec::new() };
    let schema = &schema;
    let groups = meta.row_groups();
    columns
        .iter()
        .filter(|name| {
            let Some((_, field)) = schema.column_with_name(name) else { return false };
            let Ok(converter) = StatisticsConverter::try_new(name, schema, parquet_schema) else { return false };
            let bounds = [converter.row_group_mins(groups.iter()), converter.row_group_maxes(groups.iter())];
            bounds.into_iter().flatten().any(|array| any_outside(field.data_type(), array.as_ref()))
        })
        .cloned()
        .collect()
}

/// Whether any value of a statistics array is outside the range.
fn any_outside(t: &DataType, array: &dyn Array) -> bool {
    let per_unit: i64 = match t {
        DataType::Timestamp(TimeUnit::Second, _) => 1_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) | DataType::Date64 => 1_000,
        DataType::Date32 => MICROS_PER_DAY,
        _ => return false,
    };
    let Ok(numbers) = arrow::compute::cast(array, &DataType::Int64) else { return false };
    numbers
        .as_primitive::<Int64Type>()
        .iter()
        .flatten()
        .any(|v| v.checked_mul(per_unit).is_none_or(|micros| !(MIN_DATETIME..=MAX_DATETIME).contains(&micros)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, TimestampMillisecondArray};

    #[test]
    fn values_past_year_9999_or_before_year_1_are_outside() {
        let millis = DataType::Timestamp(TimeUnit::Millisecond, None);
        // 9999-12-31T23:59:59.999 and 2024-05-01 are inside; 10000-01-01 is not.
        assert!(!any_outside(&millis, &TimestampMillisecondArray::from(vec![253_402_300_799_999, 1_714_521_600_000])));
        assert!(any_outside(&millis, &TimestampMillisecondArray::from(vec![253_402_300_800_000])));
        assert!(any_outside(&millis, &TimestampMillisecondArray::from(vec![i64::MAX])));
        // 0001-01-01 is day -719162.
        assert!(!any_outside(&DataType::Date32, &Date32Array::from(vec![-719_162])));
        assert!(any_outside(&DataType::Date32, &Date32Array::from(vec![-719_163])));
    }
}
