//! Rows into Parquet files partitioned by table and day
//! (`OUT/<Table>/TimeGenerated=YYYY-MM-DD/part-<run>-<n>.parquet`), so that a `TimeGenerated`
//! window skips the days it does not need. Each file is written under a hidden temporary name
//! and renamed when complete: an import that fails leaves no cut-off file.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;

use super::tables::{Cell, Kind, TableDef};
use crate::error::{KqlError, Result};

/// Rows buffered per file before they become a batch (and a Parquet row group, so that an open
/// file holds no more than this in memory).
const BATCH_ROWS: usize = 8_192;
/// Files open at once, per worker; past it the least recently written is closed (a later row of
/// its day starts a new file). Logs span days, and a log read twice over must not make a file
/// per day and pass.
const MAX_OPEN: usize = 64;

fn schema_of(def: &TableDef) -> SchemaRef {
    Arc::new(Schema::new(
        def.columns
            .iter()
            .map(|(name, kind)| match kind {
                Kind::Text => Field::new(*name, DataType::Utf8, true),
                Kind::Int => Field::new(*name, DataType::Int32, true),
                Kind::Time => Field::new(*name, crate::types::datetime_type(), true),
                Kind::Dynamic => crate::types::dynamic_field(Field::new(*name, DataType::Utf8, true)),
            })
            .collect::<Vec<_>>(),
    ))
}

struct Part {
    def: &'static TableDef,
    schema: SchemaRef,
    rows: Vec<Vec<Cell>>,
    writer: ArrowWriter<File>,
    temp: PathBuf,
    path: PathBuf,
    last_used: u64,
}

impl Part {
    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let columns: Vec<ArrayRef> = self
            .def
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| -> ArrayRef {
                match kind {
                    Kind::Text | Kind::Dynamic => {
                        let mut b = StringBuilder::new();
                        for r in &rows {
                            match &r[i] {
                                Cell::Text(s) => b.append_value(s),
                                _ => b.append_null(),
                            }
                        }
                        Arc::new(b.finish())
                    }
                    Kind::Int => {
                        let mut b = Int32Builder::new();
                        for r in &rows {
                            match r[i] {
                                Cell::Int(v) => b.append_value(v),
                                _ => b.append_null(),
                            }
                        }
                        Arc::new(b.finish())
                    }
                    Kind::Time => {
                        let mut b = TimestampMicrosecondBuilder::new();
                        for r in &rows {
                            match r[i] {
                                Cell::Time(v) => b.append_value(v),
                                _ => b.append_null(),
                            }
                        }
                        Arc::new(b.finish().with_timezone("UTC"))
                    }
                }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let cannot = |e| KqlError::new(format!("cannot write {}: {e}", self.path.display()));
        self.writer.write(&batch).map_err(cannot)?;
        // The batch becomes a row group now, not buffered in memory until 65,536 rows.
        self.writer.flush().map_err(cannot)
    }

    fn close(mut self) -> Result<PathBuf> {
        self.flush()?;
        self.writer.close().map_err(|e| KqlError::new(format!("cannot write {}: {e}", self.path.display())))?;
        std::fs::rename(&self.temp, &self.path).map_err(|e| KqlError::new(format!("cannot write {}: {e}", self.path.display())))?;
        Ok(self.path)
    }
}

/// The Parquet files of one import.
pub struct PartitionedWriter {
    out: PathBuf,
    run: String,
    open: HashMap<(&'static str, i64), Part>,
    /// Files started per table and day, for the next file's number.
    started: HashMap<(&'static str, i64), usize>,
    clock: u64,
    pub rows: BTreeMap<&'static str, u64>,
    pub files: Vec<PathBuf>,
}

impl PartitionedWriter {
    /// The writer of import worker `worker` (its files' names carry the number).
    pub fn new(out: &Path, worker: usize) -> Result<PartitionedWriter> {
        std::fs::create_dir_all(out).map_err(|e| KqlError::new(format!("cannot create {}: {e}", out.display())))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(PartitionedWriter {
            out: out.to_path_buf(),
            run: format!("{}-{}-w{worker}", now.as_millis(), std::process::id()),
            open: HashMap::new(),
            started: HashMap::new(),
            clock: 0,
            rows: BTreeMap::new(),
            files: Vec::new(),
        })
    }

    pub fn push(&mut self, def: &'static TableDef, cells: Vec<Cell>) -> Result<()> {
        let day = match cells.first() {
            Some(Cell::Time(t)) => t.div_euclid(kql_grammar::values::MICROS_PER_DAY),
            _ => 0,
        };
        let key = (def.name, day);
        self.clock += 1;
        if !self.open.contains_key(&key) {
            if self.open.len() >= MAX_OPEN {
                self.close_least_recent()?;
            }
            let part = self.start(def, day)?;
            self.open.insert(key, part);
        }
        let clock = self.clock;
        let Some(part) = self.open.get_mut(&key) else { return Err(KqlError::new("internal: the open file vanished")) };
        part.last_used = clock;
        part.rows.push(cells);
        if part.rows.len() >= BATCH_ROWS {
            part.flush()?;
        }
        *self.rows.entry(def.name).or_default() += 1;
        Ok(())
    }

    fn start(&mut self, def: &'static TableDef, day: i64) -> Result<Part> {
        let (y, m, d) = kql_grammar::values::civil_from_days(day);
        let dir = self.out.join(def.name).join(format!("TimeGenerated={y:04}-{m:02}-{d:02}"));
        std::fs::create_dir_all(&dir).map_err(|e| KqlError::new(format!("cannot create {}: {e}", dir.display())))?;
        let n = self.started.entry((def.name, day)).or_default();
        *n += 1;
        let name = format!("part-{}-{n}.parquet", self.run);
        let temp = dir.join(format!(".{name}.tmp"));
        let path = dir.join(name);
        let file = File::create(&temp).map_err(|e| KqlError::new(format!("cannot write {}: {e}", temp.display())))?;
        let schema = schema_of(def);
        let properties = WriterProperties::builder().set_max_row_group_row_count(Some(65_536)).build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
            .map_err(|e| KqlError::new(format!("cannot write {}: {e}", path.display())))?;
        Ok(Part { def, schema, rows: Vec::new(), writer, temp, path, last_used: self.clock })
    }

    fn close_least_recent(&mut self) -> Result<()> {
        let Some(key) = self.open.iter().min_by_key(|(_, p)| p.last_used).map(|(k, _)| *k) else { return Ok(()) };
        if let Some(part) = self.open.remove(&key) {
            self.files.push(part.close()?);
        }
        Ok(())
    }

    /// Closes every file; returns the files written.
    pub fn finish(mut self) -> Result<(Vec<PathBuf>, BTreeMap<&'static str, u64>)> {
        let mut parts: Vec<Part> = self.open.drain().map(|(_, p)| p).collect();
        parts.sort_by(|a, b| a.path.cmp(&b.path));
        for part in parts {
            self.files.push(part.close()?);
        }
        self.files.sort();
        Ok((std::mem::take(&mut self.files), std::mem::take(&mut self.rows)))
    }

    /// Removes the files of an import that failed, so that no partial table is left.
    pub fn abandon(self) {
        for part in self.open.into_values() {
            let _ = std::fs::remove_file(&part.temp);
        }
        for file in self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}
