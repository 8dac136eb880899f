//! The interactive REPL: read a whole query, run it (Ctrl-C cancels it), print the result.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use futures::TryStreamExt;
use kql_engine::{KqlError, Session};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor};

use crate::cli::Args;
use crate::helper::KqlHelper;
use crate::print;

/// Rows shown in the REPL before the rest are summarised.
const SHOWN_ROWS: usize = 100;

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("KQL_HISTORY")
        .map(Into::into)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".kql_history")))
}

pub async fn run(session: &mut Session, _args: &Args) -> ExitCode {
    let config = Config::builder().auto_add_history(true).max_history_size(10_000).map(|b| b.build());
    let mut editor: Editor<KqlHelper, FileHistory> = match config.and_then(Editor::with_config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return ExitCode::FAILURE;
        }
    };
    editor.set_helper(Some(KqlHelper));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("kql {} — type a query, .help for commands, Ctrl-D to quit", env!("CARGO_PKG_VERSION"));
    loop {
        match editor.readline("kql> ") {
            Ok(line) => {
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                if text.starts_with('.') {
                    if !command(session, text) {
                        break;
                    }
                    continue;
                }
                run_interactive(session, text).await;
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

/// Runs a dot-command; `false` means quit.
fn command(session: &Session, text: &str) -> bool {
    let mut words = text.split_whitespace();
    match words.next().unwrap_or("") {
        ".quit" | ".exit" => return false,
        ".help" => println!(
            ".tables            list tables\n.schema TABLE      columns of a table\n.functions         functions loaded from --functions\n.quit              leave (or Ctrl-D)\n\nA query runs on Enter once it is complete (brackets closed, not ending in | , = or ;).\nCtrl-C cancels a running query."
        ),
        ".tables" => {
            for (name, table) in session.catalog().tables() {
                println!("{name}\t{}", table.location);
            }
        }
        ".schema" => match words.next().and_then(|t| session.catalog().get(t)) {
            Some(table) => {
                for f in table.provider.schema().fields() {
                    println!("{}: {}", f.name(), kql_engine::types::kql_type_name(f));
                }
            }
            None => eprintln!("usage: .schema TABLE (see .tables)"),
        },
        ".functions" => {
            for l in session.prelude() {
                println!("{}", l.name.name);
            }
        }
        other => eprintln!("unknown command {other}: try .help"),
    }
    true
}

async fn run_interactive(session: &Session, text: &str) {
    let started = Instant::now();
    let color = std::io::stderr().is_terminal();
    let work = async {
        let mut results = Vec::new();
        for query in session.plan(text)? {
            let stream = session.stream(&query).await?;
            let schema = stream.schema();
            let batches: Vec<_> = stream.try_collect().await.map_err(|e| KqlError::from(e).or_at(query.span))?;
            results.push((schema, batches));
        }
        Ok::<_, KqlError>(results)
    };
    tokio::select! {
        outcome = work => match outcome {
            Ok(results) => {
                let width = terminal_width();
                let mut out = std::io::stdout().lock();
                for (schema, batches) in results {
                    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                    let _ = print::write_table_sized(&mut out, &schema, &batches, width, Some(SHOWN_ROWS), true);
                    let shown = if rows > SHOWN_ROWS { format!(" (first {SHOWN_ROWS} shown)") } else { String::new() };
                    let _ = writeln!(out, "{rows} row{}{shown} in {:.3}s", if rows == 1 { "" } else { "s" }, started.elapsed().as_secs_f64());
                }
            }
            Err(e) => eprintln!("{}", e.render(text, "query", color)),
        },
        _ = tokio::signal::ctrl_c() => eprintln!("query cancelled"),
    }
}

/// `COLUMNS` when set; otherwise the table asks the terminal itself.
fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}
