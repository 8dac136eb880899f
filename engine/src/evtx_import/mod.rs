//! `kql import evtx`: raw Windows event logs (`.evtx`) into the tables Sentinel would have
//! (`WindowsEvent`, `SecurityEvent`, `Event`), as Parquet partitioned by table and day. The
//! `evtx` crate reads the files (its chunks in parallel on every core); records stream through to
//! the writer, so memory stays bounded by the open files' buffers, whatever the logs' size. A
//! chunk or record that cannot be read is reported with its file and offset, and the rest of the
//! file is read.

mod event;
mod layout;
mod tables;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};

use crate::error::{KqlError, Result};
pub use event::Event;
use layout::{chunk_offset, last_chunk_with_signature, record_offset};
use writer::PartitionedWriter;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub files: usize,
    pub records: u64,
    /// Rows written per table.
    pub rows: BTreeMap<&'static str, u64>,
    /// Chunks, records and files that could not be read, each with its file and offset.
    pub problems: Vec<String>,
    /// What was passed over without loss (a log's unused space).
    pub notes: Vec<String>,
    pub written: Vec<PathBuf>,
}

/// The `.evtx` files the paths name: files as given, folders searched recursively.
pub fn evtx_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("evtx")) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out).map_err(|e| KqlError::new(format!("cannot read {}: {e}", path.display())))?;
        } else if path.exists() {
            out.push(path.clone());
        } else {
            return Err(KqlError::new(format!("{}: no such file or folder", path.display())));
        }
    }
    Ok(out)
}

/// The tables an import writes.
pub const TABLES: [&str; 3] = ["WindowsEvent", "SecurityEvent", "Event"];

/// Whether a table location names `.evtx` files (a file or a glob of them).
pub fn is_evtx_location(location: &str) -> bool {
    location.to_ascii_lowercase().ends_with(".evtx")
}

/// The files an `.evtx` location names: the file, or the files its glob matches.
pub fn files_of_location(location: &str) -> Result<Vec<PathBuf>> {
    if !location.contains(['*', '?', '[']) {
        return evtx_files(&[PathBuf::from(location)]);
    }
    let paths = glob::glob(location).map_err(|e| KqlError::new(format!("'{location}' is not a valid glob: {e}")))?;
    let files: Vec<PathBuf> = paths.filter_map(std::result::Result::ok).filter(|p| p.is_file()).collect();
    if files.is_empty() {
        return Err(KqlError::new(format!("'{location}' matches no files")));
    }
    Ok(files)
}

/// Why a chunk or record could not be read, with where it is.
fn describe(file: &Path, e: &EvtxError) -> String {
    match e {
        EvtxError::FailedToParseChunk { chunk_id, source } => {
            format!("{}: chunk {chunk_id} (offset {}) could not be read and was skipped: {source}", file.display(), chunk_offset(*chunk_id))
        }
        EvtxError::FailedToParseRecord { record_id, source } => match record_offset(file, *record_id) {
            Some(offset) => format!("{}: record {record_id} (offset {offset}) could not be read and was skipped: {source}", file.display()),
            None => format!("{}: record {record_id} could not be read and was skipped: {source}", file.display()),
        },
        other => format!("{}: {other}", file.display()),
    }
}

/// Imports the files into `out`; `progress` is told a file's name and the events read so far.
/// Files are shared among as many workers as the machine has cores, each with its own
/// Parquet files; a single file is parsed on every core by the `evtx` crate instead.
pub fn import(files: &[PathBuf], out: &Path, progress: impl FnMut(&Path, u64) + Send) -> Result<ImportReport> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let workers = cores.min(files.len()).max(1);
    let progress = std::sync::Mutex::new(progress);
    let total = std::sync::atomic::AtomicU64::new(0);
    let tell = |file: &Path, read: u64| {
        let all = total.fetch_add(read, std::sync::atomic::Ordering::Relaxed) + read;
        if let Ok(mut progress) = progress.lock() {
            progress(file, all);
        }
    };
    // Worker k takes files k, k + workers, ...; one parallel parser per file when alone.
    let parser_threads = if workers == 1 { 0 } else { 1 };
    let results: Vec<(Result<()>, PartitionedWriter, ImportReport)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|k| {
                let tell = &tell;
                scope.spawn(move || {
                    let mut report = ImportReport::default();
                    let mut writer = match PartitionedWriter::new(out, k) {
                        Ok(w) => w,
                        Err(e) => return Err(e),
                    };
                    let outcome = files
                        .iter()
                        .skip(k)
                        .step_by(workers)
                        .try_for_each(|file| import_file(file, parser_threads, &mut writer, &mut report, tell));
                    Ok((outcome, writer, report))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(KqlError::new("an import worker stopped unexpectedly"))))
            .collect::<Result<Vec<_>>>()
    })?;
    let mut report = ImportReport { files: files.len(), ..ImportReport::default() };
    let mut failure = None;
    let mut writers = Vec::new();
    for (outcome, writer, part) in results {
        report.records += part.records;
        report.problems.extend(part.problems);
        report.notes.extend(part.notes);
        if let Err(e) = outcome {
            failure.get_or_insert(e);
        }
        writers.push(writer);
    }
    if let Some(e) = failure {
        for writer in writers {
            writer.abandon();
        }
        return Err(e);
    }
    for writer in writers {
        let (written, rows) = writer.finish()?;
        report.written.extend(written);
        for (table, n) in rows {
            *report.rows.entry(table).or_default() += n;
        }
    }
    report.written.sort();
    Ok(report)
}

/// One file's events into the writer; what could not be read goes into the report.
fn import_file(
    file: &Path,
    threads: usize,
    writer: &mut PartitionedWriter,
    report: &mut ImportReport,
    tell: &(impl Fn(&Path, u64) + Sync),
) -> Result<()> {
    let settings = ParserSettings::new().num_threads(threads).separate_json_attributes(true).indent(false);
    let mut parser = match EvtxParser::from_path(file) {
        Ok(p) => p.with_configuration(settings),
        Err(e) => {
            report.problems.push(format!("{}: not a readable EVTX file: {e}", file.display()));
            return Ok(());
        }
    };
    // Chunks past the last one that starts with a chunk's signature are the file's unused space
    // (a log that was never full), not damage: their errors are one note.
    let last_chunk = last_chunk_with_signature(file);
    let mut unused_chunks = 0u64;
    let mut unreported = 0u64;
    for record in parser.records_json_value() {
        match record {
            Ok(record) => {
                let time = record.timestamp.as_microsecond();
                let Some(event) = Event::from_record(&record.data, time, record.event_record_id) else {
                    report.problems.push(format!(
                        "{}: record {} is not a Windows event and was skipped",
                        file.display(),
                        record.event_record_id
                    ));
                    continue;
                };
                for (def, cells) in tables::rows(&event) {
                    writer.push(def, cells)?;
                }
                report.records += 1;
                unreported += 1;
                if unreported == 10_000 {
                    tell(file, std::mem::take(&mut unreported));
                }
            }
            Err(EvtxError::FailedToParseChunk { chunk_id, .. }) if last_chunk.is_some_and(|last| chunk_id > last) => unused_chunks += 1,
            Err(e) => report.problems.push(describe(file, &e)),
        }
    }
    if unused_chunks > 0 {
        report.notes.push(format!(
            "{}: the {unused_chunks} chunks after chunk {} hold no events (unused space at the end of the log)",
            file.display(),
            last_chunk.unwrap_or_default()
        ));
    }
    tell(file, unreported);
    Ok(())
}
