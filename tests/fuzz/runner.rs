//! Runs one case through the engine as the CLI does (parse, plan, execute over the samples,
//! render every error and the first rows), on a worker thread with a 64 MB stack, inside
//! `catch_unwind`, with a time budget: a panic, a case over budget, or an error message that
//! speaks of the engine's insides is a finding.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kql_engine::render::format_field_cell;
use kql_engine::{KqlError, Session, SessionOptions};

pub const WORKER_STACK: usize = 64 << 20;
/// Rows read from a result before the rest is dropped: the point is to run the plan, not to
/// hold huge results.
const ROW_CAP: usize = 20_000;
/// Rows of each result rendered as text, as the CLI prints them.
const RENDER_ROWS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Parse only (and render the syntax error).
    Parse,
    /// Parse, plan, execute and render.
    Execute,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Ran (or failed with a clean KQL error).
    Fine {
        error: bool,
    },
    Panic(String),
    Hang(String),
    Leak(String),
}

impl Verdict {
    pub fn is_finding(&self) -> bool {
        !matches!(self, Verdict::Fine { .. })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Fine { .. } => "fine",
            Verdict::Panic(_) => "panic",
            Verdict::Hang(_) => "hang",
            Verdict::Leak(_) => "leak",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Verdict::Fine { .. } => "",
            Verdict::Panic(d) | Verdict::Hang(d) | Verdict::Leak(d) => d,
        }
    }

    /// What identifies a finding across inputs: its kind and its message with numbers and
    /// quoted parts blanked (so one bug found through many queries is one signature).
    pub fn signature(&self) -> String {
        let mut s = String::new();
        let mut quote = None;
        for c in self.detail().chars() {
            match quote {
                Some(q) if c == q => {
                    quote = None;
                    s.push(c);
                }
                Some(_) => {}
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    s.push(c);
                }
                None if c.is_ascii_digit() => {
                    if !s.ends_with('#') {
                        s.push('#');
                    }
                }
                None => s.push(c),
            }
        }
        format!("{}: {}", self.kind(), s.lines().next().unwrap_or(""))
    }
}

/// Phrases that must never reach a user (any case): DataFusion's and Arrow's own errors and
/// Rust's panics.
const LEAK_PHRASES: &[&str] = &[
    "datafusion",
    "arrow error",
    "arrowerror",
    "internal error",
    "not implemented",
    "notimplemented",
    "backtrace",
    "panicked",
    "unwrap()",
    "external error",
    "execution error",
    "error during planning",
    "schema error",
    "optimizer rule",
    "physical plan",
    "scalarvalue",
    "recordbatch",
];

/// Arrow's type names, as whole words and in Arrow's spelling (KQL's are lower case: `long`,
/// `string`, `datetime`).
const ARROW_TYPES: &[&str] = &[
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float16",
    "Float32",
    "Float64",
    "Utf8",
    "LargeUtf8",
    "Utf8View",
    "Timestamp(",
    "Duration(",
    "Decimal128",
    "Struct(",
    "List(",
    "LargeList(",
    "Dictionary(",
    "TimestampMicrosecond(",
    "DurationNanosecond(",
];

/// The engine word an error message leaks, if any.
pub fn leaked_word(message: &str) -> Option<&'static str> {
    let outside = outside_quotes(message);
    let lower = outside.to_lowercase();
    if let Some(p) = LEAK_PHRASES.iter().copied().find(|w| lower.contains(w)) {
        return Some(p);
    }
    ARROW_TYPES
        .iter()
        .copied()
        .find(|w| outside.match_indices(w).any(|(i, _)| !outside[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_')))
}

/// The message without its quoted parts (`'...'`, `"..."`, `` `...` ``); an apostrophe inside a
/// word (`can't`) quotes nothing.
fn outside_quotes(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::new();
    let mut quote = None;
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        match quote {
            Some(q) if c == q && !chars.get(i + 1).is_some_and(|n| n.is_alphanumeric()) => quote = None,
            Some(_) => {}
            None if (c == '\'' || c == '"' || c == '`') && !before.is_some_and(|b| b.is_alphanumeric()) => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

fn check_error(e: &KqlError, text: &str) -> Result<(), String> {
    // Rendering (line, column, caret) runs on user text and spans: it must not panic either.
    let rendered = e.render(text, "query", false);
    match leaked_word(&e.message) {
        Some(word) => Err(format!("{} [leaks: {word}]", rendered.lines().next().unwrap_or(""))),
        None => Ok(()),
    }
}

/// The shared engine: one session over the samples, and a runtime for execution.
pub struct Engine {
    pub session: Session,
    pub runtime: tokio::runtime::Runtime,
}

impl Engine {
    pub fn over_samples(root: &Path) -> Arc<Engine> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kql-fuzz-rt")
            .thread_stack_size(32 << 20)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let now = kql_grammar::values::parse_datetime("2024-05-03T00:00:00Z");
        let options = SessionOptions { now, memory_limit: Some(512 << 20), target_partitions: Some(2), ..Default::default() };
        let mut session = Session::new(options).expect("session");
        runtime.block_on(session.register_data_dir(&root.join("samples/data"))).expect("register samples/data");
        let prelude = std::fs::read_to_string(root.join("samples/functions/asim.kql")).expect("asim.kql");
        session.load_prelude(&prelude).expect("load asim.kql");
        Arc::new(Engine { session, runtime })
    }

    /// The columns of a table, as `T | take 0` plans them.
    pub fn columns(&self, table: &str) -> Vec<(String, String)> {
        let Ok(plans) = self.session.plan(&format!("{table} | take 0")) else { return Vec::new() };
        let Some(plan) = plans.first() else { return Vec::new() };
        plan.plan.schema().fields().iter().map(|f| (f.name().clone(), kql_engine::types::kql_type_name(f).to_string())).collect()
    }

    /// Runs one case on the calling thread; a panic unwinds out of it.
    fn run(&self, text: &str, mode: Mode, deadline: Instant) -> Verdict {
        let script = match kql_grammar::parse(text) {
            Ok(s) => s,
            Err(e) => {
                let e = KqlError::from(e);
                return match check_error(&e, text) {
                    Ok(()) => Verdict::Fine { error: true },
                    Err(m) => Verdict::Leak(m),
                };
            }
        };
        if mode == Mode::Parse {
            // Printing the AST back is part of the parser's contract (`kql check --round-trip`).
            let _ = script.to_string();
            return Verdict::Fine { error: false };
        }
        // Planning reads the data its data-dependent operators need (pivot, scan, ...), as the
        // front ends plan.
        let plans = match self.runtime.block_on(self.session.plan_reading_data(text)) {
            Ok(p) => p,
            Err(e) => {
                return match check_error(&e, text) {
                    Ok(()) => Verdict::Fine { error: true },
                    Err(m) => Verdict::Leak(m),
                };
            }
        };
        for query in &plans {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let run = async {
                let mut stream = self.session.stream(query).await?;
                let schema = stream.schema();
                let mut rows = 0;
                while let Some(batch) = stream.next().await {
                    let batch = batch.map_err(KqlError::from)?;
                    for row in 0..batch.num_rows().min(RENDER_ROWS.saturating_sub(rows)) {
                        for (field, column) in schema.fields().iter().zip(batch.columns()) {
                            let _ = format_field_cell(field, column.as_ref(), row);
                        }
                    }
                    rows += batch.num_rows();
                    if rows >= ROW_CAP {
                        break;
                    }
                }
                Ok::<(), KqlError>(())
            };
            let outcome = self.runtime.block_on(async { tokio::time::timeout(remaining, run).await });
            match outcome {
                Err(_) => return Verdict::Hang("execution ran past the time budget".into()),
                Ok(Err(e)) => {
                    return match check_error(&e, text) {
                        Ok(()) => Verdict::Fine { error: true },
                        Err(m) => Verdict::Leak(m),
                    };
                }
                Ok(Ok(())) => {}
            }
        }
        Verdict::Fine { error: false }
    }
}

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Panics inside cases are findings, not noise: the hook records where the last one happened
/// and prints nothing (`KQL_FUZZ_VERBOSE=1` prints them as usual).
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        let verbose = std::env::var_os("KQL_FUZZ_VERBOSE").is_some();
        std::panic::set_hook(Box::new(move |info| {
            let fuzzing = std::thread::current().name().is_some_and(|n| n.starts_with("kql-fuzz"));
            if fuzzing {
                let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
                if let Ok(mut last) = LAST_PANIC.lock() {
                    *last = Some(location);
                }
            }
            if verbose || !fuzzing {
                default(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_string()
    };
    let location = LAST_PANIC.lock().ok().and_then(|mut l| l.take()).unwrap_or_default();
    format!("{} at {location}", message.lines().next().unwrap_or(""))
}

struct Job {
    text: String,
    mode: Mode,
    budget: Duration,
}

/// A worker thread that runs cases one at a time. A case over budget is given up on: the
/// worker is left to finish on its own and a new one takes its place.
pub struct Runner {
    engine: Arc<Engine>,
    jobs: Sender<Job>,
    verdicts: Receiver<Verdict>,
    pub budget: Duration,
    pub abandoned: usize,
}

impl Runner {
    pub fn new(engine: Arc<Engine>, budget: Duration) -> Runner {
        install_panic_hook();
        let (jobs, verdicts) = spawn_worker(engine.clone());
        Runner { engine, jobs, verdicts, budget, abandoned: 0 }
    }

    pub fn run(&mut self, text: &str, mode: Mode) -> Verdict {
        let job = Job { text: text.to_string(), mode, budget: self.budget };
        if self.jobs.send(job).is_err() {
            self.restart();
            return Verdict::Panic("the worker thread died".into());
        }
        // The worker stops execution itself at the budget; parsing and planning cannot be
        // interrupted, so past twice the budget the case is given up on.
        match self.verdicts.recv_timeout(self.budget * 2 + Duration::from_millis(500)) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => {
                self.abandoned += 1;
                self.restart();
                Verdict::Hang(format!("no answer after {:?} (parsing or planning)", self.budget * 2))
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.restart();
                Verdict::Panic("the worker thread died (a stack overflow aborts the process instead)".into())
            }
        }
    }

    fn restart(&mut self) {
        let (jobs, verdicts) = spawn_worker(self.engine.clone());
        self.jobs = jobs;
        self.verdicts = verdicts;
    }
}

fn spawn_worker(engine: Arc<Engine>) -> (Sender<Job>, Receiver<Verdict>) {
    let (job_tx, job_rx) = channel::<Job>();
    let (verdict_tx, verdict_rx) = channel::<Verdict>();
    std::thread::Builder::new()
        .name("kql-fuzz-worker".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            for job in job_rx {
                let start = Instant::now();
                let deadline = start + job.budget;
                let verdict = match std::panic::catch_unwind(AssertUnwindSafe(|| engine.run(&job.text, job.mode, deadline))) {
                    Ok(v) => v,
                    Err(payload) => Verdict::Panic(panic_message(payload.as_ref())),
                };
                let verdict = match verdict {
                    Verdict::Fine { .. } if start.elapsed() > job.budget => Verdict::Hang(format!("took {:.1?}", start.elapsed())),
                    v => v,
                };
                if verdict_tx.send(verdict).is_err() {
                    break;
                }
            }
        })
        .expect("spawn the fuzz worker");
    (job_tx, verdict_rx)
}
