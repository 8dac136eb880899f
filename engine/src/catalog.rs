//! The tables a session can read: Parquet files, folders and globs, each under a name.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::context::SessionState;

use crate::error::{KqlError, Result};

#[derive(Clone)]
pub struct Table {
    pub provider: Arc<dyn TableProvider>,
    /// Where the rows come from, as the user gave it.
    pub location: String,
}

#[derive(Clone, Default)]
pub struct Catalog {
    tables: BTreeMap<String, Table>,
}

impl Catalog {
    pub fn get(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    pub fn insert(&mut self, name: &str, table: Table) {
        self.tables.insert(name.to_string(), table);
    }

    pub fn tables(&self) -> impl Iterator<Item = (&String, &Table)> {
        self.tables.iter()
    }
}

/// Opens a Parquet file, a folder of them, or a glob, reading the schema from the files.
/// Returns the table and warnings (files of a folder left out).
pub async fn open_parquet(state: &SessionState, location: &str) -> Result<(Table, Vec<String>)> {
    let path = Path::new(location);
    let is_glob = location.contains(['*', '?', '[']);
    if !is_glob && !path.exists() {
        // A path that is there but cannot be followed (a symlink loop, a dangling link, no
        // permission) says why, rather than "no such file".
        return Err(KqlError::new(match (std::fs::symlink_metadata(path), std::fs::metadata(path)) {
            (Ok(_), Err(e)) => format!("cannot open '{location}': {e}"),
            _ => format!("cannot open '{location}': no such file or directory"),
        }));
    }
    let mut url_text = location.to_string();
    if path.is_dir() && !url_text.ends_with('/') {
        url_text.push('/');
    }
    let mut warnings = Vec::new();
    // A file whose footer is damaged makes the Parquet reader panic or fail deep inside; it is
    // checked first. A named file must be sound; a folder's damaged files are left out with a
    // warning, so one bad file does not cost the rest.
    let mut urls = vec![ListingTableUrl::parse(&url_text).map_err(|e| KqlError::new(format!("cannot open '{location}': {e}")))?];
    if path.is_file() {
        check_footer(path).map_err(|e| KqlError::new(format!("'{location}' is not a readable Parquet file: {e}")))?;
    } else if path.is_dir() {
        let mut files = Vec::new();
        parquet_files(path, &mut files);
        let mut sound = Vec::new();
        for file in files {
            match check_footer(&file) {
                Ok(()) => sound.push(file),
                Err(e) => warnings.push(format!("left out '{}', not a readable Parquet file: {e}", file.display())),
            }
        }
        if !warnings.is_empty() {
            if sound.is_empty() {
                return Err(KqlError::new(format!("'{location}' holds no readable Parquet file: {}", warnings.join("; "))));
            }
            urls = sound
                .iter()
                .map(|f| {
                    ListingTableUrl::parse(f.to_string_lossy().as_ref())
                        .map_err(|e| KqlError::new(format!("cannot open '{}': {e}", f.display())))
                })
                .collect::<Result<_>>()?;
        }
    }
    let url = urls[0].clone();
    let extension = if path.is_dir() || is_glob { ".parquet" } else { "" };
    // Keep the Arrow field metadata files carry: it marks `dynamic` columns (JSON text tagged
    // `arrow.json`), which gettype(), getschema and the dynamic functions rely on.
    let format = ParquetFormat::default().with_skip_metadata(false);
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(extension);
    let schema = options.infer_schema(state, &url).await.map_err(|e| {
        KqlError::new(format!("cannot read Parquet schema of '{location}': {}", schema_error_text(&KqlError::from(e).message)))
    })?;
    if schema.fields().is_empty() {
        return Err(KqlError::new(format!("'{location}' holds no Parquet files")));
    }
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
    let table = ListingTable::try_new(config)?;
    Ok((Table { provider: Arc::new(table), location: location.to_string() }, warnings))
}

/// The `.parquet` files under a folder, recursively, in path order.
fn parquet_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            parquet_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "parquet") {
            out.push(p);
        }
    }
}

/// A Parquet file ends with its footer's length and `PAR1`; the footer must fit in the file.
fn check_footer(path: &Path) -> std::result::Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if size < 12 {
        return Err(format!("{size} bytes is too short"));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8)).and_then(|_| file.read_exact(&mut tail)).map_err(|e| e.to_string())?;
    if &tail[4..] != b"PAR1" {
        return Err("it does not end with the Parquet magic bytes".into());
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer + 12 > size {
        return Err(format!("its footer claims {footer} bytes, more than the file holds"));
    }
    Ok(())
}

/// The tables of a data folder: each `NAME.parquet` file and each sub-folder `NAME/`.
pub fn tables_in_dir(dir: &Path) -> Result<Vec<(String, String)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| KqlError::new(format!("cannot read data folder '{}': {e}", dir.display())))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KqlError::new(format!("cannot read data folder '{}': {e}", dir.display())))?;
        let path = entry.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        if stem.starts_with('.') {
            continue;
        }
        if path.is_dir() || path.extension().is_some_and(|e| e == "parquet") {
            out.push((stem.to_string(), path.to_string_lossy().into_owned()));
        }
    }
    out.sort();
    Ok(out)
}

/// DataFusion's "Fail to merge schema field 'id' because the from data_type = Utf8 does not
/// equal Int64" in a hunter's words.
fn schema_error_text(message: &str) -> String {
    let Some(rest) = message.split("Fail to merge schema field '").nth(1) else { return message.to_string() };
    let Some((field, rest)) = rest.split_once('\'') else { return message.to_string() };
    let types: Vec<&str> = rest.split("data_type = ").nth(1).map(|t| t.split(" does not equal ").collect()).unwrap_or_default();
    let kql = |arrow: &str| {
        match arrow.trim() {
            "Utf8" | "LargeUtf8" | "Utf8View" => "string",
            "Int64" | "UInt32" | "UInt64" => "long",
            "Int32" | "Int16" | "Int8" | "UInt16" | "UInt8" => "int",
            "Float64" | "Float32" => "real",
            "Boolean" => "bool",
            t if t.starts_with("Timestamp") || t.starts_with("Date") => "datetime",
            t if t.starts_with("Duration") => "timespan",
            other => other,
        }
        .to_string()
    };
    match types.as_slice() {
        [a, b] => {
            format!("its files disagree on column '{field}': {} in one, {} in another (register them as separate tables)", kql(a), kql(b))
        }
        _ => format!("its files disagree on column '{field}' (register them as separate tables)"),
    }
}
