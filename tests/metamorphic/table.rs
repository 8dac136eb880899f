//! Random tables: a typed model of the rows, the same rows as a KQL `datatable(...)[...]`
//! literal, and as Parquet files (several files and small row groups, so scans split and
//! statistics prune).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, DurationNanosecondArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// The KQL column types the generator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Long,
    Int,
    Real,
    Str,
    Bool,
    DateTime,
    TimeSpan,
    Dynamic,
}

impl Ty {
    pub const ALL: [Ty; 8] = [Ty::Long, Ty::Int, Ty::Real, Ty::Str, Ty::Bool, Ty::DateTime, Ty::TimeSpan, Ty::Dynamic];

    /// The name in a `datatable` schema.
    pub fn kql_name(self) -> &'static str {
        match self {
            Ty::Long => "long",
            Ty::Int => "int",
            Ty::Real => "real",
            Ty::Str => "string",
            Ty::Bool => "bool",
            Ty::DateTime => "datetime",
            Ty::TimeSpan => "timespan",
            Ty::Dynamic => "dynamic",
        }
    }

    /// The prefix of generated column names, so a reader of a failing case sees each type.
    fn column_prefix(self) -> &'static str {
        match self {
            Ty::Long => "lng",
            Ty::Int => "int",
            Ty::Real => "rl",
            Ty::Str => "str",
            Ty::Bool => "bl",
            Ty::DateTime => "dt",
            Ty::TimeSpan => "ts",
            Ty::Dynamic => "dyn",
        }
    }
}

/// One cell. Datetimes are microseconds since the epoch, timespans nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Long(i64),
    Int(i32),
    Real(f64),
    Str(String),
    Bool(bool),
    DateTime(i64),
    TimeSpan(i64),
    Dynamic(serde_json::Value),
}

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub ty: Ty,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MILLI: i64 = 1_000_000;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Strings chosen to exercise term matching (`has` splits on non-alphanumerics), case folding,
/// prefixes and suffixes, escapes in literals, and the empty string.
pub const STRING_POOL: &[&str] = &[
    "",
    "a",
    "A",
    "abc",
    "ABC",
    "Hello World",
    "hello-world",
    "hello",
    "HELLO.world",
    "foo.bar",
    "x_y z",
    "  padded  ",
    "CamelCase",
    "O'Brien",
    "a,b;c",
    "192.168.0.1",
    "say \"hi\"",
    "C:\\temp\\x.exe",
    "Straße",
    "ÉCOLE école",
    "error: 42",
    "42",
    "-7",
    "3.5",
    "true",
];

/// JSON values for `dynamic` cells: bags with the properties `a`, `b` and `c`, arrays, scalars.
pub const DYNAMIC_POOL: &[&str] = &[
    r#"{"a":1,"b":"x"}"#,
    r#"{"a":-2.5,"b":[1,2,3]}"#,
    r#"{"a":"Hello World","c":{"d":2}}"#,
    r#"{"a":null,"b":true}"#,
    r#"{"b":"only b"}"#,
    r#"{}"#,
    r#"[1,2,3]"#,
    r#"["a","B c"]"#,
    r#"[]"#,
    r#"[{"a":1},2]"#,
    r#""str""#,
    r#"5"#,
    r#"-1"#,
    r#"true"#,
    // Escapes in values and a string that holds a bag: the paths a walk of raw text must
    // treat as a parsed value would (`functions/dynamic.rs`, `dynamic_members.rs`).
    r#"{"a":"say \"hi\"","b":"C:\\dir","c":{"d":"tab\there"}}"#,
    r#""{\"a\":7,\"b\":\"s\"}""#,
];

/// A table of 5–60 rows with at least three columns. Each column draws from a small pool of
/// values so that duplicates (and equal comparisons) are common.
pub fn random_table(rng: &mut StdRng) -> Table {
    let columns = random_columns(rng);
    let row_count = rng.random_range(5..=60);
    let pools: Vec<Vec<Value>> = columns.iter().map(|c| value_pool(rng, c.ty)).collect();
    let rows = (0..row_count).map(|_| columns.iter().zip(&pools).map(|(c, pool)| random_cell(rng, c.ty, pool)).collect()).collect();
    Table { columns, rows }
}

fn random_columns(rng: &mut StdRng) -> Vec<Column> {
    let mut columns = Vec::new();
    while columns.len() < 3 {
        columns.clear();
        for ty in Ty::ALL {
            // Strings and longs are where most operators apply: give them more columns.
            let max = if matches!(ty, Ty::Str | Ty::Long) { 2 } else { 1 };
            for n in 0..rng.random_range(0..=max) {
                columns.push(Column { name: format!("{}{n}", ty.column_prefix()), ty });
            }
        }
    }
    columns
}

fn random_cell(rng: &mut StdRng, ty: Ty, pool: &[Value]) -> Value {
    // KQL strings are never null: a missing string is "".
    if ty != Ty::Str && rng.random_bool(0.15) {
        return Value::Null;
    }
    pool.choose(rng).cloned().unwrap_or(Value::Null)
}

fn value_pool(rng: &mut StdRng, ty: Ty) -> Vec<Value> {
    let size = rng.random_range(2..=8);
    (0..size).map(|_| random_value(rng, ty)).collect()
}

/// One non-null value of `ty`; also used for literals in predicates.
pub fn random_value(rng: &mut StdRng, ty: Ty) -> Value {
    match ty {
        Ty::Long => Value::Long(small_integer(rng)),
        Ty::Int => Value::Int(small_integer(rng) as i32),
        Ty::Real => Value::Real(small_real(rng)),
        Ty::Str => Value::Str(STRING_POOL.choose(rng).copied().unwrap_or_default().to_string()),
        Ty::Bool => Value::Bool(rng.random_bool(0.5)),
        Ty::DateTime => Value::DateTime(random_datetime(rng)),
        Ty::TimeSpan => Value::TimeSpan(random_timespan(rng)),
        Ty::Dynamic => Value::Dynamic(random_json(rng)),
    }
}

/// Mostly -3..=3 (zero, signs, collisions), sometimes up to ±1000.
fn small_integer(rng: &mut StdRng) -> i64 {
    if rng.random_bool(0.6) { rng.random_range(-3..=3) } else { rng.random_range(-1000..=1000) }
}

/// Quarters are exact in binary, so arithmetic on them is the same whichever way it is
/// evaluated; 0.1 is there to keep one inexact value in play.
fn small_real(rng: &mut StdRng) -> f64 {
    if rng.random_bool(0.1) {
        return 0.1;
    }
    rng.random_range(-400..=400) as f64 / 4.0
}

/// Microseconds since the epoch: 2024-03-10T00:00:00Z plus or minus up to ~30 days, at whole
/// seconds or milliseconds; sometimes the epoch itself, a leap day, or one of the sentinels real
/// rules use at the ends of Kusto's range (0001-01-01, 1601-01-01, 9999-12-31).
fn random_datetime(rng: &mut StdRng) -> i64 {
    const BASE: i64 = 1_710_028_800 * MICROS_PER_SECOND;
    match rng.random_range(0..14) {
        0 => 0,
        1 => 951_782_400 * MICROS_PER_SECOND,     // 2000-02-29
        2 => -62_135_596_800 * MICROS_PER_SECOND, // 0001-01-01
        3 => -11_644_473_600 * MICROS_PER_SECOND, // 1601-01-01
        4 => 253_402_214_400 * MICROS_PER_SECOND, // 9999-12-31
        5..=8 => BASE + rng.random_range(-30 * 86_400..=30 * 86_400) * MICROS_PER_SECOND,
        _ => BASE + rng.random_range(-3_600_000..=3_600_000) * 1_000,
    }
}

fn random_timespan(rng: &mut StdRng) -> i64 {
    match rng.random_range(0..6) {
        0 => 0,
        1 => rng.random_range(-48..=48) * 3_600 * NANOS_PER_SECOND,
        2 => rng.random_range(-3..=3) * 86_400 * NANOS_PER_SECOND,
        3 => rng.random_range(-5_000..=5_000) * NANOS_PER_MILLI,
        _ => rng.random_range(-600..=600) * 60 * NANOS_PER_SECOND,
    }
}

fn random_json(rng: &mut StdRng) -> serde_json::Value {
    let text = DYNAMIC_POOL.choose(rng).copied().unwrap_or("null");
    serde_json::from_str(text).expect("the dynamic pool holds valid JSON")
}

// ---- KQL text ----

/// `datatable(a:long, ...)[v, ...]`.
pub fn datatable_literal(table: &Table) -> String {
    let schema: Vec<String> = table.columns.iter().map(|c| format!("{}:{}", c.name, c.ty.kql_name())).collect();
    let cells: Vec<String> =
        table.rows.iter().flat_map(|row| row.iter().zip(&table.columns).map(|(v, c)| value_literal(v, c.ty))).collect();
    format!("datatable({})[{}]", schema.join(", "), cells.join(", "))
}

/// A value as a KQL literal of type `ty`; a null is the typed null (`long(null)`).
pub fn value_literal(value: &Value, ty: Ty) -> String {
    match value {
        Value::Null => format!("{}(null)", ty.kql_name()),
        Value::Long(v) => v.to_string(),
        Value::Int(v) => format!("int({v})"),
        Value::Real(v) => real_literal(*v),
        Value::Str(s) => string_literal(s),
        Value::Bool(b) => b.to_string(),
        Value::DateTime(us) => datetime_literal(*us),
        Value::TimeSpan(ns) => timespan_literal(*ns),
        Value::Dynamic(json) => format!("dynamic({json})"),
    }
}

/// A real literal that always reads back as a real (`2.0`, not `2`).
pub fn real_literal(v: f64) -> String {
    let text = format!("{v:?}");
    if text.contains(['.', 'e', 'E']) { text } else { format!("{text}.0") }
}

/// A double-quoted KQL string with `\` and `"` escaped.
pub fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `datetime(...)` of microseconds since the epoch.
pub fn datetime_literal(us: i64) -> String {
    let seconds = us.div_euclid(MICROS_PER_SECOND);
    let fraction = us.rem_euclid(MICROS_PER_SECOND) * 1_000;
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "datetime({y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:07}Z)",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
        fraction / 100
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Milliseconds are the finest unit the generator uses, so `Nms` is exact.
pub fn timespan_literal(ns: i64) -> String {
    format!("{}ms", ns / NANOS_PER_MILLI)
}

// ---- Parquet ----

/// Writes the table as 1–3 Parquet files with small row groups under `dir` (created).
pub fn write_parquet(table: &Table, dir: &Path, rng: &mut StdRng) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    // A string is never null in these tables: half of the files say so in their schema, as
    // files written by tools that know it do; the other half write `""` as null (see
    // `record_batch`).
    let schema = Arc::new(arrow_schema(table, rng.random_bool(0.5)));
    let file_count = rng.random_range(1..=2).min(table.rows.len());
    let chunk = table.rows.len().div_ceil(file_count);
    for (n, rows) in table.rows.chunks(chunk).enumerate() {
        let batch = record_batch(&schema, &table.columns, rows)?;
        let path = dir.join(format!("part{n}.parquet"));
        let file = File::create(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
        let properties = WriterProperties::builder().set_max_row_group_row_count(Some(rng.random_range(8..=64))).build();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
        writer.close().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The Arrow schema kql reads these types as (see `engine/src/types.rs`): dynamic is JSON text
/// tagged with the `arrow.json` extension.
fn arrow_schema(table: &Table, strings_not_null: bool) -> Schema {
    let fields: Vec<Field> = table
        .columns
        .iter()
        .map(|c| {
            let field = Field::new(&c.name, arrow_type(c.ty), !(strings_not_null && c.ty == Ty::Str));
            if c.ty == Ty::Dynamic {
                field.with_metadata([("ARROW:extension:name".to_string(), "arrow.json".to_string())].into())
            } else {
                field
            }
        })
        .collect();
    Schema::new(fields)
}

fn arrow_type(ty: Ty) -> DataType {
    match ty {
        Ty::Long => DataType::Int64,
        Ty::Int => DataType::Int32,
        Ty::Real => DataType::Float64,
        Ty::Str | Ty::Dynamic => DataType::Utf8,
        Ty::Bool => DataType::Boolean,
        Ty::DateTime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Ty::TimeSpan => DataType::Duration(TimeUnit::Nanosecond),
    }
}

/// A file whose schema lets a string be null writes Kusto's `""` as null in every other row, as
/// most tools write a missing string: kql reads it as `""` again (`engine/src/strings_as_read.rs`), so every
/// query must answer over the file as over the `datatable` that holds `""`.
fn record_batch(schema: &Arc<Schema>, columns: &[Column], rows: &[Vec<Value>]) -> Result<RecordBatch, String> {
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| {
            let empty_as_null = columns[i].ty == Ty::Str && schema.field(i).is_nullable();
            column_array(columns[i].ty, rows.iter().map(|r| &r[i]), empty_as_null)
        })
        .collect();
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}

fn column_array<'a>(ty: Ty, cells: impl Iterator<Item = &'a Value>, empty_as_null: bool) -> ArrayRef {
    match ty {
        // Every other `""` only: a file with both nulls and `""` must read them as one value.
        Ty::Str if empty_as_null => Arc::new(
            cells
                .enumerate()
                .map(|(i, v)| if let Value::Str(s) = v { Some(s.clone()).filter(|s| !s.is_empty() || i % 2 == 1) } else { None })
                .collect::<StringArray>(),
        ),
        Ty::Long => Arc::new(cells.map(|v| if let Value::Long(x) = v { Some(*x) } else { None }).collect::<Int64Array>()),
        Ty::Int => Arc::new(cells.map(|v| if let Value::Int(x) = v { Some(*x) } else { None }).collect::<Int32Array>()),
        Ty::Real => Arc::new(cells.map(|v| if let Value::Real(x) = v { Some(*x) } else { None }).collect::<Float64Array>()),
        Ty::Str => Arc::new(cells.map(|v| if let Value::Str(s) = v { Some(s.clone()) } else { None }).collect::<StringArray>()),
        Ty::Bool => Arc::new(cells.map(|v| if let Value::Bool(b) = v { Some(*b) } else { None }).collect::<BooleanArray>()),
        Ty::DateTime => Arc::new(
            cells
                .map(|v| if let Value::DateTime(us) = v { Some(*us) } else { None })
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
        Ty::TimeSpan => {
            Arc::new(cells.map(|v| if let Value::TimeSpan(ns) = v { Some(*ns) } else { None }).collect::<DurationNanosecondArray>())
        }
        Ty::Dynamic => {
            Arc::new(cells.map(|v| if let Value::Dynamic(json) = v { Some(json.to_string()) } else { None }).collect::<StringArray>())
        }
    }
}
