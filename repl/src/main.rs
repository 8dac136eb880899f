//! `kql`: run KQL over Parquet logs, one-shot or in an interactive REPL.

mod chart;
mod check;
mod cli;
mod cluster;
mod completion;
mod helper;
mod highlight;
mod hunt;
mod hunts;
mod import;
mod print;
mod progress_line;
mod results;
mod shell;

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use kql_engine::{KqlError, ResultUse, Session, SessionOptions};
use results::ResultWriter;

use cli::{Args, parse_size};

/// Planning and optimizing walk plans recursively: a deep plan (a long union, a deeply nested
/// expression) needs more stack than a thread's default, so the work runs on threads with
/// room to spare.
const MAIN_STACK: usize = 256 << 20;
const WORKER_STACK: usize = 32 << 20;

fn main() -> ExitCode {
    // Threads that other crates start with the default stack (a cluster executor's task
    // runners, which decode and run deep plans; Ballista gives no way to size them) get the
    // same room as ours: the standard library reads `RUST_MIN_STACK` for every thread spawned
    // without an explicit size. A user's own setting wins.
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        // SAFETY: no other thread exists yet, so nothing reads the environment meanwhile.
        unsafe { std::env::set_var("RUST_MIN_STACK", WORKER_STACK.to_string()) };
    }
    let args = Args::parse();
    let work = std::thread::Builder::new().name("kql".into()).stack_size(MAIN_STACK).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(WORKER_STACK).build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(run(args))
    });
    match work.map(|handle| handle.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!("error: the query thread stopped unexpectedly");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> ExitCode {
    if let Some(cli::Command::Check(check_args)) = &args.command_kind {
        return check::run(check_args).await;
    }
    if let Some(cli::Command::Hunt(hunt_args)) = &args.command_kind {
        return hunt::run(hunt_args).await;
    }
    if let Some(cli::Command::Import(cli::ImportKind::Evtx(evtx_args))) = &args.command_kind {
        return import::evtx(evtx_args);
    }
    if let Some(cli::Command::Cluster(role)) = &args.command_kind {
        return cluster::run(role).await;
    }
    let color = use_color(&std::io::stderr());
    let mut session = match open_session(&args).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (text, origin) = match query_text(&args) {
        Ok(Some(q)) => q,
        Ok(None) => return shell::run(&mut session, &args).await,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Rows streamed to the terminal are the progress there; otherwise a long query shows what
    // it has scanned on stderr until its results are written.
    let streams_to_terminal = args.output.is_none() && args.format != cli::Format::Table && std::io::stdout().is_terminal();
    let line = progress_line::ProgressLine::on_stderr(!streams_to_terminal && args.explain.is_none());
    let outcome = tokio::select! {
        outcome = run_query(&session, &text, &args, &line) => outcome,
        never = line.draw(|| line.scanned(&session)) => match never {},
    };
    line.clear();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.render(&text, &origin, color));
            ExitCode::FAILURE
        }
    }
}

/// The query to run once, and a name for it in error messages; `None` means start the REPL.
fn query_text(args: &Args) -> std::io::Result<Option<(String, String)>> {
    if let Some(q) = &args.command {
        return Ok(Some((q.clone(), "query".into())));
    }
    if let Some(f) = &args.file {
        let text = std::fs::read_to_string(f).map_err(|e| std::io::Error::new(e.kind(), format!("cannot read {}: {e}", f.display())))?;
        return Ok(Some((text, f.display().to_string())));
    }
    if std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    Ok(Some((text, "<stdin>".into())))
}

/// A session with the tables, functions and options the arguments give.
pub async fn open_session(args: &Args) -> Result<Session, String> {
    new_session(args.now.as_deref(), args.memory_limit.as_deref(), args.threads, &args.sources).await
}

pub async fn new_session(
    now: Option<&str>,
    memory_limit: Option<&str>,
    threads: Option<usize>,
    sources: &cli::Sources,
) -> Result<Session, String> {
    let now = match now {
        Some(t) => Some(kql_grammar::values::parse_datetime(t).ok_or_else(|| format!("error: --now: '{t}' is not an ISO 8601 datetime"))?),
        None => None,
    };
    let memory_limit = match memory_limit {
        Some("none") => None,
        Some(s) => Some(parse_size(s).ok_or_else(|| format!("error: --memory-limit: '{s}' is not a size like 4G or 512M, or none"))?),
        None => default_memory_limit(),
    };
    let options = SessionOptions { now, memory_limit, target_partitions: threads, ..Default::default() };
    let mut session = match &sources.cluster {
        Some(cluster) => {
            let url = kql_cluster::client::scheduler_url(cluster).map_err(|e| format!("error: {e}"))?;
            let state = kql_cluster::client::cluster_state(&options, &url).map_err(|e| format!("error: --cluster: {e}"))?;
            Session::with_state(options, state)
        }
        None => Session::new(options).map_err(|e| format!("error: {e}"))?,
    };
    register(&mut session, sources).await?;
    Ok(session)
}

/// Without `--memory-limit`: half the machine's memory. A query that asks for far more than
/// the machine has (a join whose rows double at each step) then fails with a clear error
/// instead of taking the whole machine down; the other half is for what the pool does not
/// count (batches in flight, the result being printed). No limit where the size is unknown.
fn default_memory_limit() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kib: usize = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(total_kib * 1024 / 2)
}

/// Registers data folders, `NAME=PATH` tables and function files.
pub async fn register(session: &mut Session, sources: &cli::Sources) -> Result<(), String> {
    if let Some(dir) = &sources.watchlists
        && !dir.is_dir()
    {
        return Err(format!("error: --watchlists: {} is not a folder", dir.display()));
    }
    session.options.watchlists = sources.watchlists.clone();
    session.options.network = sources.network();
    session.options.cache_dir = sources.cache_dir.clone();
    session.options.max_bad_rows = sources.max_bad_rows;
    session.options.text_cache = sources.text_cache.clone();
    // Functions first: their files' `.create table` declarations apply to the tables below.
    for file in &sources.functions {
        load_functions(session, file)?;
    }
    for dir in &sources.data {
        let (_, warnings) = session.register_data(dir).await.map_err(|e| format!("error: --data: {e}"))?;
        for w in warnings {
            eprintln!("warning: --data {dir}: {w}");
        }
    }
    for spec in &sources.tables {
        let Some((name, path)) = spec.split_once('=') else {
            return Err(format!("error: --table expects NAME=PATH, got '{spec}'"));
        };
        let warnings =
            progress_line::register_table(session, name.trim(), path.trim()).await.map_err(|e| format!("error: --table {name}: {e}"))?;
        for w in warnings {
            eprintln!("warning: --table {name}: {w}");
        }
    }
    Ok(())
}

/// Loads a functions file or folder; files of a folder that cannot be loaded are reported on
/// stderr as warnings, and the others are still loaded.
pub fn load_functions(session: &mut Session, path: &Path) -> Result<Vec<String>, String> {
    let color = use_color(&std::io::stderr());
    let report = session.load_functions(path).map_err(|e| e.render("", &path.display().to_string(), color))?;
    for e in &report.skipped {
        eprintln!("warning: skipped a functions file: {}", e.render("", &path.display().to_string(), color).trim_start_matches("error: "));
    }
    Ok(report.entries.iter().map(|e| e.name().to_string()).collect())
}

/// Runs every result statement and writes its rows in the chosen format.
async fn run_query(session: &Session, text: &str, args: &Args, line: &progress_line::ProgressLine) -> Result<(), KqlError> {
    let queries = session.plan_reading_data(text).await?;
    // An output file is written whole or not at all: a query that fails half-way leaves no
    // cut-off file (nor, on stdout, can it take back what was printed).
    let cannot_write = |e: std::io::Error| match &args.output {
        Some(path) => KqlError::new(format!("cannot write {}: {e}", path.display())),
        None => io_error(e),
    };
    let mut partial = None;
    let mut out: Box<dyn Write + Send> = match &args.output {
        Some(path) => {
            let (file_partial, file) = results::PartialFile::create(path).map_err(cannot_write)?;
            partial = Some(file_partial);
            Box::new(std::io::BufWriter::new(file))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    for (i, query) in queries.iter().enumerate() {
        for warning in &query.warnings {
            progress_line::eprint_line(&format!("warning: {warning}"));
        }
        if let Some(what) = args.explain {
            let text = session.explain(query, what == cli::Explain::Analyze).await?;
            writeln!(out, "{text}").map_err(cannot_write)?;
            continue;
        }
        // A table is a view of the result (Kusto's result limit applies); CSV and JSON lines
        // are exports that stream, whatever their size.
        let used = if args.format == cli::Format::Table { ResultUse::View } else { ResultUse::Export };
        let (stream, progress) = session.stream_with_progress(query, used).await?;
        line.watch("", progress);
        let schema = stream.schema();
        if i > 0 && args.format == cli::Format::Table {
            writeln!(out).map_err(cannot_write)?;
        }
        let mut writer = match args.format {
            cli::Format::Table => ResultWriter::table(&schema, None),
            cli::Format::Csv => ResultWriter::csv(&mut out, &schema).map_err(cannot_write)?,
            cli::Format::Jsonl => ResultWriter::jsonl(&mut out, &schema),
        };
        if query.render.is_some() {
            writer = writer.keeping_batches();
        }
        let drained = results::drain_into(stream, &mut writer, query, cannot_write).await;
        for warning in session.take_read_warnings() {
            progress_line::eprint_line(&format!("warning: {warning}"));
        }
        drained?;
        let written = writer.finish().map_err(cannot_write)?;
        let chart = query.render.as_ref().and_then(|r| chart::Chart::of(r, &schema, written.kept.as_deref().unwrap_or_default()));
        if args.format == cli::Format::Table {
            // Written and flushed with the progress line lifted, so no part of it stays
            // among the rows.
            line.suspend(|| {
                print::write_table(&mut out, &schema, &written.shown, None, false)?;
                if let Some(chart) = &chart {
                    write!(out, "\n{}", chart.to_text(terminal_columns()))?;
                }
                out.flush()
            })
            .map_err(cannot_write)?;
        }
        if let Some(chart) = &chart
            && let Some(path) = &args.chart
        {
            chart.write_file(path).map_err(KqlError::new)?;
        }
    }
    out.flush().map_err(cannot_write)?;
    drop(out);
    match partial {
        Some(partial) => partial.commit().map_err(cannot_write),
        None => Ok(()),
    }
}

/// `COLUMNS` when set; otherwise tables ask the terminal themselves.
pub fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}

/// The width for text charts: `COLUMNS`, or 100.
pub fn terminal_columns() -> usize {
    terminal_width().map_or(100, usize::from)
}

/// Colour on a terminal, unless `NO_COLOR` is set (no-color.org).
pub fn use_color(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn io_error(e: std::io::Error) -> KqlError {
    results::write_error(e)
}
