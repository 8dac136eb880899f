//! A small column-wise table of log events written to one Parquet file: the Sentinel-shaped
//! sample tables are narrow enough to build whole in memory, unlike NetworkSession's 10M-row runs.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

/// The KQL type of a column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Int,
    Long,
    Str,
    /// `datetime`: Timestamp(µs, UTC), kql's own datetime unit.
    Time,
    /// `dynamic`: JSON text in a column tagged with the `arrow.json` extension.
    Dynamic,
}

/// A value of one cell. `Null` fits any column (Kusto strings are never null: use `""`).
#[derive(Clone, Debug)]
pub enum Cell {
    Null,
    Int(i32),
    Long(i64),
    Str(String),
    /// Nanoseconds since the epoch.
    Time(i64),
    Json(serde_json::Value),
}

impl From<i32> for Cell {
    fn from(v: i32) -> Cell {
        Cell::Int(v)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::Long(v)
    }
}

impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::Str(v.to_string())
    }
}

impl From<&String> for Cell {
    fn from(v: &String) -> Cell {
        Cell::Str(v.clone())
    }
}

impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Str(v)
    }
}

impl From<serde_json::Value> for Cell {
    fn from(v: serde_json::Value) -> Cell {
        Cell::Json(v)
    }
}

/// One event: its time (ns since the epoch, written as `TimeGenerated`) and its other cells in
/// the order of the table's columns.
pub struct Row {
    pub time: i64,
    pub cells: Vec<Cell>,
}

/// Writes `rows` sorted by time: `TimeGenerated` first, then `columns`.
pub fn write(out: &Path, columns: &[(&str, Kind)], mut rows: Vec<Row>) -> Result<usize, String> {
    if rows.is_empty() {
        return Err("no rows to write".into());
    }
    if let Some(bad) = rows.iter().find(|r| r.cells.len() != columns.len()) {
        return Err(format!("a row has {} cells for {} columns", bad.cells.len(), columns.len()));
    }
    rows.sort_by_key(|r| r.time);
    let time_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![Field::new("TimeGenerated", time_type.clone(), false)];
    let mut arrays: Vec<ArrayRef> =
        vec![Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.time / 1_000).collect::<Vec<_>>()).with_timezone("UTC"))];
    for (i, (name, kind)) in columns.iter().enumerate() {
        let cells = rows.iter().map(|r| &r.cells[i]);
        let wrong = |c: &Cell| format!("column {name} ({kind:?}) got {c:?}");
        let (field, array): (Field, ArrayRef) = match kind {
            Kind::Int => (
                Field::new(*name, DataType::Int32, true),
                Arc::new(Int32Array::from(
                    cells
                        .map(|c| match c {
                            Cell::Int(v) => Ok(Some(*v)),
                            Cell::Null => Ok(None),
                            c => Err(wrong(c)),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )),
            ),
            Kind::Long => (
                Field::new(*name, DataType::Int64, true),
                Arc::new(Int64Array::from(
                    cells
                        .map(|c| match c {
                            Cell::Long(v) => Ok(Some(*v)),
                            Cell::Null => Ok(None),
                            c => Err(wrong(c)),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )),
            ),
            Kind::Time => (
                Field::new(*name, time_type.clone(), true),
                Arc::new(
                    TimestampMicrosecondArray::from(
                        cells
                            .map(|c| match c {
                                Cell::Time(v) => Ok(Some(v / 1_000)),
                                Cell::Null => Ok(None),
                                c => Err(wrong(c)),
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    )
                    .with_timezone("UTC"),
                ),
            ),
            Kind::Str => (
                Field::new(*name, DataType::Utf8, true),
                Arc::new(StringArray::from(
                    cells
                        .map(|c| match c {
                            Cell::Str(v) => Ok(Some(v.clone())),
                            Cell::Null => Ok(None),
                            c => Err(wrong(c)),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )),
            ),
            Kind::Dynamic => (
                Field::new(*name, DataType::Utf8, true)
                    .with_metadata([("ARROW:extension:name".to_string(), "arrow.json".to_string())].into()),
                Arc::new(StringArray::from(
                    cells
                        .map(|c| match c {
                            Cell::Json(v) => Ok(Some(v.to_string())),
                            Cell::Null => Ok(None),
                            c => Err(wrong(c)),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )),
            ),
        };
        fields.push(field);
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(9).map_err(|e| e.to_string())?)).build();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(rows.len())
}
