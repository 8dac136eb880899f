//! Syntax colouring of the line being edited: operator and language keywords, strings,
//! numbers and comments, with ANSI colours. A single pass over the text, no parse: it must keep
//! up with every keystroke and never fail on half-typed input.

use std::collections::HashSet;

const KEYWORD: &str = "\x1b[1;35m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const COMMENT: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Words of the language that are not pipe operators.
const LANGUAGE_WORDS: [&str; 28] = [
    "print",
    "datatable",
    "range",
    "declare",
    "let",
    "by",
    "on",
    "and",
    "or",
    "not",
    "in",
    "has",
    "contains",
    "startswith",
    "endswith",
    "between",
    "matches",
    "regex",
    "kind",
    "with",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "step",
    "from",
    "to",
];

pub struct Highlighter {
    keywords: HashSet<String>,
}

impl Highlighter {
    pub fn new() -> Highlighter {
        let keywords = kql_engine::planner::supported_operators().into_iter().chain(LANGUAGE_WORDS).map(str::to_string).collect();
        Highlighter { keywords }
    }

    /// `text` with colour codes around keywords, strings, numbers and comments.
    pub fn paint(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() * 2);
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let end_of = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
        let mut i = 0;
        while i < chars.len() {
            let (start, c) = chars[i];
            let next = chars.get(i + 1).map(|(_, c)| *c);
            let (j, colour) = if c == '/' && next == Some('/') {
                let mut j = i;
                while j < chars.len() && chars[j].1 != '\n' {
                    j += 1;
                }
                (j, Some(COMMENT))
            } else if c == '"' || c == '\'' {
                let mut j = i + 1;
                while j < chars.len() && chars[j].1 != c {
                    j += if chars[j].1 == '\\' { 2 } else { 1 };
                }
                ((j + 1).min(chars.len()), Some(STRING))
            } else if c.is_ascii_digit() {
                let mut j = i;
                while j < chars.len() && (chars[j].1.is_ascii_alphanumeric() || chars[j].1 == '.') {
                    j += 1;
                }
                (j, Some(NUMBER))
            } else if c.is_alphabetic() || c == '_' {
                let mut j = i;
                while j < chars.len() && (chars[j].1.is_alphanumeric() || chars[j].1 == '_' || chars[j].1 == '-') {
                    j += 1;
                }
                // `project-away` is one word; `a-b` between names is not a keyword anyway.
                let word = &text[start..end_of(j)];
                (j, self.keywords.contains(word).then_some(KEYWORD))
            } else {
                (i + 1, None)
            };
            let piece = &text[start..end_of(j)];
            match colour {
                Some(code) => {
                    out.push_str(code);
                    out.push_str(piece);
                    out.push_str(RESET);
                }
                None => out.push_str(piece),
            }
            i = j;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_keywords_strings_numbers_and_comments() {
        let h = Highlighter::new();
        assert_eq!(
            h.paint("T | where x == \"a|b\" and n > 10 // why"),
            "T | \x1b[1;35mwhere\x1b[0m x == \x1b[32m\"a|b\"\x1b[0m \x1b[1;35mand\x1b[0m n > \x1b[33m10\x1b[0m \x1b[2m// why\x1b[0m"
        );
        assert_eq!(h.paint("T | project-away Col"), "T | \x1b[1;35mproject-away\x1b[0m Col");
        // Half-typed input: an open string runs to the end.
        assert_eq!(h.paint("print 'ab"), "\x1b[1;35mprint\x1b[0m \x1b[32m'ab\x1b[0m");
    }
}
