//! Result sets as a table, CSV or JSON lines, with values printed as Kusto prints them.

use std::io::{self, Write};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use comfy_table::{ContentArrangement, Table, presets};
use kql_engine::render::{field_to_json, format_field_cell};

use crate::cli::Format;

/// Writes one result set.
pub fn write_result(
    out: &mut dyn Write,
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    width: Option<u16>,
) -> io::Result<()> {
    match format {
        Format::Table => write_table(out, schema, batches, width, None),
        Format::Csv => write_csv(out, schema, batches),
        Format::Jsonl => write_jsonl(out, schema, batches),
    }
}

/// A table of at most `max_rows` rows (all when `None`), sized to `width` columns of text, or
/// to the terminal when `fit_terminal` (comfy-table asks the terminal for its width).
pub fn write_table(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    width: Option<u16>,
    max_rows: Option<usize>,
) -> io::Result<()> {
    write_table_sized(out, schema, batches, width, max_rows, false)
}

pub fn write_table_sized(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    width: Option<u16>,
    max_rows: Option<usize>,
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
    let mut shown = 0;
    'outer: for batch in batches {
        for row in 0..batch.num_rows() {
            if max_rows.is_some_and(|m| shown >= m) {
                break 'outer;
            }
            table.add_row(
                schema.fields().iter().zip(batch.columns()).map(|(f, c)| format_field_cell(f, c.as_ref(), row).unwrap_or_default()),
            );
            shown += 1;
        }
    }
    writeln!(out, "{table}")
}

pub fn write_csv(out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(schema.fields().iter().map(|f| f.name().as_str()))?;
    for batch in batches {
        for row in 0..batch.num_rows() {
            w.write_record(
                schema.fields().iter().zip(batch.columns()).map(|(f, c)| format_field_cell(f, c.as_ref(), row).unwrap_or_default()),
            )?;
        }
    }
    w.flush()
}

pub fn write_jsonl(out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> io::Result<()> {
    for batch in batches {
        for row in 0..batch.num_rows() {
            let object: serde_json::Map<String, serde_json::Value> =
                schema.fields().iter().zip(batch.columns()).map(|(f, c)| (f.name().clone(), field_to_json(f, c, row))).collect();
            serde_json::to_writer(&mut *out, &object)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
