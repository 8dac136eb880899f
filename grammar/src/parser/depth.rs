//! A bound on how deeply a query's brackets nest, checked before pest sees the text: the
//! parser, the planner and DataFusion's optimizer all recurse once (or more) per level, so
//! without a bound a hostile query overflows the stack and aborts the process.

use crate::error::ParseError;

/// Far more levels than real queries use: the deepest of the 6,896 queries of Sentinel's,
/// Defender's and Sigma's rules nests 17.
pub const MAX_NESTING: usize = 64;

/// The deepest nesting of the text's brackets, or an error at the first bracket that opens
/// level `MAX_NESTING + 1`. Brackets inside string literals and comments do not count.
pub fn check_nesting(text: &str) -> Result<usize, ParseError> {
    let mut deepest = 0;
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                if depth > MAX_NESTING {
                    return Err(ParseError::new(format!("query too deep: brackets nest more than {MAX_NESTING} levels"), i, i + 1));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'`' if text[i..].starts_with("```") => {
                i = text[i + 3..].find("```").map_or(bytes.len(), |end| i + 3 + end + 2);
            }
            b'@' if matches!(bytes.get(i + 1), Some(b'\'' | b'"')) => {
                // Verbatim: no escapes; a doubled quote is a quote.
                let quote = bytes[i + 1];
                i += 2;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(deepest)
}
