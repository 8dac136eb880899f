//! Tables from text logs: JSON lines (`.json`, `.jsonl`, `.ndjson`) and CSV/TSV with a header
//! row, gzip-compressed or not. Columns and their KQL types are inferred from the first
//! records of each file and widened where files disagree; a line that cannot be read fails the
//! query with its file and line, unless `--max-bad-rows` allows skipping it (and reports it).

mod cache;
pub(crate) mod decode;
mod format;
mod infer;
mod json_line;
mod reader;
mod streamed;

pub use cache::TextCache;
pub use format::{SAMPLE_RECORDS, TextFormat, TextOptions};
pub use reader::TextKind;

/// The text format a file name says, if any: `x.jsonl`, `x.csv.gz` ...
pub fn text_kind_of(name: &str) -> Option<TextKind> {
    let lower = name.to_ascii_lowercase();
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    let extension = lower.rsplit_once('.')?.1;
    match extension {
        "json" | "jsonl" | "ndjson" => Some(TextKind::JsonLines),
        "csv" => Some(TextKind::Delimited(b',')),
        "tsv" => Some(TextKind::Delimited(b'\t')),
        _ => None,
    }
}

/// A file's table name: its name without the format's extensions (`events.jsonl.gz` → `events`).
pub fn table_name_of(file_name: &str) -> &str {
    let name = file_name.strip_suffix(".gz").or_else(|| file_name.strip_suffix(".GZ")).unwrap_or(file_name);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds() {
        assert_eq!(text_kind_of("a/b/PT1H.json"), Some(TextKind::JsonLines));
        assert_eq!(text_kind_of("x.CSV.gz"), Some(TextKind::Delimited(b',')));
        assert_eq!(text_kind_of("x.tsv"), Some(TextKind::Delimited(b'\t')));
        assert_eq!(text_kind_of("x.parquet"), None);
        assert_eq!(text_kind_of("gz"), None);
        assert_eq!(table_name_of("events.jsonl.gz"), "events");
        assert_eq!(table_name_of("SigninLogs.csv"), "SigninLogs");
    }
}
