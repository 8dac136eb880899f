//! The tables a session can read: Parquet, JSON lines and CSV files, folders and globs, each
//! under a name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::context::SessionState;

use crate::error::{KqlError, Result};
use crate::prelude::TableDeclaration;
use crate::text_source::{TextFormat, TextKind, TextOptions, text_kind_of};

#[derive(Clone)]
pub struct Table {
    pub provider: Arc<dyn TableProvider>,
    /// Where the rows come from, as the user gave it.
    pub location: String,
    /// The `.create table` declaration a Parquet table's scan converts its columns to (a text
    /// table is read with the declared columns directly, and has none here).
    pub declared: Option<TableDeclaration>,
    /// A declared Parquet table's files, to name the one holding a value that does not convert.
    pub declared_files: Option<Arc<crate::declared::DeclaredFiles>>,
    /// The datetime columns in microseconds whose values the scan checks against Kusto's range
    /// (those whose files' statistics show a date outside it, or show nothing).
    pub checked_micros: std::collections::BTreeSet<String>,
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

/// Whether kql reads a file of this name as a table (Parquet, JSON lines, CSV/TSV).
pub fn is_table_file_name(name: &str) -> bool {
    FileKind::of(name).is_some()
}

/// The formats a table is read from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FileKind {
    Parquet,
    Text(TextKind),
}

impl FileKind {
    /// The kind a file name says; `None` for a file kql does not read.
    fn of(name: &str) -> Option<FileKind> {
        if name.to_ascii_lowercase().ends_with(".parquet") { Some(FileKind::Parquet) } else { text_kind_of(name).map(FileKind::Text) }
    }

    fn describe(self) -> &'static str {
        match self {
            FileKind::Parquet => "Parquet",
            FileKind::Text(TextKind::JsonLines) => "JSON lines",
            FileKind::Text(TextKind::Delimited(b'\t')) => "TSV",
            FileKind::Text(TextKind::Delimited(_)) => "CSV",
        }
    }
}

/// Opens a table: a Parquet, JSON lines or CSV/TSV file (gzip too), a folder of them (searched
/// recursively), or a glob, reading the schema from the files. Returns the table and warnings
/// (files of a folder left out).
pub async fn open_table(
    state: &SessionState,
    location: &str,
    text: &TextOptions,
    declared: Option<&TableDeclaration>,
    scan_notes: &Arc<parking_lot::Mutex<Vec<String>>>,
) -> Result<(Table, Vec<String>)> {
    let remote = crate::object_stores::remote_url(location);
    let Located { kind, urls, extension, partitioned, warnings } = match &remote {
        Some(url) => locate_remote(state, location, url).await?,
        None => locate_local(location)?,
    };
    // A message about a line names its file as the user knows it: a path, or the store's URL.
    let text = match &remote {
        Some(url) => TextOptions { location_prefix: format!("{}://{}/", url.scheme(), url.authority()), ..text.clone() },
        None => text.clone(),
    };
    let format: Arc<dyn FileFormat> = match kind {
        // Keep the Arrow field metadata files carry: it marks `dynamic` columns (JSON text
        // tagged `arrow.json`), which gettype(), getschema and the dynamic functions rely on.
        FileKind::Parquet => Arc::new(ParquetFormat::default().with_skip_metadata(false)),
        FileKind::Text(kind) => Arc::new(TextFormat { kind, options: text }),
    };
    let options = ListingOptions::new(format.clone()).with_file_extension(extension);
    let mut files: Listed = None;
    // A text table declared with `.create table` is read with exactly the declared columns: its
    // files need no inference.
    let schema = match (kind, declared) {
        (FileKind::Text(_), Some(d)) if !d.merge => declared_schema(d, None)?,
        _ => {
            let inferred = infer_schema(state, &options, &urls, &mut files).await.map_err(|e| {
                KqlError::new(format!("cannot read {} schema of '{location}': {}", kind.describe(), schema_error_text(&e.message)))
            })?;
            match (kind, declared) {
                (FileKind::Text(_), Some(d)) => declared_schema(d, Some(&inferred))?,
                _ => inferred,
            }
        }
    };
    if schema.fields().is_empty() {
        return Err(KqlError::new(format!("'{location}' holds no {} files with columns", kind.describe())));
    }
    let mut warnings = warnings;
    // Kusto has no unsigned 64-bit type: such a column reads as `long`, and a value past long's
    // range as null. Said once, at registration, naming the column.
    for field in schema.fields() {
        if field.data_type() == &arrow::datatypes::DataType::UInt64 {
            warnings.push(format!(
                "column '{}' is an unsigned 64-bit integer in the files: it reads as long, and a value above 9223372036854775807 as null",
                field.name()
            ));
        }
        if let arrow::datatypes::DataType::Decimal256(p, _) = field.data_type()
            && *p > 38
        {
            warnings.push(format!(
                "column '{}' is a {p}-digit decimal in the files: it reads as Kusto's decimal, and a value past 38 digits as null",
                field.name()
            ));
        }
    }
    // Dates Kusto cannot hold read as null; said once, at registration, naming column and file.
    let dated = crate::parquet_dates::checked_columns(&schema);
    let prefix = match &remote {
        Some(url) => format!("{}://{}/", url.scheme(), url.authority()),
        None => "/".to_string(),
    };
    let mut checked_micros = std::collections::BTreeSet::new();
    if kind == FileKind::Parquet
        && !dated.is_empty()
        && let Some((store, objects)) = &files
    {
        let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let shown = |o: &datafusion::object_store::ObjectMeta| format!("{prefix}{}", o.location);
        let check = crate::parquet_dates::check(store, objects, &schema, &dated, cache, shown).await;
        warnings.extend(check.warnings);
        checked_micros = check.checked_micros;
    }
    let (declared, declared_files) = match (kind, declared) {
        (FileKind::Parquet, Some(d)) => {
            crate::declared::check_parquet(d, &schema)?;
            let files = files.map(|(store, objects)| Arc::new(crate::declared::DeclaredFiles { store, objects, prefix }));
            (Some(d.clone()), files)
        }
        _ => (None, None),
    };
    let provider: Arc<dyn TableProvider> = match partitioned {
        Some(files) => Arc::new(crate::partitions::PartitionedTable::new(location, options, schema, files, scan_notes.clone(), state)?),
        None => {
            let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
            // Each query's scan reads every file's statistics (row counts, min/max) from its
            // footer unless they are cached. The cache is the session's; an entry is used only
            // while the size and modification time listed for the file (and the table's column
            // types) are those it was read with: the check DataFusion's cache of Parquet
            // footers, on by default, makes already. A file rewritten with the same size within
            // the same modification time would keep its old statistics.
            Arc::new(ListingTable::try_new(config)?.with_cache(state.runtime_env().cache_manager.get_file_statistic_cache()))
        }
    };
    Ok((Table { provider, location: location.to_string(), declared, declared_files, checked_micros }, warnings))
}

/// The store and files a table's schema was inferred from.
type Listed = Option<(Arc<dyn datafusion::object_store::ObjectStore>, Vec<datafusion::object_store::ObjectMeta>)>;

/// Where a table's files are: their format, the URLs the listing table reads, the extension it
/// lists a folder URL by, the files' partition time ranges, and the files left out.
struct Located {
    kind: FileKind,
    urls: Vec<ListingTableUrl>,
    extension: &'static str,
    partitioned: Option<Vec<crate::partitions::PartitionFile>>,
    warnings: Vec<String>,
}

/// A local file, folder or glob.
fn locate_local(location: &str) -> Result<Located> {
    crate::delta::refuse_plain_read(location)?;
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
    let parse_url = |text: &str| ListingTableUrl::parse(text).map_err(|e| KqlError::new(format!("cannot open '{text}': {e}")));
    let mut warnings = Vec::new();
    // A Parquet file whose footer is damaged makes the reader panic or fail deep inside; it is
    // checked first. A named file must be sound; a folder's damaged files are left out with a
    // warning, so one bad file does not cost the rest.
    // The files of a folder partitioned by time, each with its partition's time range.
    let mut partitioned: Option<Vec<crate::partitions::PartitionFile>> = None;
    let (kind, urls, extension) = if path.is_dir() {
        let mut files = Vec::new();
        table_files(path, &mut files);
        let kind = folder_kind(location, &files, &mut warnings)?;
        let mut sound = Vec::new();
        for (file, file_kind) in files {
            if file_kind != kind {
                continue;
            }
            match kind {
                FileKind::Parquet => match check_footer(&file) {
                    Ok(()) => sound.push(file),
                    Err(e) => warnings.push(format!("left out '{}', not a readable Parquet file: {e}", file.display())),
                },
                FileKind::Text(_) => sound.push(file),
            }
        }
        if sound.is_empty() {
            return Err(KqlError::new(format!("'{location}' holds no readable {} file: {}", kind.describe(), warnings.join("; "))));
        }
        let ranges: Vec<Option<(i64, i64)>> =
            sound.iter().map(|f| crate::partitions::file_time_range(f.to_string_lossy().as_ref())).collect();
        if ranges.iter().any(Option::is_some) {
            let urls: Vec<ListingTableUrl> = sound.iter().map(|f| parse_url(f.to_string_lossy().as_ref())).collect::<Result<_>>()?;
            partitioned = Some(urls.iter().cloned().zip(ranges).collect());
            (kind, urls, "")
        } else if warnings.is_empty() && kind == FileKind::Parquet {
            (kind, vec![parse_url(&url_text)?], ".parquet")
        } else {
            (kind, sound.iter().map(|f| parse_url(f.to_string_lossy().as_ref())).collect::<Result<_>>()?, "")
        }
    } else {
        // A file or glob of an extension kql does not know is read as Parquet, as it always was.
        let kind = FileKind::of(location).unwrap_or(FileKind::Parquet);
        if path.is_file() && kind == FileKind::Parquet {
            check_footer(path).map_err(|e| KqlError::new(format!("'{location}' is not a readable Parquet file: {e}")))?;
        }
        (kind, vec![parse_url(&url_text)?], "")
    };
    Ok(Located { kind, urls, extension, partitioned, warnings })
}

/// An object, or the objects under a prefix, of a bucket or container (or an HTTP URL).
async fn locate_remote(state: &SessionState, location: &str, url: &url::Url) -> Result<Located> {
    use crate::object_stores::{check_parquet_footer, head, list, object_url, register_store};
    let store = register_store(state, url)?;
    crate::delta::refuse_remote_part(state, location, url).await?;
    let parse_url = |text: &str| ListingTableUrl::parse(text).map_err(|e| KqlError::new(format!("cannot open '{text}': {e}")));
    let mut warnings = Vec::new();
    // A URL that names an object is that object; otherwise it is a prefix (a "folder").
    let single = if url.path().ends_with('/') { None } else { head(&store, url).await? };
    if let Some(meta) = single {
        let kind = FileKind::of(url.path()).unwrap_or(FileKind::Parquet);
        if kind == FileKind::Parquet {
            check_parquet_footer(&store, &meta)
                .await
                .map_err(|e| KqlError::new(format!("'{location}' is not a readable Parquet file: {e}")))?;
        }
        return Ok(Located { kind, urls: vec![parse_url(url.as_str())?], extension: "", partitioned: None, warnings });
    }
    // Over plain HTTP a "folder" can be listed only from a WebDAV server; a URL that names no
    // object is most likely mistyped.
    if matches!(url.scheme(), "http" | "https") && !url.path().ends_with('/') {
        return Err(KqlError::new(format!("cannot open '{location}': no such object (the server answered 404)")));
    }
    let mut prefix_url = url.clone();
    if !prefix_url.path().ends_with('/') {
        prefix_url.set_path(&format!("{}/", url.path()));
    }
    let objects = list(&store, &prefix_url).await?;
    // A Delta table under the prefix keeps files its later versions removed (`delta.rs`); the
    // prefix itself, were it one, was read through its log before this.
    let log = crate::delta::LOG_FOLDER;
    if let Some(entry) = objects.iter().find(|o| o.location.parts().any(|p| p.as_ref() == log)) {
        let folder: datafusion::object_store::path::Path = entry.location.parts().take_while(|p| p.as_ref() != log).collect();
        return Err(crate::delta::holds_table(location, &object_url(url, &folder)));
    }
    // Hidden objects (`.x`, Spark's `_SUCCESS`, `_delta_log/`) are not data.
    let hidden = |o: &datafusion::object_store::ObjectMeta| o.location.parts().any(|p| is_hidden_name(p.as_ref()));
    let entries: Vec<(String, FileKind, &datafusion::object_store::ObjectMeta)> = objects
        .iter()
        .filter(|o| !hidden(o))
        .filter_map(|o| FileKind::of(o.location.as_ref()).map(|k| (object_url(url, &o.location), k, o)))
        .collect();
    if entries.is_empty() {
        return Err(KqlError::new(format!("'{location}' holds no Parquet, JSON lines or CSV files ({} objects under it)", objects.len())));
    }
    let files: Vec<(PathBuf, FileKind)> = entries.iter().map(|(u, k, _)| (PathBuf::from(u), *k)).collect();
    let kind = folder_kind(location, &files, &mut warnings)?;
    let mut sound = Vec::new();
    for (object, file_kind, meta) in entries {
        if file_kind != kind {
            continue;
        }
        if kind == FileKind::Parquet
            && let Err(e) = check_parquet_footer(&store, meta).await
        {
            warnings.push(format!("left out '{object}', not a readable Parquet file: {e}"));
            continue;
        }
        sound.push(object);
    }
    if sound.is_empty() {
        return Err(KqlError::new(format!("'{location}' holds no readable {} file: {}", kind.describe(), warnings.join("; "))));
    }
    let urls: Vec<ListingTableUrl> = sound.iter().map(|u| parse_url(u)).collect::<Result<_>>()?;
    let ranges: Vec<Option<(i64, i64)>> = sound.iter().map(|u| crate::partitions::file_time_range(u)).collect();
    let partitioned = ranges.iter().any(Option::is_some).then(|| urls.iter().cloned().zip(ranges).collect());
    Ok(Located { kind, urls, extension: "", partitioned, warnings })
}

/// A text table's columns under its declaration: the declared ones, in order, then (for
/// `.create-merge`) the inferred columns the declaration does not name.
fn declared_schema(declared: &TableDeclaration, inferred: Option<&SchemaRef>) -> Result<SchemaRef> {
    let mut fields: Vec<arrow::datatypes::Field> = Vec::new();
    for (name, ty) in &declared.columns {
        let field = crate::declared::field_of(name, *ty);
        crate::text_source::decode::Target::of(&field)
            .map_err(|e| KqlError::new(format!("the declaration of {} at {}: {e}", declared.name, declared.location)))?;
        fields.push(field);
    }
    if let Some(inferred) = inferred {
        for field in inferred.fields() {
            if !declared.columns.iter().any(|(n, _)| n == field.name()) {
                fields.push(field.as_ref().clone());
            }
        }
    }
    Ok(Arc::new(arrow::datatypes::Schema::new(fields)))
}

/// The schema of every file the URLs list, inferred at once, so that the format widens across
/// all of them (a listing table infers from its first URL only).
/// `files` is given the files listed, for the checks that follow.
async fn infer_schema(state: &SessionState, options: &ListingOptions, urls: &[ListingTableUrl], files: &mut Listed) -> Result<SchemaRef> {
    use futures::TryStreamExt;
    let Some(first) = urls.first() else { return Ok(Arc::new(arrow::datatypes::Schema::empty())) };
    let store = state.runtime_env().object_store(first)?;
    let mut objects = Vec::new();
    for url in urls {
        let listed: Vec<_> = url.list_all_files(state, store.as_ref(), &options.file_extension).await?.try_collect().await?;
        objects.extend(listed.into_iter().filter(|o| o.size > 0));
    }
    *files = Some((store.clone(), objects.clone()));
    if objects.is_empty() {
        return Err(KqlError::new("no files with data found"));
    }
    match options.format.infer_schema(state, &store, &objects).await {
        Ok(schema) => Ok(schema),
        // Files that store a column in different encodings of one KQL type (`schema_merge.rs`).
        Err(e) if objects.len() > 1 && e.to_string().contains("Fail to merge schema") => {
            objects.sort_by(|a, b| a.location.cmp(&b.location));
            crate::schema_merge::merge_by_kql_type(state, &store, &options.format, &objects).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A folder's table reads one format: the one most of its files have (Parquet on a tie). Files
/// of other formats are left out, with a warning naming them.
fn folder_kind(location: &str, files: &[(PathBuf, FileKind)], warnings: &mut Vec<String>) -> Result<FileKind> {
    let mut counts: Vec<(FileKind, usize)> = Vec::new();
    for (_, kind) in files {
        match counts.iter_mut().find(|(k, _)| k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((*kind, 1)),
        }
    }
    counts.sort_by_key(|(kind, n)| (std::cmp::Reverse(*n), *kind != FileKind::Parquet));
    let Some(&(kind, _)) = counts.first() else {
        return Err(KqlError::new(format!("'{location}' holds no Parquet, JSON lines or CSV files")));
    };
    for (file, other) in files {
        if *other != kind {
            warnings.push(format!(
                "left out '{}': the table reads its folder's {} files, and this is {} (register it as a table of its own)",
                file.display(),
                kind.describe(),
                other.describe()
            ));
        }
    }
    Ok(kind)
}

/// A file or folder inside a table's folder that holds no data: `.x`, and Spark's `_SUCCESS`
/// and `_delta_log/`.
fn is_hidden_name(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// The files under a folder that kql reads, recursively, in path order.
fn table_files(dir: &Path, out: &mut Vec<(PathBuf, FileKind)>) {
    table_files_once(dir, out, &mut Default::default());
}

/// `table_files`, reading each folder once: a link to a parent folder would otherwise make the
/// walk endless (and a folder linked twice would be read twice).
fn table_files_once(dir: &Path, out: &mut Vec<(PathBuf, FileKind)>, seen: &mut std::collections::HashSet<PathBuf>) {
    let Ok(real) = std::fs::canonicalize(dir) else { return };
    if !seen.insert(real) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.file_name().and_then(|n| n.to_str()).is_some_and(is_hidden_name) {
            continue;
        }
        if p.is_dir() {
            table_files_once(&p, out, seen);
        } else if let Some(kind) = p.file_name().and_then(|n| n.to_str()).and_then(FileKind::of) {
            out.push((p, kind));
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

/// A table's name and where its files are.
pub type NamedLocation = (String, String);

/// DataFusion's "Fail to merge schema field 'id' because the from data_type = Utf8 does not
/// equal Int64" in a hunter's words.
fn schema_error_text(message: &str) -> String {
    // The object store's walk of a folder stops at a link to a folder that holds it.
    if let Some(found) = message.split("File system loop found: ").nth(1) {
        return format!("a link loops back to a folder that holds it ({})", found.lines().next().unwrap_or_default());
    }
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
