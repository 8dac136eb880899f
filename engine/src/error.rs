//! Errors that point at the query text: a message, a span, and a renderer that shows
//! `line:col`, the line and a caret under the spot.

use std::fmt;
use std::sync::Arc;

use annotate_snippets::{Level, Renderer, Snippet};
use kql_grammar::ParseError;
use kql_grammar::ast::Span;

use crate::prelude::FunctionSource;

#[derive(Debug, Clone)]
pub struct KqlError {
    pub message: String,
    /// Where in the query text; `None` for errors not tied to a place (I/O, execution).
    pub span: Option<Span>,
    pub kind: ErrorKind,
    /// The text `span` points into when it is not the query's: a functions file or parser.
    pub source: Option<Arc<FunctionSource>>,
    /// For an error inside a prelude function: the call in the query that reached it.
    pub called_at: Option<Span>,
}

/// What went wrong, for callers that treat some errors apart (`kql check` does not count a
/// table that is not registered as a failure of the query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Syntax,
    UnknownTable,
    /// Planning needs to read data (and was not allowed to).
    NeedsData,
    Other,
}

pub type Result<T, E = KqlError> = std::result::Result<T, E>;

impl KqlError {
    pub fn at(span: Span, message: impl Into<String>) -> Self {
        KqlError { message: message.into(), span: Some(span), kind: ErrorKind::Other, source: None, called_at: None }
    }

    pub fn new(message: impl Into<String>) -> Self {
        KqlError { message: message.into(), span: None, kind: ErrorKind::Other, source: None, called_at: None }
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Gives a place to an error that has none yet.
    pub fn or_at(mut self, span: Span) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    /// Places the error's span in a functions file rather than the query.
    pub fn in_source(mut self, source: Arc<FunctionSource>) -> Self {
        if self.source.is_none() && self.span.is_some() {
            self.source = Some(source);
        }
        self
    }

    /// 1-based line and column (in characters) of the error in `text`.
    pub fn line_col(&self, text: &str) -> Option<(usize, usize)> {
        let span = self.span?;
        Some(line_col(text, span.start))
    }

    /// `file:line:col` of the error: in the functions file it arose in, or in `text` (named
    /// `origin`), the query.
    pub fn location(&self, text: &str, origin: &str) -> Option<String> {
        let span = self.span?;
        match &self.source {
            Some(source) => {
                let (file, span) = source.file_span(span);
                let (l, c) = line_col(file, span.start);
                Some(format!("{}:{l}:{c}", source.name))
            }
            None => {
                let (l, c) = line_col(text, span.start);
                Some(format!("{origin}:{l}:{c}"))
            }
        }
    }

    /// The error as a person reads it: `error: message`, then `--> origin:line:col`, the query
    /// line and a caret under the spot. `color` adds ANSI colours for a terminal.
    pub fn render(&self, text: &str, origin: &str, color: bool) -> String {
        let Some(span) = self.span else {
            return format!("error: {}", self.message);
        };
        if let Some(source) = &self.source {
            let (file, file_span) = source.file_span(span);
            let mut shown = render_at(&self.message, file, &source.name, file_span, color);
            if let Some(call) = self.called_at {
                let (l, c) = line_col(text, call.start);
                shown.push_str(&format!("\nnote: reached from the call at {origin}:{l}:{c}"));
            }
            return shown;
        }
        render_at(&self.message, text, origin, span, color)
    }
}

/// The most characters a caret line marks: a whole statement of a few hundred characters is
/// still marked whole, and the renderer shows the part of a longer source line around the
/// mark, not all of it.
const LONGEST_MARK: usize = 1000;

/// `error: message`, `--> origin:line:col`, the line and a caret under `span` of `text`.
fn render_at(message: &str, text: &str, origin: &str, span: Span, color: bool) -> String {
    let start = floor_char_boundary(text, span.start);
    let mut end = floor_char_boundary(text, span.end.max(start));
    // A multi-line span is shown by its first line.
    if let Some(nl) = text[start..end].find('\n') {
        end = start + nl;
    }
    // A span longer than a screen line is marked by its start: the whole of a query with a
    // 20 MB `datatable` line was once printed, with as many carets under it.
    if let Some((cut, _)) = text[start..end].char_indices().nth(LONGEST_MARK) {
        end = start + cut;
    }
    // The renderer adds `:line:col` to the origin itself.
    let message = Level::Error
        .title(message)
        .snippet(Snippet::source(text).line_start(1).origin(origin).fold(true).annotation(Level::Error.span(start..end).label("")));
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    renderer.render(message).to_string()
}

pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for KqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KqlError {}

impl From<ParseError> for KqlError {
    fn from(e: ParseError) -> Self {
        KqlError::at(Span::new(e.start, e.end), e.message).with_kind(ErrorKind::Syntax)
    }
}

impl From<datafusion::error::DataFusionError> for KqlError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        let message = clean_datafusion_message(&e);
        match take_span_marker(&message) {
            Some((message, span)) => KqlError::at(span, message),
            None => KqlError::new(message),
        }
    }
}

/// What a function that fails while it runs appends to its message so that the error points
/// at its expression in the query text: `at` is `START-END`, byte offsets (empty: no place).
pub fn span_marker(at: &str) -> String {
    if at.is_empty() { String::new() } else { format!(" \u{27e8}at {at}\u{27e9}") }
}

/// The message without its span marker, and the span the marker named.
fn take_span_marker(message: &str) -> Option<(String, Span)> {
    let open = message.find(" \u{27e8}at ")?;
    let rest = &message[open + " \u{27e8}at ".len()..];
    let close = rest.find('\u{27e9}')?;
    let (start, end) = rest[..close].split_once('-')?;
    let span = Span::new(start.parse().ok()?, end.parse().ok()?);
    let mut cleaned = message[..open].to_string();
    cleaned.push_str(&rest[close + '\u{27e9}'.len_utf8()..]);
    Some((cleaned, span))
}

impl From<arrow::error::ArrowError> for KqlError {
    fn from(e: arrow::error::ArrowError) -> Self {
        KqlError::new(e.to_string())
    }
}

/// DataFusion wraps messages in layers ("Execution error: External error: ..."); keep the
/// innermost sentence, which is the one that speaks of the data.
fn clean_datafusion_message(e: &datafusion::error::DataFusionError) -> String {
    let mut inner = e.find_root().to_string();
    for prefix in ["Execution error: ", "Error during planning: ", "Arrow error: ", "External error: ", "Internal error: "] {
        while let Some(rest) = inner.strip_prefix(prefix) {
            inner = rest.to_string();
        }
    }
    // DataFusion appends a backtrace hint to some errors; it means nothing to a hunter.
    let inner = match inner.find("\n\nbacktrace") {
        Some(i) => inner[..i].to_string(),
        None => inner,
    };
    // Arrow's checked kernels (abs of the smallest long): Kusto's overflow, in its words.
    if let Some(rest) = inner.strip_prefix("Compute error: ")
        && let Some((_, what)) = rest.split_once(" overflow on ")
    {
        return format!("arithmetic overflow: {what} does not fit a long");
    }
    // The memory pool's refusal, said as what it means for the query.
    match inner.strip_prefix("Resources exhausted: ") {
        Some(detail) => {
            format!("the query needs more memory than the memory limit allows (raise --memory-limit, or narrow the query): {detail}")
        }
        None => inner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_line_of_megabytes_is_shown_by_the_part_around_its_start() {
        let rows: Vec<String> = (0..100_000).map(|i| format!("\"host-{i:08}\", {i}")).collect();
        let query = format!("datatable(h:string, n:long)[{}] | count", rows.join(","));
        let shown = KqlError::at(Span::new(0, query.len()), "the query is too large").render(&query, "query", false);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[0], "error: the query is too large");
        assert_eq!(lines[1], " --> query:1:1");
        assert!(lines[3].starts_with("1 | datatable(h:string, n:long)[\"host-00000000\", 0,"), "{}", lines[3]);
        assert!(lines[3].chars().count() <= LONGEST_MARK + 100, "{}", lines[3].len());
        assert_eq!(lines[4], format!("  | {}", "^".repeat(LONGEST_MARK)));
    }
}
