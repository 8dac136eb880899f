//! Parquet copies of text files (`--text-cache DIR`). Parsing JSON lines is most of a text
//! scan's time, and a hunter asks many queries of the same files: a scan that reads a file (or
//! a byte range of one) to its end writes what it decoded, every column of the table, to a
//! Parquet file in the folder, and later scans read that copy instead of the text while the
//! file is the same.
//!
//! The same file means the same size, modification time and ETag as the store reports them,
//! read as the same kind of text into the same columns (name, type, metadata): a file that a
//! log shipper appends to, or a table declared or inferred differently, is parsed again and
//! its copy replaced. A copy keeps what the reading reported (skipped lines, unknown fields),
//! and a scan of it reports them again, counted against its own `--max-bad-rows`.
//!
//! The cache never decides a result: a copy that is missing, unreadable or of another file is
//! parsed around, and a copy that cannot be written (a full disk) leaves the scan reading the
//! text, with a warning. A copy is written under a temporary name and renamed when whole, so
//! a scan that stops early (`take`) or fails leaves none.

use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::object_store::ObjectMeta;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::reader::{FileBatches, Note, TextKind};

/// The metadata key of a copy's `Stored` record.
const STORED_KEY: &str = "kql.text_cache";
/// Bumped when what a copy holds changes meaning; copies of other versions are parsed again.
const FORMAT_VERSION: u32 = 1;
/// A file whose reading reported more than this is not copied: its notes would outweigh it.
const MOST_NOTES: usize = 10_000;
/// Rows per row group of a copy: the writer holds one group's encoded columns in memory.
const ROW_GROUP_ROWS: usize = 65_536;

/// The folder of copies.
#[derive(Debug)]
pub struct TextCache {
    dir: PathBuf,
}

/// Makes each temporary name of this process unique (two tables of one session may copy the
/// same file at once).
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Which file (or part of one) a copy is of, and what it was when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    format: u32,
    /// The file as messages name it: a path, or the store's URL.
    file: String,
    range: Option<(u64, u64)>,
    kind: String,
    size: u64,
    last_modified_ns: i64,
    e_tag: Option<String>,
}

/// What a copy's metadata holds beside its rows.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    identity: Identity,
    notes: Vec<Note>,
}

/// The text a scan is about to read.
pub struct Source<'a> {
    pub file: &'a str,
    pub range: Option<(u64, u64)>,
    pub kind: TextKind,
    pub object: &'a ObjectMeta,
    /// Every column of the table, as the text reader decodes them.
    pub schema: &'a SchemaRef,
}

impl Source<'_> {
    fn identity(&self) -> Identity {
        Identity {
            format: FORMAT_VERSION,
            file: self.file.to_string(),
            range: self.range,
            kind: format!("{:?}", self.kind),
            size: self.object.size,
            last_modified_ns: self.object.last_modified.timestamp_nanos_opt().unwrap_or(i64::MIN),
            e_tag: self.object.e_tag.clone(),
        }
    }
}

/// Where a source's copy lives and what it must hold.
#[derive(Clone)]
pub struct Entry {
    path: PathBuf,
    identity: Identity,
    schema: SchemaRef,
}

/// A copy found for a source: its notes, and a reader of the scan's columns.
pub struct Hit {
    pub notes: Vec<Note>,
    pub batches: CopiedBatches,
}

impl TextCache {
    pub fn new(dir: PathBuf) -> TextCache {
        TextCache { dir }
    }

    /// The entry of a source: one name per file, part, kind of text and columns, so that a
    /// changed file's copy is replaced rather than piled up beside the old one.
    pub fn entry(&self, source: &Source) -> Entry {
        let mut hasher = DefaultHasher::new();
        (source.file, source.range, format!("{:?}", source.kind), format!("{:?}", source.schema.fields())).hash(&mut hasher);
        let path = self.dir.join(format!("{:016x}.parquet", hasher.finish()));
        Entry { path, identity: source.identity(), schema: source.schema.clone() }
    }

    /// The copy of `entry` read as `projection` (indices into its schema) in batches of
    /// `batch_size` rows, if there is a copy of the file as it is now.
    pub fn find(&self, entry: &Entry, projection: &[usize], projected: &SchemaRef, batch_size: usize) -> Option<Hit> {
        let file = File::open(&entry.path).ok()?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
        let stored = builder.metadata().file_metadata().key_value_metadata()?.iter().find(|kv| kv.key == STORED_KEY)?;
        let stored: Stored = serde_json::from_str(stored.value.as_deref()?).ok()?;
        if stored.identity != entry.identity || builder.schema().fields() != entry.schema.fields() {
            return None;
        }
        // The reader returns the columns in the file's order; the scan may want another.
        let mut read: Vec<usize> = projection.to_vec();
        read.sort_unstable();
        read.dedup();
        let order = projection.iter().map(|i| read.binary_search(i).unwrap_or_default()).collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), read);
        let reader = builder.with_projection(mask).with_batch_size(batch_size.max(1)).build().ok()?;
        Some(Hit { notes: stored.notes, batches: CopiedBatches { reader, order, schema: projected.clone() } })
    }

    /// Starts writing the copy of `entry`; `None` (with a warning) when the folder cannot take
    /// one.
    fn start(&self, entry: &Entry, warnings: &Arc<Mutex<Vec<String>>>) -> Option<CopyWriter> {
        let name = entry.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = self.dir.join(format!(".{name}.{}-{}.tmp", std::process::id(), NEXT_TEMP.fetch_add(1, Ordering::Relaxed)));
        let started =
            std::fs::create_dir_all(&self.dir).and_then(|()| File::create(&temp)).map_err(DataFusionError::from).and_then(|file| {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::LZ4_RAW)
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                Ok(ArrowWriter::try_new(file, entry.schema.clone(), Some(properties))?)
            });
        match started {
            Ok(writer) => Some(CopyWriter { writer: Some(writer), temp, entry: entry.clone(), warnings: warnings.clone() }),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                warnings.lock().push(cannot_write(&self.dir, &entry.identity.file, &e));
                None
            }
        }
    }
}

fn cannot_write(dir: &Path, file: &str, e: &dyn std::fmt::Display) -> String {
    format!("--text-cache: cannot keep a copy of {file} in {}: {e}; it is read as text", dir.display())
}

/// A copy being written. Dropped before `finish`, it removes what it wrote.
pub struct CopyWriter {
    writer: Option<ArrowWriter<File>>,
    temp: PathBuf,
    entry: Entry,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl CopyWriter {
    fn write(&mut self, batch: &RecordBatch) {
        if let Some(writer) = &mut self.writer
            && let Err(e) = writer.write(batch)
        {
            self.abandon(&e);
        }
    }

    /// Drops the copy, with a warning that says why.
    fn abandon(&mut self, e: &dyn std::fmt::Display) {
        if self.writer.take().is_some() {
            self.remove_with_warning(e);
        }
    }

    fn remove_with_warning(&self, e: &dyn std::fmt::Display) {
        let _ = std::fs::remove_file(&self.temp);
        let dir = self.entry.path.parent().unwrap_or(Path::new("."));
        self.warnings.lock().push(cannot_write(dir, &self.entry.identity.file, e));
    }

    /// Completes the copy with what the reading reported, and puts it in place.
    fn finish(mut self, notes: Vec<Note>) {
        let Some(mut writer) = self.writer.take() else { return };
        if notes.len() > MOST_NOTES {
            let _ = std::fs::remove_file(&self.temp);
            return;
        }
        let stored = Stored { identity: self.entry.identity.clone(), notes };
        let done = serde_json::to_string(&stored)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                writer.append_key_value_metadata(KeyValue::new(STORED_KEY.to_string(), text));
                writer.close().map_err(|e| e.to_string())
            })
            .and_then(|_| std::fs::rename(&self.temp, &self.entry.path).map_err(|e| e.to_string()));
        if let Err(e) = done {
            self.remove_with_warning(&e);
        }
    }
}

impl Drop for CopyWriter {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// A text file's batches of every column, written to a copy as they pass, and handed on as the
/// scan's columns. The copy is started with the first batch (a part of a file that holds no
/// rows gets none) and completed when the file's last batch has passed.
pub struct CopyingBatches {
    batches: FileBatches,
    cache: Arc<TextCache>,
    entry: Entry,
    copy: Copy,
    warnings: Arc<Mutex<Vec<String>>>,
    /// The scan's columns, as indices into the table's.
    projection: Vec<usize>,
    projected: SchemaRef,
}

enum Copy {
    NotStarted,
    Writing(Box<CopyWriter>),
    /// Done, failed or never possible.
    Over,
}

impl CopyingBatches {
    /// `batches` must decode every column of the table (the entry's schema).
    pub fn new(
        batches: FileBatches,
        cache: Arc<TextCache>,
        entry: Entry,
        warnings: Arc<Mutex<Vec<String>>>,
        projection: Vec<usize>,
        projected: SchemaRef,
    ) -> CopyingBatches {
        let mut needed = vec![false; entry.schema.fields().len()];
        for &i in &projection {
            if let Some(n) = needed.get_mut(i) {
                *n = true;
            }
        }
        CopyingBatches { batches: batches.copying(needed), cache, entry, copy: Copy::NotStarted, warnings, projection, projected }
    }
}

impl Iterator for CopyingBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.batches.next();
        if self.batches.copy_spoiled() {
            // Dropping the writer removes what it wrote; the next scan parses the file again.
            self.copy = Copy::Over;
        }
        match next {
            Some(Ok(batch)) => {
                if let Copy::NotStarted = self.copy {
                    self.copy = self.cache.start(&self.entry, &self.warnings).map_or(Copy::Over, |c| Copy::Writing(Box::new(c)));
                }
                if let Copy::Writing(copy) = &mut self.copy {
                    copy.write(&batch);
                }
                Some(project(&batch, &self.projection, &self.projected))
            }
            Some(Err(e)) => {
                // A failed reading leaves no copy (dropping the writer removes it).
                self.copy = Copy::Over;
                Some(Err(e))
            }
            None => {
                // A reading stopped before the end (the scan no longer wants it) drops its copy.
                if let Copy::Writing(copy) = std::mem::replace(&mut self.copy, Copy::Over)
                    && self.batches.read_to_end()
                {
                    copy.finish(self.batches.take_notes());
                }
                None
            }
        }
    }
}

/// `batch`'s columns `projection`, under the scan's schema.
fn project(batch: &RecordBatch, projection: &[usize], projected: &SchemaRef) -> Result<RecordBatch> {
    let columns = projection.iter().map(|&i| batch.column(i).clone()).collect();
    // A scan may read no column (`count`): the batch still says how many rows it has.
    let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(projected.clone(), columns, &options)?)
}

/// A copy's rows as the scan's columns.
pub struct CopiedBatches {
    reader: ParquetRecordBatchReader,
    /// For each of the scan's columns, its place among the columns read.
    order: Vec<usize>,
    schema: SchemaRef,
}

impl Iterator for CopiedBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(batch) => batch,
            Err(e) => return Some(Err(DataFusionError::Execution(format!("cannot read a --text-cache copy: {e}")))),
        };
        Some(project(&batch, &self.order, &self.schema))
    }
}
