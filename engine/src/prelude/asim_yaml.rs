//! ASIM parser YAML files (Azure-Sentinel's `Parsers/ASim*/Parsers/*.yaml`) as functions: the
//! `ParserName` with the `ParserParams` as parameters and the `ParserQuery` as body; the
//! `EquivalentBuiltInParser` (`_Im_...`, `_ASim_...`) is the same function under Sentinel's
//! built-in name.

use std::sync::Arc;

use serde_norway::Value as Yaml;

use super::source::{FunctionSource, YamlPlacement};
use super::{PreludeEntry, definitions};
use crate::error::{KqlError, Result};

/// The names a parser file defines.
pub struct AsimParser;

impl AsimParser {
    /// The definitions of one YAML file; `Ok(None)` when the file is YAML but no parser (no
    /// `ParserName` and `ParserQuery`), as many files of a `Parsers/` checkout are.
    pub fn read(name: &str, file_text: &str) -> Result<Option<Vec<PreludeEntry>>> {
        let file: Yaml = match serde_norway::from_str(file_text) {
            Ok(f) => f,
            Err(e) => return Err(KqlError::new(format!("{name}: not a valid YAML file: {e}"))),
        };
        let text_of = |key: &str| file.get(key).and_then(Yaml::as_str).map(str::to_string);
        let (Some(parser_name), Some(query)) = (text_of("ParserName"), text_of("ParserQuery")) else {
            return Ok(None);
        };
        let parser_name = parser_name.trim().to_string();
        if !is_identifier(&parser_name) {
            return Err(KqlError::new(format!("{name}: ParserName '{parser_name}' is not a function name")));
        }
        let mut params = Vec::new();
        for p in file.get("ParserParams").and_then(Yaml::as_sequence).map_or(&[][..], Vec::as_slice) {
            let scalar = |key: &str| p.get(key).map(|v| v.as_str().map_or_else(|| plain(v), str::to_string));
            let (Some(param), Some(ty)) = (scalar("Name"), scalar("Type")) else {
                return Err(KqlError::new(format!("{name}: each of ParserParams needs a Name and a Type")));
            };
            params.push(match p.get("Default") {
                Some(d) => format!("{param}:{ty}={}", default_literal(&ty, d)),
                None => format!("{param}:{ty}"),
            });
        }
        let header = format!("let {parser_name} = ({})\n{{\n", params.join(", "));
        let body_start = header.len();
        let text = format!("{header}{query}\n}};\n");
        let header_at = key_line(file_text, "ParserName").unwrap_or(0);
        let body_lines = block_lines(file_text, &query);
        let source = Arc::new(FunctionSource {
            name: name.to_string(),
            text,
            yaml: Some(YamlPlacement { file_text: file_text.to_string(), body_start, header_at, body_lines }),
        });
        let mut entries = definitions(&source)?;
        if let (Some(equivalent), Some(first)) =
            (text_of("EquivalentBuiltInParser").map(|e| e.trim().to_string()), entries.first().cloned())
            && is_identifier(&equivalent)
            && equivalent != parser_name
        {
            let mut alias = first;
            alias.stmt.name.name = equivalent;
            entries.push(alias);
        }
        Ok(Some(entries))
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// A `Default` as KQL text. YAML has already unquoted it: `Default: '*'` arrives as the bare
/// text `*`, which for a string parameter is the literal `'*'`; other types are KQL as written
/// (`datetime(null)`, `dynamic([])`) or YAML scalars (`false`, `0`).
fn default_literal(ty: &str, value: &Yaml) -> String {
    match value {
        Yaml::Null => format!("{}(null)", ty.trim()),
        Yaml::String(s) => {
            let t = s.trim();
            let quoted = t.starts_with('\'') || t.starts_with('"') || t.starts_with("@'") || t.starts_with("@\"");
            let is_string = ty.trim().eq_ignore_ascii_case("string");
            if is_string && !quoted && !t.starts_with("tostring(") && !t.starts_with("string(") {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            } else {
                s.clone()
            }
        }
        other => plain(other),
    }
}

/// A YAML scalar (`false`, `0`) as the text it was written as.
fn plain(value: &Yaml) -> String {
    serde_norway::to_string(value).unwrap_or_default().trim().to_string()
}

/// Offset of the line where a top-level key starts.
fn key_line(file: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in file.split_inclusive('\n') {
        if line.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':')) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// Where each line of the `ParserQuery` literal block starts in the file (past its
/// indentation), when the block is a literal scalar (`|`) whose lines match the query's.
fn block_lines(file: &str, query: &str) -> Option<Vec<usize>> {
    let key = key_line(file, "ParserQuery")?;
    let rest = &file[key..];
    let first_break = rest.find('\n')?;
    let indicator = rest[..first_break].split_once(':')?.1.trim();
    if !indicator.starts_with('|') {
        return None;
    }
    let mut starts = Vec::new();
    let mut offset = key + first_break + 1;
    let mut indent = None;
    for query_line in query.trim_end_matches('\n').split('\n') {
        let line_end = file[offset..].find('\n').map_or(file.len(), |i| offset + i);
        let line = file[offset..line_end].trim_end_matches('\r');
        if query_line.is_empty() {
            if !line.trim().is_empty() {
                return None;
            }
            starts.push(offset + line.len());
        } else {
            let n = *indent.get_or_insert_with(|| line.len() - line.trim_start_matches(' ').len());
            if line.get(n..) != Some(query_line) {
                return None;
            }
            starts.push(offset + n);
        }
        offset = (line_end + 1).min(file.len());
    }
    Some(starts)
}
