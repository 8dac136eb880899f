//! Runs `tests/slt/**/*.slt`: KQL bodies in sqllogictest files, one test per file.
//!
//! Conventions:
//! - The first result row is the column names, so names and their order are asserted.
//! - Column type letters are KQL types and are checked: `B` bool, `I` int, `L` long, `R` real,
//!   `S` string, `D` datetime, `T` timespan, `Y` dynamic, `M` decimal.
//! - A null prints as `NULL`; an empty string as `(empty)`.
//! - An error prints as the CLI shows it: message, `--> query:line:col`, the line and a caret.
//! - Every file sees the bundled samples (`samples/data`), the ASIM prelude
//!   (`samples/functions/asim.kql`), and `now()` fixed at 2024-05-03T00:00:00Z.

#[allow(dead_code)]
mod cluster_support;
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;
use async_trait::async_trait;
use futures::TryStreamExt;
use kql_engine::render::format_field_cell;
use kql_engine::types::kql_type_name;
use kql_engine::{QueryResult, Session, SessionOptions};
use libtest_mimic::{Arguments, Failed, Trial};
use sqllogictest::{ColumnType, DBOutput};

#[derive(Debug, Clone, PartialEq, Eq)]
enum KqlType {
    Bool,
    Int,
    Long,
    Real,
    String,
    DateTime,
    TimeSpan,
    Dynamic,
    Decimal,
    Other,
}

impl ColumnType for KqlType {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            'B' => KqlType::Bool,
            'I' => KqlType::Int,
            'L' => KqlType::Long,
            'R' => KqlType::Real,
            'S' => KqlType::String,
            'D' => KqlType::DateTime,
            'T' => KqlType::TimeSpan,
            'Y' => KqlType::Dynamic,
            'M' => KqlType::Decimal,
            _ => KqlType::Other,
        })
    }

    fn to_char(&self) -> char {
        match self {
            KqlType::Bool => 'B',
            KqlType::Int => 'I',
            KqlType::Long => 'L',
            KqlType::Real => 'R',
            KqlType::String => 'S',
            KqlType::DateTime => 'D',
            KqlType::TimeSpan => 'T',
            KqlType::Dynamic => 'Y',
            KqlType::Decimal => 'M',
            KqlType::Other => '?',
        }
    }
}

fn kql_type(name: &str) -> KqlType {
    match name {
        "bool" => KqlType::Bool,
        "int" => KqlType::Int,
        "long" => KqlType::Long,
        "real" => KqlType::Real,
        "string" => KqlType::String,
        "datetime" => KqlType::DateTime,
        "timespan" => KqlType::TimeSpan,
        "dynamic" => KqlType::Dynamic,
        "decimal" => KqlType::Decimal,
        _ => KqlType::Other,
    }
}

#[derive(Debug)]
struct QueryError(String);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

/// How a file's queries run; each must give the file's expected results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// In this process, as `kql` runs them.
    Direct,
    /// Through datafusion-proto and back (`codec::round_trip_stream`), as a cluster would.
    RoundTrip,
    /// On a Ballista cluster of `kql` processes: a scheduler and two executors on loopback
    /// (`cluster_support.rs`).
    Cluster,
}

struct KqlDb {
    session: Session,
    round_trip: bool,
    cluster: bool,
}

/// How long one query may take on the test cluster before the run calls it hung: far above
/// what any query here needs (a few seconds), far below CI's budget.
const CLUSTER_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl KqlDb {
    async fn new(mode: Mode) -> Result<KqlDb, QueryError> {
        let now = kql_grammar::values::parse_datetime("2024-05-03T00:00:00Z");
        let options = SessionOptions { now, ..Default::default() };
        let mut session = match mode {
            Mode::Cluster => {
                let url = cluster_support::scheduler_url().map_err(QueryError)?;
                let state = kql_cluster::client::cluster_state(&options, &url).map_err(|e| QueryError(e.to_string()))?;
                Session::with_state(options, state)
            }
            _ => Session::new(options).map_err(|e| QueryError(e.to_string()))?,
        };
        let round_trip = mode == Mode::RoundTrip;
        let cluster = mode == Mode::Cluster;
        session.register_data_dir(&root().join("samples/data")).await.map_err(|e| QueryError(e.to_string()))?;
        let prelude = std::fs::read_to_string(root().join("samples/functions/asim.kql")).map_err(|e| QueryError(e.to_string()))?;
        session.load_prelude(&prelude).map_err(|e| QueryError(e.to_string()))?;
        Ok(KqlDb { session, round_trip, cluster })
    }
}

impl KqlDb {
    /// `Session::execute`, with each plan sent through datafusion-proto and back.
    async fn execute_round_trip(&self, text: &str) -> kql_engine::Result<Vec<QueryResult>> {
        let mut results = Vec::new();
        for query in self.session.plan_reading_data(text).await? {
            // Where `Session` places a run's errors: the start of the query.
            let at = kql_grammar::ast::Span::new(query.span.start, query.span.start);
            let stream = kql_engine::codec::round_trip_stream(&self.session, &query.plan).await.map_err(|e| e.or_at(at))?;
            let stream = kql_engine::truncation::limit(stream, query.truncation);
            let schema = stream.schema();
            let batches = stream.try_collect().await.map_err(|e| kql_engine::KqlError::from(e).or_at(at))?;
            results.push(QueryResult { schema, batches });
        }
        Ok(results)
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for KqlDb {
    type Error = QueryError;
    type ColumnType = KqlType;

    async fn run(&mut self, text: &str) -> Result<DBOutput<KqlType>, QueryError> {
        let fail = |e: kql_engine::KqlError| QueryError(e.render(text, "query", false));
        let results = if self.round_trip {
            self.execute_round_trip(text).await.map_err(fail)?
        } else if self.cluster {
            // A hung job must fail this file, not stall the whole run: the nodes' logs say why.
            // After one, the other files fail at once rather than wait as long each.
            // The files run at once (one test each), so the cluster gets jobs from several
            // sessions at a time, as it does from several hunters.
            if cluster_support::hung() {
                return Err(QueryError("not run: a query before it hung on the test cluster".into()));
            }
            match tokio::time::timeout(CLUSTER_QUERY_TIMEOUT, self.session.execute(text)).await {
                Ok(results) => results.map_err(fail)?,
                Err(_) => {
                    cluster_support::mark_hung();
                    return Err(QueryError(format!(
                        "no result from the cluster within {} s; its nodes' logs end with:\n{}",
                        CLUSTER_QUERY_TIMEOUT.as_secs(),
                        cluster_support::log_tails()
                    )));
                }
            }
        } else {
            self.session.execute(text).await.map_err(fail)?
        };
        let Some(result) = results.last() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        let types = result.schema.fields().iter().map(|f| kql_type(kql_type_name(f))).collect();
        let mut rows = vec![result.schema.fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>()];
        for batch in &result.batches {
            for row in 0..batch.num_rows() {
                rows.push(
                    result
                        .schema
                        .fields()
                        .iter()
                        .zip(batch.columns())
                        .map(|(f, c)| {
                            let is_string = matches!(c.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
                            match format_field_cell(f, c.as_ref(), row) {
                                Some(s) if s.is_empty() => "(empty)".to_string(),
                                Some(s) => s,
                                None if is_string => "(empty)".to_string(),
                                None => "NULL".to_string(),
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "kql"
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            slt_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "slt") {
            out.push(p);
        }
    }
}

fn run_file(path: &Path, mode: Mode) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Failed::from(e.to_string()))?;
    runtime.block_on(async {
        let mut runner = sqllogictest::Runner::new(move || async move { KqlDb::new(mode).await });
        runner.with_column_validator(sqllogictest::strict_column_validator);
        // `skipif cluster` marks a record that cannot give its result on a cluster yet; the
        // comment above each says why.
        if mode == Mode::Cluster {
            runner.add_label("cluster");
        }
        // KQL_SLT_COMPLETE=1 rewrites the expected results from what kql returns: for writing
        // new cases, whose every result must then be checked by hand before committing.
        if std::env::var_os("KQL_SLT_COMPLETE").is_some() && mode == Mode::Direct {
            return runner
                .update_test_file(
                    path,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::strict_column_validator,
                )
                .await
                .map_err(|e| Failed::from(e.to_string()));
        }
        runner.run_file_async(path).await.map_err(|e| Failed::from(e.display(true).to_string()))
    })
}

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut files = Vec::new();
    slt_files(&dir, &mut files);
    // Each file runs three times: directly, with every plan through datafusion-proto and back,
    // and on a cluster.
    let trials = files
        .into_iter()
        .flat_map(|path| [(path.clone(), Mode::Direct), (path.clone(), Mode::RoundTrip), (path, Mode::Cluster)])
        .map(|(path, mode)| {
            let name = path.strip_prefix(&dir).unwrap_or(&path).display().to_string();
            let name = match mode {
                Mode::Direct => name,
                Mode::RoundTrip => format!("round_trip/{name}"),
                Mode::Cluster => format!("cluster/{name}"),
            };
            // Planning recurses per nesting level of a query, as the `kql` binary does on its
            // own deep stack; each file runs on a thread with as much room.
            Trial::test(name, move || {
                std::thread::Builder::new()
                    .stack_size(64 << 20)
                    .spawn(move || run_file(&path, mode))
                    .map_err(|e| Failed::from(e.to_string()))?
                    .join()
                    .unwrap_or_else(|_| Err(Failed::from("the test thread panicked")))
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // The cluster's processes end with the run (`exit` would skip their guard).
    cluster_support::stop();
    conclusion.exit();
}
