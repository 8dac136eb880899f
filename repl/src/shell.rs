//! The interactive REPL: read a whole query, run it (Ctrl-C cancels it), print the result.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use futures::StreamExt;
use kql_engine::{KqlError, ResultUse, Session};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor};

use crate::chart::Chart;
use crate::cli::{Args, Format};
use crate::completion::Vocabulary;
use crate::helper::KqlHelper;
use crate::print;
use crate::progress_line::ProgressLine;
use crate::results::{self, ResultWriter, Written};

/// Rows shown in the REPL before the rest are summarised.
const SHOWN_ROWS: usize = 100;

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("KQL_HISTORY")
        .map(Into::into)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".kql_history")))
}

pub async fn run(session: &mut Session, args: &Args) -> ExitCode {
    let mut settings = Settings { format: args.format, timing: true, block: args.block, output: args.output.clone() };
    let config = Config::builder().auto_add_history(true).max_history_size(10_000).map(|b| b.build());
    let mut editor: Editor<KqlHelper, FileHistory> = match config.and_then(Editor::with_config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let highlighter = crate::use_color(&std::io::stdout()).then(crate::highlight::Highlighter::new);
    editor.set_helper(Some(KqlHelper { vocabulary: Vocabulary::default(), highlighter, block: settings.block }));
    // Alt-Enter adds a line in either mode.
    editor.bind_sequence(rustyline::KeyEvent(rustyline::KeyCode::Enter, rustyline::Modifiers::ALT), rustyline::Cmd::Newline);
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("kql {} — type a query, .help for commands, Ctrl-D to quit", env!("CARGO_PKG_VERSION"));
    loop {
        // Tables may have been loaded since the last prompt.
        if let Some(helper) = editor.helper_mut() {
            helper.vocabulary = Vocabulary::of(session);
            helper.block = settings.block;
        }
        match editor.readline("kql> ") {
            Ok(line) => {
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                if text.starts_with('.') {
                    if !command(session, &mut settings, text).await {
                        break;
                    }
                    continue;
                }
                run_interactive(session, &settings, text).await;
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    ExitCode::SUCCESS
}

/// What the dot-commands change for the queries that follow.
pub struct Settings {
    format: Format,
    timing: bool,
    /// Block mode (see `helper`): Enter adds a line; a blank line or a closing `;` runs.
    block: bool,
    /// Results go to this file (appended) instead of the terminal.
    output: Option<PathBuf>,
}

const HELP: &str = "\
.tables                 list tables
.schema TABLE           columns of a table (or: TABLE | getschema)
.load NAME=PATH|URL     register a Parquet, JSON lines or CSV file, folder or glob, or a
                        bucket or container URL (s3://, az://, gs://, https://), as table NAME
.functions              functions loaded from --functions, with the file each came from
.watchlists             watchlists in the --watchlists folder (_GetWatchlist('name'))
.set now=TIMESTAMP      fix now() and ago() (ISO 8601, UTC); .set now= reads the clock again
.set network=on|off|offline  whether externaldata may fetch http(s) URLs (offline: cache only)
.set block=on|off       block mode: Enter adds a line; a blank line or a closing ; runs the query
.format table|csv|jsonl how results print
.timing on|off          print the row count and elapsed time after each query
.output FILE            append results to FILE (a .svg, .png or .html file gets the chart of a render);
                        .output alone prints them here again
.help NAME              a function's parameters, result and what it does
.quit                   leave (or Ctrl-D)

A query runs on Enter once it is complete: brackets and quotes closed, and the text not ending
in | , = ( and or by ;. In block mode (--block, .set block=on) Enter adds a line and a blank
line or a closing ; runs the query. Alt-Enter always adds a line. Pasted rules arrive whole.
Ctrl-C cancels a running query.";

/// `.help NAME`: the catalog's lines for a function (a name may be a scalar and an aggregate).
fn function_help(name: &str) -> String {
    use kql_engine::functions::catalog;
    let defs: Vec<String> = catalog::catalog()
        .iter()
        .filter(|d| d.name.eq_ignore_ascii_case(name))
        .map(|d| format!("{} ({})\n    {}", d.signature, d.kind.role(), d.doc))
        .collect();
    if defs.is_empty() {
        return format!("no function {name} (Tab after a few letters lists the functions kql has)");
    }
    defs.join("\n")
}

/// Runs a dot-command; `false` means quit.
async fn command(session: &mut Session, settings: &mut Settings, text: &str) -> bool {
    let (name, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    match name {
        ".quit" | ".exit" => return false,
        ".help" if rest.is_empty() => println!("{HELP}"),
        ".help" => println!("{}", function_help(rest)),
        ".tables" => {
            for (name, table) in session.catalog().tables() {
                println!("{name}\t{}", table.location);
            }
        }
        ".schema" => match session.catalog().get(rest) {
            Some(table) => {
                for f in table.provider.schema().fields() {
                    println!("{}: {}", f.name(), kql_engine::types::kql_type_name(f));
                }
            }
            None => eprintln!("usage: .schema TABLE (see .tables)"),
        },
        ".load" => match rest.split_once('=') {
            Some((table, path)) => match crate::progress_line::register_table(session, table.trim(), path.trim()).await {
                Ok(warnings) => {
                    for w in warnings {
                        eprintln!("warning: {w}");
                    }
                    println!("table {} loaded", table.trim())
                }
                Err(e) => eprintln!("error: {e}"),
            },
            None => eprintln!("usage: .load NAME=PATH|URL"),
        },
        ".functions" => {
            for entry in session.prelude() {
                println!("{}\t{}", entry.signature(), entry.location());
            }
        }
        ".watchlists" => match &session.options.watchlists {
            Some(dir) => match kql_engine::watchlist::list(dir) {
                Ok(found) => {
                    for (name, path) in found {
                        println!("{name}\t{}", path.display());
                    }
                }
                Err(e) => eprintln!("error: cannot read {}: {e}", dir.display()),
            },
            None => eprintln!("no watchlist folder: start kql with --watchlists DIR"),
        },
        ".set" => match rest.split_once('=') {
            Some(("network", value)) => {
                use kql_engine::network::NetworkPolicy;
                match value.trim() {
                    "on" => session.options.network = NetworkPolicy::Allowed,
                    "off" => session.options.network = NetworkPolicy::Denied,
                    "offline" => session.options.network = NetworkPolicy::Offline,
                    _ => eprintln!("usage: .set network=on|off|offline"),
                }
            }
            Some(("block", value)) => match value.trim() {
                "on" => settings.block = true,
                "off" => settings.block = false,
                _ => eprintln!("usage: .set block=on|off"),
            },
            Some(("now", "")) => session.options.now = None,
            Some(("now", value)) => match kql_grammar::values::parse_datetime(value.trim()) {
                Some(t) => session.options.now = Some(t),
                None => eprintln!("error: '{}' is not an ISO 8601 datetime", value.trim()),
            },
            _ => eprintln!("usage: .set now=TIMESTAMP, .set network=on|off|offline or .set block=on|off"),
        },
        ".format" => match rest {
            "table" => settings.format = Format::Table,
            "csv" => settings.format = Format::Csv,
            "jsonl" => settings.format = Format::Jsonl,
            _ => eprintln!("usage: .format table|csv|jsonl"),
        },
        ".timing" => match rest {
            "on" => settings.timing = true,
            "off" => settings.timing = false,
            _ => eprintln!("usage: .timing on|off"),
        },
        ".output" => settings.output = (!rest.is_empty()).then(|| PathBuf::from(rest)),
        other => eprintln!("unknown command {other}: try .help"),
    }
    true
}

async fn run_interactive(session: &Session, settings: &Settings, text: &str) {
    let started = Instant::now();
    let color = crate::use_color(&std::io::stderr());
    let svg = settings.output.as_ref().filter(|p| crate::chart::is_chart_file(p));
    let mut out: Box<dyn Write + Send> = match &settings.output {
        Some(path) if svg.is_none() => match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                return;
            }
        },
        _ => Box::new(std::io::stdout()),
    };
    let to_terminal = settings.output.is_none() || svg.is_some();
    // Ctrl-C drops the work below (`select!`); a task of its own also tells the session, whose
    // data steps (pivot's columns, scan's rows ...) race its cancellation.
    let cancellation = session.cancellation();
    cancellation.reset();
    let watcher = {
        let cancellation = cancellation.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancellation.cancel();
            }
        })
    };
    // Rows written to the terminal lift the line (`suspend`), so it shows in every format.
    let line = ProgressLine::on_stderr(true);
    let work = async {
        let mut results = Vec::new();
        for query in session.plan_reading_data(text).await? {
            for warning in &query.warnings {
                line.suspend(|| eprintln!("warning: {warning}"));
            }
            // A table is a view (Kusto's result limit applies; the terminal gets its first rows);
            // CSV and JSON lines are exports, written as the rows come.
            let used = if settings.format == Format::Table { ResultUse::View } else { ResultUse::Export };
            let (mut stream, progress) = session.stream_with_progress(&query, used).await?;
            line.watch("", progress);
            let schema = stream.schema();
            let mut writer = match settings.format {
                Format::Table => ResultWriter::table(&schema, to_terminal.then_some(SHOWN_ROWS)),
                Format::Csv => ResultWriter::csv(&mut out, &schema).map_err(results::write_error)?,
                Format::Jsonl => ResultWriter::jsonl(&mut out, &schema),
            };
            if query.render.is_some() {
                writer = writer.keeping_batches();
            }
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| query.locate(KqlError::from(e)));
                for warning in session.take_read_warnings() {
                    line.suspend(|| eprintln!("warning: {warning}"));
                }
                let batch = batch?;
                line.suspend(|| writer.write(&batch)).map_err(results::write_error)?;
            }
            let written = writer.finish().map_err(results::write_error)?;
            let chart = query.render.as_ref().and_then(|r| Chart::of(r, &schema, written.kept.as_deref().unwrap_or_default()));
            results.push(Shown { written: Written { kept: None, ..written }, chart });
        }
        Ok::<_, KqlError>(results)
    };
    let show_progress = line.draw(|| line.scanned(session).map(|s| format!("{s} (Ctrl-C cancels)")));
    // Listen for Ctrl-C before the work starts: its first poll may plan and run for a while,
    // and until a listener exists SIGINT would end the whole session.
    let cancel = tokio::signal::ctrl_c();
    tokio::pin!(cancel);
    let _ = futures::poll!(&mut cancel);
    let outcome = tokio::select! {
        biased;
        _ = &mut cancel => None,
        outcome = work => Some(outcome),
        never = show_progress => match never {},
    };
    line.clear();
    watcher.abort();
    match outcome {
        None => eprintln!("query cancelled"),
        Some(Err(_)) if cancellation.is_cancelled() => eprintln!("query cancelled"),
        Some(Ok(results)) => {
            if let Err(e) = show(settings, &mut out, &results, started) {
                eprintln!("error: cannot write the results: {e}");
            }
        }
        Some(Err(e)) => eprintln!("{}", e.render(text, "query", color)),
    }
    let _ = out.flush();
}

/// One result set as written, and its chart when the query ended in a `render` that can be drawn.
struct Shown {
    written: Written,
    chart: Option<Chart>,
}

/// Prints the tables of the result sets (CSV and JSON lines were written as they ran), to the
/// terminal or the `.output` file (an SVG file gets the chart), and the row count and time on
/// stderr.
fn show(settings: &Settings, out: &mut dyn Write, results: &[Shown], started: Instant) -> std::io::Result<()> {
    let svg = settings.output.as_ref().filter(|p| crate::chart::is_chart_file(p));
    let to_terminal = settings.output.is_none() || svg.is_some();
    for Shown { written, chart } in results {
        if settings.format == Format::Table {
            print::write_table(out, &written.schema, &written.shown, crate::terminal_width(), to_terminal)?;
        }
        let shown: usize = if settings.format == Format::Table { written.shown.iter().map(|b| b.num_rows()).sum() } else { written.rows };
        match (chart, svg) {
            (Some(chart), Some(path)) => match chart.write_file(path) {
                Ok(()) => eprintln!("chart written to {}", path.display()),
                Err(e) => eprintln!("error: {e}"),
            },
            (Some(chart), None) if settings.format == Format::Table && to_terminal => {
                write!(out, "\n{}", chart.to_text(crate::terminal_columns()))?;
            }
            (None, Some(path)) => eprintln!("nothing drawn to {}: the query does not end in a render of a chart", path.display()),
            _ => {}
        }
        if settings.timing {
            let rows = written.rows;
            let more = if shown < rows { format!(" (first {shown} shown)") } else { String::new() };
            eprintln!("{rows} row{}{more} in {:.3}s", if rows == 1 { "" } else { "s" }, started.elapsed().as_secs_f64());
        }
    }
    out.flush()
}
