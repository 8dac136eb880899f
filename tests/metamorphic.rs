//! Metamorphic tests (SQLancer's TLP and NoREC, and a few relations of our own): random
//! tables, random well-typed predicates and expressions, and relations between queries that
//! must hold whatever the right answer is, so nobody has to guess the answer.
//!
//! - TLP: `T | where p`, `T | where not(p)` and `T | where isnull(p)` partition `T`.
//! - NoREC: `T | where p | count` == `T | summarize countif(p)` ==
//!   `T | extend b = p | where b == true | count`.
//! - Plans: the same query gives the same rows over a `datatable` and over Parquet files, with
//!   1 and 4 partitions, with DataFusion's logical optimizer rules on and off, and in batches
//!   of 3 rows.
//! - Extend chains: `extend a = e1 | extend b = e2(a)` == `project a = e1, b = e2(e1)`, also when
//!   a chain reassigns one column (`extend x = f(x) | extend x = g(x)`).
//! - Summarize: `summarize count() by k` counts the values of `project k` grouped here.
//! - String groups: grouping (and joining) by a string gives the same groups over Parquet files
//!   that hold `""` as null as over the `datatable` (Kusto has no null string).
//! - Sort and take: `sort by k | take n` returns n rows of `T`.
//! - Sorted summarize: a `sort | serialize` before two `summarize` steps changes no group.
//! - Serialize per partition: a `serialize` whose filter keeps rows of one key gives the same
//!   groups on one partition and on four.
//! - Collect: `make_list`/`make_set` (bounded or not) hold as many values as the group's
//!   non-null and distinct values.
//! - Projections: `project` of several (mostly dynamic) expressions gives the same rows with the
//!   logical optimizer on and off.
//!
//! Results are compared as multisets of rows, every cell rendered as Kusto prints it.
//!
//! Environment: `KQL_METAMORPHIC_SEED` (default 1), `KQL_METAMORPHIC_CASES` (default 1500),
//! `KQL_METAMORPHIC_ONLY_CASE=N` (rerun one case of a seed), `KQL_METAMORPHIC_KNOWN_BUGS=all`
//! or a list of names (also generate the constructs `known_bugs.rs` avoids),
//! `KQL_METAMORPHIC_MAX_FAILURES` (default 5).

#[path = "metamorphic/expr.rs"]
mod expr;
#[path = "metamorphic/known_bugs.rs"]
mod known_bugs;
#[path = "metamorphic/table.rs"]
mod table;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use expr::{Expr, ExprGen};
use known_bugs::KnownBugs;
use kql_engine::render::format_field_cell;
use kql_engine::types::kql_type_name;
use kql_engine::{Session, SessionOptions};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use table::{Table, Ty, datatable_literal, random_table, write_parquet};

/// Cases that share one random table (writing Parquet files costs more than a query).
const CASES_PER_TABLE: u64 = 50;

struct Settings {
    seed: u64,
    cases: u64,
    only_case: Option<u64>,
    max_failures: usize,
    bugs: KnownBugs,
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            seed: env_number("KQL_METAMORPHIC_SEED").unwrap_or(1),
            cases: env_number("KQL_METAMORPHIC_CASES").unwrap_or(1500),
            only_case: env_number("KQL_METAMORPHIC_ONLY_CASE"),
            max_failures: env_number("KQL_METAMORPHIC_MAX_FAILURES").map_or(5, |n| n as usize),
            bugs: KnownBugs::from_env(),
        }
    }

    fn case_numbers(&self) -> Vec<u64> {
        match self.only_case {
            Some(n) => vec![n],
            None => (0..self.cases).collect(),
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(text.trim().parse().unwrap_or_else(|_| panic!("{name} must be a whole number, not {text:?}")))
}

/// A seed for the n-th table or case, so that any case can be rerun alone.
fn derived_rng(seed: u64, salt: u64, n: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

// ---- sessions and sources ----

/// One way to run a query: partitions and optimizer rules. Every table is registered in each.
struct Engine {
    index: usize,
    label: String,
    /// Whether DataFusion's logical optimizer rules run.
    optimized: bool,
    session: Session,
}

fn engines() -> Vec<Engine> {
    let mut out = Vec::new();
    for partitions in [1, 4] {
        for optimize in [true, false] {
            let options =
                SessionOptions { target_partitions: Some(partitions), without_logical_optimizer: !optimize, ..Default::default() };
            let session = Session::new(options).expect("a session with default options");
            let label = format!("partitions={partitions} optimizer={}", if optimize { "on" } else { "off" });
            out.push(Engine { index: out.len(), label, optimized: optimize, session });
        }
    }
    // Batches of 3 rows: the tables are small, and with DataFusion's 8,192-row batches every
    // one of them would pass each repartition as one batch, in one partition.
    let options = SessionOptions { target_partitions: Some(4), batch_size: Some(3), ..Default::default() };
    let session = Session::new(options).expect("a session with small batches");
    out.push(Engine { index: out.len(), label: "partitions=4 batch=3 optimizer=on".to_string(), optimized: true, session });
    out
}

/// Where a query reads the table from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Datatable,
    Parquet,
}

/// The name the `datatable` is bound to (`let D = datatable(...)[...]`) in every session's
/// prelude: parsing a 60-row literal costs more in a debug build than running the query, so it
/// is parsed once per table, and planned as a datatable by every query that reads it.
const DATATABLE_NAME: &str = "D";

/// The current table in both its forms, and its rows as each engine reads each form.
struct TableUnderTest {
    table: Table,
    literal: String,
    parquet_name: String,
    full_scans: std::cell::RefCell<BTreeMap<(Source, usize), Rows>>,
}

impl TableUnderTest {
    fn source_text(&self, source: Source) -> &str {
        match source {
            Source::Datatable => DATATABLE_NAME,
            Source::Parquet => &self.parquet_name,
        }
    }
}

/// A folder in the temp dir removed when the run ends, even by a panic.
struct TempDir(PathBuf);

impl TempDir {
    fn new(seed: u64) -> TempDir {
        let path = std::env::temp_dir().join(format!("kql-metamorphic-{}-{seed}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn load_table(index: u64, settings: &Settings, dir: &Path, engines: &mut [Engine]) -> TableUnderTest {
    let mut rng = derived_rng(settings.seed, 1, index);
    let table = random_table(&mut rng);
    let folder = dir.join(format!("t{index}"));
    write_parquet(&table, &folder, &mut rng).unwrap_or_else(|e| panic!("writing table {index} as Parquet: {e}"));
    let parquet_name = format!("T{index}");
    let location = folder.to_string_lossy().into_owned();
    let literal = datatable_literal(&table);
    let binding = format!("let {DATATABLE_NAME} = {literal};");
    for engine in engines.iter_mut() {
        engine.session.register_table(&parquet_name, &location).await.unwrap_or_else(|e| panic!("registering {location}: {e}"));
        engine
            .session
            .load_prelude(&binding)
            .unwrap_or_else(|e| panic!("binding the datatable: {}", e.render(&binding, "datatable", false)));
    }
    TableUnderTest { literal, table, parquet_name, full_scans: Default::default() }
}

// ---- results ----

/// A result as text: the header (`name:type`) and the rows, sorted, so two results compare
/// as multisets. A null prints as `∅`; a null string as "" (KQL strings are never null).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rows {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

const NULL: &str = "∅";

impl Rows {
    fn sorted(mut self) -> Rows {
        self.rows.sort();
        self
    }

    /// The one cell of a one-row, one-column result (a count), as text.
    fn single_cell(&self) -> Option<&str> {
        match self.rows.as_slice() {
            [row] if row.len() == 1 => Some(row[0].as_str()),
            _ => None,
        }
    }
}

impl fmt::Display for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "    {}", self.header.join(" | "))?;
        for row in &self.rows {
            writeln!(f, "    {}", row.join(" | "))?;
        }
        write!(f, "    ({} rows)", self.rows.len())
    }
}

async fn run(engine: &Engine, query: &str) -> Result<Rows, String> {
    LAST_QUERY.with(|q| *q.borrow_mut() = (engine.label.clone(), query.to_string()));
    let results = engine.session.execute(query).await.map_err(|e| e.render(query, "query", false))?;
    let Some(result) = results.last() else {
        return Err("the query returned no result".to_string());
    };
    let fields = result.schema.fields();
    let header = fields.iter().map(|f| format!("{}:{}", f.name(), kql_type_name(f))).collect();
    let mut rows = Vec::new();
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            let cells = fields
                .iter()
                .zip(batch.columns())
                .map(|(field, column)| match format_field_cell(field, column.as_ref(), row) {
                    // -0.0 == 0.0, and which of the two a group key or a min keeps is not
                    // specified anywhere; Kusto's docs never print a -0.
                    Some(text) if text == "-0" => "0".to_string(),
                    Some(text) => text,
                    None if kql_type_name(field) == "string" => String::new(),
                    None => NULL.to_string(),
                })
                .collect();
            rows.push(cells);
        }
    }
    Ok(Rows { header, rows }.sorted())
}

// ---- failures ----

/// One query of a failed relation, with where it ran and what it gave.
struct Observation {
    query: String,
    engine: String,
    result: Result<Rows, String>,
}

struct Failure {
    relation: &'static str,
    detail: String,
    observations: Vec<Observation>,
}

impl Failure {
    fn report(&self, seed: u64, case: u64, table: &TableUnderTest) -> String {
        let mut text = format!(
            "\n=== {} failed: seed {seed}, case {case} (rerun: KQL_METAMORPHIC_SEED={seed} KQL_METAMORPHIC_ONLY_CASE={case})\n{}\n",
            self.relation, self.detail
        );
        text += &format!(
            "The table: `{DATATABLE_NAME}` below; `{}` holds the same rows as Parquet files (to rerun a query \
             with `kql -c`, put `let {DATATABLE_NAME} = ...;` or `let {} = ...;` with this literal before it).\n",
            table.parquet_name, table.parquet_name
        );
        text += &format!("let {DATATABLE_NAME} = {};\n", table.literal);
        for o in &self.observations {
            text += &format!("--- [{}]\n{}\n", o.engine, o.query);
            match &o.result {
                Ok(rows) => text += &format!("{rows}\n"),
                Err(e) => text += &format!("    error: {e}\n"),
            }
        }
        text
    }
}

/// Runs `queries` on their engines; an error in any of them is a failure of `relation`.
async fn run_all(relation: &'static str, runs: &[(&Engine, String)]) -> Result<Vec<Rows>, Failure> {
    let mut observations = Vec::new();
    let mut failed = false;
    for (engine, query) in runs {
        let result = run(engine, query).await;
        failed |= result.is_err();
        observations.push(Observation { query: query.clone(), engine: engine.label.clone(), result });
    }
    if failed {
        return Err(Failure { relation, detail: "a query failed".to_string(), observations });
    }
    Ok(observations.into_iter().filter_map(|o| o.result.ok()).collect())
}

fn observations_of(runs: &[(&Engine, String)], results: &[Rows]) -> Vec<Observation> {
    runs.iter()
        .zip(results)
        .map(|((engine, query), rows)| Observation { query: query.clone(), engine: engine.label.clone(), result: Ok(rows.clone()) })
        .collect()
}

// ---- relations ----

/// What a case has to work with: the table, the engines, its random numbers.
struct Case<'a> {
    table: &'a TableUnderTest,
    engines: &'a [Engine],
    rng: StdRng,
    bugs: KnownBugs,
}

impl<'a> Case<'a> {
    fn random_engine(&mut self) -> &'a Engine {
        let engines = self.engines;
        engines.choose(&mut self.rng).expect("at least one engine")
    }

    fn random_source(&mut self) -> Source {
        if self.rng.random_bool(0.5) { Source::Datatable } else { Source::Parquet }
    }

    fn random_predicate(&mut self) -> Expr {
        let depth = self.rng.random_range(1..=3);
        let mut generator = ExprGen::new(&mut self.rng, &self.table.table);
        generator.boolean(depth)
    }
}

/// The rows of the whole table, read from `source` by `engine`, run once per table.
async fn full_scan(table: &TableUnderTest, source: Source, engine: &Engine) -> Result<Rows, Failure> {
    let key = (source, engine.index);
    if let Some(rows) = table.full_scans.borrow().get(&key) {
        return Ok(rows.clone());
    }
    let mut results = run_all("full scan", &[(engine, table.source_text(source).to_string())]).await?;
    let rows = results.remove(0);
    table.full_scans.borrow_mut().insert(key, rows.clone());
    Ok(rows)
}

/// Every engine reads the same rows from the datatable and from the Parquet files.
async fn check_full_scans_agree(table: &TableUnderTest, engines: &[Engine]) -> Result<(), Failure> {
    let reference_engine = &engines[0];
    let reference = full_scan(table, Source::Datatable, reference_engine).await?;
    for engine in engines {
        for source in [Source::Datatable, Source::Parquet] {
            let rows = full_scan(table, source, engine).await?;
            if rows != reference {
                let observation = |engine: &Engine, source: Source, rows: &Rows| Observation {
                    query: table.source_text(source).to_string(),
                    engine: engine.label.clone(),
                    result: Ok(rows.clone()),
                };
                return Err(Failure {
                    relation: "full scans agree",
                    detail: format!("{source:?} on [{}] differs from the datatable on [{}]", engine.label, reference_engine.label),
                    observations: vec![observation(reference_engine, Source::Datatable, &reference), observation(engine, source, &rows)],
                });
            }
        }
    }
    Ok(())
}

/// TLP: the rows where p is true, false and null are the table's rows.
async fn check_ternary_partition(case: &mut Case<'_>) -> Result<(), Failure> {
    let p = case.random_predicate().render();
    let source = case.random_source();
    let engine = case.random_engine();
    let table = full_scan(case.table, source, engine).await?;
    let source = case.table.source_text(source).to_string();
    let runs = [
        (engine, format!("{source}\n| where {p}")),
        (engine, format!("{source}\n| where not({p})")),
        (engine, format!("{source}\n| where isnull({p})")),
    ];
    let results = run_all("TLP", &runs).await?;
    let mut union: Vec<Vec<String>> = results.iter().flat_map(|r| r.rows.iter().cloned()).collect();
    union.sort();
    if union == table.rows {
        return Ok(());
    }
    let mut observations = vec![Observation { query: source.clone(), engine: engine.label.clone(), result: Ok(table.clone()) }];
    observations.extend(observations_of(&runs, &results));
    Err(Failure {
        relation: "TLP",
        detail: format!(
            "where p ({}) + where not(p) ({}) + where isnull(p) ({}) rows != the table's {} rows",
            results[0].rows.len(),
            results[1].rows.len(),
            results[2].rows.len(),
            table.rows.len()
        ),
        observations,
    })
}

/// NoREC: counting the rows a filter keeps three ways.
async fn check_counts(case: &mut Case<'_>) -> Result<(), Failure> {
    let p = case.random_predicate().render();
    let source = case.table.source_text(case.random_source()).to_string();
    let engine = case.random_engine();
    let runs = [
        (engine, format!("{source}\n| where {p}\n| count")),
        (engine, format!("{source}\n| summarize countif({p})")),
        (engine, format!("{source}\n| extend __b = {p}\n| where __b == true\n| count")),
    ];
    let results = run_all("NoREC", &runs).await?;
    let counts: Vec<Option<&str>> = results.iter().map(Rows::single_cell).collect();
    if counts[0].is_some() && counts.iter().all(|c| *c == counts[0]) {
        return Ok(());
    }
    Err(Failure { relation: "NoREC", detail: format!("counts differ: {counts:?}"), observations: observations_of(&runs, &results) })
}

/// The same filter over both sources and two engines gives the same rows.
async fn check_plans_agree(case: &mut Case<'_>) -> Result<(), Failure> {
    let p = case.random_predicate().render();
    let first = case.random_source();
    let second = case.random_source();
    let a = case.random_engine();
    let b = case.random_engine();
    let runs =
        [(a, format!("{}\n| where {p}", case.table.source_text(first))), (b, format!("{}\n| where {p}", case.table.source_text(second)))];
    let results = run_all("same result everywhere", &runs).await?;
    if results[0] == results[1] {
        return Ok(());
    }
    Err(Failure {
        relation: "same result everywhere",
        detail: format!("{first:?} on [{}] != {second:?} on [{}]", a.label, b.label),
        observations: observations_of(&runs, &results),
    })
}

/// `project` of several expressions (most of them dynamic paths) gives the same rows with the
/// logical optimizer on and off. Of the relations, this one runs kql's own logical rule
/// (`dynamic_members`: members of one column read in one walk) against the plain calls; a
/// `where` alone would not reach it, since it rewrites projections.
async fn check_projection_plans_agree(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = case.table.source_text(case.random_source()).to_string();
    // One of the first four engines, and the one with the same partitions and the other
    // optimizer setting (see `engines`).
    let a = &case.engines[case.rng.random_range(0..4)];
    let b = &case.engines[a.index ^ 1];
    let mut generator = ExprGen::new(&mut case.rng, &case.table.table);
    let mut columns = Vec::new();
    for i in 0..4 {
        let ty = if generator.rng.random_bool(0.6) { Ty::Dynamic } else { random_scalar_type(generator.rng) };
        let depth = generator.rng.random_range(0..=2);
        columns.push(format!("p{i} = {}", generator.scalar(ty, depth).render()));
    }
    let query = format!("{source}\n| project {}", columns.join(", "));
    let runs = [(a, query.clone()), (b, query)];
    let results = run_all("projection with and without the optimizer", &runs).await?;
    if results[0] == results[1] {
        return Ok(());
    }
    Err(Failure {
        relation: "projection with and without the optimizer",
        detail: format!("[{}] != [{}]", a.label, b.label),
        observations: observations_of(&runs, &results),
    })
}

/// A random scalar type for extend chains and projections.
fn random_scalar_type(rng: &mut StdRng) -> Ty {
    *Ty::ALL.choose(rng).unwrap_or(&Ty::Long)
}

/// `extend a = e1 | extend b = e2(a) | project a, b` == `project a = e1, b = e2(e1)`, or for a
/// column x that exists: `extend x = e1(x) | extend x = e2(x) | project x` == `project x = e2(e1(x))`.
async fn check_extend_chain(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = case.table.source_text(case.random_source()).to_string();
    let reassign = case.rng.random_bool(0.4);
    let existing = case.table.table.columns.choose(&mut case.rng).cloned().expect("tables have columns");
    let (first_name, first_ty) =
        if reassign { (existing.name.clone(), existing.ty) } else { ("e_a".to_string(), random_scalar_type(&mut case.rng)) };
    let (second_name, second_ty) =
        if reassign { (first_name.clone(), first_ty) } else { ("e_b".to_string(), random_scalar_type(&mut case.rng)) };
    let depth = case.rng.random_range(1..=3);
    let mut generator = ExprGen::new(&mut case.rng, &case.table.table);
    let e1 = generator.scalar(first_ty, depth);
    generator.add_column(&first_name, first_ty);
    let e2 = generator.scalar(second_ty, depth);
    let inlined = e2.substitute(&first_name, &e1);
    let (chained, direct) = if reassign {
        (
            format!("{source}\n| extend {first_name} = {}\n| extend {first_name} = {}\n| project {first_name}", e1.render(), e2.render()),
            format!("{source}\n| project {first_name} = {}", inlined.render()),
        )
    } else {
        (
            format!(
                "{source}\n| extend {first_name} = {}\n| extend {second_name} = {}\n| project {first_name}, {second_name}",
                e1.render(),
                e2.render()
            ),
            format!("{source}\n| project {first_name} = {}, {second_name} = {}", e1.render(), inlined.render()),
        )
    };
    let engine = case.random_engine();
    let runs = [(engine, chained), (engine, direct)];
    let results = run_all("extend chain", &runs).await?;
    if results[0] == results[1] {
        return Ok(());
    }
    Err(Failure {
        relation: "extend chain",
        detail: "the chained extends and the inlined project differ".to_string(),
        observations: observations_of(&runs, &results),
    })
}

/// `summarize count() by k` gives, per value of k, the number of rows of `project k` with it.
async fn check_group_counts(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = case.table.source_text(case.random_source()).to_string();
    // Group keys of every type but dynamic (Kusto cannot group by dynamic values).
    let ty = *[Ty::Long, Ty::Int, Ty::Real, Ty::Str, Ty::Bool, Ty::DateTime, Ty::TimeSpan].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let depth = case.rng.random_range(0..=2);
    let key = ExprGen::new(&mut case.rng, &case.table.table).scalar(ty, depth).render();
    let engine = case.random_engine();
    let runs = [(engine, format!("{source}\n| project k = {key}")), (engine, format!("{source}\n| summarize n = count() by k = {key}"))];
    let results = run_all("summarize count() by", &runs).await?;
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for row in &results[0].rows {
        *expected.entry(row[0].clone()).or_default() += 1;
    }
    let mut expected_rows: Vec<Vec<String>> = expected.into_iter().map(|(k, n)| vec![k, n.to_string()]).collect();
    expected_rows.sort();
    if expected_rows == results[1].rows {
        return Ok(());
    }
    Err(Failure {
        relation: "summarize count() by",
        detail: format!("expected groups and counts: {expected_rows:?}"),
        observations: observations_of(&runs, &results),
    })
}

/// Groups by a string over the Parquet files, whose schema may let a string be null and which
/// then hold Kusto's `""` as null (`metamorphic/table.rs`), are the groups over the `datatable`:
/// `summarize count() by k`, and a `join` of the groups with themselves on `k`.
async fn check_string_groups_across_sources(case: &mut Case<'_>) -> Result<(), Failure> {
    let depth = case.rng.random_range(0..=1);
    let key = ExprGen::new(&mut case.rng, &case.table.table).scalar(Ty::Str, depth).render();
    let engine = case.random_engine();
    let query = |source: &str| {
        format!("let G = {source} | summarize n = count() by k = {key};\nG | join kind=inner (G | project k, m = n) on k | project k, n, m")
    };
    let runs = [(engine, query(case.table.source_text(Source::Datatable))), (engine, query(case.table.source_text(Source::Parquet)))];
    let results = run_all("string groups across sources", &runs).await?;
    if results[0].rows == results[1].rows {
        return Ok(());
    }
    Err(Failure {
        relation: "string groups across sources",
        detail: "the Parquet files and the datatable group a string differently".to_string(),
        observations: observations_of(&runs, &results),
    })
}

/// NoREC per group: `where p | summarize count() by k` == `summarize countif(p) by k` without
/// its groups of 0.
async fn check_group_filter_counts(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = case.table.source_text(case.random_source()).to_string();
    let p = case.random_predicate().render();
    let ty = *[Ty::Long, Ty::Str, Ty::Bool, Ty::DateTime].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let key = ExprGen::new(&mut case.rng, &case.table.table).scalar(ty, 1).render();
    let engine = case.random_engine();
    let runs = [
        (engine, format!("{source}\n| where {p}\n| summarize n = count() by k = {key}")),
        (engine, format!("{source}\n| summarize n = countif({p}) by k = {key}\n| where n > 0")),
    ];
    let results = run_all("summarize countif by", &runs).await?;
    if results[0] == results[1] {
        return Ok(());
    }
    Err(Failure {
        relation: "summarize countif by",
        detail: "filtering then counting per group differs from counting the matches per group".to_string(),
        observations: observations_of(&runs, &results),
    })
}

/// A sort before two `summarize` steps changes none of their groups: `extend k1, k2 | sort by
/// k1 | serialize | summarize ... by k1, k2 | summarize ... by k1` == the same without the sort.
/// Over sorted rows the aggregations run in sorted mode, in one step per partition
/// (`sorted_aggregate.rs`), and the second reuses the first's partitioning.
async fn check_sorted_summarize(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = case.table.source_text(case.random_source()).to_string();
    let p = case.random_predicate().render();
    let key = |case: &mut Case<'_>| {
        let ty = *[Ty::Long, Ty::Str, Ty::Bool, Ty::DateTime].choose(&mut case.rng).unwrap_or(&Ty::Long);
        ExprGen::new(&mut case.rng, &case.table.table).scalar(ty, 1).render()
    };
    let k1 = key(case);
    // Half the time the second key is `bin(t, size)` and the rows are sorted on `t` after `k1`:
    // `bin` keeps the order (asc nulls first, desc nulls last), so the first step aggregates
    // in order on both keys (`functions::datetime::bin_ordering`); the other null placements
    // must not be taken as that order.
    let (k2, then_by) = if case.rng.random_bool(0.5) {
        let (t_type, size) = if case.rng.random_bool(0.5) { (Ty::DateTime, "1h") } else { (Ty::Long, "3") };
        let t = ExprGen::new(&mut case.rng, &case.table.table).scalar(t_type, 1).render();
        let direction = *["asc", "desc", "asc nulls last", "desc nulls first"].choose(&mut case.rng).unwrap_or(&"asc");
        (format!("bin({t}, {size})"), format!(", {t} {direction}"))
    } else {
        (key(case), String::new())
    };
    let direction = if case.rng.random_bool(0.5) { "asc" } else { "desc" };
    let steps = format!(
        "| summarize n = count(), m = countif({p}) by k1, k2\n| summarize g = count(), t = sum(n), u = max(m), s = array_length(make_set(k2)), d = dcount(k2) by k1"
    );
    // An engine with 4 partitions (the rule needs a repartition to replace).
    let engine = &case.engines[case.rng.random_range(2..case.engines.len())];
    let runs = [
        (engine, format!("{source}\n| extend k1 = {k1}, k2 = {k2}\n{steps}")),
        (
            engine,
            format!(
                "{source}\n| extend k1 = {k1}, k2 = {k2}\n| sort by k1 {direction}{then_by}\n| serialize nk = next(k1)\n| where isnull(nk) or isnotnull(nk)\n{steps}"
            ),
        ),
    ];
    let results = run_all("sort before summarize", &runs).await?;
    if results[0] == results[1] {
        return Ok(());
    }
    Err(Failure {
        relation: "sort before summarize",
        detail: "sorting the rows before two summarize steps changed their groups".to_string(),
        observations: observations_of(&runs, &results),
    })
}

/// `serialize` per partition (`serial_partitioning.rs`): the beaconing rule's shape, `sort by k,
/// t | serialize nk = next(k), nt = next(t) | where k == nk and <a test of nt> | summarize ... by
/// k`, gives the same groups on one partition (one stream) and on four (where the filter allows
/// it, one stream per partition of rows hashed on `k`). The aggregates read only `k`, `t` and
/// the shifted values, which rows tied on `(k, t)` share, so the answer does not depend on the
/// order of ties.
async fn check_partitioned_serialize(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = if case.rng.random_bool(0.75) { Source::Parquet } else { Source::Datatable };
    let source = case.table.source_text(source).to_string();
    // A string column as it is: over a Parquet file that declares it not null, the one kind of
    // key the rule takes (a nullable key is compared through `coalesce`, which the rule
    // refuses); otherwise any expression.
    let string_columns: Vec<String> = case.table.table.columns.iter().filter(|c| c.ty == Ty::Str).map(|c| c.name.clone()).collect();
    let k = match string_columns.choose(&mut case.rng) {
        Some(column) if case.rng.random_bool(0.75) => column.clone(),
        _ => {
            let key_type = *[Ty::Long, Ty::Str, Ty::Bool, Ty::DateTime, Ty::Real].choose(&mut case.rng).unwrap_or(&Ty::Str);
            ExprGen::new(&mut case.rng, &case.table.table).scalar(key_type, 1).render()
        }
    };
    let t_type = *[Ty::DateTime, Ty::Long].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let t = ExprGen::new(&mut case.rng, &case.table.table).scalar(t_type, 1).render();
    let direction = |case: &mut Case<'_>| if case.rng.random_bool(0.5) { "asc" } else { "desc" };
    let (dk, dt) = (direction(case), direction(case));
    let (shift, offset) = *[("next", 1), ("next", 2), ("prev", 1)].choose(&mut case.rng).unwrap_or(&("next", 1));
    let gap = case.rng.random_range(-2..=2);
    // Tests of the shifted value: never true where it is null (what the rule needs), or true
    // there (Kusto's `!=` with one null side is true), which must keep one stream.
    let test = match (t_type, case.rng.random_range(0..6)) {
        (Ty::DateTime, 0) => format!("datetime_diff('second', nt, t) > {gap}"),
        (_, 0 | 1) => "nt >= t".to_string(),
        (_, 2) => "isnotnull(nt)".to_string(),
        (_, 3) => "nt != t".to_string(),
        (_, 4) => "isnull(nt) or nt != t".to_string(),
        (Ty::DateTime, _) => "nt > t".to_string(),
        _ => format!("nt > t + {gap}"),
    };
    let query = format!(
        "{source}\n| extend k = {k}, t = {t}\n| sort by k {dk}, t {dt}\n| serialize nk = {shift}(k, {offset}), nt = {shift}(t, {offset})\n\
         | where k == nk and {test}\n| summarize n = count(), l = array_length(make_list(nt)), s = array_length(make_set(t)), u = max(nt) by k"
    );
    let one = &case.engines[0];
    let four = &case.engines[case.rng.random_range(2..case.engines.len())];
    let runs = [(one, query.clone()), (four, query)];
    let results = run_all("serialize per partition", &runs).await?;
    if results[0] == results[1] {
        return Ok(());
    }
    Err(Failure {
        relation: "serialize per partition",
        detail: "a serialize before a filter on the next row's key gave other groups on four partitions than on one".to_string(),
        observations: observations_of(&runs, &results),
    })
}

/// `sort by k | take n` returns min(n, |T|) rows, each a row of T.
async fn check_sort_take(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = case.random_source();
    let ty = *[Ty::Long, Ty::Real, Ty::Str, Ty::DateTime, Ty::TimeSpan, Ty::Bool].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let depth = case.rng.random_range(0..=2);
    let key = ExprGen::new(&mut case.rng, &case.table.table).scalar(ty, depth).render();
    let n = case.rng.random_range(0..=70);
    let direction = *["asc", "desc", ""].choose(&mut case.rng).unwrap_or(&"");
    let mut engine = case.random_engine();
    while case.bugs.avoid_sort_without_optimizer && !engine.optimized {
        engine = case.random_engine();
    }
    let table = full_scan(case.table, source, engine).await?;
    let source = case.table.source_text(source).to_string();
    let runs = [(engine, format!("{source}\n| sort by {key} {direction}\n| take {n}"))];
    let results = run_all("sort and take", &runs).await?;
    let results = [table, results[0].clone()];
    let mut remaining = results[0].rows.clone();
    let mut subset = results[1].rows.len() == n.min(remaining.len());
    for row in &results[1].rows {
        match remaining.iter().position(|r| r == row) {
            Some(i) => {
                remaining.swap_remove(i);
            }
            None => subset = false,
        }
    }
    if subset {
        return Ok(());
    }
    Err(Failure {
        relation: "sort and take",
        detail: format!("expected {} rows of the table", n.min(results[0].rows.len())),
        observations: observations_of(&[(engine, source.clone())], &results[..1])
            .into_iter()
            .chain(observations_of(&runs, &results[1..]))
            .collect(),
    })
}

/// `summarize (m, v) = arg_max(k, v) by g`: each group's `m` is `max(k)` of the group, and
/// `(g, m, v)` is a row of the table (when the group has a key at all). Checks kql's own
/// aggregate (numbers, datetimes, timespans) and the `first_value` plan (other value types).
async fn check_arg_max(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = case.table.source_text(case.random_source()).to_string();
    let key_ty = *[Ty::Long, Ty::Real, Ty::DateTime, Ty::TimeSpan].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let value_ty = *[Ty::Long, Ty::Int, Ty::Real, Ty::DateTime, Ty::TimeSpan, Ty::Str].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let group_ty = *[Ty::Long, Ty::Str, Ty::Bool].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let k = ExprGen::new(&mut case.rng, &case.table.table).scalar(key_ty, 1).render();
    let v = ExprGen::new(&mut case.rng, &case.table.table).scalar(value_ty, 1).render();
    let g = ExprGen::new(&mut case.rng, &case.table.table).scalar(group_ty, 1).render();
    let (function, extreme) = if case.rng.random_bool(0.5) { ("arg_max", "max") } else { ("arg_min", "min") };
    let engine = case.random_engine();
    let runs = [
        (engine, format!("{source}\n| project g = {g}, m = {k}, v = {v}")),
        (engine, format!("{source}\n| summarize m = {extreme}({k}) by g = {g}")),
        (engine, format!("{source}\n| summarize (m, v) = {function}({k}, {v}) by g = {g}")),
    ];
    let results = run_all("arg_max", &runs).await?;
    let extremes: BTreeMap<&String, &String> = results[1].rows.iter().map(|r| (&r[0], &r[1])).collect();
    let mut problems = Vec::new();
    for row in &results[2].rows {
        let (group, m) = (&row[0], &row[1]);
        if extremes.get(group) != Some(&m) {
            problems.push(format!("group {group}: {function} gave key {m}, {extreme}() gave {:?}", extremes.get(group)));
        } else if m != NULL && !results[0].rows.contains(row) {
            problems.push(format!("group {group}: ({m}, {}) is no row of the table", row[2]));
        }
    }
    if results[2].rows.len() != extremes.len() {
        problems.push(format!("{} groups, {extreme}() has {}", results[2].rows.len(), extremes.len()));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure { relation: "arg_max", detail: problems.join("; "), observations: observations_of(&runs, &results) })
}

/// `make_list` and `make_set` per group: the list has as many values as the group has non-null
/// values, the set as many as the group has distinct ones, and a set bounded by MaxSize
/// `min(MaxSize, distinct)`. (No `real` values: group keys tell -0.0 from 0.0, sets do not.)
async fn check_collect(case: &mut Case<'_>) -> Result<(), Failure> {
    let source = case.table.source_text(case.random_source()).to_string();
    let value_ty = *[Ty::Long, Ty::Int, Ty::Str, Ty::Bool, Ty::DateTime, Ty::TimeSpan].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let group_ty = *[Ty::Long, Ty::Str, Ty::Bool].choose(&mut case.rng).unwrap_or(&Ty::Long);
    let v = ExprGen::new(&mut case.rng, &case.table.table).scalar(value_ty, 1).render();
    let g = ExprGen::new(&mut case.rng, &case.table.table).scalar(group_ty, 1).render();
    let bound = case.rng.random_range(1..=4);
    let engine = case.random_engine();
    let runs = [
        (engine, format!("{source}\n| summarize n = countif(isnotnull({v})) by g = {g}")),
        (engine, format!("{source}\n| where isnotnull({v})\n| summarize by g = {g}, v = {v}\n| summarize d = count() by g")),
        (
            engine,
            format!(
                "{source}\n| summarize l = make_list({v}), s = make_set({v}), b = make_set({v}, {bound}) by g = {g}\n\
                 | project g, l = array_length(l), s = array_length(s), b = array_length(b)"
            ),
        ),
    ];
    let results = run_all("make_list/make_set", &runs).await?;
    let distinct: BTreeMap<&String, u64> = results[1].rows.iter().map(|r| (&r[0], r[1].parse().unwrap_or(u64::MAX))).collect();
    let mut expected: Vec<Vec<String>> = results[0]
        .rows
        .iter()
        .map(|r| {
            let d = distinct.get(&r[0]).copied().unwrap_or(0);
            vec![r[0].clone(), r[1].clone(), d.to_string(), d.min(bound).to_string()]
        })
        .collect();
    expected.sort();
    if expected == results[2].rows {
        return Ok(());
    }
    Err(Failure {
        relation: "make_list/make_set",
        detail: format!("expected (group, list size, set size, bounded set size): {expected:?}"),
        observations: observations_of(&runs, &results),
    })
}

async fn run_case(case: &mut Case<'_>) -> Result<(), Failure> {
    match case.rng.random_range(0..26) {
        0..=6 => check_ternary_partition(case).await,
        7..=10 => check_counts(case).await,
        11..=13 => check_plans_agree(case).await,
        14..=16 => check_extend_chain(case).await,
        17 => check_group_counts(case).await,
        18 => check_group_filter_counts(case).await,
        19 => check_arg_max(case).await,
        20 => check_collect(case).await,
        21 => check_projection_plans_agree(case).await,
        22 => check_sorted_summarize(case).await,
        23 => check_partitioned_serialize(case).await,
        24 => check_string_groups_across_sources(case).await,
        _ => check_sort_take(case).await,
    }
}

// ---- the test ----

/// What the workers share: failure reports, and how many there are so all stop early.
#[derive(Default)]
struct Outcome {
    reports: std::sync::Mutex<Vec<String>>,
    count: AtomicUsize,
}

impl Outcome {
    fn record(&self, report: String) {
        eprintln!("{report}");
        self.count.fetch_add(1, Ordering::SeqCst);
        self.reports.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(report);
    }

    fn enough(&self, settings: &Settings) -> bool {
        self.count.load(Ordering::SeqCst) >= settings.max_failures
    }
}

/// Runs the cases of every `workers`-th table, starting at table `worker`, on engines of its
/// own. A panic inside a case (kql's or DataFusion's) is a failure of that case, not the end
/// of the run.
fn worker_campaign(worker: u64, workers: u64, settings: &Settings, dir: &Path, outcome: &Outcome) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let mut engines = engines();
    let mut loaded: Option<(u64, TableUnderTest)> = None;
    for case_number in settings.case_numbers() {
        let table_index = case_number / CASES_PER_TABLE;
        if table_index % workers != worker {
            continue;
        }
        if outcome.enough(settings) {
            return;
        }
        if loaded.as_ref().is_none_or(|(i, _)| *i != table_index) {
            let table = runtime.block_on(load_table(table_index, settings, dir, &mut engines));
            if let Err(failure) = run_guarded(&runtime, check_full_scans_agree(&table, &engines)) {
                outcome.record(failure.report(settings.seed, case_number, &table));
            }
            loaded = Some((table_index, table));
        }
        let Some((_, table)) = &loaded else { unreachable!("a table was just loaded") };
        let mut case = Case { table, engines: &engines, rng: derived_rng(settings.seed, 2, case_number), bugs: settings.bugs };
        if let Err(failure) = run_guarded(&runtime, run_case(&mut case)) {
            outcome.record(failure.report(settings.seed, case_number, table));
        }
    }
}

thread_local! {
    /// The query this thread started last, for the report of a panic.
    static LAST_QUERY: std::cell::RefCell<(String, String)> = Default::default();
}

/// Runs a check to its end; a panic becomes a failure naming the query that was running.
fn run_guarded(runtime: &tokio::runtime::Runtime, check: impl std::future::Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(check))) {
        Ok(result) => result,
        Err(panic) => {
            let message =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            let (engine, query) = LAST_QUERY.with(|q| q.borrow().clone());
            Err(Failure {
                relation: "no panic",
                detail: format!("the query panicked: {message}"),
                observations: vec![Observation { query, engine, result: Err(format!("panic: {message}")) }],
            })
        }
    }
}

/// The cases, spread over one thread per core: planning in a debug build is single-threaded
/// and slow, so two independent streams of queries nearly halve the time on two cores.
fn campaign(settings: &Settings) -> Vec<String> {
    let dir = TempDir::new(settings.seed);
    let outcome = Outcome::default();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as u64;
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (outcome, dir) = (&outcome, &dir.0);
            scope.spawn(move || worker_campaign(worker, workers, settings, dir, outcome));
        }
    });
    outcome.reports.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn metamorphic_relations_hold() {
    let _alone = crate::one_long_check_at_a_time();
    let settings = Settings::from_env();
    let started = Instant::now();
    let failures = campaign(&settings);
    eprintln!(
        "metamorphic: seed {}, {} cases in {:.1}s, {} failures",
        settings.seed,
        settings.case_numbers().len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{} metamorphic relation(s) failed; reports above", failures.len());
}
