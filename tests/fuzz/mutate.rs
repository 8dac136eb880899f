//! Mutations of query text: a small lexer that knows KQL's strings, numbers, names and
//! brackets, and edits that splice seeds, plant hostile literals, deepen nesting, cut, insert
//! stray characters and swap function names and argument counts.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Space,
    Comment,
    Name,
    Number,
    Str,
    Punct,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// Splits `text` into tokens (never fails: anything unknown is one punctuation character).
pub fn lex(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        let start = i;
        let kind = if c.is_whitespace() {
            i += c.len_utf8();
            while let Some(d) = text[i..].chars().next().filter(|d| d.is_whitespace()) {
                i += d.len_utf8();
            }
            Kind::Space
        } else if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(text.len(), |n| i + n);
            Kind::Comment
        } else if text[i..].starts_with("```") {
            i = text[i + 3..].find("```").map_or(text.len(), |n| i + 3 + n + 3);
            Kind::Str
        } else if c == '"' || c == '\'' || ((c == '@' || c == 'h' || c == 'H') && matches!(bytes.get(i + 1), Some(b'"' | b'\''))) {
            let verbatim = c == '@';
            let quote_at = if c == '"' || c == '\'' { i } else { i + 1 };
            let quote = bytes[quote_at];
            let mut j = quote_at + 1;
            while j < bytes.len() && bytes[j] != quote && bytes[j] != b'\n' {
                if bytes[j] == b'\\' && !verbatim {
                    j += 1;
                }
                j += 1;
            }
            i = (j + 1).min(text.len());
            while !text.is_char_boundary(i) {
                i += 1;
            }
            Kind::Str
        } else if c.is_ascii_digit() {
            while let Some(d) = text[i..].chars().next().filter(|d| d.is_ascii_alphanumeric() || *d == '.' || *d == '_') {
                i += d.len_utf8();
            }
            Kind::Number
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            while let Some(d) = text[i..].chars().next().filter(|d| d.is_alphanumeric() || *d == '_' || *d == '$') {
                i += d.len_utf8();
            }
            Kind::Name
        } else {
            i += c.len_utf8();
            Kind::Punct
        };
        out.push(Token { kind, start, end: i });
    }
    out
}

/// Literals that have broken engines: extremes, special reals, dates at the range's ends,
/// malformed text, invalid regexes, deep or odd dynamic values.
pub const HOSTILE: &[&str] = &[
    // long and int
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775807 - 1",
    "2147483647",
    "-2147483648",
    "4294967296",
    "0",
    "-1",
    "1",
    "65536",
    "99999999999999999999999999",
    "long(null)",
    "int(null)",
    "int(2147483647)",
    "long(-9223372036854775808)",
    // real and decimal
    "real(nan)",
    "real(+inf)",
    "real(-inf)",
    "1e308",
    "-1.7976931348623157e308",
    "5e-324",
    "-0.0",
    "0.0",
    "real(null)",
    "decimal(1e28)",
    "decimal(null)",
    "decimal(-0.000000000000000001)",
    // datetime
    "datetime(0001-01-01)",
    "datetime(9999-12-31 23:59:59.9999999)",
    "datetime(1601-01-01)",
    "datetime(1677-09-21 00:12:43)",
    "datetime(2262-04-11 23:47:16)",
    "datetime(1970-01-01)",
    "datetime(null)",
    "datetime(12-05-15)",
    "todatetime('12-05-15')",
    "todatetime('99/99/9999 99:99:99 PM')",
    "datetime(2024-02-30)",
    "now()",
    "ago(-365000d)",
    // timespan
    "timespan(null)",
    "1tick",
    "0s",
    "-1s",
    "10675199d",
    "-10675199d",
    "106751991167d",
    "9999999999999d",
    "time(1.02:03:04)",
    "totimespan('99999999.23:59:59')",
    "totimespan('-00:00:00.0000001')",
    "1.5e10h",
    // string
    "''",
    "' '",
    "'é'",
    "'İ'",
    "'ß'",
    "'🦀🦀🦀'",
    "'\\u200f'",
    "'a\\u0000b'",
    "'\u{feff}x'",
    "'e\u{301}\u{301}\u{301}'",
    "'12-05-15'",
    "'NaN'",
    "'-inf'",
    "'1e400'",
    "'9223372036854775808'",
    "'{\"a\":'",
    "'[1,2'",
    "'%s%n%x'",
    "'\\\\'",
    "'*'",
    "'.'",
    "h'secret'",
    "@'C:\\Windows\\'",
    "```multi\nline```",
    "'a,b,\"c'",
    "'1.2.3.4/33'",
    "'::ffff:1.2.3.4'",
    "'300.1.1.1'",
    "'http://[::1:80/%zz?a=%'",
    // regex
    "@'['",
    "@'(a'",
    "@'a{99999}'",
    "@'(?<n'",
    "@'\\'",
    "@'(a*)*b'",
    "@'(?i)'",
    "@''",
    // dynamic and others
    "dynamic(null)",
    "dynamic([])",
    "dynamic({})",
    "dynamic([[[[[[[[]]]]]]]])",
    "dynamic({\"a\":{\"b\":[1,2,{\"c\":null}]}})",
    "dynamic([1,'a',null,1.5,true])",
    "dynamic([9223372036854775807, -9223372036854775808, 1e308])",
    "parse_json('{\"a\":')",
    "parse_json('[1,[2,[3]]]')",
    "bool(null)",
    "true",
    "false",
    "guid(00000000-0000-0000-0000-000000000000)",
    "guid(null)",
];

/// A hostile literal; a very long string now and then.
pub fn hostile(rng: &mut StdRng) -> String {
    if rng.random_ratio(1, 40) {
        let unit = ["a", "é", "🦀", "\\\\", "%", " "].choose(rng).copied().unwrap_or("a");
        return format!("'{}'", unit.repeat(rng.random_range(1000..20000)));
    }
    HOSTILE.choose(rng).copied().unwrap_or("0").to_string()
}

/// The query text split at its top-level pipes (outside strings and brackets); each part but
/// the first starts with its `|`.
pub fn pipe_segments(text: &str) -> Vec<String> {
    let tokens = lex(text);
    let mut depth = 0i32;
    let mut cuts = vec![0];
    for t in &tokens {
        if t.kind != Kind::Punct {
            continue;
        }
        match &text[t.start..t.end] {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "|" if depth == 0 => cuts.push(t.start),
            _ => {}
        }
    }
    cuts.push(text.len());
    cuts.windows(2).map(|w| text[w[0]..w[1]].to_string()).filter(|s| !s.trim().is_empty()).collect()
}

/// For each token, the index of the token that closes it when it is an opening bracket (one
/// pass with a stack, so long texts stay linear).
fn closings(text: &str, tokens: &[Token]) -> Vec<Option<usize>> {
    let mut out = vec![None; tokens.len()];
    let mut stack = Vec::new();
    for (k, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Punct {
            continue;
        }
        match &text[t.start..t.end] {
            "(" | "[" | "{" => stack.push(k),
            ")" | "]" | "}" => {
                if let Some(open) = stack.pop() {
                    out[open] = Some(k);
                }
            }
            _ => {}
        }
    }
    out
}

/// Spans of literals: numbers, strings, and `datetime(...)`-like calls with their argument.
fn literal_spans(text: &str, tokens: &[Token]) -> Vec<(usize, usize)> {
    let close = closings(text, tokens);
    let mut out = Vec::new();
    for (k, t) in tokens.iter().enumerate() {
        match t.kind {
            Kind::Number | Kind::Str => out.push((t.start, t.end)),
            Kind::Name => {
                let word = &text[t.start..t.end];
                if matches!(word, "datetime" | "timespan" | "time" | "dynamic" | "guid" | "real" | "long" | "int" | "bool" | "decimal")
                    && tokens.get(k + 1).is_some_and(|n| &text[n.start..n.end] == "(")
                    && let Some(c) = close[k + 1]
                {
                    out.push((t.start, tokens[c].end));
                }
            }
            _ => {}
        }
    }
    out
}

/// Calls: (name token index, open bracket index, close bracket index).
fn calls(text: &str, tokens: &[Token]) -> Vec<(usize, usize, usize)> {
    let close = closings(text, tokens);
    let mut out = Vec::new();
    for (k, t) in tokens.iter().enumerate() {
        if t.kind == Kind::Name
            && tokens.get(k + 1).is_some_and(|n| &text[n.start..n.end] == "(")
            && let Some(c) = close[k + 1]
        {
            out.push((k, k + 1, c));
        }
    }
    out
}

fn replace(text: &str, start: usize, end: usize, with: &str) -> String {
    let mut s = String::with_capacity(text.len() + with.len());
    s.push_str(&text[..start]);
    s.push_str(with);
    s.push_str(&text[end..]);
    s
}

/// A char boundary at or after `i`.
fn boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// One to three random edits of `base`, with `other` (another seed) to splice from.
pub fn mutate(rng: &mut StdRng, base: &str, other: &str, functions: &[String], operators: &[String]) -> String {
    let mut text = base.to_string();
    for _ in 0..rng.random_range(1..=3) {
        text = if rng.random_ratio(1, 14) { insert_operator(rng, &text, operators) } else { mutate_once(rng, &text, other, functions) };
        if text.len() > 400_000 {
            text.truncate(boundary(&text, 400_000));
        }
    }
    text
}

/// Any operator the README lists, with a hostile or missing argument, between two operators.
fn insert_operator(rng: &mut StdRng, text: &str, operators: &[String]) -> String {
    let segs = pipe_segments(text);
    let Some(op) = operators.choose(rng) else { return text.to_string() };
    let arg = match rng.random_range(0..4) {
        0 => String::new(),
        1 => hostile(rng),
        2 => format!("x = {}", hostile(rng)),
        _ => format!("by {}", hostile(rng)),
    };
    let at = rng.random_range(0..=segs.len());
    let mut s = segs[..at.min(segs.len())].concat();
    s.push_str(&format!("\n| {op} {arg}"));
    s.push_str(&segs[at.min(segs.len())..].concat());
    s
}

fn mutate_once(rng: &mut StdRng, text: &str, other: &str, functions: &[String]) -> String {
    let tokens = lex(text);
    match rng.random_range(0..13) {
        // Splice: this query's first operators, the other's last ones.
        0 | 1 => {
            let a = pipe_segments(text);
            let b = pipe_segments(other);
            if a.is_empty() || b.len() < 2 {
                return text.to_string();
            }
            let keep = rng.random_range(1..=a.len());
            let from = rng.random_range(1..b.len());
            let mut s = a[..keep].concat();
            for seg in &b[from..] {
                s.push_str(if seg.starts_with('\n') { "" } else { "\n" });
                s.push_str(seg.trim_start_matches('\n'));
            }
            s
        }
        // A hostile literal in place of a literal.
        2..=4 => {
            let spans = literal_spans(text, &tokens);
            match spans.choose(rng) {
                Some(&(s, e)) => replace(text, s, e, &hostile(rng)),
                None => text.to_string(),
            }
        }
        // A call or bracketed group of the other query in place of a literal or name here.
        5 => {
            let ot = lex(other);
            let groups = calls(other, &ot);
            let spans: Vec<(usize, usize)> =
                tokens.iter().filter(|t| matches!(t.kind, Kind::Name | Kind::Number | Kind::Str)).map(|t| (t.start, t.end)).collect();
            match (groups.choose(rng), spans.choose(rng)) {
                (Some(&(n, _, c)), Some(&(s, e))) => replace(text, s, e, &other[ot[n].start..ot[c].end]),
                _ => text.to_string(),
            }
        }
        // Deeper nesting: a call wrapped in itself, or a literal in many brackets.
        6 => {
            let found = calls(text, &tokens);
            let depth = if rng.random_ratio(1, 4) { rng.random_range(20..90) } else { rng.random_range(2..8) };
            match found.choose(rng) {
                Some(&(n, o, c)) => {
                    let name = &text[tokens[n].start..tokens[n].end];
                    let args = &text[tokens[o].end..tokens[c].start];
                    let extra = args.split_once(',').map(|(_, rest)| format!(",{rest}")).unwrap_or_default();
                    let mut inner = text[tokens[n].start..tokens[c].end].to_string();
                    for _ in 0..depth {
                        inner = format!("{name}({inner}{extra})");
                    }
                    replace(text, tokens[n].start, tokens[c].end, &inner)
                }
                None => {
                    let spans = literal_spans(text, &tokens);
                    match spans.choose(rng) {
                        Some(&(s, e)) => replace(text, s, e, &format!("{}{}{}", "(".repeat(depth), &text[s..e], ")".repeat(depth))),
                        None => text.to_string(),
                    }
                }
            }
        }
        // Duplicate an operator a few (or many) times.
        7 => {
            let segs = pipe_segments(text);
            if segs.len() < 2 {
                return text.to_string();
            }
            let k = rng.random_range(1..segs.len());
            let times = if rng.random_ratio(1, 5) { rng.random_range(10..200) } else { rng.random_range(2..4) };
            let mut s = segs[..=k].concat();
            for _ in 1..times {
                s.push_str(&segs[k]);
            }
            s.push_str(&segs[k + 1..].concat());
            s
        }
        // Cut at a random point.
        8 => {
            let at = boundary(text, rng.random_range(0..=text.len()));
            text[..at].to_string()
        }
        // Stray brackets, quotes, pipes and other punctuation.
        9 => {
            let at = boundary(text, rng.random_range(0..=text.len()));
            let stray = [
                "(", ")", "[", "]", "{", "}", "'", "\"", "|", ",", ";", "=", "@", "```", "//", "\\", "..", "!", "~", "| ", "((((", "))))",
                "\u{0}", "é", "🦀",
            ];
            let n = rng.random_range(1..4);
            let mut s = text.to_string();
            for _ in 0..n {
                let at = boundary(&s, at);
                s.insert_str(at, stray.choose(rng).copied().unwrap_or("("));
            }
            s
        }
        // Another function's name.
        10 => {
            let found = calls(text, &tokens);
            match (found.choose(rng), functions.choose(rng)) {
                (Some(&(n, _, _)), Some(f)) => replace(text, tokens[n].start, tokens[n].end, f),
                _ => text.to_string(),
            }
        }
        // Another argument count: none, one dropped, or extra hostile ones.
        11 => {
            let found = calls(text, &tokens);
            let Some(&(_, o, c)) = found.choose(rng) else { return text.to_string() };
            let args = &text[tokens[o].end..tokens[c].start];
            let new_args = match rng.random_range(0..3) {
                0 => String::new(),
                1 => args.rsplit_once(',').map(|(a, _)| a.to_string()).unwrap_or_default(),
                _ => {
                    let mut a = args.to_string();
                    for _ in 0..rng.random_range(1..4) {
                        if !a.trim().is_empty() {
                            a.push_str(", ");
                        }
                        a.push_str(&hostile(rng));
                    }
                    a
                }
            };
            replace(text, tokens[o].end, tokens[c].start, &new_args)
        }
        // Drop or double a token.
        _ => {
            let Some(t) = tokens.choose(rng) else { return text.to_string() };
            if rng.random_bool(0.5) {
                replace(text, t.start, t.end, "")
            } else {
                replace(text, t.start, t.end, &text[t.start..t.end].repeat(2))
            }
        }
    }
}
