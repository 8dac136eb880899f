//! Parquet copies of text files (`--text-cache DIR`). Parsing JSON lines is most of a text
//! scan's time, and a hunter asks many queries of the same files: a scan that reads a file (or
//! a byte range of one) to its end writes what it decoded, every column of the table, to a
//! Parquet file in the folder, and later scans read that copy instead of the text while the
//! file is the same.
//!
//! The same file means the same size, modification time, ETag and (for a local file) status
//! change time as when it was copied, read by the same kql build as the same kind of text
//! into the same columns (name, type, metadata). A file that changed (a log shipper appends to
//! it) is parsed again and its copy replaced; other columns (a new declaration) are a copy of
//! their own. A copy keeps what the reading reported (skipped lines, unknown fields, with the
//! rows before each) and a scan of it reports each again as it passes that row, counted against
//! its own `--max-bad-rows`.
//!
//! The cache never decides a result: a copy that is missing, of another file or with an
//! unreadable footer is parsed around (one damaged inside fails the query, naming it), and a
//! copy that cannot be written (a full disk) leaves the scan reading the text, with a warning. A copy is written under a temporary name and
//! renamed when whole, so a scan that stops early (`take`) or fails leaves none. A file that
//! cannot have a copy (a value that does not fit a column the query did not read, too many
//! notes) gets a marker, so that later scans read only their columns of it. A folder that
//! other users can write is not used: a copy planted there would be read as the logs.

use std::collections::VecDeque;
use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

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
use datafusion::physical_plan::metrics::Count;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::reader::{BadRows, FileBatches, Note, TextKind, report_again};

/// The metadata key of a copy's `Stored` record.
const STORED_KEY: &str = "kql.text_cache";
/// A file whose reading reported more than this is not copied: its notes would outweigh it.
const MOST_NOTES: usize = 10_000;
/// Rows per row group of a copy: the writer holds one group's encoded columns in memory.
const ROW_GROUP_ROWS: usize = 65_536;

/// The folder of copies.
#[derive(Debug)]
pub struct TextCache {
    dir: PathBuf,
    /// Why the folder cannot be used, once looked at.
    refused: OnceLock<Option<String>>,
    /// Whether a warning about the folder was given: one per table is enough.
    warned: AtomicBool,
}

/// Makes each temporary name of this process unique (two tables of one session may copy the
/// same file at once).
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Which file (or part of one) a copy is of, and what it was when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    /// The kql build that decoded the text (`crate::BUILD_ID`): another build may convert a
    /// value differently.
    build: String,
    /// The file as messages name it: a path, or the store's URL.
    file: String,
    range: Option<(u64, u64)>,
    kind: String,
    size: u64,
    last_modified_ns: i64,
    e_tag: Option<String>,
    /// A local file's status change time, which a rewrite that puts the modification time back
    /// (`cp -p`, `touch -r`) still moves.
    changed_ns: Option<i64>,
}

/// What a copy's metadata holds beside its rows.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    identity: Identity,
    /// `false` for a marker: the file cannot have a copy, and the file holds no rows.
    copy: bool,
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
            build: crate::BUILD_ID.to_string(),
            file: self.file.to_string(),
            range: self.range,
            kind: format!("{:?}", self.kind),
            size: self.object.size,
            last_modified_ns: self.object.last_modified.timestamp_nanos_opt().unwrap_or(i64::MIN),
            e_tag: self.object.e_tag.clone(),
            changed_ns: status_changed(self.file),
        }
    }
}

/// A local file's status change time in nanoseconds (`None` for a URL).
#[cfg(unix)]
fn status_changed(file: &str) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    if !file.starts_with('/') {
        return None;
    }
    let meta = std::fs::metadata(file).ok()?;
    Some(meta.ctime().saturating_mul(1_000_000_000).saturating_add(meta.ctime_nsec()))
}

#[cfg(not(unix))]
fn status_changed(_file: &str) -> Option<i64> {
    None
}

/// Where a source's copy lives and what it must hold.
#[derive(Clone)]
pub struct Entry {
    path: PathBuf,
    identity: Identity,
    schema: SchemaRef,
}

/// What the folder holds for a source.
pub enum Found {
    Copy(Box<CopiedBatches>),
    /// The file cannot have a copy: read it as text, without trying.
    NoCopy,
    Nothing,
}

/// What a copy's reading reports as its rows pass.
pub struct Replay {
    pub file: String,
    pub bad: Arc<BadRows>,
    pub warnings: Arc<Mutex<Vec<String>>>,
}

impl TextCache {
    pub fn new(dir: PathBuf) -> TextCache {
        TextCache { dir, refused: OnceLock::new(), warned: AtomicBool::new(false) }
    }

    /// Whether the folder may be used; the first time it may not, a warning says why.
    fn usable(&self, warnings: &Mutex<Vec<String>>) -> bool {
        let refused = self.refused.get_or_init(|| refusal(&self.dir));
        if let Some(why) = refused {
            self.warn(warnings, why.clone());
        }
        refused.is_none()
    }

    fn warn(&self, warnings: &Mutex<Vec<String>>, text: String) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            warnings.lock().push(text);
        }
    }

    /// The entry of a source: one name per file, part, kind of text and columns, so that a
    /// changed file's copy is replaced rather than piled up beside the old one.
    pub fn entry(&self, source: &Source) -> Entry {
        let mut hasher = DefaultHasher::new();
        (source.file, source.range, format!("{:?}", source.kind), format!("{:?}", source.schema.fields())).hash(&mut hasher);
        let path = self.dir.join(format!("{:016x}.parquet", hasher.finish()));
        Entry { path, identity: source.identity(), schema: source.schema.clone() }
    }

    /// What the folder holds for `entry` as the file is now: a copy, read as `projection`
    /// (indices into its schema) in batches of `batch_size` rows, or a marker.
    pub fn find(&self, entry: &Entry, projection: &[usize], projected: &SchemaRef, batch_size: usize, replay: Replay) -> Found {
        if !self.usable(&replay.warnings) {
            return Found::NoCopy;
        }
        let Ok(file) = File::open(&entry.path) else { return Found::Nothing };
        let Ok(builder) = ParquetRecordBatchReaderBuilder::try_new(file) else { return Found::Nothing };
        let stored = builder.metadata().file_metadata().key_value_metadata().and_then(|kv| kv.iter().find(|kv| kv.key == STORED_KEY));
        let Some(stored) = stored.and_then(|kv| serde_json::from_str::<Stored>(kv.value.as_deref()?).ok()) else { return Found::Nothing };
        if stored.identity != entry.identity {
            return Found::Nothing;
        }
        if !stored.copy {
            return Found::NoCopy;
        }
        if builder.schema().fields() != entry.schema.fields() {
            return Found::Nothing;
        }
        // The reader returns the columns in the file's order; the scan may want another.
        let mut read: Vec<usize> = projection.to_vec();
        read.sort_unstable();
        read.dedup();
        let order = projection.iter().map(|i| read.binary_search(i).unwrap_or_default()).collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), read);
        let Ok(reader) = builder.with_projection(mask).with_batch_size(batch_size.max(1)).build() else { return Found::Nothing };
        let notes = stored.notes.into();
        Found::Copy(Box::new(CopiedBatches { reader, order, schema: projected.clone(), notes, passed: 0, replay }))
    }

    /// Starts writing `entry`'s copy (`None`, with a warning, when the folder cannot take one).
    fn start(&self, entry: &Entry, warnings: &Mutex<Vec<String>>) -> Option<CopyWriter> {
        let name = entry.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = self.dir.join(format!(".{name}.{}-{}.tmp", std::process::id(), NEXT_TEMP.fetch_add(1, Ordering::Relaxed)));
        let started = private_folder(&self.dir).and_then(|()| new_private_file(&temp)).map_err(DataFusionError::from).and_then(|file| {
            let properties =
                WriterProperties::builder().set_compression(Compression::LZ4_RAW).set_max_row_group_row_count(Some(ROW_GROUP_ROWS)).build();
            Ok(ArrowWriter::try_new(file, entry.schema.clone(), Some(properties))?)
        });
        match started {
            Ok(writer) => Some(CopyWriter { writer, temp, entry: entry.clone() }),
            Err(e) => {
                // Only a file this call created is removed: `create_new` refused any other.
                if !matches!(&e, DataFusionError::IoError(io) if io.kind() == std::io::ErrorKind::AlreadyExists) {
                    let _ = std::fs::remove_file(&temp);
                }
                self.warn(warnings, cannot_write(&self.dir, &entry.identity.file, &e));
                None
            }
        }
    }

    /// Leaves a marker saying that `entry`'s file cannot have a copy.
    fn mark_no_copy(&self, entry: &Entry, warnings: &Mutex<Vec<String>>) {
        if let Some(writer) = self.start(entry, warnings)
            && let Err(e) = writer.finish(Vec::new(), false)
        {
            self.warn(warnings, cannot_write(&self.dir, &entry.identity.file, &e));
        }
    }
}

/// Why `dir` must not hold copies: other users can write it. A folder yet to be made is made
/// private.
#[cfg(unix)]
fn refusal(dir: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode();
    (mode & 0o022 != 0).then(|| {
        format!(
            "--text-cache: {} can be written by other users, and a copy planted there would be read as the logs: it is not used (chmod go-w, or name a folder of your own)",
            dir.display()
        )
    })
}

#[cfg(not(unix))]
fn refusal(_dir: &Path) -> Option<String> {
    None
}

fn private_folder(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A new file only this user can read, never one that exists (nor a link's target).
fn new_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn cannot_write(dir: &Path, file: &str, e: &dyn std::fmt::Display) -> String {
    format!("--text-cache: cannot keep a copy of {file} in {}: {e}; it is read as text", dir.display())
}

/// A copy being written. Dropped before `finish`, it removes what it wrote.
struct CopyWriter {
    writer: ArrowWriter<File>,
    temp: PathBuf,
    entry: Entry,
}

impl CopyWriter {
    /// Completes the copy (or, with `copy` false, the marker) and puts it in place.
    fn finish(mut self, notes: Vec<Note>, copy: bool) -> std::result::Result<(), String> {
        let stored = Stored { identity: self.entry.identity.clone(), copy, notes };
        let text = serde_json::to_string(&stored).map_err(|e| e.to_string())?;
        self.writer.append_key_value_metadata(KeyValue::new(STORED_KEY.to_string(), text));
        let temp = std::mem::take(&mut self.temp);
        let closed = self.writer.finish().map_err(|e| e.to_string());
        let placed = closed.and_then(|_| std::fs::rename(&temp, &self.entry.path).map_err(|e| e.to_string()));
        if placed.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        placed
    }
}

impl Drop for CopyWriter {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// A text file's batches of every column, written to a copy as they pass, and handed on as the
/// scan's columns. The copy is started with the first batch (a part of a file that holds no
/// rows gets none) and completed when the file's last record has been read.
pub struct CopyingBatches {
    batches: FileBatches,
    cache: Arc<TextCache>,
    entry: Entry,
    copy: Copy,
    warnings: Arc<Mutex<Vec<String>>>,
    /// The scan's columns, as indices into the table's.
    projection: Vec<usize>,
    projected: SchemaRef,
    written: Count,
}

enum Copy {
    NotStarted,
    Writing(Box<CopyWriter>),
    /// Failed, or never possible.
    Over,
}

impl CopyingBatches {
    /// `batches` must decode every column of the table (the entry's schema). `written` counts
    /// the copies completed.
    pub fn new(
        batches: FileBatches,
        cache: Arc<TextCache>,
        entry: Entry,
        warnings: Arc<Mutex<Vec<String>>>,
        projection: Vec<usize>,
        projected: SchemaRef,
        written: Count,
    ) -> CopyingBatches {
        let mut needed = vec![false; entry.schema.fields().len()];
        for &i in &projection {
            if let Some(n) = needed.get_mut(i) {
                *n = true;
            }
        }
        let batches = batches.copying(needed);
        CopyingBatches { batches, cache, entry, copy: Copy::NotStarted, warnings, projection, projected, written }
    }

    fn write(&mut self, batch: &RecordBatch) {
        if let Copy::NotStarted = self.copy {
            self.copy = self.cache.start(&self.entry, &self.warnings).map_or(Copy::Over, |c| Copy::Writing(Box::new(c)));
        }
        if let Copy::Writing(copy) = &mut self.copy
            && let Err(e) = copy.writer.write(batch)
        {
            self.copy = Copy::Over;
            self.cache.warn(&self.warnings, cannot_write(&self.cache.dir, &self.entry.identity.file, &e));
        }
    }

    /// At the end of the reading: completes the copy, or marks a file that cannot have one.
    fn complete(&mut self) {
        let copy = std::mem::replace(&mut self.copy, Copy::Over);
        // A reading stopped before the end (the scan no longer wants it) leaves nothing.
        if !self.batches.read_to_end() {
            return;
        }
        let notes = self.batches.take_notes();
        if self.batches.copy_spoiled() || notes.len() > MOST_NOTES {
            drop(copy);
            self.cache.mark_no_copy(&self.entry, &self.warnings);
            return;
        }
        if let Copy::Writing(copy) = copy {
            match copy.finish(notes, true) {
                Ok(()) => self.written.add(1),
                Err(e) => self.cache.warn(&self.warnings, cannot_write(&self.cache.dir, &self.entry.identity.file, &e)),
            }
        }
    }
}

impl Iterator for CopyingBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.batches.next();
        if self.batches.copy_spoiled() {
            // Dropping the writer removes what it wrote; the end leaves a marker instead.
            self.copy = Copy::Over;
        }
        match next {
            Some(Ok(batch)) => {
                self.write(&batch);
                Some(project(&batch, &self.projection, &self.projected))
            }
            Some(Err(e)) => {
                // A failed reading leaves no copy (dropping the writer removes it).
                self.copy = Copy::Over;
                Some(Err(e))
            }
            None => {
                self.complete();
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

/// A copy's rows as the scan's columns, reporting the copy's notes as the rows they came after
/// pass, as the text's reading would have.
pub struct CopiedBatches {
    reader: ParquetRecordBatchReader,
    /// For each of the scan's columns, its place among the columns read.
    order: Vec<usize>,
    schema: SchemaRef,
    notes: VecDeque<Note>,
    /// Rows handed on so far.
    passed: u64,
    replay: Replay,
}

impl CopiedBatches {
    /// Reports the notes that came before row `upto`.
    fn report_before(&mut self, upto: u64) -> Result<()> {
        let count = self.notes.iter().take_while(|n| n.rows_before() < upto).count();
        let due: Vec<Note> = self.notes.drain(..count).collect();
        report_again(&self.replay.bad, &self.replay.warnings, &self.replay.file, &due)
    }
}

impl Iterator for CopiedBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.next() {
            Some(Ok(batch)) => {
                let upto = self.passed + batch.num_rows() as u64;
                if let Err(e) = self.report_before(upto) {
                    return Some(Err(e));
                }
                self.passed = upto;
                Some(project(&batch, &self.order, &self.schema))
            }
            Some(Err(e)) => Some(Err(DataFusionError::Execution(format!(
                "cannot read the --text-cache copy of {}: {e} (delete the copy, or the folder, to read the text again)",
                self.replay.file
            )))),
            None => match self.report_before(u64::MAX) {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            },
        }
    }
}
