//! The one way a result statement's rows leave kql, for one-shot queries, the REPL and hunts:
//! batches stream from the engine into a `ResultWriter` as they are computed, so the memory a
//! result takes depends on `--memory-limit`, not on how many rows it has. Only a table keeps
//! rows (it must size its columns before its first line), and only as many as it shows; a
//! chart keeps the rows it draws.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;
use kql_engine::KqlError;
use kql_engine::planner::PlannedQuery;

/// Where one result set's rows go.
pub struct ResultWriter<'a> {
    schema: SchemaRef,
    sink: Sink<'a>,
    rows: usize,
    /// Every batch, for a chart, when the query ends in a `render`.
    kept: Option<Vec<RecordBatch>>,
}

enum Sink<'a> {
    /// A table's first `max` rows (all when `None`).
    Table {
        shown: Vec<RecordBatch>,
        shown_rows: usize,
        max: Option<usize>,
    },
    Csv(Box<csv::Writer<&'a mut (dyn Write + Send)>>),
    Jsonl(&'a mut (dyn Write + Send)),
    Parquet(Box<ArrowWriter<std::fs::File>>),
    /// Rows are counted, not written (a hunt run without `--out`).
    Count,
}

/// What a writer was given, once it is finished.
pub struct Written {
    pub schema: SchemaRef,
    pub rows: usize,
    /// The rows a table shows.
    pub shown: Vec<RecordBatch>,
    /// Every row, when the writer kept them for a chart.
    pub kept: Option<Vec<RecordBatch>>,
}

impl<'a> ResultWriter<'a> {
    fn new(schema: &SchemaRef, sink: Sink<'a>) -> Self {
        ResultWriter { schema: schema.clone(), sink, rows: 0, kept: None }
    }

    /// A table of the first `max_rows` rows (all when `None`); the caller prints it from
    /// `Written::shown`.
    pub fn table(schema: &SchemaRef, max_rows: Option<usize>) -> Self {
        Self::new(schema, Sink::Table { shown: Vec::new(), shown_rows: 0, max: max_rows })
    }

    /// CSV with a header line, written as rows arrive.
    pub fn csv(out: &'a mut (dyn Write + Send), schema: &SchemaRef) -> io::Result<Self> {
        let mut w = csv::Writer::from_writer(out);
        crate::print::write_csv_header(&mut w, schema)?;
        Ok(Self::new(schema, Sink::Csv(Box::new(w))))
    }

    /// JSON lines, written as rows arrive.
    pub fn jsonl(out: &'a mut (dyn Write + Send), schema: &SchemaRef) -> Self {
        Self::new(schema, Sink::Jsonl(out))
    }

    /// A Parquet file (the Arrow writer's default row groups), finished by `finish`.
    pub fn parquet(file: std::fs::File, schema: &SchemaRef) -> io::Result<Self> {
        let writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(io::Error::other)?;
        Ok(Self::new(schema, Sink::Parquet(Box::new(writer))))
    }

    /// Counts the rows and keeps none.
    pub fn count(schema: &SchemaRef) -> Self {
        Self::new(schema, Sink::Count)
    }

    /// Also keeps every batch (for a chart).
    pub fn keeping_batches(mut self) -> Self {
        self.kept = Some(Vec::new());
        self
    }

    pub fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        self.rows += batch.num_rows();
        if let Some(kept) = &mut self.kept {
            kept.push(batch.clone());
        }
        match &mut self.sink {
            Sink::Table { shown, shown_rows, max } => {
                let room = max.map_or(batch.num_rows(), |m| m.saturating_sub(*shown_rows).min(batch.num_rows()));
                if room > 0 {
                    shown.push(batch.slice(0, room));
                    *shown_rows += room;
                }
                Ok(())
            }
            Sink::Csv(w) => crate::print::write_csv_rows(w, &self.schema, batch),
            Sink::Jsonl(out) => crate::print::write_jsonl_rows(*out, &self.schema, batch),
            Sink::Parquet(w) => w.write(batch).map_err(io::Error::other),
            Sink::Count => Ok(()),
        }
    }

    /// Flushes what the format buffers (a Parquet footer, CSV's buffer) and says what was written.
    pub fn finish(self) -> io::Result<Written> {
        let shown = match self.sink {
            Sink::Table { shown, .. } => shown,
            Sink::Csv(mut w) => {
                w.flush()?;
                Vec::new()
            }
            Sink::Jsonl(out) => {
                out.flush()?;
                Vec::new()
            }
            Sink::Parquet(w) => {
                w.close().map_err(io::Error::other)?;
                Vec::new()
            }
            Sink::Count => Vec::new(),
        };
        Ok(Written { schema: self.schema, rows: self.rows, shown, kept: self.kept })
    }
}

/// Runs `stream`, the results of `query`, to its end into `writer`. A failure of the query
/// points at the operator or call it names, else at the statement, when it has no place of its
/// own; a failure to write says so.
pub async fn drain(stream: SendableRecordBatchStream, writer: &mut ResultWriter<'_>, query: &PlannedQuery) -> Result<(), KqlError> {
    drain_into(stream, writer, query, write_error).await
}

/// `drain`, with the error for a failed write made by `cannot_write` (to name the file).
pub async fn drain_into(
    mut stream: SendableRecordBatchStream,
    writer: &mut ResultWriter<'_>,
    query: &PlannedQuery,
    cannot_write: impl Fn(io::Error) -> KqlError,
) -> Result<(), KqlError> {
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| query.locate(KqlError::from(e)))?;
        writer.write(&batch).map_err(&cannot_write)?;
    }
    Ok(())
}

pub fn write_error(e: io::Error) -> KqlError {
    KqlError::new(format!("cannot write the results: {e}"))
}

/// A file written completely or not at all: its rows go into a temporary file next to it,
/// renamed over the final name once written and synced. Dropped before `commit` (a failed
/// query, a full disk), the temporary file is removed: no cut-off file under the final name.
pub struct PartialFile {
    partial: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl PartialFile {
    pub fn create(path: &Path) -> std::io::Result<(PartialFile, std::fs::File)> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let file = std::fs::File::create(&partial)?;
        Ok((PartialFile { partial, path: path.to_path_buf(), committed: false }, file))
    }

    pub fn commit(mut self) -> std::io::Result<()> {
        std::fs::File::open(&self.partial).and_then(|f| f.sync_all())?;
        std::fs::rename(&self.partial, &self.path)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
