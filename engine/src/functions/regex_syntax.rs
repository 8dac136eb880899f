//! Kusto's regular expressions (RE2 syntax) as the `regex` crate reads them. The two agree but
//! for a `{` that starts no repetition: RE2 takes it as a literal brace (Microsoft's Sysmon
//! parser matches `<Data Name="(\w+)">{?([^>]*?)}?</Data>`), where `regex` reports an error.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// `pattern` with every `{` that starts no `{n}`, `{n,}` or `{n,m}` repetition escaped.
pub fn kusto_regex(pattern: &str) -> Cow<'_, str> {
    if !pattern.contains('{') {
        return Cow::Borrowed(pattern);
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                out.push(c);
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                    i += 1;
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` first in a class is a literal, not its end.
                for lead in ['^', ']'] {
                    if chars.get(i + 1) == Some(&lead) {
                        out.push(lead);
                        i += 1;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '{' if !in_class && !starts_repetition(&chars[i + 1..]) => out.push_str("\\{"),
            _ => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Whether the text after a `{` is `n}`, `n,}` or `n,m}`.
fn starts_repetition(rest: &[char]) -> bool {
    let digits = |from: usize| rest[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let n = digits(0);
    if n == 0 {
        return false;
    }
    match rest.get(n) {
        Some('}') => true,
        Some(',') => {
            let m = digits(n + 1);
            rest.get(n + 1 + m) == Some(&'}')
        }
        _ => false,
    }
}

/// Compiles a Kusto regular expression, once per pattern and thread: row-wise functions ask for
/// the pattern of every row, and compiling dominates matching by orders of magnitude (200,000
/// `extract` calls with one constant pattern took minutes when each compiled it anew).
pub fn compile(pattern: &str) -> Result<Rc<regex::Regex>, regex::Error> {
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache.patterns.get(pattern) {
            return hit.clone();
        }
        let compiled = regex::Regex::new(&kusto_regex(pattern)).map(Rc::new);
        // Bounded: per-row patterns that all differ must not grow the cache without end.
        if cache.patterns.len() >= MAX_CACHED_PATTERNS || cache.bytes + pattern.len() > MAX_CACHED_BYTES {
            cache.patterns.clear();
            cache.bytes = 0;
        }
        cache.bytes += pattern.len();
        cache.patterns.insert(pattern.to_string(), compiled.clone());
        compiled
    })
}

const MAX_CACHED_PATTERNS: usize = 256;
const MAX_CACHED_BYTES: usize = 4 << 20;

#[derive(Default)]
struct Compiled {
    patterns: HashMap<String, Result<Rc<regex::Regex>, regex::Error>>,
    bytes: usize,
}

thread_local! {
    static COMPILED: RefCell<Compiled> = RefCell::new(Compiled::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_compiled_once() {
        let first = compile(r"(\d+)x").unwrap();
        let again = compile(r"(\d+)x").unwrap();
        assert!(Rc::ptr_eq(&first, &again));
        assert!(compile("(").is_err());
        for i in 0..(MAX_CACHED_PATTERNS * 2) {
            assert!(compile(&format!("a{i}")).is_ok());
        }
        assert!(COMPILED.with(|c| c.borrow().patterns.len()) <= MAX_CACHED_PATTERNS);
    }

    #[test]
    fn braces_that_start_no_repetition_are_literal() {
        assert_eq!(kusto_regex(r#"<Data Name="(\w+)">{?([^>]*?)}?</Data>"#), r#"<Data Name="(\w+)">\{?([^>]*?)}?</Data>"#);
        assert_eq!(kusto_regex(r"a{2}b{1,}c{1,3}"), r"a{2}b{1,}c{1,3}");
        assert_eq!(kusto_regex(r"x{,3}"), r"x\{,3}");
        assert_eq!(kusto_regex(r"[{]\{"), r"[{]\{");
        assert_eq!(kusto_regex(r"[]{]{"), r"[]{]\{");
        assert!(compile(r#"">{?([^>]*?)}?<"#).is_ok());
    }
}
