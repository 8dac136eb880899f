//! `kql hunt`: run a folder of saved hunts, write each one's results, and summarise the run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use comfy_table::{Table, presets};
use datafusion::parquet::arrow::ArrowWriter;
use futures::{FutureExt, StreamExt, TryStreamExt};
use kql_engine::{KqlError, Session};
use serde_json::{Value as Json, json};
use std::panic::AssertUnwindSafe;

use crate::cli::{Format, HuntArgs, HuntFormat};
use crate::hunts::{self, Hunt};

/// What running one hunt gave.
struct Outcome {
    rows: usize,
    elapsed: Duration,
    output: Option<PathBuf>,
    /// The error, rendered with the query line and a caret when it has a position (no colour:
    /// it goes to summary.json too).
    error: Option<String>,
}

pub async fn run(args: &HuntArgs) -> ExitCode {
    let session = match crate::new_session(args.now.as_deref(), args.memory_limit.as_deref(), None, &args.sources).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let hunts = match hunts::load(&args.paths) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The output folder is checked before any hunt runs, not found unwritable at the end.
    if let Some(dir) = &args.out
        && let Err(e) = writable_folder(dir)
    {
        eprintln!("error: --out {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    // `buffered` runs up to `jobs` hunts at once and yields their outcomes in the hunts' order.
    // A hunt that panics is one failed hunt: the others still run and the summary is written.
    let outcomes: Vec<Outcome> = futures::stream::iter(hunts.iter())
        .map(|hunt| {
            let started = Instant::now();
            AssertUnwindSafe(run_one(&session, hunt, args)).catch_unwind().map(move |r| {
                r.unwrap_or_else(|panic| Outcome {
                    rows: 0,
                    elapsed: started.elapsed(),
                    output: None,
                    error: Some(format!("error: kql stopped on this hunt (a bug in kql, please report it): {}", panic_message(&*panic))),
                })
            })
        })
        .buffered(args.jobs.max(1))
        .collect()
        .await;
    // A hunt that failed this time leaves no result file from an earlier run that would look
    // current.
    if let Some(dir) = &args.out {
        for (hunt, outcome) in hunts.iter().zip(&outcomes) {
            if outcome.error.is_some() {
                let _ = std::fs::remove_file(dir.join(format!("{}.{}", hunt.name, args.format.extension())));
            }
        }
    }
    for (hunt, outcome) in hunts.iter().zip(&outcomes) {
        if let Some(e) = &outcome.error {
            eprintln!("hunt {} failed:\n{e}", hunt.name);
        }
    }
    print_summary(&hunts, &outcomes);
    if let Some(dir) = &args.out
        && let Err(e) = write_summary_json(dir, &hunts, &outcomes)
    {
        eprintln!("error: cannot write {}: {e}", dir.join("summary.json").display());
        return ExitCode::FAILURE;
    }
    let failed = outcomes.iter().any(|o| o.error.is_some());
    let hits = outcomes.iter().any(|o| o.rows > 0);
    if failed {
        ExitCode::FAILURE
    } else if args.fail_on_hits && hits {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_one(session: &Session, hunt: &Hunt, args: &HuntArgs) -> Outcome {
    let start = Instant::now();
    // A fault-injection hook for the test suite: it proves that a hunt that panics costs only
    // itself. Nothing sets it in normal use.
    if std::env::var_os("KQL_TEST_PANIC_IN_HUNT").is_some_and(|name| name == hunt.name.as_str()) {
        panic!("injected panic in hunt {}", hunt.name);
    }
    let query = match &hunt.query {
        Ok(q) => q,
        Err(e) => {
            return Outcome {
                rows: 0,
                elapsed: start.elapsed(),
                output: None,
                error: Some(format!("error: {}: {e}", hunt.file.display())),
            };
        }
    };
    let result = execute(session, query, &hunt.origin()).await.and_then(|(schema, batches)| {
        let output = match &args.out {
            Some(dir) => {
                let path = dir.join(format!("{}.{}", hunt.name, args.format.extension()));
                write_file(&path, args.format, &schema, &batches)
                    .map_err(|e| KqlError::new(format!("cannot write {}: {e}", path.display())))?;
                Some(path)
            }
            None => None,
        };
        Ok((batches.iter().map(RecordBatch::num_rows).sum(), output))
    });
    let elapsed = start.elapsed();
    match result {
        Ok((rows, output)) => Outcome { rows, elapsed, output, error: None },
        Err(e) => Outcome { rows: 0, elapsed, output: None, error: Some(e.render(query, &hunt.origin(), false)) },
    }
}

/// The rows of the hunt's last result statement (a rule has one; earlier ones are helpers).
async fn execute(session: &Session, text: &str, origin: &str) -> Result<(SchemaRef, Vec<RecordBatch>), KqlError> {
    let queries = session.plan(text)?;
    let Some(query) = queries.last() else {
        return Err(KqlError::new("the hunt has no query to run, only `let` statements"));
    };
    for warning in queries.iter().flat_map(|q| &q.warnings) {
        eprintln!("warning: {origin}: {warning}");
    }
    let stream = session.stream(query).await?;
    let schema = stream.schema();
    let batches = stream.try_collect().await.map_err(|e| KqlError::from(e).or_at(query.span))?;
    Ok((schema, batches))
}

/// Writes a result file completely or not at all: into a temporary file next to it, renamed
/// once written and synced (a full disk leaves no cut-off file under the hunt's name).
fn write_file(path: &Path, format: HuntFormat, schema: &SchemaRef, batches: &[RecordBatch]) -> std::io::Result<()> {
    write_atomically(path, |file| write_contents(file, format, schema, batches))
}

pub fn write_atomically(path: &Path, write: impl FnOnce(std::fs::File) -> std::io::Result<()>) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = std::fs::File::create(&partial)
        .and_then(|file| write(file))
        .and_then(|()| std::fs::File::open(&partial).and_then(|f| f.sync_all()))
        .and_then(|()| std::fs::rename(&partial, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_contents(file: std::fs::File, format: HuntFormat, schema: &SchemaRef, batches: &[RecordBatch]) -> std::io::Result<()> {
    match format {
        HuntFormat::Parquet => {
            let mut writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(std::io::Error::other)?;
            for b in batches {
                writer.write(b).map_err(std::io::Error::other)?;
            }
            writer.close().map_err(std::io::Error::other)?;
            Ok(())
        }
        HuntFormat::Csv | HuntFormat::Jsonl => {
            let text_format = if format == HuntFormat::Csv { Format::Csv } else { Format::Jsonl };
            let mut out = std::io::BufWriter::new(file);
            crate::print::write_result(&mut out, text_format, schema, batches, None)?;
            out.flush()
        }
    }
}

fn status(outcome: &Outcome) -> &'static str {
    match (&outcome.error, outcome.rows) {
        (Some(_), _) => "failed",
        (None, 0) => "no hits",
        (None, _) => "hits",
    }
}

fn print_summary(hunts: &[Hunt], outcomes: &[Outcome]) {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED).set_header(["hunt", "status", "rows", "elapsed"]);
    for (hunt, o) in hunts.iter().zip(outcomes) {
        table.add_row([hunt.name.clone(), status(o).to_string(), o.rows.to_string(), format!("{:.3}s", o.elapsed.as_secs_f64())]);
    }
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let with_hits = outcomes.iter().filter(|o| o.error.is_none() && o.rows > 0).count();
    println!("{table}");
    println!("{} hunts: {} ran, {with_hits} with hits, {failed} failed", hunts.len(), hunts.len() - failed);
}

fn write_summary_json(dir: &Path, hunts: &[Hunt], outcomes: &[Outcome]) -> std::io::Result<()> {
    let entries: Vec<Json> = hunts
        .iter()
        .zip(outcomes)
        .map(|(hunt, o)| {
            let mut entry = serde_json::Map::new();
            entry.insert("hunt".into(), json!(hunt.name));
            entry.insert("file".into(), json!(hunt.file.display().to_string()));
            entry.insert("rule".into(), Json::Object(hunt.metadata.clone()));
            entry.insert("status".into(), json!(status(o)));
            entry.insert("rows".into(), json!(o.rows));
            entry.insert("elapsed_ms".into(), json!(o.elapsed.as_millis() as u64));
            entry.insert("output".into(), json!(o.output.as_ref().map(|p| p.display().to_string())));
            entry.insert("error".into(), json!(o.error));
            Json::Object(entry)
        })
        .collect();
    let text = serde_json::to_string_pretty(&json!({ "hunts": entries })).map_err(std::io::Error::other)?;
    write_atomically(&dir.join("summary.json"), |mut file| file.write_all(format!("{text}\n").as_bytes()))
}

/// Creates the folder if needed and proves a file can be written in it.
fn writable_folder(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err("it is a file, not a folder".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create it: {e}"))?;
    let probe = dir.join(format!(".kql-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("cannot write in it: {e}"))?;
    std::fs::remove_file(&probe).map_err(|e| format!("cannot write in it: {e}"))
}

/// The text a panic carried.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
