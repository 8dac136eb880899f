//! `kql import evtx`: raw Windows event logs into Sentinel's tables, with progress on a terminal
//! and a summary of what was written and what could not be read.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::EvtxArgs;

pub fn evtx(args: &EvtxArgs) -> ExitCode {
    let files = match kql_engine::evtx_import::evtx_files(&args.paths) {
        Ok(files) if files.is_empty() => {
            eprintln!("error: no .evtx files in {}", args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
            return ExitCode::from(1);
        }
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    bar.set_draw_target(if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    let started = Instant::now();
    let result = kql_engine::evtx_import::import(&files, &args.out, |file, records| {
        bar.set_message(format!("{} events ({})", HumanCount(records), file.display()));
        bar.tick();
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    for problem in &report.problems {
        eprintln!("warning: {problem}");
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    let seconds = started.elapsed().as_secs_f64();
    let tables: Vec<String> = report.rows.iter().map(|(table, rows)| format!("{table} {rows}")).collect();
    println!(
        "{} events from {} files in {seconds:.2}s ({:.0} events/s): {} rows; {} Parquet files in {}",
        report.records,
        report.files,
        report.records as f64 / seconds.max(1e-9),
        tables.join(", "),
        report.written.len(),
        args.out.display()
    );
    if !report.problems.is_empty() {
        println!("{} parts could not be read (see the warnings); the rest of each file was imported", report.problems.len());
    }
    ExitCode::SUCCESS
}
