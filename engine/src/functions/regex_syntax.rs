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

/// A compiled Kusto regular expression. A pattern without any metacharacter is a literal and
/// is searched for as text: a pattern computed per row (`extract(tohex(x, n), 0, s)`) can be
/// tens of thousands of characters long, and the `regex` crate takes about 7 ms to compile a
/// 57,000-character literal (285 such rows: 2 s) where a substring search needs no compiling.
#[derive(Debug)]
pub enum Pattern {
    Literal(Box<str>),
    Regex(regex::Regex),
}

impl Pattern {
    /// The (start, end) byte offsets of the non-overlapping matches, left to right.
    pub fn find_iter<'t>(&'t self, text: &'t str) -> Box<dyn Iterator<Item = (usize, usize)> + 't> {
        match self {
            Pattern::Literal(l) => Box::new(text.match_indices(&**l).map(|(at, m)| (at, at + m.len()))),
            Pattern::Regex(re) => Box::new(re.find_iter(text).map(|m| (m.start(), m.end()))),
        }
    }

    /// The number of groups, the whole match (group 0) included.
    pub fn captures_len(&self) -> usize {
        match self {
            Pattern::Literal(_) => 1,
            Pattern::Regex(re) => re.captures_len(),
        }
    }

    /// Group `group` of the first match, if the pattern matches and that group took part.
    pub fn first_group<'t>(&self, text: &'t str, group: usize) -> Option<&'t str> {
        match self {
            Pattern::Literal(l) => text.find(&**l).filter(|_| group == 0).map(|at| &text[at..at + l.len()]),
            Pattern::Regex(re) => re.captures(text).and_then(|c| c.get(group)).map(|g| g.as_str()),
        }
    }

    /// Every match's groups (group 0 first), left to right.
    pub fn all_groups<'t>(&self, text: &'t str) -> Vec<Vec<Option<&'t str>>> {
        match self {
            Pattern::Literal(_) => self.find_iter(text).map(|(start, end)| vec![Some(&text[start..end])]).collect(),
            Pattern::Regex(re) => re.captures_iter(text).map(|c| c.iter().map(|g| g.map(|g| g.as_str())).collect()).collect(),
        }
    }

    /// `text` with every match (or, when `all` is false, the first) replaced by `rewrite`,
    /// in the `regex` crate's replacement syntax (`${1}`, `$$`).
    pub fn replace(&self, text: &str, rewrite: &str, all: bool) -> String {
        match self {
            Pattern::Regex(re) if all => re.replace_all(text, rewrite).into_owned(),
            Pattern::Regex(re) => re.replace(text, rewrite).into_owned(),
            Pattern::Literal(l) => {
                let with = expand_literal(rewrite, l);
                if all { text.replace(&**l, &with) } else { text.replacen(&**l, &with, 1) }
            }
        }
    }
}

/// A replacement for a literal pattern's match: `${0}` and `$0` are the match, any other group
/// is empty (as the `regex` crate expands a group that does not exist), `$$` is `$`.
fn expand_literal(rewrite: &str, matched: &str) -> String {
    if !rewrite.contains('$') {
        return rewrite.to_string();
    }
    let mut out = String::with_capacity(rewrite.len());
    let mut rest = rewrite;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let (name, after) = match rest.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => {
                    out.push('$');
                    continue;
                }
            },
            None => {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        if name == "0" {
            out.push_str(matched);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Whether `pattern` means itself, character for character: it has no character that is
/// special anywhere in RE2's syntax. (Empty patterns match everywhere; they go to the regex.)
fn is_literal(pattern: &str) -> bool {
    !pattern.is_empty()
        && !pattern.chars().any(|c| {
            matches!(c, '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' | '#' | '&' | '-' | '~')
        })
}

/// Compiles a Kusto regular expression, once per pattern and thread: row-wise functions ask for
/// the pattern of every row, and compiling dominates matching by orders of magnitude (200,000
/// `extract` calls with one constant pattern took minutes when each compiled it anew).
pub fn compile(pattern: &str) -> Result<Rc<Pattern>, regex::Error> {
    if is_literal(pattern) {
        return Ok(Rc::new(Pattern::Literal(pattern.into())));
    }
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache.patterns.get(pattern) {
            return hit.clone();
        }
        let compiled = regex::Regex::new(&kusto_regex(pattern)).map(|re| Rc::new(Pattern::Regex(re)));
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
    patterns: HashMap<String, Result<Rc<Pattern>, regex::Error>>,
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
            assert!(compile(&format!("a{i}+")).is_ok());
        }
        assert!(COMPILED.with(|c| c.borrow().patterns.len()) <= MAX_CACHED_PATTERNS);
    }

    #[test]
    fn a_literal_pattern_matches_as_the_regex_would() {
        let text = "x-1 abab ab $ ab";
        for (literal, escaped) in [("ab", "ab"), ("ab ", "ab "), ("zz", "zz"), ("é", "é")] {
            let fast = compile(literal).unwrap();
            assert!(matches!(*fast, Pattern::Literal(_)));
            let slow = Pattern::Regex(regex::Regex::new(escaped).unwrap());
            assert_eq!(fast.find_iter(text).collect::<Vec<_>>(), slow.find_iter(text).collect::<Vec<_>>());
            assert_eq!(fast.all_groups(text), slow.all_groups(text));
            for group in 0..2 {
                assert_eq!(fast.first_group(text, group), slow.first_group(text, group));
            }
            for rewrite in ["<${0}>", "<$0>", "[${1}]", "$$", "a$", "${x", "$1b"] {
                for all in [true, false] {
                    assert_eq!(fast.replace(text, rewrite, all), slow.replace(text, rewrite, all), "{literal} {rewrite}");
                }
            }
        }
        for special in ["a.b", "a-b", "^a", "", "a\\d"] {
            assert!(matches!(*compile(special).unwrap(), Pattern::Regex(_)), "{special}");
        }
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
