//! `kql hunt`: run a folder of saved hunts, write each one's results, and summarise the run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use comfy_table::{Table, presets};
use futures::{FutureExt, StreamExt};
use kql_engine::{KqlError, ResultUse, Session};
use serde_json::{Value as Json, json};
use std::panic::AssertUnwindSafe;

use crate::cli::{HuntArgs, HuntFormat};
use crate::hunts::{self, Hunt};
use crate::results::{self, PartialFile, ResultWriter};

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
    let result = execute(session, hunt, query, args).await;
    let elapsed = start.elapsed();
    match result {
        Ok((rows, output)) => Outcome { rows, elapsed, output, error: None },
        Err(e) => Outcome { rows: 0, elapsed, output: None, error: Some(e.render(query, &hunt.origin(), false)) },
    }
}

/// Runs the hunt's last result statement (a rule has one; earlier ones are helpers) and
/// streams its rows into its result file, when there is an `--out` folder. Returns the rows and
/// the file.
async fn execute(session: &Session, hunt: &Hunt, text: &str, args: &HuntArgs) -> Result<(usize, Option<PathBuf>), KqlError> {
    let result = execute_query(session, hunt, text, args).await;
    for warning in session.take_read_warnings() {
        eprintln!("warning: {}: {warning}", hunt.origin());
    }
    result
}

async fn execute_query(session: &Session, hunt: &Hunt, text: &str, args: &HuntArgs) -> Result<(usize, Option<PathBuf>), KqlError> {
    let queries = session.plan_reading_data(text).await?;
    let Some(query) = queries.last() else {
        return Err(KqlError::new("the hunt has no query to run, only `let` statements"));
    };
    for warning in queries.iter().flat_map(|q| &q.warnings) {
        eprintln!("warning: {}: {warning}", hunt.origin());
    }
    let (stream, _) = session.stream_with_progress(query, ResultUse::Export).await?;
    let schema = stream.schema();
    let Some(dir) = &args.out else {
        let mut counter = ResultWriter::count(&schema);
        results::drain(stream, &mut counter, query).await?;
        return Ok((counter.finish().map_err(results::write_error)?.rows, None));
    };
    let path = dir.join(format!("{}.{}", hunt.name, args.format.extension()));
    let cannot_write = |e: std::io::Error| KqlError::new(format!("cannot write {}: {e}", path.display()));
    let (partial, file) = PartialFile::create(&path).map_err(cannot_write)?;
    let rows = match args.format {
        HuntFormat::Parquet => {
            let mut writer = ResultWriter::parquet(file, &schema).map_err(cannot_write)?;
            results::drain_into(stream, &mut writer, query, cannot_write).await?;
            writer.finish().map_err(cannot_write)?.rows
        }
        HuntFormat::Csv | HuntFormat::Jsonl => {
            let mut out = std::io::BufWriter::new(file);
            let mut writer = if args.format == HuntFormat::Csv {
                ResultWriter::csv(&mut out, &schema).map_err(cannot_write)?
            } else {
                ResultWriter::jsonl(&mut out, &schema)
            };
            results::drain_into(stream, &mut writer, query, cannot_write).await?;
            let rows = writer.finish().map_err(cannot_write)?.rows;
            out.flush().map_err(cannot_write)?;
            rows
        }
    };
    partial.commit().map_err(cannot_write)?;
    Ok((rows, Some(path)))
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
    let (partial, mut file) = PartialFile::create(&dir.join("summary.json"))?;
    file.write_all(format!("{text}\n").as_bytes())?;
    partial.commit()
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
