//! One text file's records (JSON lines, or CSV/TSV rows under a header) as Arrow batches of the
//! table's columns, with every line that cannot be read counted against `--max-bad-rows`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use parking_lot::Mutex;
use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::decode::{BatchBuilder, Cell, json_cell, mismatch, text_cell};
use super::infer::{Columns, kind_of_json, kind_of_text};

/// How a file holds its records.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TextKind {
    JsonLines,
    /// Rows separated by the delimiter, the first row naming the columns.
    Delimited(u8),
}

/// Most skipped lines a query reports one by one; the rest are counted.
const REPORTED_LINES: usize = 20;

/// The lines a scan could not read: up to `limit` are skipped and reported; one more fails the
/// query, naming the file and line.
#[derive(Debug)]
pub struct BadRows {
    limit: u64,
    seen: AtomicU64,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl BadRows {
    pub fn new(limit: u64, warnings: Arc<Mutex<Vec<String>>>) -> BadRows {
        BadRows { limit, seen: AtomicU64::new(0), warnings }
    }

    fn report(&self, file: &str, line: u64, reason: &str) -> Result<(), DataFusionError> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.limit {
            let allowance = match self.limit {
                0 => "--max-bad-rows N skips up to N such lines, each reported".to_string(),
                l => format!("more than --max-bad-rows {l} lines could not be read"),
            };
            return Err(DataFusionError::Execution(format!("{file}, line {line}: {reason} ({allowance})")));
        }
        let mut warnings = self.warnings.lock();
        if (n as usize) <= REPORTED_LINES {
            warnings.push(format!("skipped {file}, line {line}: {reason}"));
        } else if n as usize == REPORTED_LINES + 1 {
            warnings.push(format!(
                "skipped more lines that could not be read (up to --max-bad-rows {}); only the first {REPORTED_LINES} are shown",
                self.limit
            ));
        }
        Ok(())
    }
}

/// A record as read, before conversion.
enum Record<'a> {
    /// A line's JSON text, trimmed.
    Json(&'a str),
    Row(&'a csv::StringRecord),
}

/// The records of one file.
pub struct Records {
    file: String,
    source: Source,
    /// The line the last record started on.
    line: u64,
}

enum Source {
    /// `text`: where the last line's trimmed text is in `buf`.
    Lines {
        input: Box<dyn BufRead + Send>,
        buf: Vec<u8>,
        text: (usize, usize),
    },
    Delimited {
        reader: csv::Reader<Box<dyn Read + Send>>,
        header: Vec<String>,
        row: csv::StringRecord,
    },
}

/// What reading the next record gave.
enum Next {
    Record,
    Bad(String),
    End,
}

impl Records {
    pub fn new(kind: TextKind, file: String, input: Box<dyn BufRead + Send>) -> Result<Records, DataFusionError> {
        let source = match kind {
            TextKind::JsonLines => Source::Lines { input, buf: Vec::new(), text: (0, 0) },
            TextKind::Delimited(delimiter) => {
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(delimiter)
                    .has_headers(true)
                    .flexible(true)
                    .from_reader(Box::new(input) as Box<dyn Read + Send>);
                let header = reader
                    .headers()
                    .map_err(|e| DataFusionError::Execution(format!("{file}: cannot read the header row: {e}")))?
                    .iter()
                    .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
                    .collect();
                Source::Delimited { reader, header, row: csv::StringRecord::new() }
            }
        };
        Ok(Records { file, source, line: 0 })
    }

    /// The column names a delimited file's header gives (none for JSON lines).
    pub fn header(&self) -> &[String] {
        match &self.source {
            Source::Delimited { header, .. } => header,
            Source::Lines { .. } => &[],
        }
    }

    fn advance(&mut self) -> Result<Next, DataFusionError> {
        match &mut self.source {
            Source::Lines { input, buf, text } => loop {
                buf.clear();
                let n = input.read_until(b'\n', buf).map_err(|e| DataFusionError::Execution(format!("{}: cannot read: {e}", self.file)))?;
                if n == 0 {
                    return Ok(Next::End);
                }
                self.line += 1;
                let Ok(line) = std::str::from_utf8(buf) else { return Ok(Next::Bad("it is not UTF-8 text".into())) };
                let line = if self.line == 1 { line.trim_start_matches('\u{feff}') } else { line };
                let trimmed = line.trim();
                if trimmed.is_empty() {
                    continue;
                }
                let start = trimmed.as_ptr() as usize - buf.as_ptr() as usize;
                *text = (start, start + trimmed.len());
                return Ok(Next::Record);
            },
            Source::Delimited { reader, header, row } => match reader.read_record(row) {
                Ok(false) => Ok(Next::End),
                Ok(true) => {
                    self.line = row.position().map_or(self.line + 1, |p| p.line());
                    if row.len() != header.len() {
                        Ok(Next::Bad(format!("it has {} fields, the header {}", row.len(), header.len())))
                    } else {
                        Ok(Next::Record)
                    }
                }
                Err(e) => {
                    self.line = e.position().map_or(self.line + 1, |p| p.line());
                    // An I/O error ends the file; a malformed row (bad UTF-8) is one bad line.
                    match e.kind() {
                        csv::ErrorKind::Io(_) => Err(DataFusionError::Execution(format!("{}: cannot read: {e}", self.file))),
                        _ => Ok(Next::Bad(format!("{e}"))),
                    }
                }
            },
        }
    }

    /// The record `advance` read.
    fn record(&self) -> Record<'_> {
        match &self.source {
            // `advance` checked the line is UTF-8 and `text` lies on character boundaries in it.
            Source::Lines { buf, text, .. } => Record::Json(std::str::from_utf8(&buf[text.0..text.1]).unwrap_or_default()),
            Source::Delimited { row, .. } => Record::Row(row),
        }
    }
}

/// The columns and kinds the first `max_records` records of a file show. Lines that cannot be
/// read are passed over here: the scan reports them.
pub fn sample(mut records: Records, max_records: usize) -> Result<Columns, DataFusionError> {
    let mut columns = Columns::default();
    for name in records.header().to_vec() {
        columns.observe(&name, super::infer::Kind::Null);
    }
    let mut seen = 0;
    let header = records.header().to_vec();
    while seen < max_records {
        match records.advance()? {
            Next::End => break,
            Next::Bad(_) => continue,
            Next::Record => {}
        }
        match records.record() {
            Record::Json(text) => {
                let Ok(object) = serde_json::from_str::<serde_json::Map<String, Json>>(text) else { continue };
                for (key, value) in &object {
                    columns.observe(key, kind_of_json(value));
                }
            }
            Record::Row(row) => {
                for (name, cell) in header.iter().zip(row.iter()) {
                    columns.observe(name, kind_of_text(cell));
                }
            }
        }
        seen += 1;
    }
    Ok(columns)
}

/// A file's records as batches of the scan's columns.
pub struct FileBatches {
    records: Records,
    builder: BatchBuilder,
    batch_size: usize,
    bad: Arc<BadRows>,
    /// For a delimited file: each column's place in this file's header (a file may lack one).
    positions: Vec<Option<usize>>,
    unknown: UnknownFields,
    done: bool,
}

impl FileBatches {
    pub fn new(
        records: Records,
        schema: SchemaRef,
        known: HashSet<String>,
        batch_size: usize,
        bad: Arc<BadRows>,
        warnings: Arc<Mutex<Vec<String>>>,
    ) -> Result<FileBatches, DataFusionError> {
        let positions = schema.fields().iter().map(|f| records.header().iter().position(|h| h == f.name())).collect();
        let builder = BatchBuilder::new(schema).map_err(DataFusionError::Execution)?;
        Ok(FileBatches {
            records,
            builder,
            batch_size: batch_size.max(1),
            bad,
            positions,
            unknown: UnknownFields { known, warned: HashSet::new(), warnings },
            done: false,
        })
    }

    /// The next record's cells, `Ok(None)` at the end of the file.
    fn next_row(&mut self) -> Result<Option<Vec<Cell>>, DataFusionError> {
        loop {
            let next = self.records.advance()?;
            let line = self.records.line;
            let bad = match next {
                Next::End => return Ok(None),
                Next::Bad(reason) => reason,
                Next::Record => match self.records.record() {
                    Record::Json(text) => {
                        // The fields borrowed from the line, each parsed only if a column reads it;
                        // a line whose keys hold escapes takes the owned way.
                        let file = &self.records.file;
                        let converted = match serde_json::from_str::<HashMap<&str, &RawValue>>(text) {
                            Ok(fields) => {
                                self.unknown.note(file, line, fields.keys().copied());
                                json_row_raw(&self.builder, &fields)
                            }
                            Err(_) => match serde_json::from_str::<serde_json::Map<String, Json>>(text) {
                                Ok(object) => {
                                    self.unknown.note(file, line, object.keys().map(String::as_str));
                                    json_row(&self.builder, &object)
                                }
                                Err(e) => Err(format!("not a JSON object ({e})")),
                            },
                        };
                        match converted {
                            Ok(cells) => return Ok(Some(cells)),
                            Err(reason) => reason,
                        }
                    }
                    Record::Row(row) => match text_row(&self.builder, &self.positions, row) {
                        Ok(cells) => return Ok(Some(cells)),
                        Err(reason) => reason,
                    },
                },
            };
            self.bad.report(&self.records.file, line, &bad)?;
        }
    }
}

/// JSON fields that no column of the table holds, each reported once per file.
struct UnknownFields {
    /// Every column of the table.
    known: HashSet<String>,
    warned: HashSet<String>,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl UnknownFields {
    fn note<'k>(&mut self, file: &str, line: u64, keys: impl Iterator<Item = &'k str>) {
        for key in keys {
            if !self.known.contains(key) && self.warned.insert(key.to_string()) {
                self.warnings.lock().push(format!(
                    "{file}, line {line}: field '{key}' is not a column of the table (its columns come from the first lines of each file; a `.create table` declaration can name it)"
                ));
            }
        }
    }
}

/// `json_row` over fields not yet parsed: a string column takes a JSON string's text directly.
fn json_row_raw(builder: &BatchBuilder, fields: &HashMap<&str, &RawValue>) -> Result<Vec<Cell>, String> {
    builder
        .schema()
        .fields()
        .iter()
        .zip(builder.targets())
        .map(|(field, &target)| {
            let Some(raw) = fields.get(field.name().as_str()) else { return Ok(Cell::Null) };
            let text = raw.get();
            if target == super::decode::Target::Text && text.starts_with('"') {
                return serde_json::from_str::<String>(text).map(Cell::Text).map_err(|e| format!("not a JSON object ({e})"));
            }
            let value: Json = serde_json::from_str(text).map_err(|e| format!("not a JSON object ({e})"))?;
            json_cell(target, &value).ok_or_else(|| mismatch(field, target, &value.to_string()))
        })
        .collect()
}

fn json_row(builder: &BatchBuilder, object: &serde_json::Map<String, Json>) -> Result<Vec<Cell>, String> {
    builder
        .schema()
        .fields()
        .iter()
        .zip(builder.targets())
        .map(|(field, &target)| match object.get(field.name()) {
            None => Ok(Cell::Null),
            Some(value) => json_cell(target, value).ok_or_else(|| mismatch(field, target, &value.to_string())),
        })
        .collect()
}

fn text_row(builder: &BatchBuilder, positions: &[Option<usize>], row: &csv::StringRecord) -> Result<Vec<Cell>, String> {
    builder
        .schema()
        .fields()
        .iter()
        .zip(builder.targets())
        .zip(positions)
        .map(|((field, &target), position)| match position.and_then(|p| row.get(p)) {
            None => Ok(Cell::Null),
            Some(cell) => text_cell(target, cell).ok_or_else(|| mismatch(field, target, &Json::String(cell.to_string()).to_string())),
        })
        .collect()
}

impl Iterator for FileBatches {
    type Item = Result<RecordBatch, DataFusionError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        while self.builder.rows() < self.batch_size {
            match self.next_row() {
                Ok(Some(cells)) => self.builder.push(cells),
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        if self.builder.rows() == 0 {
            return None;
        }
        Some(self.builder.finish().map_err(DataFusionError::from))
    }
}
