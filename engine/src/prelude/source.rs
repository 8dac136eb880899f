//! Where a prelude definition's text came from, and how a place in that text maps back to the
//! file a person edits (for a YAML parser, a line of its `ParserQuery` block).

use kql_grammar::ast::Span;

#[derive(Debug)]
pub struct FunctionSource {
    /// The file, as the user named it.
    pub name: String,
    /// The KQL text that was parsed; spans of the definitions index into it.
    pub text: String,
    /// For a definition built from a YAML parser: the YAML file and where the query sits in it.
    pub yaml: Option<YamlPlacement>,
}

/// The KQL text of a YAML parser is a header we write (`let Name = (params) {`) followed by the
/// `ParserQuery` block, line for line.
#[derive(Debug)]
pub struct YamlPlacement {
    pub file_text: String,
    /// Offset in `text` where the `ParserQuery` block starts.
    pub body_start: usize,
    /// Offset in the file of the line that places the header (`ParserName: ...`).
    pub header_at: usize,
    /// Offsets in the file where each line of the block starts (past its indentation); `None`
    /// when the block could not be matched line for line (a folded or quoted scalar).
    pub body_lines: Option<Vec<usize>>,
}

impl FunctionSource {
    /// A source whose text is the file itself.
    pub fn kql(name: impl Into<String>, text: impl Into<String>) -> FunctionSource {
        FunctionSource { name: name.into(), text: text.into(), yaml: None }
    }

    /// The text a person reads (the file) and the span in it that `span` of `text` stands for.
    pub fn file_span(&self, span: Span) -> (&str, Span) {
        let Some(yaml) = &self.yaml else {
            return (&self.text, span);
        };
        let at = |offset: usize| -> usize {
            let Some(lines) = &yaml.body_lines else { return yaml.header_at };
            if offset < yaml.body_start {
                return yaml.header_at;
            }
            let body = &self.text[yaml.body_start..];
            let within = (offset - yaml.body_start).min(body.len());
            let line = body[..within].matches('\n').count();
            let line_start = body[..within].rfind('\n').map_or(0, |i| i + 1);
            match lines.get(line) {
                Some(&start) => (start + within - line_start).min(yaml.file_text.len()),
                None => yaml.header_at,
            }
        };
        let start = at(span.start);
        let end = at(span.end).max(start);
        (&yaml.file_text, Span::new(start, end))
    }

    /// The 1-based line, in the file, of an offset of `text`.
    pub fn line_of(&self, offset: usize) -> usize {
        let (file, span) = self.file_span(Span::new(offset, offset));
        crate::error::line_col(file, span.start).0
    }
}
