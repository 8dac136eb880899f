//! The progress line of a long run, on stderr: what the running query has scanned so far, for
//! one-shot queries, the REPL and hunts. It is drawn only when stderr is a terminal, and only
//! after a second, so quick queries, and scripts that read stderr, see none of it. A line
//! printed to stderr while it shows goes through `eprint_line`, which lifts the progress line
//! for it instead of writing into its middle.

use std::convert::Infallible;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kql_engine::{Progress, Session};

/// How long a run goes before its line shows, and how often the line is redrawn.
const QUIET_FOR: Duration = Duration::from_secs(1);
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// The line on the screen now, if any: one per process, so that a warning printed by any task
/// can lift it first.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// One run's progress line: `draw` races the run's work (`tokio::select!`), and the line is
/// cleared when the run's results are about to be printed (`clear`) or the line is dropped.
pub struct ProgressLine {
    bar: ProgressBar,
    enabled: bool,
    /// The scans of the statements running now (see `watch`), the latest last.
    running: Mutex<Vec<(String, Progress)>>,
}

impl ProgressLine {
    /// A line on stderr when it is a terminal and `wanted` (a caller streaming rows to the
    /// same terminal passes false: the rows are the progress there); otherwise it never draws.
    pub fn on_stderr(wanted: bool) -> ProgressLine {
        ProgressLine { bar: ProgressBar::hidden(), enabled: wanted && std::io::stderr().is_terminal(), running: Mutex::new(Vec::new()) }
    }

    /// A statement whose scans the line reports from now on, with what to call it (empty for
    /// none: a one-shot query's or the REPL's line says only what was scanned). It replaces
    /// the watched statement of the same label.
    pub fn watch(&self, label: impl Into<String>, progress: Progress) {
        let label = label.into();
        let mut running = lock(&self.running);
        running.retain(|(l, _)| *l != label);
        running.push((label, progress));
    }

    /// The statement called `label` has finished: the line reports the one started before it
    /// that still runs (hunts run several at a time).
    pub fn finished(&self, label: &str) {
        lock(&self.running).retain(|(l, _)| l != label);
    }

    /// "`label`: N rows, B scanned" (`scanned_message`) of the watched statement; else the data step the session
    /// runs before planning (a pivot's columns, a `toscalar` ...); else `None`.
    pub fn scanned(&self, session: &Session) -> Option<String> {
        if let Some((label, progress)) = lock(&self.running).last() {
            let (rows, bytes) = progress.scanned();
            let label = if label.is_empty() { String::new() } else { format!("{label}: ") };
            return Some(format!("{label}{}", scanned_message(rows, bytes)));
        }
        session.step_progress().map(|(what, (rows, bytes))| format!("reading {what}: {}", scanned_message(rows, bytes)))
    }

    /// Never returns: after a second, draws `message()` every 200 ms until the line is cleared
    /// or this future is dropped (the `select!` it races ended).
    pub async fn draw(&self, message: impl Fn() -> Option<String>) -> Infallible {
        if self.enabled {
            tokio::time::sleep(QUIET_FOR).await;
            if !self.bar.is_finished() {
                self.bar.set_draw_target(ProgressDrawTarget::stderr());
                self.bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                *lock(&SHOWN) = Some(self.bar.clone());
                while !self.bar.is_finished() {
                    if let Some(text) = message() {
                        self.bar.set_message(text);
                    }
                    self.bar.tick();
                    tokio::time::sleep(REDRAW_EVERY).await;
                }
            }
        }
        std::future::pending().await
    }

    /// Runs `f` (which writes to the terminal) with the line lifted.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Takes the line off the screen for good: the results follow.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
        let mut shown = lock(&SHOWN);
        if shown.as_ref().is_some_and(|b| b.is_finished()) {
            *shown = None;
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Registers a table (`Session::register_table`), with a progress line on stderr if that takes
/// more than a second: "importing LOCATION: N events" while it imports event logs
/// (`--table Event=logs/*.evtx`, `.load`), which can take minutes; else "opening LOCATION".
pub async fn register_table(session: &mut Session, name: &str, location: &str) -> kql_engine::Result<Vec<String>> {
    let line = ProgressLine::on_stderr(true);
    let loading = session.load_progress();
    let registered = tokio::select! {
        registered = session.register_table(name, location) => registered,
        never = line.draw(|| Some(match loading.now() {
            Some((what, events)) => format!("importing {what}: {} events", HumanCount(events)),
            // A remote table's listing and footers, a Delta log ...
            None => format!("opening {location}"),
        })) => match never {},
    };
    line.clear();
    registered
}

/// `eprintln!`, with the progress line lifted while the text is written.
pub fn eprint_line(text: &str) {
    match lock(&SHOWN).as_ref() {
        Some(bar) => bar.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    }
}

/// "N rows, B scanned", in the units a person reads (1,234,567 rows, 1.15 GiB); "N rows read"
/// where no bytes are counted (rows made by `range`, tables in memory).
pub fn scanned_message(rows: usize, bytes: usize) -> String {
    match bytes {
        0 => format!("{} rows read", HumanCount(rows as u64)),
        _ => format!("{} rows, {} scanned", HumanCount(rows as u64), HumanBytes(bytes as u64)),
    }
}

/// The lock, even if a task panicked while holding it: what it guards is a display.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sizes_read_as_a_person_writes_them() {
        assert_eq!(scanned_message(1_234_567, 1_234_567_890), "1,234,567 rows, 1.15 GiB scanned");
        assert_eq!(scanned_message(0, 0), "0 rows read");
        assert_eq!(scanned_message(12, 1000), "12 rows, 1000 B scanned");
    }

    #[test]
    fn the_line_reports_the_latest_statement_that_still_runs() {
        let line = ProgressLine::on_stderr(true);
        let session = Session::new(Default::default()).expect("a session");
        let progress = |text: &str| {
            let query = session.plan(text).expect("plan").remove(0);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(session.stream_with_progress(&query, kql_engine::ResultUse::Export)).expect("a stream").1
        };
        assert_eq!(line.scanned(&session), None);
        line.watch("long", progress("range x from 1 to 10 step 1"));
        line.watch("quick", progress("print 1"));
        assert_eq!(line.scanned(&session).as_deref(), Some("quick: 0 rows read"));
        line.finished("quick");
        assert_eq!(line.scanned(&session).as_deref(), Some("long: 0 rows read"));
        line.finished("long");
        assert_eq!(line.scanned(&session), None);
    }

    #[test]
    fn a_line_cleared_before_it_showed_never_draws_and_printing_still_works() {
        let line = ProgressLine::on_stderr(true);
        line.clear();
        assert!(line.bar.is_finished());
        assert!(lock(&SHOWN).is_none());
        eprint_line("a warning while no line shows");
    }
}
