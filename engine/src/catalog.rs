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
pub async fn open_parquet(state: &SessionState, location: &str) -> Result<Table> {
    let path = Path::new(location);
    let is_glob = location.contains(['*', '?', '[']);
    if !is_glob && !path.exists() {
        return Err(KqlError::new(format!("cannot open '{location}': no such file or directory")));
    }
    let mut url_text = location.to_string();
    if path.is_dir() && !url_text.ends_with('/') {
        url_text.push('/');
    }
    let url = ListingTableUrl::parse(&url_text).map_err(|e| KqlError::new(format!("cannot open '{location}': {e}")))?;
    let extension = if path.is_dir() || is_glob { ".parquet" } else { "" };
    // Keep the Arrow field metadata files carry: it marks `dynamic` columns (JSON text tagged
    // `arrow.json`), which gettype(), getschema and the dynamic functions rely on.
    let format = ParquetFormat::default().with_skip_metadata(false);
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(extension);
    let schema = options
        .infer_schema(state, &url)
        .await
        .map_err(|e| KqlError::new(format!("cannot read Parquet schema of '{location}': {}", KqlError::from(e))))?;
    if schema.fields().is_empty() {
        return Err(KqlError::new(format!("'{location}' holds no Parquet files")));
    }
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
    let table = ListingTable::try_new(config)?;
    Ok(Table { provider: Arc::new(table), location: location.to_string() })
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
