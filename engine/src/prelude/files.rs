//! Reading function files and folders of them: `.kql`/`.csl` text and ASIM parser YAML.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{AsimParser, FunctionSource, PreludeEntry};
use crate::error::{KqlError, Result};

/// What loading a path gave.
#[derive(Default)]
pub struct LoadReport {
    pub entries: Vec<PreludeEntry>,
    /// `.create table` declarations.
    pub tables: Vec<super::TableDeclaration>,
    /// Files read (parsers and KQL files), including the ones skipped.
    pub files: usize,
    /// Files of a folder that could not be loaded, each with why; the rest still loads.
    pub skipped: Vec<KqlError>,
}

/// The function files under `path`: the file itself, or the `.kql`, `.csl`, `.yaml` and `.yml`
/// files of a folder and its sub-folders, in path order.
pub fn function_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(function_files(&p)?);
        } else if is_function_file(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

fn is_function_file(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| ["kql", "csl", "yaml", "yml"].contains(&e.to_ascii_lowercase().as_str()))
}

fn is_yaml(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// The definitions and table declarations of one file.
fn load_file(path: &Path) -> Result<(Vec<PreludeEntry>, Vec<super::TableDeclaration>)> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| KqlError::new(format!("cannot read {name}: {e}")))?;
    if is_yaml(path) {
        return Ok((AsimParser::read(&name, &text)?.unwrap_or_default(), Vec::new()));
    }
    super::read_source(&Arc::new(FunctionSource::kql(name, text)))
}

/// Loads a file (whose errors are the caller's) or a folder (whose broken files are skipped and
/// reported, so one bad parser does not cost the others).
pub fn load_path(path: &Path) -> Result<LoadReport> {
    if !path.exists() {
        return Err(KqlError::new(format!("{}: no such file or folder", path.display())));
    }
    if !path.is_dir() {
        let (entries, tables) = load_file(path)?;
        // A YAML file named on its own that is no parser (a rule, say) loads nothing: say so
        // rather than let the user wonder where the function went.
        if entries.is_empty() && tables.is_empty() && is_yaml(path) {
            return Err(KqlError::new(format!("{}: not an ASIM parser (it has no ParserName and ParserQuery)", path.display())));
        }
        return Ok(LoadReport { entries, tables, files: 1, skipped: Vec::new() });
    }
    let files = function_files(path).map_err(|e| KqlError::new(format!("cannot read {}: {e}", path.display())))?;
    let mut report = LoadReport { files: files.len(), ..LoadReport::default() };
    for file in files {
        match load_file(&file) {
            Ok((entries, tables)) => {
                report.entries.extend(entries);
                report.tables.extend(tables);
            }
            Err(e) => report.skipped.push(e),
        }
    }
    Ok(report)
}
