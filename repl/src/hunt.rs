//! `kql hunt`: run a folder of saved hunts, write each one's results, and summarise the run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use comfy_table::{Table, presets};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{FutureExt, StreamExt};
use kql_engine::planner::PlannedQuery;
use kql_engine::shared_scan::{self, SharedScan};
use kql_engine::{KqlError, ResultUse, Session};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cli::{HuntArgs, HuntFormat};
use crate::hunts::{self, Hunt};
use crate::progress_line::{ProgressLine, eprint_line};
use crate::results::{self, PartialFile, ResultWriter};

/// What running one hunt gave.
struct Outcome {
    rows: usize,
    elapsed: Duration,
    output: Option<PathBuf>,
    /// The error, rendered with the query line and a caret when it has a position (no colour:
    /// it goes to summary.json too).
    error: Option<String>,
    /// The table whose one scan this hunt shared with others.
    shared_scan: Option<String>,
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
    let output = Output { dir: args.out.clone(), format: args.format };
    let line = ProgressLine::on_stderr(true);
    let tally = Arc::new(Tally::default());
    let total = hunts.len();
    let (session, hunts) = (Arc::new(session), Arc::new(hunts));
    let progress = || {
        let (planned, done) = (tally.planned.load(Ordering::Relaxed), tally.done.load(Ordering::Relaxed));
        Some(match line.scanned(&session) {
            _ if planned < total => format!("planning hunts: {planned} of {total}"),
            Some(scanned) => format!("{done} of {total} hunts done; {scanned}"),
            None => format!("{done} of {total} hunts done"),
        })
    };
    let outcomes = tokio::select! {
        outcomes = run_all(args, &session, &hunts, &output, &line, &tally) => outcomes,
        never = line.draw(progress) => match never {},
    };
    line.clear();
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

impl Outcome {
    fn failed(elapsed: Duration, error: String) -> Outcome {
        Outcome { rows: 0, elapsed, output: None, error: Some(error), shared_scan: None }
    }

    /// What a hunt's run gave: its rows and file, its error rendered with its text, or the
    /// panic that stopped it.
    fn of_run(run: std::thread::Result<Result<(usize, Option<PathBuf>), KqlError>>, elapsed: Duration, text: &str, hunt: &Hunt) -> Outcome {
        match run {
            Ok(Ok((rows, output))) => Outcome { rows, elapsed, output, error: None, shared_scan: None },
            Ok(Err(e)) => Outcome::failed(elapsed, e.render(text, &hunt.origin(), false)),
            Err(panic) => Outcome::failed(elapsed, panic_error(&*panic)),
        }
    }
}

/// Where results go: what a hunt's task needs of the arguments.
#[derive(Clone)]
struct Output {
    dir: Option<PathBuf>,
    format: HuntFormat,
}

/// A hunt planned and ready to run, or already decided (it failed to plan).
enum Prepared {
    Decided(Outcome),
    Ready { query: Box<PlannedQuery>, text: String, planning: Duration },
}

/// Plans a hunt's last result statement (a rule has one; earlier ones are helpers). A panic
/// while planning fails this hunt only.
async fn prepare(session: &Session, hunt: &Hunt) -> Prepared {
    let start = Instant::now();
    // A fault-injection hook for the test suite: it proves that a hunt that panics costs only
    // itself. Nothing sets it in normal use.
    let planned = AssertUnwindSafe(async {
        if std::env::var_os("KQL_TEST_PANIC_IN_HUNT").is_some_and(|name| name == hunt.name.as_str()) {
            panic!("injected panic in hunt {}", hunt.name);
        }
        plan_hunt(session, hunt).await
    })
    .catch_unwind()
    .await;
    let planning = start.elapsed();
    match planned {
        Ok(Ok((query, text))) => Prepared::Ready { query: Box::new(query), text, planning },
        Ok(Err(error)) => Prepared::Decided(Outcome::failed(planning, error)),
        Err(panic) => Prepared::Decided(Outcome::failed(planning, panic_error(&*panic))),
    }
}

async fn plan_hunt(session: &Session, hunt: &Hunt) -> Result<(PlannedQuery, String), String> {
    let text = hunt.query.as_ref().map_err(|e| format!("error: {}: {e}", hunt.file.display()))?;
    let planned = session.plan_reading_data(text).await;
    for warning in session.take_read_warnings() {
        eprint_line(&format!("warning: {}: {warning}", hunt.origin()));
    }
    let queries = planned.map_err(|e| e.render(text, &hunt.origin(), false))?;
    for warning in queries.iter().flat_map(|q| &q.warnings) {
        eprint_line(&format!("warning: {}: {warning}", hunt.origin()));
    }
    let query = queries
        .into_iter()
        .last()
        .ok_or_else(|| KqlError::new("the hunt has no query to run, only `let` statements").render(text, &hunt.origin(), false))?;
    Ok((query, text.clone()))
}

/// The tables that two or more planned hunts read, each hunt reading only that table, once:
/// those hunts share one scan of it.
fn shared_groups(session: &Session, prepared: &[Option<Prepared>]) -> BTreeMap<String, Vec<usize>> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in prepared.iter().enumerate() {
        if let Some(Prepared::Ready { query, .. }) = p
            && let Some(table) = shared_scan::reads_one_table(&query.plan, session.catalog())
        {
            groups.entry(table).or_default().push(i);
        }
    }
    groups.retain(|_, members| members.len() > 1);
    groups
}

/// Plans every hunt, then runs them: the groups that share a scan, then the others.
async fn run_all(
    args: &HuntArgs,
    session: &Arc<Session>,
    hunts: &Arc<Vec<Hunt>>,
    output: &Output,
    line: &ProgressLine,
    tally: &Arc<Tally>,
) -> Vec<Outcome> {
    // Every hunt is planned first, so that the hunts reading the same table are known before
    // any of them runs; one hunt per core at a time (a thousand Sigma rules take seconds to
    // plan, one after another).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut prepared: Vec<Option<Prepared>> = futures::stream::iter(0..hunts.len())
        .map(|i| {
            let (session, hunts) = (session.clone(), hunts.clone());
            tokio::spawn(async move { prepare(&session, &hunts[i]).await })
        })
        .buffered(cores)
        .map(|planned| {
            tally.planned.fetch_add(1, Ordering::Relaxed);
            Some(planned.unwrap_or_else(|e| {
                Prepared::Decided(Outcome::failed(Duration::ZERO, format!("error: kql stopped planning this hunt: {e}")))
            }))
        })
        .collect()
        .await;
    let mut outcomes: Vec<Option<Outcome>> = (0..hunts.len()).map(|_| None).collect();
    // On a cluster each hunt's plan runs there whole: a scan shared in this process cannot
    // be sent to executors.
    if !args.no_shared_scans && args.sources.cluster.is_none() {
        for (table, members) in shared_groups(session, &prepared) {
            run_shared(session, &table, &members, hunts, &mut prepared, output, &mut outcomes, line, tally).await;
        }
    }
    // The others, `jobs` at once. `buffered` yields their outcomes in the hunts' order.
    let rest: Vec<(usize, Prepared)> = prepared.iter_mut().enumerate().filter_map(|(i, p)| p.take().map(|p| (i, p))).collect();
    let finished: Vec<(usize, Outcome)> = futures::stream::iter(rest)
        .map(|(i, p)| {
            let (hunt, line) = (&hunts[i], line);
            async move {
                let outcome = run_prepared(session, hunt, p, output, line).await;
                tally.done.fetch_add(1, Ordering::Relaxed);
                (i, outcome)
            }
        })
        .buffered(args.jobs.max(1))
        .collect()
        .await;
    for (i, outcome) in finished {
        outcomes[i] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| Outcome::failed(Duration::ZERO, "error: kql did not run this hunt (a bug in kql, please report it)".into()))
        })
        .collect()
}

/// How far a run has got, for the progress line.
#[derive(Default)]
struct Tally {
    planned: AtomicUsize,
    done: AtomicUsize,
}

/// Runs the hunts of one group together over one scan of `table`: each hunt's plan is made
/// first (registering what it reads; one hunt per core at a time), then the scan starts, and
/// every hunt runs as its own task.
#[allow(clippy::too_many_arguments)]
async fn run_shared(
    session: &Arc<Session>,
    table: &str,
    members: &[usize],
    hunts: &Arc<Vec<Hunt>>,
    prepared: &mut [Option<Prepared>],
    output: &Output,
    outcomes: &mut [Option<Outcome>],
    line: &ProgressLine,
    tally: &Arc<Tally>,
) {
    let Some(provider) = session.catalog().get(table).map(|t| t.provider.clone()) else { return };
    let shared = Arc::new(SharedScan::new(table, provider));
    let start = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // With a hunt per core or more, the hunts keep the cores busy; each runs in one partition.
    let one_partition = members.len() >= cores;
    let members: Vec<(usize, Box<PlannedQuery>, String, Duration)> = members
        .iter()
        .filter_map(|&i| match prepared[i].take() {
            Some(Prepared::Ready { query, text, planning }) => Some((i, query, text, planning)),
            other => {
                prepared[i] = other;
                None
            }
        })
        .collect();
    let planned: Vec<_> = futures::stream::iter(members)
        .map(|(i, mut query, text, planning)| {
            let (session, shared) = (session.clone(), shared.clone());
            let physical = tokio::spawn(async move {
                let stream = match shared.rewrite(query.plan.clone()) {
                    Ok(plan) => {
                        query.plan = plan;
                        let stream = if one_partition {
                            session.stream_in_one_partition(&query, ResultUse::Export).boxed()
                        } else {
                            session.stream_with_progress(&query, ResultUse::Export).boxed()
                        };
                        AssertUnwindSafe(stream).catch_unwind().await
                    }
                    Err(e) => Ok(Err(KqlError::from(e))),
                };
                (query, stream)
            });
            async move { (i, text, planning, physical.await) }
        })
        .buffered(cores)
        .collect()
        .await;
    let mut ready = Vec::new();
    for (i, text, planning, physical) in planned {
        let hunt = &hunts[i];
        match physical {
            Ok((query, Ok(Ok((stream, _))))) => ready.push((i, query, text, planning, stream)),
            Ok((_, Ok(Err(e)))) => outcomes[i] = Some(Outcome::failed(planning, e.render(&text, &hunt.origin(), false))),
            Ok((_, Err(panic))) => outcomes[i] = Some(Outcome::failed(planning, panic_error(&*panic))),
            Err(e) => outcomes[i] = Some(Outcome::failed(planning, format!("error: kql stopped planning this hunt: {e}"))),
        }
        if outcomes[i].is_some() {
            tally.done.fetch_add(1, Ordering::Relaxed);
        }
    }
    let scan = shared.start(&session.context().state()).await;
    let watched = format!("the shared scan of {table}");
    if let Some(progress) = scan.progress() {
        line.watch(watched.clone(), progress);
    }
    // Each hunt runs and writes its result on a task of its own: a thousand hunts' rows, read
    // and written from one task, would use one core.
    let runs = ready.into_iter().map(|(i, query, text, planning, stream)| {
        let (hunts, output, table, tally) = (hunts.clone(), output.clone(), table.to_string(), tally.clone());
        let run = tokio::spawn(async move {
            let hunt = &hunts[i];
            let written = AssertUnwindSafe(write_results(stream, &query, &hunt.name, &output)).catch_unwind().await;
            let elapsed = planning + start.elapsed();
            tally.done.fetch_add(1, Ordering::Relaxed);
            Outcome { shared_scan: Some(table), ..Outcome::of_run(written, elapsed, &text, hunt) }
        });
        async move {
            let outcome = run.await.unwrap_or_else(|e| Outcome::failed(planning, format!("error: kql stopped running this hunt: {e}")));
            (i, outcome)
        }
    });
    for (i, outcome) in futures::future::join_all(runs).await {
        outcomes[i] = Some(outcome);
    }
    drop(scan);
    line.finished(&watched);
    for warning in session.take_read_warnings() {
        eprint_line(&format!("warning: {table}: {warning}"));
    }
}

/// Runs one planned hunt on its own.
async fn run_prepared(session: &Session, hunt: &Hunt, prepared: Prepared, output: &Output, line: &ProgressLine) -> Outcome {
    let (query, text, planning) = match prepared {
        Prepared::Decided(outcome) => return outcome,
        Prepared::Ready { query, text, planning } => (query, text, planning),
    };
    let start = Instant::now();
    let run = AssertUnwindSafe(async {
        let (stream, progress) = session.stream_with_progress(&query, ResultUse::Export).await?;
        line.watch(hunt.name.clone(), progress);
        let written = write_results(stream, &query, &hunt.name, output).await;
        line.finished(&hunt.name);
        for warning in session.take_read_warnings() {
            eprint_line(&format!("warning: {}: {warning}", hunt.origin()));
        }
        written
    })
    .catch_unwind()
    .await;
    Outcome::of_run(run, planning + start.elapsed(), &text, hunt)
}

fn panic_error(panic: &(dyn std::any::Any + Send)) -> String {
    format!("error: kql stopped on this hunt (a bug in kql, please report it): {}", panic_message(panic))
}

/// Streams a hunt's rows into its result file, when there is an `--out` folder, and returns the
/// rows and the file.
async fn write_results(
    stream: SendableRecordBatchStream,
    query: &PlannedQuery,
    name: &str,
    output: &Output,
) -> Result<(usize, Option<PathBuf>), KqlError> {
    let schema = stream.schema();
    let Some(dir) = &output.dir else {
        let mut counter = ResultWriter::count(&schema);
        results::drain(stream, &mut counter, query).await?;
        return Ok((counter.finish().map_err(results::write_error)?.rows, None));
    };
    // The file is made when the first rows (or the end) arrive: hunts that share a scan all wait
    // at once, and would otherwise each hold an open file through the whole scan.
    let mut stream = stream;
    let first = stream.next().await.transpose().map_err(|e| query.locate(KqlError::from(e)))?;
    let stream: SendableRecordBatchStream =
        Box::pin(RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter(first.map(Ok)).chain(stream)));
    let path = dir.join(format!("{name}.{}", output.format.extension()));
    let cannot_write = |e: std::io::Error| KqlError::new(format!("cannot write {}: {e}", path.display()));
    let (partial, file) = PartialFile::create(&path).map_err(cannot_write)?;
    let rows = match output.format {
        HuntFormat::Parquet => {
            let mut writer = ResultWriter::parquet(file, &schema).map_err(cannot_write)?;
            results::drain_into(stream, &mut writer, query, cannot_write).await?;
            writer.finish().map_err(cannot_write)?.rows
        }
        HuntFormat::Csv | HuntFormat::Jsonl => {
            let mut out = std::io::BufWriter::new(file);
            let mut writer = if output.format == HuntFormat::Csv {
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
    let mut shared: BTreeMap<&str, usize> = BTreeMap::new();
    for table in outcomes.iter().filter_map(|o| o.shared_scan.as_deref()) {
        *shared.entry(table).or_default() += 1;
    }
    for (table, n) in shared {
        println!("{n} hunts read {table} in one shared scan");
    }
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
            entry.insert("shared_scan".into(), json!(o.shared_scan));
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
