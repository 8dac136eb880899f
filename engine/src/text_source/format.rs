//! JSON lines and CSV/TSV as a DataFusion file format, so that a listing table reads them as it
//! reads Parquet: folders, globs, one partition per file group, projection. A large plain JSON
//! lines file on local disk is read in byte ranges on every core, each range reading the lines
//! that start in it (and counting the lines before it only when a message needs a number);
//! other files are read whole by one reader.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{GetExt, Result, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::physical_plan::{FileOpenFuture, FileOpener, FileScanConfig, FileSource};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{GetOptions, GetResultPayload, ObjectMeta, ObjectStore};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::projection::ProjectionExprs;
use futures::StreamExt;
use parking_lot::Mutex;

use super::cache::{CopyingBatches, Found, Replay, Source, TextCache};
use super::infer::Columns;
use super::reader::{BadRows, FileBatches, LinesBefore, Part, Records, TextKind, sample};

/// How many records of each file the schema is inferred from.
pub const SAMPLE_RECORDS: usize = 1000;

/// What a text table's scans share: where skipped lines are reported, how many may be skipped.
#[derive(Debug, Clone)]
pub struct TextOptions {
    pub max_bad_rows: u64,
    pub warnings: Arc<Mutex<Vec<String>>>,
    /// Put before an object's path when a message names a file (`/` for local files).
    pub location_prefix: String,
    /// Where Parquet copies of the files read are kept (`--text-cache`), if anywhere.
    pub cache: Option<Arc<TextCache>>,
}

/// A file whose name ends in `.gz` is read through gzip.
#[derive(Debug)]
pub struct TextFormat {
    pub kind: TextKind,
    pub options: TextOptions,
}

impl TextFormat {
    fn extension(&self) -> &'static str {
        match self.kind {
            TextKind::JsonLines => ".json",
            TextKind::Delimited(b'\t') => ".tsv",
            TextKind::Delimited(_) => ".csv",
        }
    }
}

/// An opened text object: its bytes (decompressed when it is gzip), the part of the file they
/// are, or a remote object's bytes as they arrive, which must be read (and decompressed: a gzip
/// reader reads its header when it is made) on a blocking thread (`streamed.rs`).
enum Opened {
    Local { input: Box<dyn BufRead + Send>, part: Option<Part> },
    Streamed { chunks: super::streamed::ChunkReader, gzip: bool },
}

impl Opened {
    /// Runs `read` over the bytes: at once for a local file, on a blocking thread for a remote
    /// object.
    async fn read<T: Send + 'static>(
        self,
        read: impl FnOnce(Box<dyn BufRead + Send>, Option<Part>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        match self {
            Opened::Local { input, part } => read(input, part),
            Opened::Streamed { chunks, gzip } => {
                super::streamed::on_blocking_thread(move || read(decompressed(Box::new(chunks), gzip), None)).await
            }
        }
    }
}

/// An object's bytes, or for a byte range `(start, end)` of a plain local file, its lines that
/// start in the range (with where they start). Any other file is read whole by the range that
/// starts it, and not at all by the others.
async fn open_part(store: &Arc<dyn ObjectStore>, location: &ObjectPath, range: Option<(u64, u64)>) -> Result<Opened> {
    let gzip = location.as_ref().to_ascii_lowercase().ends_with(".gz");
    let result = store.get_opts(location, GetOptions::default()).await?;
    let raw: Box<dyn std::io::Read + Send> = match result.payload {
        GetResultPayload::File(file, path) => match range {
            Some((start, end)) if !gzip => {
                use std::io::{Seek, SeekFrom};
                let mut input = BufReader::with_capacity(1 << 16, file);
                if start == 0 {
                    let part = Some(Part { position: 0, end, lines_before: LinesBefore::Known(0) });
                    return Ok(Opened::Local { input: Box::new(input), part });
                }
                // A line that starts before `start` belongs to the range before: skip to the
                // first line that starts at or after it.
                input.seek(SeekFrom::Start(start - 1))?;
                let position = start - 1 + input.skip_until(b'\n')? as u64;
                let part = Some(Part { position, end, lines_before: LinesBefore::Count(path, position) });
                return Ok(Opened::Local { input: Box::new(input), part });
            }
            Some((start, _)) if start > 0 => Box::new(std::io::empty()),
            _ => Box::new(file),
        },
        GetResultPayload::Stream(_) if range.is_some_and(|(start, _)| start > 0) => Box::new(std::io::empty()),
        GetResultPayload::Stream(chunks) => return Ok(Opened::Streamed { chunks: super::streamed::ChunkReader::new(chunks), gzip }),
    };
    Ok(Opened::Local { input: decompressed(raw, gzip), part: None })
}

fn decompressed(raw: Box<dyn std::io::Read + Send>, gzip: bool) -> Box<dyn BufRead + Send> {
    if gzip {
        Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(raw)))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, raw))
    }
}

#[async_trait]
impl FileFormat for TextFormat {
    fn get_ext(&self) -> String {
        self.extension().to_string()
    }

    fn get_ext_with_compression(&self, compression: &FileCompressionType) -> Result<String> {
        Ok(format!("{}{}", self.extension(), compression.get_ext()))
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        None
    }

    async fn infer_schema(&self, _state: &dyn Session, store: &Arc<dyn ObjectStore>, objects: &[ObjectMeta]) -> Result<SchemaRef> {
        let mut columns = Columns::default();
        for object in objects {
            let name = format!("{}{}", self.options.location_prefix, object.location);
            let kind = self.kind;
            // A remote object's first records are read as they arrive; the rest is not fetched.
            let opened = open_part(store, &object.location, None).await?;
            columns.merge(opened.read(move |input, _| sample(Records::new(kind, name, input)?, SAMPLE_RECORDS)).await?);
        }
        Ok(Arc::new(Schema::new(columns.fields())))
    }

    async fn infer_stats(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        _object: &ObjectMeta,
    ) -> Result<Statistics> {
        Ok(Statistics::new_unknown(&table_schema))
    }

    async fn create_physical_plan(&self, _state: &dyn Session, conf: FileScanConfig) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(DataSourceExec::from_data_source(conf))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(TextSource {
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            kind: self.kind,
            // One allowance of bad lines for the whole scan, shared by its partitions' readers.
            bad: Arc::new(BadRows::new(self.options.max_bad_rows, self.options.warnings.clone())),
            options: self.options.clone(),
            batch_size: None,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// One scan of a text table.
#[derive(Clone)]
pub struct TextSource {
    table_schema: TableSchema,
    projection: SplitProjection,
    kind: TextKind,
    bad: Arc<BadRows>,
    options: TextOptions,
    batch_size: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
}

impl FileSource for TextSource {
    fn create_file_opener(&self, store: Arc<dyn ObjectStore>, _config: &FileScanConfig, partition: usize) -> Result<Arc<dyn FileOpener>> {
        let file_schema = self.table_schema.file_schema();
        let projected = Arc::new(file_schema.project(&self.projection.file_indices)?);
        let opener = Arc::new(TextOpener {
            store,
            projected,
            table: Arc::new(file_schema.as_ref().clone()),
            projection: self.projection.file_indices.clone(),
            known: file_schema.fields().iter().map(|f| f.name().clone()).collect(),
            kind: self.kind,
            batch_size: self.batch_size.unwrap_or(8192),
            options: self.options.clone(),
            bad: self.bad.clone(),
            // Shown only when there is a cache to count.
            copies: match self.options.cache {
                Some(_) => CopyMetrics {
                    read: MetricBuilder::new(&self.metrics).counter("text_cache_copies_read", partition),
                    written: MetricBuilder::new(&self.metrics).counter("text_cache_copies_written", partition),
                },
                None => CopyMetrics { read: Count::new(), written: Count::new() },
            },
        });
        ProjectionOpener::try_new(self.projection.clone(), opener, file_schema)
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(TextSource { batch_size: Some(batch_size), ..self.clone() })
    }

    fn try_pushdown_projection(&self, projection: &ProjectionExprs) -> Result<Option<Arc<dyn FileSource>>> {
        let merged = self.projection.source.try_merge(projection)?;
        let projection = SplitProjection::new(self.table_schema.file_schema(), &merged);
        Ok(Some(Arc::new(TextSource { projection, ..self.clone() })))
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        match self.kind {
            TextKind::JsonLines => "json",
            TextKind::Delimited(_) => "csv",
        }
    }

    /// A JSON lines file may be read in byte ranges (`open_part`); a CSV file is read from its
    /// header on, since a quoted cell may hold a line break.
    fn supports_repartitioning(&self) -> bool {
        self.kind == TextKind::JsonLines
    }

    fn apply_expressions(&self, f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        datafusion::physical_plan::apply_expression_roots(self.projection.source.iter(), f)
    }
}

struct TextOpener {
    store: Arc<dyn ObjectStore>,
    projected: SchemaRef,
    /// Every column of the table: what a copy for `--text-cache` holds.
    table: SchemaRef,
    /// The scan's columns, as indices into `table`.
    projection: Vec<usize>,
    known: HashSet<String>,
    kind: TextKind,
    batch_size: usize,
    options: TextOptions,
    bad: Arc<BadRows>,
    copies: CopyMetrics,
}

/// `--text-cache` copies a partition of a scan read and wrote (`--explain analyze`).
#[derive(Clone)]
struct CopyMetrics {
    read: Count,
    written: Count,
}

impl FileOpener for TextOpener {
    fn open(&self, file: datafusion::datasource::listing::PartitionedFile) -> Result<FileOpenFuture> {
        let store = self.store.clone();
        let schema = self.projected.clone();
        let (table, projection) = (self.table.clone(), self.projection.clone());
        let known = self.known.clone();
        let (kind, batch_size) = (self.kind, self.batch_size);
        let bad = self.bad.clone();
        let warnings = self.options.warnings.clone();
        let cache = self.options.cache.clone();
        let copies = self.copies.clone();
        let name = format!("{}{}", self.options.location_prefix, file.object_meta.location);
        let range = file.range.as_ref().map(|r| (r.start.max(0) as u64, r.end.max(0) as u64));
        Ok(Box::pin(async move {
            // The copy this file would have, or `None` when there is no cache or the file
            // cannot have one.
            let mut entry = cache.as_ref().map(|cache| {
                let source = Source { file: &name, range, kind, object: &file.object_meta, schema: &table };
                (cache.clone(), cache.entry(&source))
            });
            if let Some((cache, found)) = &entry {
                let replay = Replay { file: name.clone(), bad: bad.clone(), warnings: warnings.clone() };
                match cache.find(found, &projection, &schema, batch_size, replay) {
                    Found::Copy(batches) => {
                        copies.read.add(1);
                        return Ok(futures::stream::iter(batches).boxed());
                    }
                    Found::NoCopy => entry = None,
                    Found::Nothing => {}
                }
            }
            let unwanted = Arc::new(AtomicBool::new(false));
            let stop = unwanted.clone();
            let batches = move |input, part| -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send>> {
                let records = Records::new_part(kind, name, input, part)?;
                Ok(match entry {
                    // The copy needs every column, whatever the scan reads.
                    Some((cache, entry)) => {
                        let all = FileBatches::new(records, table, known, batch_size, bad, warnings.clone())?.stop_when(stop);
                        Box::new(CopyingBatches::new(all, cache, entry, warnings, projection, schema, copies.written))
                    }
                    None => Box::new(FileBatches::new(records, schema, known, batch_size, bad, warnings)?.stop_when(stop)),
                })
            };
            match open_part(&store, &file.object_meta.location, range).await? {
                Opened::Local { input, part } => Ok(futures::stream::iter(batches(input, part)?).boxed()),
                Opened::Streamed { chunks, gzip } => {
                    let streamed = super::streamed::batches_on_blocking_thread(move || batches(decompressed(Box::new(chunks), gzip), None));
                    // The reader stops when the scan drops the stream, whether it ended or not.
                    let guard = SetOnDrop(unwanted);
                    Ok(streamed
                        .map(move |batch| {
                            let _ = &guard;
                            batch
                        })
                        .boxed())
                }
            }
        }))
    }
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
