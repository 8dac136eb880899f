//! The tables of a `--data` location: a local folder, or a bucket or container prefix
//! (`s3://logs/`, `az://container/`...). Each table file (`NAME.parquet`, `NAME.jsonl`,
//! `NAME.csv` ...) and each sub-folder `NAME/` is a table `NAME`; a folder that Log Analytics'
//! data export wrote (`am-signinlogs/`) is named after the table its records came from.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use datafusion::execution::context::SessionState;
use datafusion::object_store::path::Path as ObjectPath;
use futures::TryStreamExt;

use crate::catalog::{NamedLocation, is_table_file_name};
use crate::error::{KqlError, Result};
use crate::text_source::{TextKind, table_name_of, text_kind_of};

/// Log Analytics' data export writes each table to a container `am-<table>`, in lower case
/// (container names cannot hold capitals).
const EXPORT_PREFIX: &str = "am-";

/// The longest first record read to learn an export folder's table name.
const FIRST_RECORD_LIMIT: u64 = 1 << 20;

/// The tables of a data location, and warnings (files left out, names guessed).
pub async fn tables_at(state: &SessionState, location: &str) -> Result<(Vec<NamedLocation>, Vec<String>)> {
    let mut warnings = Vec::new();
    let entries = match crate::object_stores::remote_url(location) {
        Some(url) => remote_entries(state, location, &url, &mut warnings).await?,
        None => local_entries(Path::new(location), &mut warnings)?,
    };
    let mut tables = Vec::new();
    for entry in entries {
        let name = match &entry.first_record {
            Some(record) => export_table_name(&entry.name, record.as_deref(), &entry.location, &mut warnings),
            None => entry.name.clone(),
        };
        tables.push((name, entry.location));
    }
    tables.sort();
    let mut tables = keep_unique(tables, &mut warnings);
    tables.sort();
    warnings.sort();
    Ok((tables, warnings))
}

/// A file or folder of a data location that is a table.
struct Entry {
    /// The name its file or folder gives.
    name: String,
    location: String,
    /// For an export folder (`am-...`): the first line of its first JSON file, if any.
    first_record: Option<Option<String>>,
}

fn local_entries(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<Entry>> {
    if dir.join(crate::delta::LOG_FOLDER).is_dir() {
        return Err(KqlError::new(format!(
            "'{}' is a Delta table, not a folder of tables: register it with --table NAME=delta:{}",
            dir.display(),
            dir.display()
        )));
    }
    let cannot = |e: std::io::Error| KqlError::new(format!("cannot read data folder '{}': {e}", dir.display()));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        let Some(file_name) = path.file_name().and_then(|s| s.to_str()) else { continue };
        if file_name.starts_with('.') {
            continue;
        }
        let location = path.to_string_lossy().into_owned();
        if path.is_dir() {
            let first_record = is_export_folder(file_name).then(|| first_local_record(&path));
            out.push(Entry { name: file_name.to_string(), location, first_record });
        } else if is_table_file_name(file_name) {
            out.push(Entry { name: table_name_of(file_name).to_string(), location, first_record: None });
        } else {
            warnings.push(format!("left out '{}': not a Parquet, JSON lines or CSV/TSV file", path.display()));
        }
    }
    Ok(out)
}

/// The prefixes and objects right under a bucket or container prefix, listed with the `/`
/// delimiter as the store's own tools show folders.
async fn remote_entries(state: &SessionState, location: &str, url: &url::Url, warnings: &mut Vec<String>) -> Result<Vec<Entry>> {
    use crate::object_stores::{error_text, object_url, register_store};
    if matches!(url.scheme(), "http" | "https") {
        return Err(KqlError::new(format!("'{location}' cannot be listed over HTTP: register each file with --table NAME=URL")));
    }
    let store = register_store(state, url)?;
    let path = url.path().trim_end_matches('/');
    let prefix = ObjectPath::from_url_path(path).map_err(|e| KqlError::new(format!("cannot open '{location}': {e}")))?;
    let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
    let listed = store
        .list_with_delimiter(prefix.as_ref())
        .await
        .map_err(|e| KqlError::new(format!("cannot list '{location}': {}", error_text(&e))))?;
    let name_of = |p: &ObjectPath| p.filename().unwrap_or_default().to_string();
    if listed.common_prefixes.iter().any(|p| name_of(p) == crate::delta::LOG_FOLDER) {
        return Err(KqlError::new(format!(
            "'{location}' is a Delta table, not a folder of tables: register it with --table NAME=delta:{location}"
        )));
    }
    let mut out = Vec::new();
    for folder in &listed.common_prefixes {
        let name = name_of(folder);
        if name.starts_with('.') {
            continue;
        }
        // A trailing `/` makes the table's location a prefix, never an object of that name.
        let location = format!("{}/", object_url(url, folder));
        let first_record = if is_export_folder(&name) { Some(first_remote_record(&store, folder).await) } else { None };
        out.push(Entry { name, location, first_record });
    }
    if listed.common_prefixes.is_empty() && listed.objects.is_empty() {
        return Err(KqlError::new(format!("'{location}' holds no tables (nothing under it)")));
    }
    for object in &listed.objects {
        let file_name = name_of(&object.location);
        if file_name.starts_with('.') {
            continue;
        }
        let location = object_url(url, &object.location);
        if is_table_file_name(&file_name) {
            out.push(Entry { name: table_name_of(&file_name).to_string(), location, first_record: None });
        } else {
            warnings.push(format!("left out '{location}': not a Parquet, JSON lines or CSV/TSV file"));
        }
    }
    Ok(out)
}

fn is_export_folder(name: &str) -> bool {
    name.len() > EXPORT_PREFIX.len() && name.get(..EXPORT_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(EXPORT_PREFIX))
}

/// The name of an export folder's table: the `Type` its records carry (every Log Analytics
/// record names its table there, in the table's own spelling), else the folder's name without
/// `am-`, with a warning, since that is the table's name in lower case.
fn export_table_name(folder: &str, first_record: Option<&str>, location: &str, warnings: &mut Vec<String>) -> String {
    let guessed = &folder[EXPORT_PREFIX.len()..];
    let record_type = first_record
        .and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .and_then(|record| record.get("Type").and_then(|t| t.as_str()).map(str::to_string))
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    match record_type {
        Some(name) => name,
        None => {
            warnings.push(format!(
                "'{location}' is named '{guessed}' after its folder: its first record has no Type column to give the table's spelling (register it with --table NAME={location})"
            ));
            guessed.to_string()
        }
    }
}

/// The first line of the first JSON lines file under a local folder, in path order.
fn first_local_record(dir: &Path) -> Option<String> {
    let file = first_json_file(dir, 0)?;
    let reader: Box<dyn Read> = {
        let f = std::fs::File::open(&file).ok()?;
        if file.to_string_lossy().to_ascii_lowercase().ends_with(".gz") { Box::new(flate2::read::GzDecoder::new(f)) } else { Box::new(f) }
    };
    let mut line = String::new();
    BufReader::new(reader.take(FIRST_RECORD_LIMIT)).read_line(&mut line).ok()?;
    line.ends_with('\n').then(|| line.trim_end().to_string()).or_else(|| (!line.is_empty()).then_some(line))
}

/// Export folders are a few levels deep (`WorkspaceResourceId=/subscriptions/.../h=10/m=00/`);
/// a walk deeper than this is not one.
const EXPORT_DEPTH: usize = 16;

fn first_json_file(dir: &Path, depth: usize) -> Option<PathBuf> {
    if depth > EXPORT_DEPTH {
        return None;
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths.into_iter().find_map(|p| {
        let name = p.file_name()?.to_str()?;
        if name.starts_with('.') || name.starts_with('_') {
            None
        } else if p.is_dir() {
            first_json_file(&p, depth + 1)
        } else {
            (text_kind_of(name) == Some(TextKind::JsonLines)).then_some(p)
        }
    })
}

/// The first line of the first JSON lines object under a prefix (plain, as the export writes).
async fn first_remote_record(store: &std::sync::Arc<dyn object_store::ObjectStore>, prefix: &ObjectPath) -> Option<String> {
    use datafusion::object_store::ObjectStoreExt;
    let mut objects = store.list(Some(prefix));
    let first = loop {
        let meta = objects.try_next().await.ok()??;
        let name = meta.location.filename().unwrap_or_default();
        if name.to_ascii_lowercase().ends_with(".json") && text_kind_of(name) == Some(TextKind::JsonLines) {
            break meta;
        }
    };
    let bytes = store.get_range(&first.location, 0..first.size.min(FIRST_RECORD_LIMIT)).await.ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().next().map(str::to_string)
}

/// Two entries of one name (`x.csv` and `x.parquet`, or `SigninLogs.parquet` and
/// `am-signinlogs/`) would be one table read twice: both are left out, and said so.
fn keep_unique(tables: Vec<NamedLocation>, warnings: &mut Vec<String>) -> Vec<NamedLocation> {
    let mut count = std::collections::BTreeMap::<String, usize>::new();
    for (name, _) in &tables {
        *count.entry(name.clone()).or_default() += 1;
    }
    tables
        .into_iter()
        .filter(|(name, location)| {
            let unique = count[name] == 1;
            if !unique {
                warnings
                    .push(format!("left out '{location}': another file of the folder is also named '{name}' (register each with --table)"));
            }
            unique
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_folders_take_their_records_table_name() {
        let mut warnings = Vec::new();
        let record = r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"SigninLogs","UserPrincipalName":"a"}"#;
        assert_eq!(export_table_name("am-signinlogs", Some(record), "x/am-signinlogs", &mut warnings), "SigninLogs");
        assert!(warnings.is_empty());
        assert_eq!(export_table_name("am-signinlogs", Some(r#"{"a":1}"#), "x/am-signinlogs", &mut warnings), "signinlogs");
        assert_eq!(export_table_name("AM-securityevent", None, "x/AM-securityevent", &mut warnings), "securityevent");
        assert_eq!(export_table_name("am-x", Some(r#"{"Type":"a b"}"#), "x/am-x", &mut warnings), "x");
        assert_eq!(warnings.len(), 3);
        assert!(
            warnings[0].starts_with("'x/am-signinlogs' is named 'signinlogs' after its folder: its first record has no Type column"),
            "{warnings:?}"
        );
    }

    #[test]
    fn only_am_dash_folders_are_export_folders() {
        assert!(is_export_folder("am-signinlogs"));
        assert!(is_export_folder("AM-SecurityEvent"));
        assert!(!is_export_folder("am-"));
        assert!(!is_export_folder("amber"));
        assert!(!is_export_folder("SecurityEvent"));
    }
}
