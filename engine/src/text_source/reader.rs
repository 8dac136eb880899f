//! One text file's records (JSON lines, or CSV/TSV rows under a header) as Arrow batches of the
//! table's columns, with every line that cannot be read counted against `--max-bad-rows`.

use std::collections::HashSet;
use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use parking_lot::Mutex;
use serde_json::Value as Json;

use super::decode::{BatchBuilder, Cell, mismatch, text_cell};
use super::infer::{Columns, kind_of_json, kind_of_text};
use super::json_line::{JsonLine, raw_cell};

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
    /// The (file, field) pairs reported as fields no column holds.
    noted_fields: Mutex<HashSet<(String, String)>>,
}

impl BadRows {
    pub fn new(limit: u64, warnings: Arc<Mutex<Vec<String>>>) -> BadRows {
        BadRows { limit, seen: AtomicU64::new(0), warnings, noted_fields: Mutex::new(HashSet::new()) }
    }

    /// Whether `field` of `file` is noted for the first time in this scan.
    fn first_note_of(&self, file: &str, field: &str) -> bool {
        self.noted_fields.lock().insert((file.to_string(), field.to_string()))
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

/// What reading a file reported: a skipped line, or a field that no column holds. A file's
/// cached copy keeps them (`cache.rs`), so that a scan of the copy reports them again and
/// counts its skipped lines against that scan's `--max-bad-rows`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Note {
    Skipped { rows_before: u64, line: u64, reason: String },
    UnknownField { rows_before: u64, line: u64, field: String },
}

impl Note {
    /// The rows the reading had read when it reported this.
    pub fn rows_before(&self) -> u64 {
        match self {
            Note::Skipped { rows_before, .. } | Note::UnknownField { rows_before, .. } => *rows_before,
        }
    }
}

/// Reports `notes` of `file` again, as the scan that read the file reported them: a skipped
/// line counts against `bad`'s allowance (and fails the scan beyond it), an unknown field is
/// noted once per file and scan.
pub fn report_again(bad: &BadRows, warnings: &Mutex<Vec<String>>, file: &str, notes: &[Note]) -> Result<(), DataFusionError> {
    for note in notes {
        match note {
            Note::Skipped { line, reason, .. } => bad.report(file, *line, reason)?,
            Note::UnknownField { line, field, .. } => {
                if bad.first_note_of(file, field) {
                    warnings.lock().push(unknown_field_warning(file, *line, field));
                }
            }
        }
    }
    Ok(())
}

fn unknown_field_warning(file: &str, line: u64, field: &str) -> String {
    format!(
        "{file}, line {line}: field '{field}' is not a column of the table (its columns come from the first lines of each file; a `.create table` declaration can name it)"
    )
}

/// A record as read, before conversion.
enum Record<'a> {
    /// A line's JSON text, trimmed.
    Json(&'a str),
    Row(&'a csv::StringRecord),
}

/// The records of one file, or of the lines of a JSON lines file that start in a byte range
/// of it (a part: `Part`).
pub struct Records {
    file: String,
    source: Source,
    /// The line the last record started on, counted from the start of what is read.
    line: u64,
    /// The lines of the file before what is read.
    lines_before: LinesBefore,
}

/// Lines of a file before the part read, counted only when a message needs a line number.
pub enum LinesBefore {
    Known(u64),
    /// The newlines of the file at this path before this byte.
    Count(std::path::PathBuf, u64),
}

/// Where a part of a JSON lines file is, for its reader: its input starts at a line's start.
pub struct Part {
    /// The byte of the file the input starts at.
    pub position: u64,
    /// Lines that start at or after this byte belong to the next part.
    pub end: u64,
    pub lines_before: LinesBefore,
}

enum Source {
    /// `text`: where the last line's trimmed text is in `buf`. `position`: the file's byte the
    /// next line starts at; lines from `end` on are not read.
    Lines {
        input: Box<dyn BufRead + Send>,
        buf: Vec<u8>,
        text: (usize, usize),
        position: u64,
        end: Option<u64>,
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
        Records::new_part(kind, file, input, None)
    }

    /// The records of a file, or of a part of a JSON lines file.
    pub fn new_part(kind: TextKind, file: String, input: Box<dyn BufRead + Send>, part: Option<Part>) -> Result<Records, DataFusionError> {
        let (position, end, lines_before) = match part {
            Some(Part { position, end, lines_before }) => (position, Some(end), lines_before),
            None => (0, None, LinesBefore::Known(0)),
        };
        let source = match kind {
            TextKind::JsonLines => Source::Lines { input, buf: Vec::new(), text: (0, 0), position, end },
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
        Ok(Records { file, source, line: 0, lines_before })
    }

    /// The file's line number of the last record read.
    fn line_number(&mut self) -> u64 {
        if let LinesBefore::Count(path, before) = &self.lines_before {
            let counted = count_newlines(path, *before);
            self.lines_before = LinesBefore::Known(counted);
        }
        match self.lines_before {
            LinesBefore::Known(n) => n + self.line,
            LinesBefore::Count(..) => self.line,
        }
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
            Source::Lines { input, buf, text, position, end } => loop {
                if end.is_some_and(|end| *position >= end) {
                    return Ok(Next::End);
                }
                buf.clear();
                let n = input.read_until(b'\n', buf).map_err(|e| DataFusionError::Execution(format!("{}: cannot read: {e}", self.file)))?;
                if n == 0 {
                    return Ok(Next::End);
                }
                *position += n as u64;
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
    /// For a JSON lines file: where each key's value goes.
    json: JsonLine,
    /// A line's keys that are not columns (reused from line to line).
    unknown_keys: Vec<String>,
    unknown: UnknownFields,
    /// What was reported, when the caller keeps it (`copying`).
    notes: Option<Vec<Note>>,
    /// When every column is read for a copy (`copying`): the columns the scan itself reads.
    needed: Option<Vec<bool>>,
    /// A line held a value that does not fit one of its columns: the scan reads or skips the
    /// line as it would reading only its own columns, but a copy cannot stand for the file.
    copy_spoiled: bool,
    /// Set when the scan no longer wants the batches (`stop_when`).
    unwanted: Option<Arc<AtomicBool>>,
    /// Whether the last record has been read (not merely the reading stopped).
    at_end: bool,
    /// Rows of the batches handed on.
    rows_done: u64,
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
        let scan: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let json = JsonLine::new(known.iter().map(String::as_str), &scan);
        let builder = BatchBuilder::new(schema).map_err(DataFusionError::Execution)?;
        Ok(FileBatches {
            records,
            builder,
            batch_size: batch_size.max(1),
            bad,
            positions,
            json,
            unknown_keys: Vec::new(),
            unknown: UnknownFields { known, warned: HashSet::new(), warnings },
            notes: None,
            needed: None,
            copy_spoiled: false,
            unwanted: None,
            at_end: false,
            rows_done: 0,
            done: false,
        })
    }

    /// Stops reading once `unwanted` is set: a reader on a thread of its own (a remote
    /// object's) may be a batch ahead of a scan that `take` has ended, and what it would report
    /// from lines no query reads would reach the next query's warnings.
    pub fn stop_when(mut self, unwanted: Arc<AtomicBool>) -> FileBatches {
        self.unwanted = Some(unwanted);
        self
    }

    /// Whether every record has been read: a copy stands for the file only then.
    pub fn read_to_end(&self) -> bool {
        self.at_end
    }

    fn is_unwanted(&self) -> bool {
        self.unwanted.as_ref().is_some_and(|u| u.load(Ordering::Relaxed))
    }

    /// Reads every column of the table for a copy (`cache.rs`), while the scan reads those
    /// `needed` marks: a line is skipped or fails only as it would for the scan's columns, a
    /// line whose other columns do not fit spoils the copy (`copy_spoiled`), and what the
    /// reading reports is kept for `take_notes`.
    pub fn copying(mut self, needed: Vec<bool>) -> FileBatches {
        self.notes = Some(Vec::new());
        self.needed = Some(needed);
        self
    }

    /// Whether the batches so far cannot stand for the file in a copy.
    pub fn copy_spoiled(&self) -> bool {
        self.copy_spoiled
    }

    /// What the reading has reported so far (with `copying`).
    pub fn take_notes(&mut self) -> Vec<Note> {
        self.notes.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The next record's cells, `Ok(None)` at the end of the file.
    /// Reads the next record into the builder; `Ok(false)` at the end of the file. A record
    /// that cannot be read adds nothing: its cells are all converted before any is added.
    fn next_row(&mut self) -> Result<bool, DataFusionError> {
        loop {
            let next = self.records.advance()?;
            let bad = match next {
                Next::End => {
                    self.at_end = true;
                    return Ok(false);
                }
                Next::Bad(reason) => reason,
                Next::Record => match self.records.record() {
                    Record::Json(text) => {
                        self.unknown_keys.clear();
                        let rows_before = self.rows_done + self.builder.rows() as u64;
                        let (builder, needed, spoiled) = (&self.builder, self.needed.as_deref(), &mut self.copy_spoiled);
                        let converted = self.json.fields(text, &mut self.unknown_keys).and_then(|fields| {
                            for_scan(json_row(builder, &fields, None), needed, spoiled, |n| json_row(builder, &fields, Some(n)))
                        });
                        let failed = match converted {
                            Ok(cells) => {
                                self.builder.push(cells);
                                None
                            }
                            Err(reason) => Some(reason),
                        };
                        if !self.unknown_keys.is_empty() && !self.is_unwanted() {
                            let line = self.records.line_number();
                            let keys = self.unknown_keys.iter().map(String::as_str);
                            self.unknown.note(&self.records.file, line, rows_before, &self.bad, keys, self.notes.as_mut());
                        }
                        match failed {
                            None => return Ok(true),
                            Some(reason) => reason,
                        }
                    }
                    Record::Row(row) => match for_scan(
                        text_row(&self.builder, &self.positions, row, None),
                        self.needed.as_deref(),
                        &mut self.copy_spoiled,
                        |n| text_row(&self.builder, &self.positions, row, Some(n)),
                    ) {
                        Ok(cells) => {
                            self.builder.push(cells);
                            return Ok(true);
                        }
                        Err(reason) => reason,
                    },
                },
            };
            if self.is_unwanted() {
                return Ok(false);
            }
            let line = self.records.line_number();
            self.bad.report(&self.records.file, line, &bad)?;
            if let Some(notes) = &mut self.notes {
                notes.push(Note::Skipped { rows_before: self.rows_done + self.builder.rows() as u64, line, reason: bad });
            }
        }
    }
}

/// JSON fields that no column of the table holds, each reported once per file (a file read in
/// parts too: the scan's `BadRows` keeps what was reported).
struct UnknownFields {
    /// Every column of the table.
    known: HashSet<String>,
    warned: HashSet<String>,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl UnknownFields {
    fn note<'k>(
        &mut self,
        file: &str,
        line: u64,
        rows_before: u64,
        bad: &BadRows,
        keys: impl Iterator<Item = &'k str>,
        mut notes: Option<&mut Vec<Note>>,
    ) {
        for key in keys {
            if self.known.contains(key) || !self.warned.insert(key.to_string()) {
                continue;
            }
            if let Some(notes) = notes.as_deref_mut() {
                notes.push(Note::UnknownField { rows_before, line, field: key.to_string() });
            }
            if bad.first_note_of(file, key) {
                self.warnings.lock().push(unknown_field_warning(file, line, key));
            }
        }
    }
}

/// A line's cells as the scan sees them. `converted` is the line with every column; when a
/// copy reads more columns than the scan (`needed`) and one of them does not fit, the copy is
/// spoiled and the line is converted again with such columns null (`lenient`), as if they
/// were not read.
fn for_scan<'a>(
    converted: Result<Vec<Cell<'a>>, String>,
    needed: Option<&[bool]>,
    spoiled: &mut bool,
    lenient: impl FnOnce(&[bool]) -> Result<Vec<Cell<'a>>, String>,
) -> Result<Vec<Cell<'a>>, String> {
    match (converted, needed) {
        (Err(_), Some(needed)) => {
            *spoiled = true;
            lenient(needed)
        }
        (converted, _) => converted,
    }
}

/// A value that does not fit column `i` is an error, unless `needed` says the scan does not
/// read the column: then it is null.
fn fitted<'a>(i: usize, needed: Option<&[bool]>, cell: Result<Cell<'a>, String>) -> Result<Cell<'a>, String> {
    match cell {
        Err(_) if needed.is_some_and(|n| !n.get(i).copied().unwrap_or(true)) => Ok(Cell::Null),
        cell => cell,
    }
}

/// A line's raw values (one per scanned column) as cells.
fn json_row<'a>(
    builder: &BatchBuilder,
    fields: &[Option<&'a serde_json::value::RawValue>],
    needed: Option<&[bool]>,
) -> Result<Vec<Cell<'a>>, String> {
    builder
        .schema()
        .fields()
        .iter()
        .zip(builder.targets())
        .zip(fields)
        .enumerate()
        .map(|(i, ((field, &target), raw))| match raw {
            None => Ok(Cell::Null),
            Some(raw) => fitted(i, needed, raw_cell(field, target, raw)),
        })
        .collect()
}

fn text_row<'a>(
    builder: &BatchBuilder,
    positions: &[Option<usize>],
    row: &'a csv::StringRecord,
    needed: Option<&[bool]>,
) -> Result<Vec<Cell<'a>>, String> {
    builder
        .schema()
        .fields()
        .iter()
        .zip(builder.targets())
        .zip(positions)
        .enumerate()
        .map(|(i, ((field, &target), position))| match position.and_then(|p| row.get(p)) {
            None => Ok(Cell::Null),
            Some(cell) => fitted(
                i,
                needed,
                text_cell(target, cell).ok_or_else(|| mismatch(field, target, &Json::String(cell.to_string()).to_string())),
            ),
        })
        .collect()
}

impl Iterator for FileBatches {
    type Item = Result<RecordBatch, DataFusionError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.is_unwanted() {
            return None;
        }
        while self.builder.rows() < self.batch_size {
            match self.next_row() {
                Ok(true) => {}
                Ok(false) => {
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
        self.rows_done += self.builder.rows() as u64;
        Some(self.builder.finish().map_err(DataFusionError::from))
    }
}

/// The newlines in a file's first `before` bytes (0 when it cannot be read again).
fn count_newlines(path: &std::path::Path, before: u64) -> u64 {
    let Ok(file) = std::fs::File::open(path) else { return 0 };
    let mut input = std::io::BufReader::with_capacity(1 << 20, file.take(before));
    let mut count = 0u64;
    loop {
        let chunk = match input.fill_buf() {
            Ok([]) | Err(_) => return count,
            Ok(chunk) => chunk,
        };
        count += memchr::memchr_iter(b'\n', chunk).count() as u64;
        let n = chunk.len();
        input.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batches_of(text: &'static str, warnings: &Arc<Mutex<Vec<String>>>) -> FileBatches {
        let records = Records::new(TextKind::JsonLines, "f.jsonl".into(), Box::new(text.as_bytes())).expect("records");
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let bad = Arc::new(BadRows::new(10, warnings.clone()));
        FileBatches::new(records, schema, HashSet::from(["x".to_string()]), 2, bad, warnings.clone()).expect("batches")
    }

    /// A reader whose scan has ended stops at once: it reads no further line, reports nothing
    /// more, and does not claim to have read the file to its end (a `--text-cache` copy of it
    /// would lack rows).
    #[test]
    fn a_reader_no_longer_wanted_stops_and_reports_nothing_more() {
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let unwanted = Arc::new(AtomicBool::new(false));
        let text = "{\"x\":1}\n{\"x\":2}\nnot json\n{\"x\":3,\"y\":1}\n";
        let mut batches = batches_of(text, &warnings).stop_when(unwanted.clone());
        assert_eq!(batches.next().map(|b| b.map(|b| b.num_rows()).ok()), Some(Some(2)));
        unwanted.store(true, Ordering::Relaxed);
        assert!(batches.next().is_none());
        assert!(!batches.read_to_end());
        assert!(warnings.lock().is_empty(), "{:?}", warnings.lock());

        let mut batches = batches_of(text, &warnings).copying(vec![true]);
        let rows: usize = batches.by_ref().map(|b| b.map(|b| b.num_rows()).unwrap_or_default()).sum();
        assert_eq!(rows, 3);
        assert!(batches.read_to_end());
        assert_eq!(
            batches.take_notes(),
            vec![
                Note::Skipped { rows_before: 2, line: 3, reason: "not a JSON object (expected ident at line 1 column 2)".into() },
                Note::UnknownField { rows_before: 2, line: 4, field: "y".into() }
            ]
        );
    }
}
