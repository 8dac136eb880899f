//! Fuzzing (issue #10): a grammar-aware generator and mutator of KQL queries, seeded from the
//! `.slt` files and the samples' hunts, each case run in-process as the CLI runs it (parse,
//! plan, execute over the samples with `now` fixed, render) on a 64 MB-stack worker inside
//! `catch_unwind`. A panic, a case over the time budget, or an error that leaks the engine's
//! insides ("DataFusion", "Internal error", Arrow type names...) is a finding.
//!
//! - `bounded_run`: a seeded, deterministic run of a few thousand cases (parse-only inputs and
//!   executed queries); it fails on any finding not listed in `tests/fuzz/known_findings.txt`.
//! - `crashers`: every file of `tests/fuzz/crashers/` (each a query that once failed) must now
//!   run with no panic, hang or leak, unless `known_findings.txt` lists it with a reason.
//!
//! Environment: `KQL_FUZZ_SEED` (default 1), `KQL_FUZZ_CASES` (executed queries, default 400),
//! `KQL_FUZZ_PARSE_CASES` (parse-only inputs, default 3000), `KQL_FUZZ_TIMEOUT_MS` (per case;
//! default 2000 in a release build, 10000 in a debug one), `KQL_FUZZ_SHRINK` (runs the
//! shrinker may spend per finding, default 200; 0 keeps findings as found), `KQL_FUZZ_OUT`
//! (a folder to save each new finding in as a `.kql` file), `KQL_FUZZ_ONLY_CASE=N` (rerun one
//! case; with `KQL_FUZZ_PRINT=1` it prints the query), `KQL_FUZZ_VERBOSE=1` (print panics).
//! `bench/fuzz.sh` runs the long version in a release build.

#[path = "fuzz/generate.rs"]
mod generate;
#[path = "fuzz/mutate.rs"]
mod mutate;
#[path = "fuzz/runner.rs"]
mod runner;
#[path = "fuzz/seeds.rs"]
mod seeds;
#[path = "fuzz/shrink.rs"]
mod shrink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use generate::{Generator, Ty, ty_of_kql};
use runner::{Engine, Mode, Runner, Verdict};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(text.trim().parse().unwrap_or_else(|_| panic!("{name} must be a whole number, not {text:?}")))
}

fn budget() -> Duration {
    let default = if cfg!(debug_assertions) { 10_000 } else { 2_000 };
    Duration::from_millis(env_number("KQL_FUZZ_TIMEOUT_MS").unwrap_or(default))
}

/// A seed for the n-th case of a run, so any case can be rerun alone.
fn case_rng(seed: u64, salt: u64, n: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

// ---- known findings ----

/// `tests/fuzz/known_findings.txt`: one finding a line, `PATTERN => REASON`. A pattern ending in
/// `.kql` is a file of `crashers/` the corpus test skips; `query: TEXT` marks the random runs'
/// findings whose query contains TEXT as known; any other is the start of a signature
/// (`panic: ...`, `hang: ...`, `leak: ...`) the random runs count apart.
struct Known {
    entries: Vec<(String, String)>,
}

impl Known {
    fn load() -> Known {
        let path = root().join("tests/fuzz/known_findings.txt");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (pattern, reason) =
                    l.split_once(" => ").unwrap_or_else(|| panic!("{}: a line needs `PATTERN => REASON`: {l}", path.display()));
                (pattern.trim().to_string(), reason.trim().to_string())
            })
            .collect();
        Known { entries }
    }

    fn file(&self, name: &str) -> Option<&str> {
        self.entries.iter().find(|(p, _)| p == name).map(|(_, r)| r.as_str())
    }

    /// A finding known by its signature, or (`query: TEXT`) by a piece of its query: hangs all
    /// share one signature.
    fn finding(&self, signature: &str, query: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(p, _)| match p.strip_prefix("query: ") {
                Some(piece) => query.contains(piece),
                None => !p.ends_with(".kql") && signature.starts_with(p.as_str()),
            })
            .map(|(_, r)| r.as_str())
    }
}

// ---- case generation ----

struct Fuzzer {
    seeds: seeds::Seeds,
    tables: Vec<(String, Vec<(String, Ty)>)>,
}

impl Fuzzer {
    fn new(engine: &Engine) -> Fuzzer {
        let seeds = seeds::load(&root());
        let mut tables = Vec::new();
        let mut names: Vec<String> = engine.session.catalog().names().into_iter().collect();
        names.sort();
        for name in names {
            let cols: Vec<(String, Ty)> = engine.columns(&name).into_iter().filter_map(|(n, t)| ty_of_kql(&t).map(|t| (n, t))).collect();
            if !cols.is_empty() {
                tables.push((name, cols));
            }
        }
        Fuzzer { seeds, tables }
    }

    /// The n-th case of a run: a seed as it is, a mutated seed, or a fresh query.
    fn case(&self, seed: u64, salt: u64, n: u64) -> String {
        let mut rng = case_rng(seed, salt, n);
        let pick = |rng: &mut StdRng| self.seeds.queries.choose(rng).cloned().unwrap_or_default();
        match rng.random_range(0..20) {
            0 => pick(&mut rng),
            1..=4 => Generator { tables: &self.tables, functions: &self.seeds.functions }.query(&mut rng),
            5 => {
                let fresh = Generator { tables: &self.tables, functions: &self.seeds.functions }.query(&mut rng);
                let other = pick(&mut rng);
                mutate::mutate(&mut rng, &fresh, &other, &self.seeds.functions, &self.seeds.operators)
            }
            _ => {
                let base = pick(&mut rng);
                let other = pick(&mut rng);
                mutate::mutate(&mut rng, &base, &other, &self.seeds.functions, &self.seeds.operators)
            }
        }
    }
}

// ---- a run ----

#[derive(Default)]
struct Figures {
    inputs: u64,
    executed: u64,
    errors: u64,
    panics: u64,
    hangs: u64,
    leaks: u64,
    known: u64,
}

struct Finding {
    case: String,
    verdict: Verdict,
    query: String,
    known: Option<String>,
}

fn count(figures: &mut Figures, verdict: &Verdict) {
    match verdict {
        Verdict::Fine { error } => figures.errors += *error as u64,
        Verdict::Panic(_) => figures.panics += 1,
        Verdict::Hang(_) => figures.hangs += 1,
        Verdict::Leak(_) => figures.leaks += 1,
    }
}

/// Shrinks a finding's query while the same signature reproduces.
fn minimise(runner: &mut Runner, query: &str, verdict: &Verdict, mode: Mode) -> String {
    let attempts = env_number("KQL_FUZZ_SHRINK").unwrap_or(200) as usize;
    if attempts == 0 {
        return query.to_string();
    }
    // Each attempt at a hang costs the whole budget: a few only.
    let attempts = if matches!(verdict, Verdict::Hang(_)) { attempts.min(8) } else { attempts };
    let signature = verdict.signature();
    shrink::shrink(query, attempts, |candidate| {
        let v = runner.run(candidate, mode);
        if matches!(verdict, Verdict::Hang(_)) { v.kind() == "hang" } else { v.signature() == signature }
    })
}

fn fuzz_run(seed: u64, parse_cases: u64, cases: u64, only: Option<u64>) -> (Figures, Vec<Finding>, Duration) {
    let started = Instant::now();
    let engine = Engine::over_samples(&root());
    let fuzzer = Fuzzer::new(&engine);
    let known = Known::load();
    let mut runner = Runner::new(engine, budget());
    let mut figures = Figures::default();
    let mut findings: Vec<Finding> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let print = std::env::var_os("KQL_FUZZ_PRINT").is_some();
    let plan: Vec<(Mode, u64)> = match only {
        Some(n) => vec![(Mode::Execute, n)],
        None => (0..parse_cases).map(|n| (Mode::Parse, n)).chain((0..cases).map(|n| (Mode::Execute, n))).collect(),
    };
    for (mode, n) in plan {
        let salt = if mode == Mode::Parse { 11 } else { 7 };
        let query = fuzzer.case(seed, salt, n);
        if print {
            eprintln!("---- case {n} ({mode:?})\n{query}");
        }
        let verdict = runner.run(&query, mode);
        figures.inputs += 1;
        figures.executed += (mode == Mode::Execute) as u64;
        if print {
            eprintln!("=> {verdict:?}");
        }
        count(&mut figures, &verdict);
        if !verdict.is_finding() {
            continue;
        }
        let signature = verdict.signature();
        if let Some(reason) = known.finding(&signature, &query) {
            figures.known += 1;
            if let std::collections::btree_map::Entry::Vacant(e) = seen.entry(signature) {
                e.insert(findings.len());
                findings.push(Finding { case: format!("{mode:?} case {n}"), verdict, query, known: Some(reason.to_string()) });
            }
            continue;
        }
        if seen.contains_key(&signature) {
            continue;
        }
        let small = minimise(&mut runner, &query, &verdict, mode);
        seen.insert(signature, findings.len());
        findings.push(Finding { case: format!("{mode:?} case {n}"), verdict, query: small, known: None });
    }
    if let Some(out) = std::env::var_os("KQL_FUZZ_OUT") {
        let out = PathBuf::from(out);
        let _ = std::fs::create_dir_all(&out);
        for (i, f) in findings.iter().enumerate().filter(|(_, f)| f.known.is_none()) {
            let name = out.join(format!("seed{seed}-{i:03}-{}.kql", f.verdict.kind()));
            let _ = std::fs::write(&name, format!("// {}\n// {}\n{}\n", f.case, f.verdict.signature(), f.query));
        }
    }
    (figures, findings, started.elapsed())
}

fn report(seed: u64, figures: &Figures, findings: &[Finding], elapsed: Duration) -> String {
    let mut s = format!(
        "fuzz seed {seed}: {} inputs, {} executed, {} clean KQL errors, {} panics, {} hangs, {} leaks ({} of them known) in {:.1?}\n",
        figures.inputs, figures.executed, figures.errors, figures.panics, figures.hangs, figures.leaks, figures.known, elapsed
    );
    for f in findings {
        let tag = match &f.known {
            Some(reason) => format!("known ({reason})"),
            None => "NEW".to_string(),
        };
        s.push_str(&format!("\n[{tag}] {} — {}\n  {}\n", f.case, f.verdict.signature(), f.verdict.detail()));
        let q: String = f.query.chars().take(600).collect();
        s.push_str(&format!("  query: {}\n", q.replace('\n', "\n         ")));
    }
    s
}

#[test]
fn bounded_run() {
    let _alone = crate::one_long_check_at_a_time();
    let seed = env_number("KQL_FUZZ_SEED").unwrap_or(1);
    let cases = env_number("KQL_FUZZ_CASES").unwrap_or(400);
    let parse_cases = env_number("KQL_FUZZ_PARSE_CASES").unwrap_or(3000);
    let only = env_number("KQL_FUZZ_ONLY_CASE");
    let (figures, findings, elapsed) = fuzz_run(seed, parse_cases, cases, only);
    let text = report(seed, &figures, &findings, elapsed);
    let new = findings.iter().filter(|f| f.known.is_none()).count();
    if new == 0 {
        eprintln!("{text}");
    }
    assert_eq!(
        new, 0,
        "{new} new findings: fix them, or save each as tests/fuzz/crashers/NAME.kql and list what cannot be fixed yet in tests/fuzz/known_findings.txt\n{text}"
    );
}

#[test]
fn crashers() {
    let _alone = crate::one_long_check_at_a_time();
    let dir = root().join("tests/fuzz/crashers");
    let known = Known::load();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fuzz/crashers")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "kql"))
        .collect();
    files.sort();
    let engine = Engine::over_samples(&root());
    let mut runner = Runner::new(Arc::clone(&engine), budget());
    let mut failures = Vec::new();
    let mut skipped = 0;
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if known.file(&name).is_some() {
            skipped += 1;
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for mode in [Mode::Parse, Mode::Execute] {
            let verdict = runner.run(&text, mode);
            if verdict.is_finding() {
                failures.push(format!("{name} ({mode:?}): {}", verdict.signature()));
                break;
            }
        }
    }
    eprintln!("crashers: {} files, {} skipped as known, {} failing", files.len(), skipped, failures.len());
    assert!(failures.is_empty(), "crashers that still fail:\n{}", failures.join("\n"));
}

#[test]
fn the_seeds_are_found() {
    let s = seeds::load(&root());
    assert!(s.queries.len() > 300, "only {} seed queries", s.queries.len());
    assert!(s.queries.iter().any(|q| q.contains("_Im_NetworkSession")), "the hunts are seeds");
    let bodies = seeds::slt_bodies("query L\nprint 1\n| take 1\n----\nx\n\nstatement ok\nlet a = 1;\n\n");
    assert_eq!(bodies, ["print 1\n| take 1", "let a = 1;"]);
}

#[test]
fn leaks_are_recognised_outside_quotes() {
    assert_eq!(runner::leaked_word("Can't cast value inf to type Int64"), Some("Int64"));
    assert_eq!(runner::leaked_word("make_list() takes 1 to 2 arguments, got 0"), None);
    assert_eq!(runner::leaked_word("a List(Utf8) here"), Some("Utf8"));
    assert_eq!(runner::leaked_word("This feature is not implemented: x"), Some("not implemented"));
    assert_eq!(runner::leaked_word("unknown column or name 'Int64'"), None);
    assert_eq!(runner::leaked_word("unknown function 'strlen2'"), None);
}

#[test]
fn the_shrinker_keeps_the_failure() {
    let small = shrink::shrink("print a = 1, b = strlen('xx'), c = 3 | take 5", 500, |t| t.contains("strlen"));
    assert_eq!(small, "strlen");
}
