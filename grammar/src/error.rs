//! Syntax errors with a span into the query text.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub message: String,
    /// Byte offsets of the offending text (an empty range points between two characters).
    pub start: usize,
    pub end: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    pub fn new(message: impl Into<String>, start: usize, end: usize) -> Self {
        ParseError { message: message.into(), start, end }
    }
}
