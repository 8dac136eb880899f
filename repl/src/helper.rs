//! The rustyline helper: completes names (see `completion`) and decides when the typed (or
//! pasted) text is a whole query.
//!
//! The rule: Enter runs the text when it is complete. It is not complete while a bracket or
//! quote is open, while the last line ends with `|`, `,`, `=`, `(` or an operator word, or
//! while the text ends with `;` (a `let` waiting for its query). Pasted rules arrive whole
//! (bracketed paste), so lines that start with `|` and blank lines inside them are kept.
//!
//! In block mode (`--block`, `.set block=on`) Enter adds a line, as hunters type in Sentinel
//! with the pipe at the start of each next line; a blank line, or a `;` that ends a query (not
//! a `let`), runs it once brackets and quotes are closed.

use rustyline::Helper;

use crate::completion::Vocabulary;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};

/// Completion, colouring, and the rule for when a query is whole.
pub struct KqlHelper {
    pub vocabulary: Vocabulary,
    /// `None` when colour is off (not a terminal, or `NO_COLOR`).
    pub highlighter: Option<crate::highlight::Highlighter>,
    /// Block mode: a blank line or a closing `;` runs the query, not every complete line.
    pub block: bool,
}

impl Helper for KqlHelper {}
impl Completer for KqlHelper {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _ctx: &rustyline::Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.vocabulary.complete(line, pos))
    }
}
/// What shows in grey after the cursor.
pub enum KqlHint {
    /// The rest of the name being typed (Right arrow accepts it).
    Name(String),
    /// The parameters of the call just opened: shown only, never inserted.
    Signature(String),
}

impl rustyline::hint::Hint for KqlHint {
    fn display(&self) -> &str {
        match self {
            KqlHint::Name(s) | KqlHint::Signature(s) => s,
        }
    }

    fn completion(&self) -> Option<&str> {
        match self {
            KqlHint::Name(s) => Some(s),
            KqlHint::Signature(_) => None,
        }
    }
}

impl Hinter for KqlHelper {
    type Hint = KqlHint;

    /// The rest of the name being typed when only one name fits; after `name(`, the function's
    /// parameters and result.
    fn hint(&self, line: &str, pos: usize, _ctx: &rustyline::Context<'_>) -> Option<KqlHint> {
        if pos < line.len() {
            return None;
        }
        if let Some(signature) = self.vocabulary.signature_hint(line, pos) {
            return Some(KqlHint::Signature(signature));
        }
        let (start, names) = self.vocabulary.complete(line, pos);
        let typed = &line[start..pos];
        match names.as_slice() {
            [only] if !typed.is_empty() && only.len() > typed.len() && only.starts_with(typed) => {
                Some(KqlHint::Name(only[typed.len()..].to_string()))
            }
            _ => None,
        }
    }
}
impl Highlighter for KqlHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> std::borrow::Cow<'l, str> {
        match &self.highlighter {
            Some(h) => std::borrow::Cow::Owned(h.paint(line)),
            None => std::borrow::Cow::Borrowed(line),
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> std::borrow::Cow<'h, str> {
        if self.highlighter.is_some() { std::borrow::Cow::Owned(format!("\x1b[2m{hint}\x1b[0m")) } else { std::borrow::Cow::Borrowed(hint) }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: rustyline::highlight::CmdKind) -> bool {
        // Every edit can change a token's colour; cursor moves cannot.
        self.highlighter.is_some() && kind != rustyline::highlight::CmdKind::MoveCursor
    }
}

impl Validator for KqlHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let complete = if self.block { is_complete_block(ctx.input()) } else { is_complete(ctx.input()) };
        Ok(if complete { ValidationResult::Valid(None) } else { ValidationResult::Incomplete })
    }
}

/// Whether `text` is a whole query (or a dot-command, or empty).
pub fn is_complete(text: &str) -> bool {
    let trimmed = strip_comments(text);
    let t = trimmed.trim();
    if t.is_empty() || t.starts_with('.') {
        return true;
    }
    if !balanced(t) || t.ends_with(';') {
        return false;
    }
    let last_word = t.rsplit(|c: char| c.is_whitespace()).next().unwrap_or("");
    !(t.ends_with('|') || t.ends_with(',') || t.ends_with('=') || t.ends_with('(') || matches!(last_word, "and" | "or" | "by"))
}

/// Block mode: whether Enter now runs `text`. Dot-commands and an empty prompt act at once; a
/// query runs after a blank line, or when it ends with a `;` that closes a query statement
/// (a `let`, `set` or `declare` statement waits for the query after it).
pub fn is_complete_block(text: &str) -> bool {
    let trimmed = strip_comments(text);
    let t = trimmed.trim();
    if t.is_empty() || t.starts_with('.') {
        return true;
    }
    if !balanced(t) {
        return false;
    }
    let last_line_blank = text.rsplit('\n').next().is_some_and(|l| l.trim().is_empty()) && text.contains('\n');
    if last_line_blank {
        return true;
    }
    match t.strip_suffix(';') {
        Some(body) => {
            let last_statement = body.rsplit(';').next().unwrap_or(body).trim_start();
            let word = last_statement.split(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
            !matches!(word, "let" | "set" | "declare" | "alias" | "restrict" | "")
        }
        None => false,
    }
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !in_string(&l[..i]) => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn in_string(prefix: &str) -> bool {
    prefix.matches('"').count() % 2 == 1 || prefix.matches('\'').count() % 2 == 1
}

/// Brackets and quotes all closed.
fn balanced(text: &str) -> bool {
    let mut depth: i64 = 0;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == '\\' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            },
        }
    }
    depth <= 0 && quote.is_none()
}

#[cfg(test)]
mod tests {
    use super::is_complete;

    #[test]
    fn block_mode_runs_on_a_blank_line_or_a_closing_semicolon() {
        use super::is_complete_block;
        assert!(!is_complete_block("NetworkSession"));
        assert!(!is_complete_block("NetworkSession\n| where DstPortNumber == 443"));
        assert!(is_complete_block("NetworkSession\n| where DstPortNumber == 443\n"));
        assert!(is_complete_block("NetworkSession\n| take 5;"));
        assert!(!is_complete_block("let x = 5;"));
        assert!(!is_complete_block("let x = 5;\nset notruncation;"));
        assert!(is_complete_block("let x = 5;\nprint x;"));
        assert!(!is_complete_block("T | where x in (1,\n"));
        assert!(is_complete_block(".tables"));
        assert!(is_complete_block(""));
    }

    #[test]
    fn completeness() {
        assert!(is_complete("T | take 5"));
        assert!(!is_complete("T |"));
        assert!(!is_complete("let x = 5;"));
        assert!(!is_complete("T | where x in (1,"));
        assert!(is_complete("let x = 5;\nT\n| where a == x // note"));
        assert!(!is_complete("T | summarize count() by"));
        assert!(is_complete(".tables"));
        assert!(!is_complete("print 'abc"));
    }
}
