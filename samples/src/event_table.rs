//! A small column-wise table of log events written to one Parquet file: the Windows sample
//! tables are narrow enough to build whole in memory, unlike NetworkSession's 10M-row runs.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

/// A value of one cell.
#[derive(Clone, Debug)]
pub enum Cell {
    Int(i32),
    Str(String),
    /// A KQL `dynamic` value: JSON text in a column tagged with the `arrow.json` extension.
    Json(serde_json::Value),
}

impl From<i32> for Cell {
    fn from(v: i32) -> Cell {
        Cell::Int(v)
    }
}

impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::Str(v.to_string())
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

/// One event: its time (ns since the epoch) and its other cells in column order.
pub struct Row {
    pub time: i64,
    pub cells: Vec<Cell>,
}

/// Writes `rows` sorted by time under `TimeGenerated` and `columns` (the names of the cells,
/// whose types the first row gives).
pub fn write(out: &Path, columns: &[&str], mut rows: Vec<Row>) -> Result<usize, String> {
    rows.sort_by_key(|r| r.time);
    let first = rows.first().ok_or("no rows to write")?;
    // Written in microseconds, kql's own datetime unit (the times are whole milliseconds).
    let mut fields = vec![Field::new("TimeGenerated", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)];
    let mut arrays: Vec<ArrayRef> =
        vec![Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.time / 1_000).collect::<Vec<_>>()).with_timezone("UTC"))];
    for (i, name) in columns.iter().enumerate() {
        let (field, array): (Field, ArrayRef) = match &first.cells[i] {
            Cell::Int(_) => (
                Field::new(*name, DataType::Int32, false),
                Arc::new(Int32Array::from(rows.iter().map(|r| as_int(&r.cells[i])).collect::<Result<Vec<_>, _>>()?)),
            ),
            Cell::Str(_) => (
                Field::new(*name, DataType::Utf8, false),
                Arc::new(StringArray::from(rows.iter().map(|r| as_text(&r.cells[i])).collect::<Result<Vec<_>, _>>()?)),
            ),
            Cell::Json(_) => (
                Field::new(*name, DataType::Utf8, true).with_metadata([("ARROW:extension:name".to_string(), "arrow.json".to_string())].into()),
                Arc::new(StringArray::from(rows.iter().map(|r| as_text(&r.cells[i])).collect::<Result<Vec<_>, _>>()?)),
            ),
        };
        fields.push(field);
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| e.to_string())?))
        .build();
    let file = File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(rows.len())
}

fn as_int(c: &Cell) -> Result<i32, String> {
    match c {
        Cell::Int(v) => Ok(*v),
        other => Err(format!("expected an int cell, got {other:?}")),
    }
}

fn as_text(c: &Cell) -> Result<String, String> {
    match c {
        Cell::Str(s) => Ok(s.clone()),
        Cell::Json(v) => Ok(v.to_string()),
        other => Err(format!("expected a text cell, got {other:?}")),
    }
}
