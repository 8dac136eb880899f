//! `kql check`: does each query parse, and plan against the registered tables? Nothing runs.

use std::io::Write;
use std::process::ExitCode;

use futures::FutureExt;
use kql_engine::planner::PlannedQuery;
use kql_engine::{ErrorKind, KqlError, Session, SessionOptions};

use crate::cli::{CheckArgs, CheckFormat};

/// The verdict on one query.
struct Verdict {
    file: String,
    stage: &'static str,
    error: Option<KqlError>,
    text: String,
    warnings: Vec<String>,
    /// Parsing and planning, with `--timings`.
    elapsed: Option<std::time::Duration>,
    /// The result columns of each query that planned (name and KQL type), as Microsoft's
    /// analyzer gives them for a schema: a script of several queries has several results.
    results: Vec<Vec<(String, &'static str)>>,
}

pub async fn run(args: &CheckArgs) -> ExitCode {
    let mut session = match Session::new(SessionOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = crate::register(&mut session, &args.sources).await {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let hunts = match crate::hunts::load(&args.paths) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // With tables or functions to resolve names against, queries are planned, not only parsed.
    let plan_too = !session.catalog().names().is_empty() || !session.prelude().is_empty();
    let mut out = std::io::stdout().lock();
    let color = crate::use_color(&std::io::stdout());
    if args.format == CheckFormat::Text && !session.prelude().is_empty() {
        // Where each function came from, one line per file, so a name resolving to an
        // unexpected file shows.
        let mut files: Vec<(String, Vec<&str>)> = Vec::new();
        for entry in session.prelude() {
            match files.iter_mut().find(|(f, _)| *f == entry.source.name) {
                Some((_, names)) => names.push(entry.name()),
                None => files.push((entry.source.name.clone(), vec![entry.name()])),
            }
        }
        let _ = writeln!(out, "functions ({} from {} files):", session.prelude().len(), files.len());
        for (file, names) in &files {
            let _ = writeln!(out, "  {file}: {}", names.join(", "));
        }
    }
    // Each verdict prints as soon as it is known, so a long run shows progress and nothing
    // already checked is lost; a query that makes kql panic is one failed verdict.
    let (mut checked, mut failed) = (0usize, 0usize);
    for hunt in hunts {
        let file = hunt.origin();
        let v = match hunt.query {
            Ok(text) => {
                let (f, t) = (file.clone(), text.clone());
                let started = std::time::Instant::now();
                let checked = std::panic::AssertUnwindSafe(async {
                    let (mut verdict, queries) = check_one(&session, f, t, plan_too, args.round_trip);
                    if args.timings && verdict.error.is_none() {
                        for query in &queries {
                            if let Err(e) = session.physical_plan_only(query).await {
                                verdict.error = Some(e);
                                break;
                            }
                        }
                    }
                    verdict
                })
                .catch_unwind()
                .await;
                let mut verdict = checked.unwrap_or_else(|_| Verdict {
                    file,
                    stage: "plan",
                    error: Some(KqlError::new("kql stopped while checking this query (a bug in kql, please report it)")),
                    text,
                    warnings: Vec::new(),
                    elapsed: None,
                    results: Vec::new(),
                });
                if args.timings {
                    verdict.elapsed = Some(started.elapsed());
                }
                verdict
            }
            Err(e) => Verdict {
                file,
                stage: "parse",
                error: Some(KqlError::new(e)),
                text: String::new(),
                warnings: Vec::new(),
                elapsed: None,
                results: Vec::new(),
            },
        };
        checked += 1;
        failed += usize::from(v.error.is_some());
        let line = match args.format {
            CheckFormat::Jsonl => serde_json::json!({
                "file": v.file,
                "ok": v.error.is_none(),
                "stage": v.stage,
                "error": v.error.as_ref().map(|e| match e.location(&v.text, &v.file) {
                    Some(at) => format!("{at}: {}", e.message),
                    None => e.message.clone(),
                }),
                "warnings": v.warnings,
                "elapsed_us": v.elapsed.map(|d| d.as_micros() as u64),
                "results": v.results.iter().map(|columns| columns.iter().map(|(name, kql_type)| serde_json::json!({"name": name, "type": kql_type})).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
            .to_string(),
            CheckFormat::Text => {
                let mut shown: Vec<String> = v.warnings.iter().map(|w| format!("warning: {}: {w}", v.file)).collect();
                if let Some(e) = &v.error {
                    shown.push(e.render(&v.text, &v.file, color));
                }
                if shown.is_empty() {
                    continue;
                }
                shown.join("\n")
            }
        };
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    if args.format == CheckFormat::Text {
        let _ = writeln!(
            out,
            "{checked} queries checked ({}): {} ok, {failed} failed",
            if plan_too { "parse and plan" } else { "parse only" },
            checked - failed
        );
    }
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The verdict on one query, and its planned queries when it planned.
fn check_one(session: &Session, file: String, text: String, plan_too: bool, round_trip: bool) -> (Verdict, Vec<PlannedQuery>) {
    let verdict = |file, stage, error, text| {
        (Verdict { file, stage, error, text, warnings: Vec::new(), elapsed: None, results: Vec::new() }, Vec::new())
    };
    let script = match kql_grammar::parse(&text) {
        Ok(s) => s,
        Err(e) => return verdict(file, "parse", Some(e.into()), text),
    };
    if round_trip {
        let printed = script.to_string();
        let same = kql_grammar::parse(&printed).map(|again| kql_grammar::ast::same_query(&again, &script));
        if !matches!(same, Ok(true)) {
            let error = KqlError::new(format!("printing the query back does not give the same query:\n{printed}"));
            return verdict(file, "round-trip", Some(error), text);
        }
    }
    if !plan_too {
        return verdict(file, "parse", None, text);
    }
    match session.check_script(&script) {
        Ok(queries) => {
            let warnings = queries.iter().flat_map(|q| q.warnings.clone()).collect();
            let results = queries.iter().map(result_columns).collect();
            (Verdict { file, stage: "plan", error: None, text, warnings, elapsed: None, results }, queries)
        }
        // A table that is not registered is not the query's fault: it was checked for syntax.
        Err(e) if e.kind == ErrorKind::UnknownTable => verdict(file, "parse", None, text),
        // Columns that depend on the data (bag_unpack, pivot) are not known without reading it.
        Err(e) if e.kind == ErrorKind::NeedsData => verdict(file, "plan", None, text),
        Err(e) => verdict(file, "plan", Some(e), text),
    }
}

/// A planned query's result columns: each name with its KQL type, as `getschema` gives them.
fn result_columns(query: &PlannedQuery) -> Vec<(String, &'static str)> {
    query.plan.schema().fields().iter().map(|field| (field.name().clone(), kql_engine::types::kql_type_name(field))).collect()
}
