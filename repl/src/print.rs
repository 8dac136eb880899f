//! Result rows as a table, CSV or JSON lines, with values printed as Kusto prints them. CSV and
//! JSON lines are written a batch at a time (see `results`); a table needs all its rows first,
//! to size its columns.

use std::io::{self, Write};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use comfy_table::{ContentArrangement, Table, presets};
use kql_engine::render::{field_to_json, format_field_cell};

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

/// One batch's rows as JSON objects, one a line.
pub fn write_jsonl_rows(out: &mut dyn Write, schema: &SchemaRef, batch: &RecordBatch) -> io::Result<()> {
    for row in 0..batch.num_rows() {
        let object: serde_json::Map<String, serde_json::Value> =
            schema.fields().iter().zip(batch.columns()).map(|(f, c)| (f.name().clone(), field_to_json(f, c, row))).collect();
        serde_json::to_writer(&mut *out, &object)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
