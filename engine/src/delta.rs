//! Delta Lake tables: `--table NAME=delta:PATH_OR_URL`, and any folder or bucket prefix that
//! holds a `_delta_log/`. delta-rs (`deltalake`, built on the same DataFusion) reads the
//! table's transaction log and gives the provider that scans the files of the chosen version,
//! skipping files by their partition values and statistics.
//!
//! A Delta folder must never be read as a plain folder of Parquet files: files that later
//! versions removed (rewritten by a `DELETE` or `UPDATE`, replaced by an overwrite or an
//! `OPTIMIZE`) stay on disk until a `VACUUM`, and reading them returns deleted and duplicate
//! rows. So a folder that holds `_delta_log/` is read through its log even without `delta:`.
//!
//! Time travel is delta-rs's and cheap: `delta:PATH#version=N` reads version N,
//! `delta:PATH#timestamp=2024-05-02T00:00:00Z` the version current at that time.

use std::path::Path;

use datafusion::execution::context::SessionState;
use datafusion::object_store::ObjectStoreExt;
use datafusion::object_store::path::Path as ObjectPath;
use deltalake::{DeltaTableBuilder, DeltaTableError};
use futures::StreamExt;
use url::Url;

use crate::catalog::Table;
use crate::error::{KqlError, Result};
use crate::prelude::TableDeclaration;

/// The prefix that names a Delta table's location.
pub const PREFIX: &str = "delta:";

/// The folder of a Delta table's transaction log, inside the table's folder.
pub const LOG_FOLDER: &str = "_delta_log";

/// Which version of a Delta table a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    Latest,
    Number(u64),
    /// The version current at this RFC 3339 time.
    AsOf(String),
}

/// A Delta table's folder (a local path or a URL) and the version to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaLocation {
    pub place: String,
    pub version: Version,
}

/// The Delta table a location names: `delta:PATH_OR_URL[#version=N|#timestamp=T]`, or a plain
/// local folder or bucket prefix that holds `_delta_log/`. `None` for any other location.
pub async fn location_of(state: &SessionState, location: &str) -> Result<Option<DeltaLocation>> {
    if let Some(delta) = parse_prefixed(location)? {
        return Ok(Some(delta));
    }
    let holds_log = match crate::object_stores::remote_url(location) {
        None => Path::new(location).join(LOG_FOLDER).is_dir(),
        Some(url) => remote_holds_log(state, &url).await?,
    };
    Ok(holds_log.then(|| DeltaLocation { place: location.to_string(), version: Version::Latest }))
}

/// Refuses a local location that would read part of a Delta table, or a Delta table among
/// other files, as plain Parquet files: a partition folder or file inside a table, a glob over
/// one, a folder that holds one. Their files include those later versions removed.
pub fn refuse_plain_read(location: &str) -> Result<()> {
    let path = Path::new(location);
    // A glob reads under the folder before its first pattern character.
    let (start, glob) = match location.find(['*', '?', '[']) {
        Some(i) => (Path::new(&location[..location[..i].rfind('/').map_or(0, |j| j + 1)]), true),
        None => (path, false),
    };
    let start = if start.as_os_str().is_empty() { Path::new(".") } else { start };
    let Ok(absolute) = std::fs::canonicalize(start) else { return Ok(()) };
    // A folder named as it is was checked by `location_of`; a glob's folder was not.
    let skip = usize::from(!glob);
    if let Some(table) = absolute.ancestors().skip(skip).find(|a| a.join(LOG_FOLDER).is_dir()) {
        return Err(KqlError::new(format!(
            "'{location}' is part of the Delta table '{}', whose folder keeps files that later versions removed: read the table through its log (--table NAME=delta:{}, and a where on its partition column)",
            table.display(),
            table.display()
        )));
    }
    if absolute.is_dir()
        && let Some(table) = table_within(&absolute)
    {
        return Err(holds_table(location, &table.display().to_string()));
    }
    Ok(())
}

/// The error for a folder or prefix that would read the Delta table `table` inside it as plain
/// files.
pub fn holds_table(location: &str, table: &str) -> KqlError {
    KqlError::new(format!(
        "'{location}' holds the Delta table '{table}', whose folder keeps files that later versions removed: register it as a table of its own (--table NAME=delta:{table})"
    ))
}

/// The first Delta table folder under `dir` (not `dir` itself), in path order. Links to folders
/// are followed, as the table's own walk (`catalog::table_files`) follows them, each folder once.
fn table_within(dir: &Path) -> Option<std::path::PathBuf> {
    fn walk(dir: &Path, seen: &mut std::collections::HashSet<std::path::PathBuf>) -> Option<std::path::PathBuf> {
        if !seen.insert(std::fs::canonicalize(dir).ok()?) {
            return None;
        }
        let mut folders: Vec<_> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
        folders.sort();
        for folder in folders {
            if folder.file_name().is_some_and(|n| n == LOG_FOLDER) {
                continue;
            }
            if folder.join(LOG_FOLDER).is_dir() {
                return Some(folder);
            }
            if let Some(table) = walk(&folder, seen) {
                return Some(table);
            }
        }
        None
    }
    walk(dir, &mut Default::default())
}

/// `delta:PATH_OR_URL` with an optional `#version=N` or `#timestamp=T`.
fn parse_prefixed(location: &str) -> Result<Option<DeltaLocation>> {
    let Some(rest) = location.strip_prefix(PREFIX) else { return Ok(None) };
    // `#` starts a version only where one follows: a folder's name may hold `#`.
    let (place, version) = match rest.rsplit_once('#') {
        Some((place, fragment)) if fragment.starts_with("version=") || fragment.starts_with("timestamp=") => {
            (place, version_of(location, fragment)?)
        }
        _ => (rest, Version::Latest),
    };
    if place.is_empty() {
        return Err(KqlError::new(format!("'{location}': name the Delta table's folder or URL after 'delta:'")));
    }
    Ok(Some(DeltaLocation { place: place.to_string(), version }))
}

fn version_of(location: &str, fragment: &str) -> Result<Version> {
    if let Some(n) = fragment.strip_prefix("version=") {
        return n
            .parse::<u64>()
            .map(Version::Number)
            .map_err(|_| KqlError::new(format!("'{location}': a Delta table's version is a whole number from 0, not '{n}'")));
    }
    if let Some(t) = fragment.strip_prefix("timestamp=") {
        return chrono::DateTime::parse_from_rfc3339(t).map(|_| Version::AsOf(t.to_string())).map_err(|_| {
            KqlError::new(format!(
                "'{location}': the time to read a Delta table as of is an RFC 3339 time such as 2024-05-02T00:00:00Z, not '{t}'"
            ))
        });
    }
    Err(KqlError::new(format!(
        "'{location}': after '#', a Delta location takes version=N or timestamp=2024-05-02T00:00:00Z, not '{fragment}'"
    )))
}

/// Whether a bucket prefix holds a Delta log: one listing request, for its first object.
async fn remote_holds_log(state: &SessionState, url: &Url) -> Result<bool> {
    // A file's URL is no table folder; over plain HTTP nothing can be listed.
    let last = url.path().rsplit('/').next().unwrap_or_default();
    if crate::catalog::is_table_file_name(last) || matches!(url.scheme(), "http" | "https") {
        return Ok(false);
    }
    let store = crate::object_stores::register_store(state, url)?;
    let log = format!("{}/{LOG_FOLDER}/", url.path().trim_end_matches('/'));
    let prefix = ObjectPath::from_url_path(&log).map_err(|e| KqlError::new(format!("cannot open '{url}': {e}")))?;
    match store.list(Some(&prefix)).next().await {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        // Reading the location as files says what is wrong (or reads an object that could not
        // be listed).
        Some(Err(_)) => Ok(false),
    }
}

/// Refuses a remote object or prefix inside a Delta table (a partition prefix, a data file), as
/// `refuse_plain_read` refuses a local one: each prefix above it is asked for a `_delta_log/`.
pub async fn refuse_remote_part(state: &SessionState, location: &str, url: &Url) -> Result<()> {
    if matches!(url.scheme(), "http" | "https") {
        return Ok(());
    }
    let path = url.path().trim_end_matches('/');
    // The prefixes above the location, nearest first; the location itself was asked already.
    let mut above: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
    above.reverse();
    for prefix in above {
        let mut folder = url.clone();
        folder.set_path(&format!("{prefix}/"));
        if remote_holds_log(state, &folder).await? {
            let table = folder.as_str().trim_end_matches('/').to_string();
            return Err(KqlError::new(format!(
                "'{location}' is part of the Delta table '{table}', whose folder keeps files that later versions removed: read the table through its log (--table NAME=delta:{table}, and a where on its partition column)"
            )));
        }
    }
    Ok(())
}

/// Opens the Delta table at `delta` (given by the user as `given`), at its version, with the
/// table's `.create table` declaration if there is one. Returns the table and warnings (files
/// holding dates Kusto cannot).
pub async fn open(
    state: &SessionState,
    given: &str,
    delta: &DeltaLocation,
    declared: Option<&TableDeclaration>,
) -> Result<(Table, Vec<String>)> {
    let remote = crate::object_stores::remote_url(&delta.place).is_some();
    let cannot = |e: DeltaTableError| KqlError::new(format!("cannot read Delta table '{given}': {}", error_text(&e, remote)));
    // The table's URL, and kql's store for a remote table's bucket (credentials as every remote
    // table gets them), rooted at the bucket as delta-rs expects.
    let (url, store) = match crate::object_stores::remote_url(&delta.place) {
        Some(url) if matches!(url.scheme(), "http" | "https") => {
            return Err(KqlError::new(format!(
                "cannot read Delta table '{given}': reading a Delta table lists its _delta_log folder, which plain HTTP cannot; use the store's own URL (s3://, az://, abfss://, gs://)"
            )));
        }
        Some(mut url) => {
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            let store = crate::object_stores::register_store(state, &url)?;
            register_log_stores();
            (url, Some(store))
        }
        None => {
            let path = Path::new(&delta.place);
            if !path.is_dir() {
                return Err(KqlError::new(format!("cannot read Delta table '{given}': no such folder '{}'", delta.place)));
            }
            if !path.join(LOG_FOLDER).is_dir() {
                return Err(KqlError::new(format!(
                    "cannot read Delta table '{given}': '{}' has no {LOG_FOLDER} folder, so it is not a Delta table",
                    delta.place
                )));
            }
            let absolute = std::fs::canonicalize(path).map_err(|e| KqlError::new(format!("cannot read Delta table '{given}': {e}")))?;
            let url = Url::from_directory_path(&absolute).map_err(|()| {
                KqlError::new(format!("cannot read Delta table '{given}': '{}' is not an absolute path", absolute.display()))
            })?;
            (url, None)
        }
    };
    let builder = || -> Result<DeltaTableBuilder> {
        let builder = DeltaTableBuilder::from_url(url.clone()).map_err(cannot)?;
        Ok(match &store {
            Some(store) => builder.with_storage_backend(store.clone(), url.clone()),
            None => builder,
        })
    };
    let table = match &delta.version {
        Version::Latest => builder()?.load().await.map_err(cannot)?,
        Version::Number(n) => match builder()?.with_version(*n).load().await {
            Ok(table) => table,
            Err(e) => {
                // delta-rs says "LogSegment end version 3 not the same as the specified end
                // version 9" of a version past the latest.
                let latest = builder()?.load().await.map_err(cannot)?.version();
                return Err(match latest {
                    Some(last) if last < *n => {
                        KqlError::new(format!("cannot read Delta table '{given}': the table has no version {n} (its latest is {last})"))
                    }
                    _ => cannot(e),
                });
            }
        },
        Version::AsOf(t) => {
            let table = builder()?.with_datestring(t).map_err(cannot)?.load().await.map_err(cannot)?;
            // delta-rs answers a time before the first commit with the first version; that
            // version did not exist then, so its rows would be a wrong answer.
            let Some(version) = table.version() else {
                return Err(KqlError::new(format!("cannot read Delta table '{given}': it has no version as of {t}")));
            };
            let asked = chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_millis()).unwrap_or(i64::MAX);
            let committed = commit_time(&table, version).await.ok_or_else(|| {
                KqlError::new(format!("cannot read Delta table '{given}': cannot tell when its version {version} was committed"))
            })?;
            if committed > asked {
                let committed = chrono::DateTime::from_timestamp_millis(committed).map_or(committed.to_string(), |d| d.to_rfc3339());
                return Err(KqlError::new(format!(
                    "cannot read Delta table '{given}': the table has no version as old as {t} (its version {version}, the oldest it keeps, was committed at {committed})"
                )));
            }
            table
        }
    };
    table.update_datafusion_session(state).map_err(cannot)?;
    let provider = table.table_provider().await.map_err(|e| KqlError::new(format!("cannot read Delta table '{given}': {e}")))?;
    // A declaration converts the columns as it does a Parquet table's (`declared.rs`).
    let declared = match declared {
        Some(d) => {
            crate::declared::check_parquet(d, &provider.schema())?;
            Some(d.clone())
        }
        None => None,
    };
    // Dates Kusto cannot hold read as null, as in a Parquet table: the log's statistics tell
    // which files hold some, and which microsecond columns the scan must check.
    let schema = provider.schema();
    let check = match table.snapshot().and_then(|s| s.add_actions_table(true)) {
        Ok(actions) => {
            let base = given.trim_end_matches('/');
            crate::parquet_dates::check_delta_files(&schema, &actions, |path| format!("{base}/{path}"))
        }
        // Without the log's statistics every microsecond column is checked per row.
        Err(_) => crate::parquet_dates::DateCheck { warnings: Vec::new(), checked_micros: crate::parquet_dates::micros_columns(&schema) },
    };
    let table = Table { provider, location: given.to_string(), declared, declared_files: None, checked_micros: check.checked_micros };
    Ok((table, check.warnings))
}

/// When `version` was committed, in milliseconds: delta-rs's time, the modification time of its
/// commit file (the log's snapshot knows it for commits after its checkpoint only).
async fn commit_time(table: &deltalake::DeltaTable, version: u64) -> Option<i64> {
    if let Some(ms) = table.snapshot().ok().and_then(|s| s.version_timestamp(version)) {
        return Some(ms);
    }
    let commit = ObjectPath::from(format!("{LOG_FOLDER}/{version:020}.json"));
    let meta = table.log_store().object_store(None).head(&commit).await.ok()?;
    Some(meta.last_modified.timestamp_millis())
}

/// delta-rs finds the log store of a table by its URL's scheme and knows only `file://` and
/// `memory://` without its cloud features (which bring each cloud's SDK, where kql already has
/// object_store's clients). kql only reads, so the default log store over kql's own store serves
/// every scheme; registered once, never over a log store delta-rs already has.
fn register_log_stores() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        let factories = deltalake::logstore::logstore_factories();
        for scheme in crate::object_stores::SCHEMES.iter().filter(|s| !matches!(**s, "http" | "https")) {
            if let Ok(url) = Url::parse(&format!("{scheme}://")) {
                factories.entry(url).or_insert_with(|| std::sync::Arc::new(ReadingLogStores));
            }
        }
    });
}

/// The default log store, for reading through kql's object store.
struct ReadingLogStores;

impl deltalake::logstore::LogStoreFactory for ReadingLogStores {
    fn with_options(
        &self,
        prefixed_store: deltalake::logstore::ObjectStoreRef,
        root_store: deltalake::logstore::ObjectStoreRef,
        location: &Url,
        options: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<std::sync::Arc<dyn deltalake::logstore::LogStore>> {
        Ok(deltalake::logstore::default_logstore(prefixed_store, root_store, location, options))
    }
}

/// delta-rs's error in a hunter's words where it has a better one.
fn error_text(e: &DeltaTableError, remote: bool) -> String {
    match e {
        DeltaTableError::InvalidVersion(v) => format!("the table has no version {v}"),
        DeltaTableError::ObjectStore { source } if remote => crate::object_stores::error_text(source),
        // "Kernel error: Generic delta kernel error: <what happened>"
        _ => {
            let text = e.to_string();
            let line = text.lines().next().unwrap_or_default();
            line.trim_start_matches("Kernel error: ").trim_start_matches("Generic delta kernel error: ").to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_location_names_its_folder_and_version() {
        let at = |v| Some(DeltaLocation { place: "lake/Logons".into(), version: v });
        assert_eq!(parse_prefixed("delta:lake/Logons").expect("parses"), at(Version::Latest));
        assert_eq!(parse_prefixed("delta:lake/Logons#version=3").expect("parses"), at(Version::Number(3)));
        assert_eq!(
            parse_prefixed("delta:lake/Logons#timestamp=2024-05-02T00:00:00Z").expect("parses"),
            at(Version::AsOf("2024-05-02T00:00:00Z".into()))
        );
        assert_eq!(parse_prefixed("lake/Logons").expect("parses"), None);
        let error = |text: &str| parse_prefixed(text).expect_err("an error").to_string();
        assert_eq!(
            error("delta:lake/Logons#version=-1"),
            "'delta:lake/Logons#version=-1': a Delta table's version is a whole number from 0, not '-1'"
        );
        assert_eq!(
            error("delta:lake/Logons#timestamp=2024-05-02"),
            "'delta:lake/Logons#timestamp=2024-05-02': the time to read a Delta table as of is an RFC 3339 time such as 2024-05-02T00:00:00Z, not '2024-05-02'"
        );
        // A `#` that starts no version is part of the folder's name.
        assert_eq!(
            parse_prefixed("delta:lake/Logons#v3").expect("parses"),
            Some(DeltaLocation { place: "lake/Logons#v3".into(), version: Version::Latest })
        );
        assert_eq!(error("delta:"), "'delta:': name the Delta table's folder or URL after 'delta:'");
    }
}
