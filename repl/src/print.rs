//! Result rows as a table, CSV or JSON lines, with values printed as Kusto prints them. CSV and
//! JSON lines are written a batch at a time (see `results`); a table needs all its rows first,
//! to size its columns.

use std::io::{self, Write};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{Field, SchemaRef};
use comfy_table::{ContentArrangement, Table, presets};
use kql_engine::functions::StrArray;
use kql_engine::render::{field_to_json, format_field_cell};
use kql_engine::types::is_dynamic_field;

/// A table of the rows of `batches`, sized to `width` columns of text, or to the terminal when
/// `fit_terminal` (comfy-table asks the terminal for its width).
pub fn write_table(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    width: Option<u16>,
    fit_terminal: bool,
) -> io::Result<()> {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    if let Some(w) = width {
        table.set_width(w).set_content_arrangement(ContentArrangement::Dynamic);
    } else if fit_terminal {
        table.set_content_arrangement(ContentArrangement::Dynamic);
        // A pseudo-terminal that reports no size (0 columns) would squeeze every cell to one
        // character a line: print at natural width there.
        if table.width().is_none_or(|w| w < 20) {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    table.set_header(schema.fields().iter().map(|f| f.name().clone()));
    for batch in batches {
        for row in 0..batch.num_rows() {
            table.add_row(
                schema.fields().iter().zip(batch.columns()).map(|(f, c)| format_field_cell(f, c.as_ref(), row).unwrap_or_default()),
            );
        }
    }
    writeln!(out, "{table}")
}

/// The CSV header line: the column names.
pub fn write_csv_header<W: Write>(w: &mut csv::Writer<W>, schema: &SchemaRef) -> io::Result<()> {
    w.write_record(schema.fields().iter().map(|f| f.name().as_str()))?;
    Ok(())
}

/// One batch's rows as CSV records.
pub fn write_csv_rows<W: Write>(w: &mut csv::Writer<W>, schema: &SchemaRef, batch: &RecordBatch) -> io::Result<()> {
    for row in 0..batch.num_rows() {
        w.write_record(
            schema.fields().iter().zip(batch.columns()).map(|(f, c)| format_field_cell(f, c.as_ref(), row).unwrap_or_default()),
        )?;
    }
    Ok(())
}

/// One batch's rows as JSON objects, one a line, keys in the schema's order.
///
/// A hunt writes hundreds of thousands of hit rows of Defender's 67 columns: building a
/// `serde_json::Map` per row (its keys cloned, each integer formatted and parsed back) took
/// most of the time of writing them. Here each key is escaped once per batch and the common
/// cells (text, integers, booleans, nulls) are written straight out; every other cell goes
/// through `field_to_json`, as before, so the lines are the same bytes.
pub fn write_jsonl_rows(out: &mut dyn Write, schema: &SchemaRef, batch: &RecordBatch) -> io::Result<()> {
    let mut names = std::collections::HashSet::new();
    if !schema.fields().iter().all(|f| names.insert(f.name())) {
        // A JSON object keeps one value per key (the last, in the first key's place): only
        // the map says which.
        return write_jsonl_rows_through_map(out, schema, batch);
    }
    let cells: Vec<(String, JsonCell)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
        .map(|(i, (f, c))| {
            let key = serde_json::to_string(f.name()).map_err(io::Error::other)?;
            Ok((format!("{}{key}:", if i == 0 { "{" } else { "," }), JsonCell::of(f, c)))
        })
        .collect::<io::Result<_>>()?;
    for row in 0..batch.num_rows() {
        if cells.is_empty() {
            out.write_all(b"{")?;
        }
        for (key, cell) in &cells {
            out.write_all(key.as_bytes())?;
            cell.write(out, row)?;
        }
        out.write_all(b"}\n")?;
    }
    Ok(())
}

/// How one column's cells are written as JSON values.
enum JsonCell<'a> {
    Text(StrArray<'a>),
    Integer(&'a ArrayRef),
    Boolean(&'a arrow::array::BooleanArray),
    /// Anything else, through the `serde_json::Value` that `field_to_json` gives.
    Value(&'a Field, &'a ArrayRef),
}

impl<'a> JsonCell<'a> {
    fn of(field: &'a Field, column: &'a ArrayRef) -> JsonCell<'a> {
        use arrow::datatypes::DataType;
        // A dynamic column's text is JSON, to be parsed and written compactly.
        if is_dynamic_field(field) {
            return JsonCell::Value(field, column);
        }
        match column.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => match StrArray::try_new(column) {
                Ok(texts) => JsonCell::Text(texts),
                Err(_) => JsonCell::Value(field, column),
            },
            t if t.is_integer() => JsonCell::Integer(column),
            DataType::Boolean => JsonCell::Boolean(column.as_boolean()),
            _ => JsonCell::Value(field, column),
        }
    }

    fn write(&self, out: &mut dyn Write, row: usize) -> io::Result<()> {
        match self {
            JsonCell::Text(texts) => match texts.get(row) {
                Some(text) => serde_json::to_writer(&mut *out, text).map_err(io::Error::other),
                None => out.write_all(b"null"),
            },
            JsonCell::Integer(column) if column.is_null(row) => out.write_all(b"null"),
            JsonCell::Integer(column) => write_integer(out, column, row),
            JsonCell::Boolean(column) if column.is_null(row) => out.write_all(b"null"),
            JsonCell::Boolean(column) => out.write_all(if column.value(row) { b"true" } else { b"false" }),
            JsonCell::Value(field, column) => {
                serde_json::to_writer(&mut *out, &field_to_json(field, column, row)).map_err(io::Error::other)
            }
        }
    }
}

/// A non-null integer cell in decimal.
fn write_integer(out: &mut dyn Write, column: &ArrayRef, row: usize) -> io::Result<()> {
    use arrow::datatypes::*;
    match column.data_type() {
        DataType::Int8 => write!(out, "{}", column.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => write!(out, "{}", column.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => write!(out, "{}", column.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => write!(out, "{}", column.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => write!(out, "{}", column.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => write!(out, "{}", column.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => write!(out, "{}", column.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => write!(out, "{}", column.as_primitive::<UInt64Type>().value(row)),
        other => Err(io::Error::other(format!("not an integer column: {other}"))),
    }
}

/// `write_jsonl_rows` through one `serde_json::Map` per row.
fn write_jsonl_rows_through_map(out: &mut dyn Write, schema: &SchemaRef, batch: &RecordBatch) -> io::Result<()> {
    for row in 0..batch.num_rows() {
        let object: serde_json::Map<String, serde_json::Value> =
            schema.fields().iter().zip(batch.columns()).map(|(f, c)| (f.name().clone(), field_to_json(f, c, row))).collect();
        serde_json::to_writer(&mut *out, &object)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BooleanArray, Float64Array, Int32Array, Int64Array, StringArray, StringViewArray, TimestampMicrosecondArray, UInt64Array,
    };
    use arrow::datatypes::{DataType, Schema, TimeUnit};
    use kql_engine::types::dynamic_field;

    use super::*;

    fn lines(write: fn(&mut dyn Write, &SchemaRef, &RecordBatch) -> io::Result<()>, batch: &RecordBatch) -> String {
        let mut out = Vec::new();
        write(&mut out, &batch.schema(), batch).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The direct writer gives the very bytes the map per row gave, for every kind of cell.
    #[test]
    fn jsonl_rows_are_written_as_the_map_writes_them() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("Text", DataType::Utf8, true),
            Field::new("View \"q\"", DataType::Utf8View, true),
            Field::new("Long", DataType::Int64, true),
            Field::new("Int", DataType::Int32, true),
            Field::new("Big", DataType::UInt64, true),
            Field::new("Bool", DataType::Boolean, true),
            Field::new("Real", DataType::Float64, true),
            Field::new("When", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            dynamic_field(Field::new("Bag", DataType::Utf8, true)),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("C:\\Windows\\cmd.exe \"/c\"\n\u{1F600}"), None, Some("")])),
            Arc::new(StringViewArray::from(vec![Some("a longer text than twelve bytes\t"), Some("x"), None])),
            Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(42)])),
            Arc::new(Int32Array::from(vec![Some(-7), Some(0), None])),
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), None, Some(1)])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::NAN), None])),
            Arc::new(TimestampMicrosecondArray::from(vec![Some(1_714_521_600_123_456), None, Some(0)]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![Some("{\"b\": 1, \"a\": [1, \"x\"]}"), Some("not json"), None])),
        ];
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let direct = lines(write_jsonl_rows, &batch);
        assert_eq!(direct, lines(write_jsonl_rows_through_map, &batch));
        assert_eq!(
            direct.lines().next().unwrap(),
            "{\"Text\":\"C:\\\\Windows\\\\cmd.exe \\\"/c\\\"\\n\u{1F600}\",\"View \\\"q\\\"\":\"a longer text than twelve bytes\\t\",\
             \"Long\":-9223372036854775808,\"Int\":-7,\"Big\":18446744073709551615,\"Bool\":true,\"Real\":1.5,\
             \"When\":\"2024-05-01T00:00:00.1234560Z\",\"Bag\":{\"b\":1,\"a\":[1,\"x\"]}}"
        );
        assert_eq!(direct.lines().count(), 3);
    }

    /// A batch without columns writes one empty object a row, as the map did.
    #[test]
    fn jsonl_rows_without_columns_are_empty_objects() {
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(2)),
        )
        .unwrap();
        assert_eq!(lines(write_jsonl_rows, &batch), "{}\n{}\n");
        assert_eq!(lines(write_jsonl_rows_through_map, &batch), "{}\n{}\n");
    }
}
