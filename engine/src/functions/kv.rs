//! `parse-kv`'s reading of key/value text, in Kusto's three modes:
//! - delimiters given (`pair_delimiter`, `kv_delimiter`, optional `quote`, `escape`, `greedy`):
//!   the text is a list of pairs;
//! - no delimiters: each wanted key is looked for in free text, followed by any run of
//!   punctuation and its value;
//! - `regex`: a pattern whose two groups are the key and the value.
//!
//! The planner hands the settings to `kql_kv_value(text, key, settings)` as one JSON constant.

use std::cell::RefCell;
use std::collections::HashMap;

use datafusion::logical_expr::ScalarUDF;
use serde_json::Value as Json;

use super::rowwise::{Out, Ret, RowUdf};

#[derive(Debug, Default)]
pub struct KvSettings {
    pub pair: Option<String>,
    pub kv: Option<String>,
    /// Opening and closing quote characters: `"` gives ('"', '"'), `()` gives ('(', ')').
    pub quotes: Vec<(char, char)>,
    pub escapes: Vec<char>,
    pub greedy: bool,
    pub regex: Option<String>,
}

impl KvSettings {
    /// The settings as the JSON constant the UDF reads.
    pub fn to_json(&self) -> String {
        let quotes: String = self.quotes.iter().flat_map(|(o, c)| [*o, *c]).collect();
        serde_json::json!({
            "pair": self.pair, "kv": self.kv, "quotes": quotes, "escapes": self.escapes.iter().collect::<String>(),
            "greedy": self.greedy, "regex": self.regex,
        })
        .to_string()
    }

    fn from_json(text: &str) -> KvSettings {
        let j: Json = serde_json::from_str(text).unwrap_or(Json::Null);
        let s = |k: &str| j.get(k).and_then(Json::as_str).map(str::to_string);
        let quote_chars: Vec<char> = s("quotes").unwrap_or_default().chars().collect();
        KvSettings {
            pair: s("pair"),
            kv: s("kv"),
            quotes: quote_chars.chunks(2).map(|c| (c[0], *c.get(1).unwrap_or(&c[0]))).collect(),
            escapes: s("escapes").unwrap_or_default().chars().collect(),
            greedy: j.get("greedy").and_then(Json::as_bool).unwrap_or(false),
            regex: s("regex"),
        }
    }

    /// `quote='"'` is one quote character; `quote='()'` (or `[]`, `{}`, `<>`) opens with the
    /// first and closes with the second; other texts list several quote characters.
    pub fn quotes_from(text: &str) -> Vec<(char, char)> {
        let chars: Vec<char> = text.chars().collect();
        match chars.as_slice() {
            [open, close] if matches!((open, close), ('(', ')') | ('[', ']') | ('{', '}') | ('<', '>')) => vec![(*open, *close)],
            _ => chars.iter().map(|c| (*c, *c)).collect(),
        }
    }
}

/// A quoted run at the start of `text` (which starts with an opening quote): its content with
/// escapes undone, and the byte length consumed.
fn quoted(text: &str, close: char, escapes: &[char]) -> (String, usize) {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if escapes.contains(&c) {
            if let Some((_, next)) = chars.next() {
                out.push(next);
            }
            continue;
        }
        if c == close {
            return (out, i + c.len_utf8());
        }
        out.push(c);
    }
    (out, text.len())
}

fn opening(settings: &KvSettings, c: Option<char>) -> Option<char> {
    let c = c?;
    settings.quotes.iter().find(|(o, _)| *o == c).map(|(_, close)| *close)
}

/// Pairs of a text with known delimiters.
fn delimited_pairs(text: &str, settings: &KvSettings, pair: &str, kv: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || pair.contains(c));
        if rest.is_empty() {
            break;
        }
        // The key: quoted, or up to the kv delimiter (a pair delimiter first means a bare word).
        let key = match opening(settings, rest.chars().next()) {
            Some(close) => {
                let (k, used) = quoted(rest, close, &settings.escapes);
                rest = &rest[used..];
                k
            }
            None => {
                let kv_at = rest.find(kv);
                let pair_at = rest.find(pair);
                match (kv_at, pair_at) {
                    (Some(k), p) if p.is_none_or(|p| k < p) => {
                        let key = rest[..k].trim().to_string();
                        rest = &rest[k..];
                        key
                    }
                    (_, Some(p)) => {
                        rest = &rest[p..];
                        continue;
                    }
                    _ => break,
                }
            }
        };
        let Some(after) = rest.trim_start().strip_prefix(kv) else { continue };
        let after = after.trim_start();
        let (value, next) = match opening(settings, after.chars().next()) {
            Some(close) => {
                let (v, used) = quoted(after, close, &settings.escapes);
                (v, &after[used..])
            }
            None => {
                let end = match settings.greedy {
                    // Greedy: up to the pair delimiter before the next key and kv delimiter.
                    true => match after.find(kv) {
                        Some(next_kv) => after[..next_kv].rfind(pair).unwrap_or(after.len()),
                        None => after.len(),
                    },
                    false => after.find(pair).unwrap_or(after.len()),
                };
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        out.push((key, value));
        rest = next;
    }
    out
}

/// The value of `key` in free text: the key as a word, then a run of punctuation or spaces,
/// then a quoted value or a run up to a space, comma or semicolon.
fn free_text_value(text: &str, key: &str, settings: &KvSettings) -> Option<String> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    for (at, _) in text.match_indices(key) {
        let before_ok = !text[..at].chars().last().is_some_and(is_word);
        let after = &text[at + key.len()..];
        if !before_ok || after.chars().next().is_none_or(is_word) {
            continue;
        }
        let value_start = after.trim_start_matches(|c: char| !is_word(c) && opening(settings, Some(c)).is_none() && c != '-' && c != '+');
        if value_start.len() == after.len() {
            continue;
        }
        return Some(match opening(settings, value_start.chars().next()) {
            Some(close) => quoted(value_start, close, &settings.escapes).0,
            None => value_start[..value_start.find(|c: char| c.is_whitespace() || c == ',' || c == ';').unwrap_or(value_start.len())]
                .to_string(),
        });
    }
    None
}

thread_local! {
    static PATTERNS: RefCell<HashMap<String, Option<regex::Regex>>> = RefCell::new(HashMap::new());
    /// The settings constant is the same on every row: read once per thread.
    static SETTINGS: RefCell<HashMap<String, std::rc::Rc<KvSettings>>> = RefCell::new(HashMap::new());
}

fn regex_value(text: &str, key: &str, pattern: &str) -> Option<String> {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let re = cache.entry(pattern.to_string()).or_insert_with(|| regex::Regex::new(pattern).ok()).as_ref()?;
        re.captures_iter(text)
            .find(|c| c.get(1).is_some_and(|k| k.as_str().trim() == key))
            .and_then(|c| c.get(2))
            .map(|v| v.as_str().trim().to_string())
    })
}

pub fn value_of(text: &str, key: &str, settings: &KvSettings) -> Option<String> {
    if let Some(pattern) = &settings.regex {
        return regex_value(text, key, pattern);
    }
    match (&settings.pair, &settings.kv) {
        (Some(pair), Some(kv)) if !pair.is_empty() && !kv.is_empty() => {
            delimited_pairs(text, settings, pair, kv).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
        }
        _ => free_text_value(text, key, settings),
    }
}

/// `kql_kv_value(text, key, settings)`: the value of `key`, or null when it is absent.
pub fn kv_value() -> ScalarUDF {
    RowUdf::scalar("kql_kv_value", Ret::Str, |a| {
        let key = a[2].text();
        // The settings are the same constant on every row: the key is copied only on a miss.
        let settings = SETTINGS.with(|cache| {
            let mut cache = cache.borrow_mut();
            match cache.get(&*key) {
                Some(hit) => hit.clone(),
                None => cache.entry(key.to_string()).or_insert_with(|| std::rc::Rc::new(KvSettings::from_json(&key))).clone(),
            }
        });
        value_of(&a[0].text(), &a[1].text(), &settings).map_or(Out::Null, Out::Str)
    })
}
