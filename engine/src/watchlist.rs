//! Sentinel watchlists from files: `_GetWatchlist('name')` reads `name.csv` (or `name.jsonl`)
//! from the watchlist folder, with the columns Sentinel gives a watchlist: `_DTItemId`,
//! `LastUpdatedTimeUTC`, `SearchKey`, the file's own columns (as strings), and `WatchlistItem`,
//! a dynamic bag of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use serde_json::{Map, Value as Json};

use crate::error::{KqlError, Result};
use crate::types::{datetime_type, dynamic_field};

/// The system columns every watchlist has, in Sentinel's order.
pub const SYSTEM_COLUMNS: [&str; 3] = ["_DTItemId", "LastUpdatedTimeUTC", "SearchKey"];

/// A watchlist read from a file, or the empty one a missing watchlist is.
pub struct Watchlist {
    pub batch: RecordBatch,
    /// Set when the watchlist does not exist: it reads as empty, and the user should know.
    pub warning: Option<String>,
}

/// The watchlist files of a folder: `(name, path)` for each `.csv` and `.jsonl` file.
pub fn list(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_watchlist =
            path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("jsonl"));
        if let (true, Some(stem)) = (is_watchlist, path.file_stem().and_then(|s| s.to_str())) {
            out.push((stem.to_string(), path.clone()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads watchlist `name` from `dir`. Names match case-insensitively, as Sentinel's aliases do.
pub fn read(dir: Option<&Path>, name: &str) -> Result<Watchlist> {
    let found = match dir {
        Some(d) => list(d)
            .map_err(|e| KqlError::new(format!("cannot read the watchlist folder {}: {e}", d.display())))?
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name)),
        None => None,
    };
    let Some((_, path)) = found else {
        let where_ = match dir {
            Some(d) => format!("no {name}.csv or {name}.jsonl in {}", d.display()),
            None => "no watchlist folder was given (--watchlists DIR)".to_string(),
        };
        return Ok(Watchlist { batch: build(name, &[], Vec::new(), 0)?, warning: Some(format!("watchlist '{name}' is empty: {where_}")) });
    };
    let text = std::fs::read_to_string(&path).map_err(|e| KqlError::new(format!("cannot read watchlist {}: {e}", path.display())))?;
    let is_csv = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let (columns, rows) = if is_csv { csv_rows(&text, &path)? } else { jsonl_rows(&text, &path)? };
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    let updated = modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_micros() as i64);
    Ok(Watchlist { batch: build(name, &columns, rows, updated)?, warning: None })
}

type Rows = (Vec<String>, Vec<Vec<Option<String>>>);

fn csv_rows(text: &str, path: &Path) -> Result<Rows> {
    let bad = |e: csv::Error| KqlError::new(format!("watchlist {}: {e}", path.display()));
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let columns: Vec<String> = reader.headers().map_err(bad)?.iter().map(|h| h.trim().to_string()).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(bad)?;
        rows.push((0..columns.len()).map(|i| record.get(i).map(str::to_string)).collect());
    }
    Ok((columns, rows))
}

fn jsonl_rows(text: &str, path: &Path) -> Result<Rows> {
    let mut columns: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: Json = serde_json::from_str(line).map_err(|e| KqlError::new(format!("watchlist {}:{}: {e}", path.display(), i + 1)))?;
        let Json::Object(object) = value else {
            return Err(KqlError::new(format!("watchlist {}:{}: each line must be a JSON object", path.display(), i + 1)));
        };
        for key in object.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
        objects.push(object);
    }
    let rows = objects
        .iter()
        .map(|o| {
            columns
                .iter()
                .map(|c| match o.get(c) {
                    None | Some(Json::Null) => None,
                    Some(Json::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                })
                .collect()
        })
        .collect();
    Ok((columns, rows))
}

/// The watchlist's table. `SearchKey` is the file's `SearchKey` column when it has one (it is
/// then not repeated), else its first column, as a watchlist's search key is one of its columns.
fn build(name: &str, columns: &[String], rows: Vec<Vec<Option<String>>>, updated: i64) -> Result<RecordBatch> {
    let key_index = columns.iter().position(|c| c == "SearchKey").or(if columns.is_empty() { None } else { Some(0) });
    let own: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i] != "SearchKey" && !SYSTEM_COLUMNS.contains(&columns[i].as_str()) && columns[i] != "WatchlistItem")
        .collect();
    let mut fields = vec![
        Field::new("_DTItemId", DataType::Utf8, true),
        Field::new("LastUpdatedTimeUTC", datetime_type(), true),
        Field::new("SearchKey", DataType::Utf8, true),
    ];
    fields.extend(own.iter().map(|&i| Field::new(&columns[i], DataType::Utf8, true)));
    fields.push(dynamic_field(Field::new("WatchlistItem", DataType::Utf8, true)));
    let ids: StringArray = (0..rows.len()).map(|i| Some(item_id(name, i))).collect();
    let times = TimestampMicrosecondArray::from(vec![updated; rows.len()]).with_timezone("UTC");
    let keys: StringArray = rows.iter().map(|r| key_index.and_then(|k| r[k].clone())).collect();
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(times), Arc::new(keys)];
    for &i in &own {
        arrays.push(Arc::new(rows.iter().map(|r| r[i].clone()).collect::<StringArray>()));
    }
    let items: StringArray = rows
        .iter()
        .map(|r| {
            let bag: Map<String, Json> =
                columns.iter().zip(r).map(|(c, v)| (c.clone(), v.clone().map_or(Json::Null, Json::String))).collect();
            Some(Json::Object(bag).to_string())
        })
        .collect();
    arrays.push(Arc::new(items));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// A stable GUID-shaped id for an item (Sentinel assigns random ones; a file has none).
fn item_id(name: &str, row: usize) -> String {
    let a = xxhash_rust::xxh64::xxh64(name.to_ascii_lowercase().as_bytes(), row as u64);
    let b = xxhash_rust::xxh64::xxh64(&a.to_le_bytes(), 0x5e17);
    let hex = format!("{a:016x}{b:016x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
