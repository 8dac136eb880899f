//! Parquet datetime columns can hold dates past Kusto's years 1 to 9999: those stored in
//! seconds, milliseconds or days, and those in microseconds too (an `i64` of microseconds
//! reaches past the year 290,000; only nanoseconds stay inside). A scan reads such values as
//! null (`planner/sources.rs`). The files' row-group statistics tell at registration whether
//! any value lies outside, so that a warning names the column and the file instead of letting
//! the values vanish unseen, and so that a microsecond column (every `TimeGenerated`) is
//! checked per row only where its files say it must be: the check is a projection that
//! Parquet's pruning and a partitioned table's pruning cannot see through.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type, Schema, TimeUnit};
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use futures::StreamExt;
use kql_grammar::values::{MAX_DATETIME, MICROS_PER_DAY, MIN_DATETIME};

/// Footers read at once.
const FOOTERS_AT_ONCE: usize = 16;

/// Whether a file type holds dates Kusto's range may not, so that a scan always checks its
/// values: seconds, milliseconds, days.
pub fn is_wide(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, _) | DataType::Date32 | DataType::Date64)
}

/// Whether a file type is a datetime in microseconds, whose values a scan checks only where
/// the files' statistics say some are outside (or say nothing).
fn is_micros(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(TimeUnit::Microsecond, _))
}

/// The table's datetime columns in microseconds: those a scan checks when nothing tells their
/// range.
pub fn micros_columns(schema: &Schema) -> BTreeSet<String> {
    schema.fields().iter().filter(|f| is_micros(f.data_type())).map(|f| f.name().clone()).collect()
}

/// The table's columns whose files may hold dates outside the range.
pub fn checked_columns(schema: &Schema) -> Vec<String> {
    schema.fields().iter().filter(|f| is_wide(f.data_type()) || is_micros(f.data_type())).map(|f| f.name().clone()).collect()
}

/// What the footers say about a table's datetime columns.
#[derive(Debug, Default)]
pub struct DateCheck {
    /// One for each file and column whose statistics show a value outside the range.
    pub warnings: Vec<String>,
    /// The microsecond columns a scan must check per row: those with a value outside the range,
    /// or with a row group whose statistics are missing.
    pub checked_micros: BTreeSet<String>,
}

/// What one file's statistics say about a column.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Finding {
    Outside,
    /// A row group with values but no minimum or maximum.
    Unknown,
}

/// Checks each file's statistics for the columns of `columns`; `shown` names a file as the
/// user knows it. Footers go through the session's metadata cache, so that the first scan
/// does not read them again.
pub async fn check(
    store: &Arc<dyn ObjectStore>,
    objects: &[ObjectMeta],
    schema: &Schema,
    columns: &[String],
    cache: Arc<FileMetadataCache>,
    shown: impl Fn(&ObjectMeta) -> String,
) -> DateCheck {
    let found: Vec<Vec<(String, Finding)>> = futures::stream::iter(objects)
        .map(|object| {
            let cache = cache.clone();
            async move { file_findings(store, object, columns, cache).await }
        })
        .buffered(FOOTERS_AT_ONCE)
        .collect()
        .await;
    let mut result = DateCheck::default();
    for (object, findings) in objects.iter().zip(found) {
        for (name, finding) in findings {
            let micros = schema.field_with_name(&name).is_ok_and(|f| is_micros(f.data_type()));
            if micros {
                result.checked_micros.insert(name.clone());
            }
            if finding == Finding::Outside {
                result.warnings.push(format!(
                    "column '{name}' of '{}' holds dates outside 0001-01-01 to 9999-12-31, which Kusto's datetime cannot hold: they read as null",
                    shown(object)
                ));
            }
        }
    }
    result
}

/// The columns of one file whose row groups reach outside the range, or whose statistics are
/// missing. A footer that cannot be read (the scan reports why) leaves every column unknown.
async fn file_findings(
    store: &Arc<dyn ObjectStore>,
    object: &ObjectMeta,
    columns: &[String],
    cache: Arc<FileMetadataCache>,
) -> Vec<(String, Finding)> {
    let unknown = || columns.iter().map(|c| (c.clone(), Finding::Unknown)).collect();
    let fetched = DFParquetMetadata::new(store.as_ref(), object).with_file_metadata_cache(Some(cache)).fetch_metadata().await;
    let Ok(meta) = fetched else { return unknown() };
    let parquet_schema = meta.file_metadata().schema_descr();
    let Ok(schema) = parquet_to_arrow_schema(parquet_schema, meta.file_metadata().key_value_metadata()) else { return unknown() };
    let schema = &schema;
    let groups = meta.row_groups();
    columns
        .iter()
        .filter_map(|name| {
            let (_, field) = schema.column_with_name(name)?;
            let converter = StatisticsConverter::try_new(name, schema, parquet_schema).ok()?;
            let (Ok(mins), Ok(maxes)) = (converter.row_group_mins(groups.iter()), converter.row_group_maxes(groups.iter())) else {
                return Some((name.clone(), Finding::Unknown));
            };
            let nulls = converter.row_group_null_counts(groups.iter()).ok();
            let all_null = |i: usize| nulls.as_ref().is_some_and(|n| n.is_valid(i) && n.value(i) == groups[i].num_rows() as u64);
            finding(field.data_type(), mins.as_ref(), maxes.as_ref(), all_null).map(|f| (name.clone(), f))
        })
        .collect()
}

/// What the minimums and maximums of a column's row groups (or files) say: a value outside the
/// range, an unknown range (a bound missing where `all_null` does not say every value is null),
/// or nothing to check.
fn finding(t: &DataType, mins: &dyn Array, maxes: &dyn Array, all_null: impl Fn(usize) -> bool) -> Option<Finding> {
    if any_outside(t, mins) || any_outside(t, maxes) {
        return Some(Finding::Outside);
    }
    let unknown = (0..mins.len()).any(|i| (mins.is_null(i) || maxes.is_null(i)) && !all_null(i));
    unknown.then_some(Finding::Unknown)
}

/// The same check over a Delta table's log: its add actions (delta-rs's flattened table, one
/// row per file, with `min.<column>`, `max.<column>`, `null_count.<column>` and
/// `num_records`), where a column without statistics is an unknown range. `shown` names a file
/// by its path in the log.
pub fn check_delta_files(schema: &Schema, actions: &arrow::array::RecordBatch, shown: impl Fn(&str) -> String) -> DateCheck {
    let mut result = DateCheck::default();
    let paths = actions.column_by_name("path").and_then(|p| arrow::compute::cast(p, &DataType::Utf8).ok());
    let records = actions.column_by_name("num_records").and_then(|r| arrow::compute::cast(r, &DataType::Int64).ok());
    for name in checked_columns(schema) {
        let Ok(field) = schema.field_with_name(&name) else { continue };
        let bounds = (actions.column_by_name(&format!("min.{name}")), actions.column_by_name(&format!("max.{name}")));
        let (Some(mins), Some(maxes)) = bounds else {
            if is_micros(field.data_type()) && actions.num_rows() > 0 {
                result.checked_micros.insert(name);
            }
            continue;
        };
        let nulls = actions.column_by_name(&format!("null_count.{name}")).and_then(|n| arrow::compute::cast(n, &DataType::Int64).ok());
        let all_null = |i: usize| match (&nulls, &records) {
            (Some(n), Some(r)) => {
                n.is_valid(i) && r.is_valid(i) && n.as_primitive::<Int64Type>().value(i) == r.as_primitive::<Int64Type>().value(i)
            }
            _ => false,
        };
        let Some(found) = finding(field.data_type(), mins.as_ref(), maxes.as_ref(), all_null) else { continue };
        if is_micros(field.data_type()) {
            result.checked_micros.insert(name.clone());
        }
        if found == Finding::Outside {
            // Each file whose own bounds are outside is named.
            for i in 0..actions.num_rows() {
                let one = |a: &arrow::array::ArrayRef| a.slice(i, 1);
                if any_outside(field.data_type(), one(mins).as_ref()) || any_outside(field.data_type(), one(maxes).as_ref()) {
                    let path =
                        paths.as_ref().filter(|p| p.is_valid(i)).map(|p| p.as_string::<i32>().value(i).to_string()).unwrap_or_default();
                    result.warnings.push(format!(
                        "column '{name}' of '{}' holds dates outside 0001-01-01 to 9999-12-31, which Kusto's datetime cannot hold: they read as null",
                        shown(&path)
                    ));
                }
            }
        }
    }
    result
}

/// Whether any value of a statistics array is outside the range.
fn any_outside(t: &DataType, array: &dyn Array) -> bool {
    let per_unit: i64 = match t {
        DataType::Timestamp(TimeUnit::Second, _) => 1_000_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1,
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

    /// A Delta log's add actions as delta-rs flattens them: files a, b and c, with b's maximum
    /// and c's bounds of `Late` as given (all of `Empty`'s values are null).
    fn actions(b_max: i64, c_bound: Option<i64>) -> arrow::array::RecordBatch {
        use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
        let micros = |v: Vec<Option<i64>>| Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) as ArrayRef;
        arrow::array::RecordBatch::try_from_iter(vec![
            ("path", Arc::new(StringArray::from(vec!["d=1/a.parquet", "d=1/b.parquet", "d=2/c.parquet"])) as ArrayRef),
            ("num_records", Arc::new(Int64Array::from(vec![10, 10, 10])) as ArrayRef),
            ("min.Late", micros(vec![Some(0), Some(1), c_bound])),
            ("max.Late", micros(vec![Some(9), Some(b_max), c_bound])),
            ("null_count.Late", Arc::new(Int64Array::from(vec![0, 0, 0])) as ArrayRef),
            ("min.Empty", micros(vec![None, None, None])),
            ("max.Empty", micros(vec![None, None, None])),
            ("null_count.Empty", Arc::new(Int64Array::from(vec![10, 10, 10])) as ArrayRef),
        ])
        .expect("actions")
    }

    #[test]
    fn a_delta_logs_statistics_name_the_files_with_dates_outside_and_the_columns_to_check() {
        let utc = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Schema::new(vec![
            arrow::datatypes::Field::new("Late", utc(), true),
            arrow::datatypes::Field::new("Empty", utc(), true),
            arrow::datatypes::Field::new("NoStats", utc(), true),
        ]);
        // b's maximum is in the year 14645.
        let check = check_delta_files(&schema, &actions(400_000_000_000_000_000, Some(5)), |p| format!("lake/{p}"));
        assert_eq!(
            check.warnings,
            [
                "column 'Late' of 'lake/d=1/b.parquet' holds dates outside 0001-01-01 to 9999-12-31, which Kusto's datetime cannot hold: they read as null"
            ]
        );
        // `Empty` is all null: nothing to check; `NoStats` has no statistics in the log.
        assert_eq!(check.checked_micros.into_iter().collect::<Vec<_>>(), ["Late", "NoStats"]);
        // Every date inside: only the column without statistics is checked.
        let check = check_delta_files(&schema, &actions(9, Some(5)), |p| p.to_string());
        assert!(check.warnings.is_empty());
        assert_eq!(check.checked_micros.into_iter().collect::<Vec<_>>(), ["NoStats"]);
        // c's missing bounds (10 rows, none null) make `Late` checked, without a warning.
        let check = check_delta_files(&schema, &actions(9, None), |p| p.to_string());
        assert!(check.warnings.is_empty());
        assert_eq!(check.checked_micros.into_iter().collect::<Vec<_>>(), ["Late", "NoStats"]);
    }
}
