//! KQL's library of scalar functions that run row by row (see `rowwise.rs`): strings,
//! encodings and hashes, URLs and paths, datetime parts and formats, math, arrays and bags.
//! Each entry names the function, its arity and its result type.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::logical_expr::ScalarUDF;
use kql_grammar::values::{
    MICROS_PER_DAY, MICROS_PER_SECOND, NANOS_PER_DAY, NANOS_PER_MICRO, NANOS_PER_SECOND, civil_from_days, days_from_civil,
};
use serde_json::Value as Json;

use super::rowwise::{Out, Ret, RowUdf, V, json_array_text};

pub struct RowDef {
    pub min: usize,
    pub max: usize,
    pub udf: Arc<ScalarUDF>,
}

pub(super) fn def(map: &mut HashMap<&'static str, RowDef>, name: &'static str, min: usize, max: usize, ret: Ret, f: fn(&[V]) -> Out) {
    map.insert(name, RowDef { min, max, udf: Arc::new(RowUdf::scalar(format!("kql_{name}"), ret, f)) });
}

/// The row-wise functions by KQL name.
pub fn library() -> &'static HashMap<&'static str, RowDef> {
    static LIB: OnceLock<HashMap<&'static str, RowDef>> = OnceLock::new();
    LIB.get_or_init(|| {
        let mut m = HashMap::new();
        strings(&mut m);
        encodings(&mut m);
        datetimes(&mut m);
        maths(&mut m);
        arrays(&mut m);
        register_ipv6(&mut m);
        register_more(&mut m);
        register_xml(&mut m);
        register_series(&mut m);
        register_geo(&mut m);
        register_tdigest(&mut m);
        super::special::register(&mut m);
        super::series_analysis::register(&mut m);
        super::geo_cells::register(&mut m);
        super::geo_shapes::register(&mut m);
        super::geo_reshape::register(&mut m);
        super::compress::register(&mut m);
        super::text::register(&mut m);
        super::units::register(&mut m);
        super::timezones::register(&mut m);
        register_rest(&mut m);
        m
    })
}

fn s<'a>(v: &V<'a>) -> std::borrow::Cow<'a, str> {
    v.text()
}

fn opt_long(args: &[V], i: usize) -> Option<i64> {
    args.get(i).and_then(|v| v.long())
}

/// Where the `occurrence`-th match of a `width`-long needle is, looking from `start` within
/// `length` items (all when none); -1 when there is none. Each further occurrence is looked
/// for in a window of the same length that starts just after the previous one, as Kusto does:
/// `indexof("abcdefgabcdefg", "cde", 1, 10, 2)` finds the second "cde" at 9 although it ends
/// past 1 + 10.
fn nth_match(
    total: usize,
    width: usize,
    start: usize,
    length: Option<usize>,
    occurrence: usize,
    matches_at: impl Fn(usize) -> bool,
) -> i64 {
    let window_end = |from: usize| length.map_or(total, |l| (from + l).min(total));
    let (mut found, mut i, mut end) = (0, start, window_end(start));
    while i + width <= end {
        if matches_at(i) {
            found += 1;
            if found == occurrence {
                return i as i64;
            }
            end = window_end(i + 1);
        }
        i += 1;
    }
    -1
}

/// Kusto's largest string value (1 MB): a padding or repetition past it is capped there.
const MAX_STRING_BYTES: usize = 1 << 20;

fn chars_slice(text: &str, start: i64, len: Option<i64>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len() as i64;
    let start = if start < 0 { n.saturating_add(start).max(0) } else { start.min(n) };
    let end = match len {
        Some(l) if l >= 0 => start.saturating_add(l).min(n),
        Some(_) => start,
        None => n,
    };
    chars[start as usize..end.max(start) as usize].iter().collect()
}

fn regex(p: &str) -> Option<std::rc::Rc<super::regex_syntax::Pattern>> {
    super::regex_syntax::compile(p).ok()
}

/// Kusto's `\1` back-references in a rewrite become the regex crate's `${1}`.
fn rewrite(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            let d = chars.next().unwrap_or('0');
            out.push_str(&format!("${{{d}}}"));
        } else if c == '$' {
            out.push_str("$$");
        } else {
            out.push(c);
        }
    }
    out
}

fn strings(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "substring", 2, 3, Ret::Str, |a| Out::Str(chars_slice(&s(&a[0]), opt_long(a, 1).unwrap_or(0), opt_long(a, 2))));
    // A datetime reverses as text with seven fraction digits, as Kusto converts it.
    def(m, "reverse", 1, 1, Ret::Str, |a| Out::Str(a[0].text().chars().rev().collect()));
    def(m, "string_size", 1, 1, Ret::Long, |a| Out::Long(s(&a[0]).len() as i64));
    def(m, "isascii", 1, 1, Ret::Bool, |a| Out::Bool(s(&a[0]).is_ascii()));
    def(m, "isutf8", 1, 1, Ret::Bool, |_| Out::Bool(true));
    def(m, "strcmp", 2, 2, Ret::Long, |a| {
        Out::Long(match s(&a[0]).cmp(&s(&a[1])) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        })
    });
    def(m, "strrep", 2, 3, Ret::Str, |a| {
        // The docs: "If multiplier is more than the maximal allowed value of 1024, the input
        // string will be repeated 1024 times."
        let n = opt_long(a, 1).unwrap_or(0).clamp(0, 1024) as usize;
        let (text, delim) = (s(&a[0]), a.get(2).map(s).unwrap_or_default());
        // Past Kusto's largest string value the result is null: nested strreps otherwise grow
        // a column past what Arrow can hold (found by the fuzzer).
        if (text.len() + delim.len()).saturating_mul(n) > MAX_STRING_BYTES {
            return Out::Null;
        }
        Out::Str(vec![text; n].join(&delim))
    });
    def(m, "strcat_delim", 3, 64, Ret::Str, |a| Out::Str(a[1..].iter().map(s).collect::<Vec<_>>().join(&s(&a[0]))));
    def(m, "indexof", 2, 5, Ret::Long, |a| {
        if a[0].is_null() {
            return Out::Null;
        }
        let text: Vec<char> = s(&a[0]).chars().collect();
        let needle: Vec<char> = s(&a[1]).chars().collect();
        let start = opt_long(a, 2).unwrap_or(0).max(0) as usize;
        let length = opt_long(a, 3).filter(|l| *l >= 0).map(|l| l as usize);
        let occurrence = opt_long(a, 4).unwrap_or(1).max(1) as usize;
        if needle.is_empty() {
            return Out::Long(start as i64);
        }
        Out::Long(nth_match(text.len(), needle.len(), start, length, occurrence, |i| text[i..i + needle.len()] == needle[..]))
    });
    def(m, "indexof_regex", 2, 5, Ret::Long, |a| {
        let (text, start) = (s(&a[0]), opt_long(a, 2).unwrap_or(0));
        let Some(re) = regex(&s(&a[1])) else { return Out::Null };
        if start < 0 {
            return Out::Null;
        }
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let byte_at = |c: usize| chars.get(c).map_or(text.len(), |(b, _)| *b);
        let from = byte_at(start as usize);
        let to = match opt_long(a, 3) {
            Some(l) if l >= 0 => byte_at(start as usize + l as usize),
            _ => text.len(),
        };
        let occurrence = opt_long(a, 4).unwrap_or(1).max(1) as usize;
        match re.find_iter(&text[from..to.max(from)]).nth(occurrence - 1) {
            Some((start, _)) => Out::Long(text[..from + start].chars().count() as i64),
            None => Out::Long(-1),
        }
    });
    def(m, "countof", 2, 3, Ret::Long, |a| {
        let (text, search) = (s(&a[0]), s(&a[1]));
        if a.get(2).is_some_and(|k| s(k) == "regex") {
            return regex(&search).map_or(Out::Null, |re| Out::Long(re.find_iter(&text).count() as i64));
        }
        if search.is_empty() {
            return Out::Long(0);
        }
        // Overlapping matches count, as in Kusto.
        let mut count = 0;
        let mut from = 0;
        while let Some(i) = text[from..].find(&*search) {
            count += 1;
            from += i + search.chars().next().map_or(1, char::len_utf8);
        }
        Out::Long(count)
    });
    def(m, "replace_string", 3, 3, Ret::Str, |a| {
        let lookup = s(&a[1]);
        if lookup.is_empty() {
            return Out::Str(s(&a[0]).into_owned());
        }
        Out::Str(s(&a[0]).replace(&*lookup, &s(&a[2])))
    });
    def(m, "replace_regex", 3, 3, Ret::Str, |a| match regex(&s(&a[1])) {
        Some(re) => Out::Str(re.replace(&s(&a[0]), &rewrite(&s(&a[2])), true)),
        None => Out::Null,
    });
    def(m, "replace", 3, 3, Ret::Str, |a| match regex(&s(&a[0])) {
        Some(re) => Out::Str(re.replace(&s(&a[2]), &rewrite(&s(&a[1])), true)),
        None => Out::Null,
    });
    // Each trim removes one match of the regex at its end ("removes leading/trailing match", as
    // the docs say): `trim_end(@"\d", "a12")` is `a1`; the docs' examples add `+` themselves.
    def(m, "trim", 2, 2, Ret::Str, |a| match regex(&format!("^(?:{})|(?:{})$", s(&a[0]), s(&a[0]))) {
        Some(re) => Out::Str(re.replace(&s(&a[1]), "", true)),
        None => Out::Null,
    });
    def(m, "trim_start", 2, 2, Ret::Str, |a| match regex(&format!("^(?:{})", s(&a[0]))) {
        Some(re) => Out::Str(re.replace(&s(&a[1]), "", false)),
        None => Out::Null,
    });
    def(m, "trim_end", 2, 2, Ret::Str, |a| match regex(&format!("(?:{})$", s(&a[0]))) {
        Some(re) => Out::Str(re.replace(&s(&a[1]), "", false)),
        None => Out::Null,
    });
    def(m, "extract", 3, 4, Ret::Str, |a| {
        let group = opt_long(a, 1).unwrap_or(0).max(0) as usize;
        match regex(&s(&a[0])).and_then(|re| re.first_group(&s(&a[2]), group).map(str::to_string)) {
            Some(v) => Out::Str(v),
            None => Out::Null,
        }
    });
    def(m, "extract_all", 2, 3, Ret::Dynamic, |a| {
        let (pattern, text, groups) = if a.len() == 3 { (s(&a[0]), s(&a[2]), Some(a[1].json())) } else { (s(&a[0]), s(&a[1]), None) };
        let Some(re) = regex(&pattern) else { return Out::Null };
        let wanted: Option<Vec<usize>> =
            groups.and_then(|g| g.as_array().map(|v| v.iter().filter_map(|x| x.as_u64().map(|n| n as usize)).collect()));
        let caps: Vec<Json> = re
            .all_groups(&text)
            .into_iter()
            .map(|c| {
                let pick = |i: usize| c.get(i).copied().flatten().map_or(Json::Null, |g| Json::String(g.to_string()));
                match (&wanted, re.captures_len()) {
                    (Some(w), _) => Json::Array(w.iter().map(|i| pick(*i)).collect()),
                    (None, 1) => pick(0),
                    (None, 2) => pick(1),
                    (None, n) => Json::Array((1..n).map(pick).collect()),
                }
            })
            .collect();
        if caps.is_empty() { Out::Null } else { Out::Json(Json::Array(caps)) }
    });
    def(m, "regex_quote", 1, 1, Ret::Str, |a| Out::Str(regex::escape(&s(&a[0]))));
    def(m, "parse_csv", 1, 1, Ret::Dynamic, |a| {
        let text = s(&a[0]);
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(Json::String(std::mem::take(&mut cur))),
                ('\n', false) => break,
                (c, _) => cur.push(c),
            }
        }
        fields.push(Json::String(cur));
        Out::Json(Json::Array(fields))
    });
    def(m, "has_ipv4", 2, 2, Ret::Bool, |a| Out::Bool(ipv4_tokens(&s(&a[0])).any(|t| t == s(&a[1]))));
    def(m, "has_ipv4_prefix", 2, 2, Ret::Bool, |a| {
        let p = s(&a[1]);
        Out::Bool(ipv4_tokens(&s(&a[0])).any(|t| has_prefix(&t, &p)))
    });
    def(m, "has_any_ipv4_prefix", 2, 64, Ret::Bool, |a| {
        let prefixes = list_values(&a[1..]);
        Out::Bool(ipv4_tokens(&s(&a[0])).any(|t| prefixes.iter().any(|p| has_prefix(&t, p))))
    });
    def(m, "has_any_ipv4", 2, 64, Ret::Bool, |a| {
        let wanted: Vec<String> = list_values(&a[1..]);
        Out::Bool(ipv4_tokens(&s(&a[0])).any(|t| wanted.contains(&t)))
    });
}

/// The values of the rest arguments, a dynamic array spread into its elements.
fn list_values(args: &[V]) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        match a.json().as_ref() {
            Json::Array(items) => out.extend(items.iter().map(super::dynamic::json_to_text)),
            other => out.push(super::dynamic::json_to_text(other)),
        }
    }
    out
}

/// A prefix is a whole address, or octets ending with a dot (`10.1.`); anything else matches nothing.
fn has_prefix(ip: &str, p: &str) -> bool {
    ip == p || (p.ends_with('.') && ip.starts_with(p))
}

/// The IPv4 addresses in a text: runs of digits and dots that parse as addresses.
fn ipv4_tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|t| t.trim_matches('.'))
        .filter(|t| t.parse::<std::net::Ipv4Addr>().is_ok())
        .map(str::to_string)
}

fn encodings(m: &mut HashMap<&'static str, RowDef>) {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    def(m, "base64_encode_tostring", 1, 1, Ret::Str, |a| Out::Str(STANDARD.encode(s(&a[0]).as_bytes())));
    def(m, "base64_encodestring", 1, 1, Ret::Str, |a| Out::Str(STANDARD.encode(s(&a[0]).as_bytes())));
    def(m, "base64_decode_tostring", 1, 1, Ret::Str, |a| match STANDARD.decode(s(&a[0]).trim()) {
        Ok(bytes) => String::from_utf8(bytes).map_or(Out::Null, Out::Str),
        Err(_) => Out::Null,
    });
    def(m, "base64_decodestring", 1, 1, Ret::Str, |a| match STANDARD.decode(s(&a[0]).trim()) {
        Ok(bytes) => String::from_utf8(bytes).map_or(Out::Null, Out::Str),
        Err(_) => Out::Null,
    });
    def(m, "base64_decode_toarray", 1, 1, Ret::Dynamic, |a| match STANDARD.decode(s(&a[0]).trim()) {
        Ok(bytes) => Out::Json(Json::Array(bytes.into_iter().map(Json::from).collect())),
        Err(_) => Out::Null,
    });
    def(m, "base64_encode_fromarray", 1, 1, Ret::Str, |a| match json_array(&a[0]) {
        Some(items) => {
            let bytes: Option<Vec<u8>> = items.iter().map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok())).collect();
            bytes.map_or(Out::Null, |b| Out::Str(STANDARD.encode(b)))
        }
        None => Out::Null,
    });
    def(m, "url_encode", 1, 1, Ret::Str, |a| {
        Out::Str(lower_hex_escapes(&url::form_urlencoded::byte_serialize(s(&a[0]).as_bytes()).collect::<String>()))
    });
    def(m, "url_encode_component", 1, 1, Ret::Str, |a| {
        const COMPONENT: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
        Out::Str(lower_hex_escapes(&percent_encoding::utf8_percent_encode(&s(&a[0]), COMPONENT).to_string()))
    });
    def(m, "url_decode", 1, 1, Ret::Str, |a| {
        let text = s(&a[0]).replace('+', " ");
        Out::Str(percent_encoding::percent_decode_str(&text).decode_utf8_lossy().into_owned())
    });
    def(m, "hash_md5", 1, 1, Ret::Str, |a| {
        use md5::Digest;
        Out::Str(hex(&md5::Md5::digest(a[0].text().as_bytes())))
    });
    def(m, "hash_sha1", 1, 1, Ret::Str, |a| {
        use sha1::Digest;
        Out::Str(hex(&sha1::Sha1::digest(a[0].text().as_bytes())))
    });
    def(m, "hash_sha256", 1, 1, Ret::Str, |a| {
        use sha2::Digest;
        Out::Str(hex(&sha2::Sha256::digest(a[0].text().as_bytes())))
    });
    def(m, "hash_xxhash64", 1, 2, Ret::Long, |a| {
        let h = xxhash_rust::xxh64::xxh64(&a[0].hash_bytes(), 0) as i64;
        match opt_long(a, 1) {
            Some(modulo) if modulo > 0 => Out::Long(h.rem_euclid(modulo)),
            _ => Out::Long(h),
        }
    });
    def(m, "hash", 1, 2, Ret::Long, |a| {
        let h = xxhash_rust::xxh64::xxh64(&a[0].hash_bytes(), 0) as i64;
        match opt_long(a, 1) {
            Some(modulo) if modulo > 0 => Out::Long(h.rem_euclid(modulo)),
            _ => Out::Long(h),
        }
    });
    def(m, "tohex", 1, 2, Ret::Str, |a| match a[0].long() {
        Some(v) => {
            let digits = format!("{v:x}");
            let width = opt_long(a, 1).unwrap_or(0).clamp(0, MAX_STRING_BYTES as i64) as usize;
            Out::Str(format!("{}{digits}", "0".repeat(width.saturating_sub(digits.len()))))
        }
        None => Out::Null,
    });
    def(m, "parse_url", 1, 1, Ret::Dynamic, |a| {
        let Ok(u) = url::Url::parse(&s(&a[0])) else { return Out::Json(Json::Object(Default::default())) };
        let query: serde_json::Map<String, Json> = u.query_pairs().map(|(k, v)| (k.into_owned(), Json::String(v.into_owned()))).collect();
        Out::Json(serde_json::json!({
            "Scheme": u.scheme(),
            "Host": u.host_str().unwrap_or(""),
            "Port": u.port().map(|p| p.to_string()).unwrap_or_default(),
            "Path": u.path(),
            "Username": u.username(),
            "Password": u.password().unwrap_or(""),
            "Query Parameters": query,
            "Fragment": u.fragment().unwrap_or(""),
        }))
    });
    def(m, "parse_urlquery", 1, 1, Ret::Dynamic, |a| {
        let text = s(&a[0]);
        let q = text.split_once('?').map_or(&*text, |(_, q)| q);
        let query: serde_json::Map<String, Json> =
            url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), Json::String(v.into_owned()))).collect();
        Out::Json(serde_json::json!({ "Query Parameters": query }))
    });
    def(m, "parse_path", 1, 1, Ret::Dynamic, |a| parse_path(&s(&a[0])));
}

/// `parse_path`: a URL's scheme (`file://`), the drive (`C:`), the folder, its last name, the
/// file name, its extension and an NTFS alternate data stream (`file.txt:stream`), as Kusto
/// splits them: `\\server\share\f.txt` keeps its leading `\\` in the folder.
fn parse_path(path: &str) -> Out {
    let (scheme, rest) = match path.split_once("://") {
        Some((scheme, rest)) if scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphabetic()) => (scheme, rest),
        _ => ("", path),
    };
    let sep = if rest.contains('\\') { '\\' } else { '/' };
    let (dir, file) = match rest.rfind(sep) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => ("", rest),
    };
    let (file, stream) = file.split_once(':').unwrap_or((file, ""));
    let extension = file.rsplit_once('.').map_or("", |(_, e)| e);
    let bytes = rest.as_bytes();
    let root = if bytes.len() > 1 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' { &rest[..2] } else { "" };
    let dir_name = dir.rsplit(sep).next().unwrap_or("");
    Out::Json(serde_json::json!({
        "Scheme": scheme,
        "RootPath": root,
        "DirectoryPath": dir,
        "DirectoryName": dir_name,
        "Filename": file,
        "Extension": extension,
        "AlternateDataStreamName": stream,
    }))
}

/// `%2F` → `%2f`: Kusto writes escapes in lower case.
fn lower_hex_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (year, month, day) of a datetime (microseconds since the epoch, as every datetime here).
fn ymd(us: i64) -> (i64, u32, u32) {
    civil_from_days(us.div_euclid(MICROS_PER_DAY))
}

/// The ISO 8601 week number (1 to 53) of a datetime: weeks start on Monday and week 1 holds
/// the year's first Thursday, as Kusto's `week_of_year` counts.
fn iso_week(us: i64) -> i64 {
    let days = us.div_euclid(MICROS_PER_DAY);
    // 1970-01-01 was a Thursday: ISO weekday 1 (Monday) to 7 (Sunday).
    let weekday = (days + 3).rem_euclid(7) + 1;
    // The week belongs to the year of its Thursday.
    let thursday = days - weekday + 4;
    let (year, _, _) = civil_from_days(thursday);
    (thursday - days_from_civil(year, 1, 1)) / 7 + 1
}

fn add_months(us: i64, months: i64) -> i64 {
    let (y, m, d) = ymd(us);
    let total = y * 12 + m as i64 - 1 + months;
    let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let dim = [31, if (ny % 4 == 0 && ny % 100 != 0) || ny % 400 == 0 { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        [nm as usize - 1];
    days_from_civil(ny, nm, d.min(dim)) * MICROS_PER_DAY + us.rem_euclid(MICROS_PER_DAY)
}

fn start_of(unit: &str, us: i64, offset: i64) -> i64 {
    let day = us.div_euclid(MICROS_PER_DAY);
    let (y, m, _) = civil_from_days(day);
    match unit {
        "day" => (day + offset) * MICROS_PER_DAY,
        // Weeks start on Sunday; 1970-01-01 was a Thursday.
        "week" => (day - (day + 4).rem_euclid(7) + offset * 7) * MICROS_PER_DAY,
        "month" => add_months(days_from_civil(y, m, 1) * MICROS_PER_DAY, offset),
        _ => add_months(days_from_civil(y, 1, 1) * MICROS_PER_DAY, offset * 12),
    }
}

fn datetimes(m: &mut HashMap<&'static str, RowDef>) {
    fn dt(v: &V) -> Option<i64> {
        match v {
            V::DateTime(us) => Some(*us),
            V::Str(s) => kql_grammar::values::parse_datetime(s),
            _ => None,
        }
    }
    macro_rules! start_end {
        ($start:literal, $end:literal, $unit:literal) => {
            def(m, $start, 1, 2, Ret::DateTime, |a| {
                dt(&a[0]).map_or(Out::Null, |ns| Out::DateTime(start_of($unit, ns, opt_long(a, 1).unwrap_or(0))))
            });
            def(m, $end, 1, 2, Ret::DateTime, |a| {
                dt(&a[0]).map_or(Out::Null, |ns| Out::DateTime(start_of($unit, ns, opt_long(a, 1).unwrap_or(0) + 1) - 1))
            });
        };
    }
    start_end!("startofday", "endofday", "day");
    start_end!("startofweek", "endofweek", "week");
    start_end!("startofmonth", "endofmonth", "month");
    start_end!("startofyear", "endofyear", "year");
    def(m, "dayofweek", 1, 1, Ret::TimeSpan, |a| {
        dt(&a[0]).map_or(Out::Null, |ns| Out::TimeSpan((ns.div_euclid(MICROS_PER_DAY) + 4).rem_euclid(7) * NANOS_PER_DAY))
    });
    def(m, "dayofmonth", 1, 1, Ret::Int, |a| dt(&a[0]).map_or(Out::Null, |ns| Out::Long(ymd(ns).2 as i64)));
    def(m, "week_of_year", 1, 1, Ret::Int, |a| dt(&a[0]).map_or(Out::Null, |ns| Out::Long(iso_week(ns))));
    def(m, "weekofyear", 1, 1, Ret::Int, |a| dt(&a[0]).map_or(Out::Null, |ns| Out::Long(iso_week(ns))));
    def(m, "dayofyear", 1, 1, Ret::Int, |a| {
        dt(&a[0]).map_or(Out::Null, |ns| {
            let (y, _, _) = ymd(ns);
            Out::Long(ns.div_euclid(MICROS_PER_DAY) - days_from_civil(y, 1, 1) + 1)
        })
    });
    def(m, "hourofday", 1, 1, Ret::Int, |a| {
        dt(&a[0]).map_or(Out::Null, |ns| Out::Long(ns.rem_euclid(MICROS_PER_DAY) / (3_600 * MICROS_PER_SECOND)))
    });
    def(m, "getyear", 1, 1, Ret::Int, |a| dt(&a[0]).map_or(Out::Null, |ns| Out::Long(ymd(ns).0)));
    def(m, "getmonth", 1, 1, Ret::Int, |a| dt(&a[0]).map_or(Out::Null, |ns| Out::Long(ymd(ns).1 as i64)));
    def(m, "monthofyear", 1, 1, Ret::Int, |a| dt(&a[0]).map_or(Out::Null, |ns| Out::Long(ymd(ns).1 as i64)));
    def(m, "datetime_add", 3, 3, Ret::DateTime, |a| {
        let (Some(amount), Some(ns)) = (a[1].long(), dt(&a[2])) else { return Out::Null };
        let fixed = |unit: i64| amount.checked_mul(unit).and_then(|d| ns.checked_add(d)).map_or(Out::Null, Out::DateTime);
        // Past 10,000 years in months the result is outside Kusto's range whatever the start.
        let months =
            |per: i64| amount.checked_mul(per).filter(|m| m.abs() <= 120_000).map_or(Out::Null, |m| Out::DateTime(add_months(ns, m)));
        match s(&a[0]).to_ascii_lowercase().as_str() {
            "year" => months(12),
            "quarter" => months(3),
            "month" => months(1),
            "week" => fixed(7 * MICROS_PER_DAY),
            "day" => fixed(MICROS_PER_DAY),
            "hour" => fixed(3_600 * MICROS_PER_SECOND),
            "minute" => fixed(60 * MICROS_PER_SECOND),
            "second" => fixed(MICROS_PER_SECOND),
            "millisecond" => fixed(1_000),
            "microsecond" => fixed(1),
            // Datetimes hold whole microseconds.
            "nanosecond" => Out::DateTime(ns + amount / 1_000),
            _ => Out::Null,
        }
    });
    def(m, "datetime_part", 2, 2, Ret::Int, |a| {
        let Some(ns) = dt(&a[1]) else { return Out::Null };
        let (y, mo, d) = ymd(ns);
        let t = ns.rem_euclid(MICROS_PER_DAY);
        Out::Long(match s(&a[0]).to_ascii_lowercase().as_str() {
            "year" => y,
            "quarter" => (mo as i64 - 1) / 3 + 1,
            "month" => mo as i64,
            "weekofyear" | "week_of_year" => iso_week(ns),
            "day" => d as i64,
            "dayofyear" => ns.div_euclid(MICROS_PER_DAY) - days_from_civil(y, 1, 1) + 1,
            "hour" => t / (3_600 * MICROS_PER_SECOND),
            "minute" => t / (60 * MICROS_PER_SECOND) % 60,
            "second" => t / MICROS_PER_SECOND % 60,
            "millisecond" => t / 1_000 % 1_000,
            "microsecond" => t % MICROS_PER_SECOND,
            "nanosecond" => t % MICROS_PER_SECOND * 1_000,
            _ => return Out::Null,
        })
    });
    def(m, "format_datetime", 2, 2, Ret::Str, |a| dt(&a[0]).map_or(Out::Null, |ns| Out::Str(format_kusto_datetime(ns, &s(&a[1])))));
    def(m, "format_timespan", 2, 2, Ret::Str, |a| match a[0] {
        V::TimeSpan(ns) => Out::Str(format_kusto_timespan(ns, &s(&a[1]))),
        _ => Out::Null,
    });
    def(m, "make_datetime", 3, 7, Ret::DateTime, |a| {
        let parts: Vec<f64> = a.iter().map(|v| v.real().unwrap_or(0.0)).collect();
        let (y, mo, d) = (parts[0] as i64, parts[1] as u32, parts[2] as u32);
        if !(1..=12).contains(&mo) || d == 0 || d > 31 {
            return Out::Null;
        }
        let h = parts.get(3).copied().unwrap_or(0.0);
        let mi = parts.get(4).copied().unwrap_or(0.0);
        let sec = parts.get(5).copied().unwrap_or(0.0);
        let micros = ((h * 3600.0 + mi * 60.0 + sec) * 1e6).round() as i64;
        Out::DateTime(days_from_civil(y, mo, d) * MICROS_PER_DAY + micros)
    });
    def(m, "make_timespan", 2, 5, Ret::TimeSpan, |a| {
        let parts: Vec<f64> = a.iter().map(|v| v.real().unwrap_or(0.0)).collect();
        let (d, h, mi, sec) = match parts.len() {
            2 => (0.0, parts[0], parts[1], 0.0),
            3 => (0.0, parts[0], parts[1], parts[2]),
            _ => (parts[0], parts[1], parts[2], parts[3]),
        };
        Out::TimeSpan((((d * 24.0 + h) * 60.0 + mi) * 60.0 * 1e9 + sec * 1e9).round() as i64)
    });
    macro_rules! unixtime {
        ($name:literal, $scale:expr) => {
            def(m, $name, 1, 1, Ret::DateTime, |a| a[0].real().map_or(Out::Null, |v| Out::DateTime((v * $scale) as i64)));
        };
    }
    unixtime!("unixtime_seconds_todatetime", 1e6);
    unixtime!("unixtime_milliseconds_todatetime", 1e3);
    unixtime!("unixtime_microseconds_todatetime", 1.0);
    unixtime!("unixtime_nanoseconds_todatetime", 1e-3);
}

/// .NET-style datetime format strings: `yyyy-MM-dd HH:mm:ss.fff`, `tt`, and so on.
pub fn format_kusto_datetime(us: i64, fmt: &str) -> String {
    let (y, mo, d) = ymd(us);
    let t = us.rem_euclid(MICROS_PER_DAY);
    // `frac` in nanoseconds, for up to nine `f` digits.
    let (h, mi, sec, frac) = (t / 3_600_000_000, t / 60_000_000 % 60, t / MICROS_PER_SECOND % 60, t % MICROS_PER_SECOND * 1_000);
    let tokens = [
        "yyyy", "yy", "MM", "M", "dd", "d", "HH", "H", "hh", "h", "mm", "m", "ss", "s", "fffffff", "ffffff", "fffff", "ffff", "fff", "ff",
        "f", "FFFFFFF", "FFFFFF", "FFFFF", "FFFF", "FFF", "FF", "F", "tt",
    ];
    let mut out = String::new();
    let mut rest = fmt;
    'outer: while !rest.is_empty() {
        for tok in tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                let digits = tok.len();
                let h12 = if h % 12 == 0 { 12 } else { h % 12 };
                out.push_str(&match tok {
                    "yyyy" => format!("{y:04}"),
                    "yy" => format!("{:02}", y % 100),
                    "MM" => format!("{mo:02}"),
                    "M" => mo.to_string(),
                    "dd" => format!("{d:02}"),
                    "d" => d.to_string(),
                    "HH" => format!("{h:02}"),
                    "H" => h.to_string(),
                    "hh" => format!("{h12:02}"),
                    "h" => h12.to_string(),
                    "mm" => format!("{mi:02}"),
                    "m" => mi.to_string(),
                    "ss" => format!("{sec:02}"),
                    "s" => sec.to_string(),
                    "tt" => (if h < 12 { "AM" } else { "PM" }).to_string(),
                    t if t.starts_with('f') => format!("{:09}", frac)[..digits].to_string(),
                    _ => format!("{:09}", frac)[..digits].trim_end_matches('0').to_string(),
                });
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// .NET-style timespan format strings: `d`, `hh`, `mm`, `ss`, `fff`.
pub fn format_kusto_timespan(ns: i64, fmt: &str) -> String {
    let abs = ns.unsigned_abs() as i64;
    let (d, h, mi, sec, frac) =
        (abs / NANOS_PER_DAY, abs / 3_600_000_000_000 % 24, abs / 60_000_000_000 % 60, abs / NANOS_PER_SECOND % 60, abs % NANOS_PER_SECOND);
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let mut rest = fmt;
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or(' ');
        let run = rest.chars().take_while(|x| *x == c).count();
        let piece = match c {
            'd' => format!("{d:0run$}"),
            'h' | 'H' => format!("{h:0run$}"),
            'm' => format!("{mi:0run$}"),
            's' => format!("{sec:0run$}"),
            'f' | 'F' => format!("{:09}", frac)[..run.min(9)].to_string(),
            '\\' => {
                rest = &rest[1..];
                rest.chars().next().map(String::from).unwrap_or_default()
            }
            other => other.to_string().repeat(run),
        };
        out.push_str(&piece);
        let skip: usize = rest.chars().take(if c == '\\' { 1 } else { run }).map(char::len_utf8).sum();
        rest = &rest[skip.min(rest.len())..];
    }
    out
}

fn maths(m: &mut HashMap<&'static str, RowDef>) {
    macro_rules! unary {
        ($name:literal, $f:expr) => {
            def(m, $name, 1, 1, Ret::Real, |a| a[0].real().map_or(Out::Null, |x| Out::Real($f(x))));
        };
    }
    unary!("sqrt", f64::sqrt);
    unary!("exp", f64::exp);
    unary!("exp2", f64::exp2);
    unary!("exp10", |x: f64| 10f64.powf(x));
    unary!("log", f64::ln);
    unary!("log2", f64::log2);
    unary!("log10", f64::log10);
    unary!("sin", f64::sin);
    unary!("cos", f64::cos);
    unary!("tan", f64::tan);
    unary!("asin", f64::asin);
    unary!("acos", f64::acos);
    unary!("atan", f64::atan);
    unary!("cot", |x: f64| 1.0 / x.tan());
    unary!("degrees", f64::to_degrees);
    unary!("radians", f64::to_radians);
    unary!("ceiling", f64::ceil);
    def(m, "pi", 0, 0, Ret::Real, |_| Out::Real(std::f64::consts::PI));
    def(m, "atan2", 2, 2, Ret::Real, |a| match (a[0].real(), a[1].real()) {
        (Some(y), Some(x)) => Out::Real(y.atan2(x)),
        _ => Out::Null,
    });
    def(m, "pow", 2, 2, Ret::Real, |a| match (a[0].real(), a[1].real()) {
        (Some(x), Some(y)) => Out::Real(x.powf(y)),
        _ => Out::Null,
    });
    def(m, "round", 1, 2, Ret::Real, |a| {
        let Some(x) = a[0].real() else { return Out::Null };
        let digits = opt_long(a, 1).unwrap_or(0).clamp(-400, 400) as i32;
        let scale = 10f64.powi(digits);
        // Half away from zero, as .NET's MidpointRounding.AwayFromZero. More digits than a
        // double holds leave the value as it is; rounding to a power of ten past its size is 0.
        let scaled = x * scale;
        if !scale.is_finite() || !scaled.is_finite() || !x.is_finite() {
            return Out::Real(x);
        }
        if scale == 0.0 {
            return Out::Real(0.0);
        }
        Out::Real(scaled.round() / scale)
    });
    def(m, "sign", 1, 1, Ret::Real, |a| {
        a[0].real().map_or(Out::Null, |x| {
            Out::Real(if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            })
        })
    });
    def(m, "isnan", 1, 1, Ret::Bool, |a| a[0].real().map_or(Out::Null, |x| Out::Bool(x.is_nan())));
    def(m, "isinf", 1, 1, Ret::Bool, |a| a[0].real().map_or(Out::Null, |x| Out::Bool(x.is_infinite())));
    def(m, "isfinite", 1, 1, Ret::Bool, |a| a[0].real().map_or(Out::Null, |x| Out::Bool(x.is_finite())));
    def(m, "rand", 0, 1, Ret::Real, |a| {
        let r = random_unit();
        match opt_long(a, 0) {
            Some(n) if n > 0 => Out::Real((r * n as f64).floor()),
            _ => Out::Real(r),
        }
    });
    def(m, "new_guid", 0, 0, Ret::Str, |_| {
        let (a, b) = (random_u64(), random_u64());
        Out::Str(format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        ))
    });
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The value as a JSON array; text holding a JSON array counts (a dynamic value can arrive as
/// plain text where a step lost its type).
fn json_array(v: &V) -> Option<Vec<Json>> {
    json_items(v).map(Cow::into_owned)
}

/// As `json_array`, borrowing a `dynamic` argument's array for a caller that only reads it.
fn json_items<'v>(v: &'v V) -> Option<Cow<'v, [Json]>> {
    match v.json() {
        Cow::Borrowed(Json::Array(a)) => Some(Cow::Borrowed(a.as_slice())),
        Cow::Borrowed(Json::String(t)) => array_in_text(t.as_str()).map(Cow::Owned),
        Cow::Owned(Json::Array(a)) => Some(Cow::Owned(a)),
        Cow::Owned(Json::String(t)) => array_in_text(&t).map(Cow::Owned),
        _ => None,
    }
}

fn array_in_text(t: &str) -> Option<Vec<Json>> {
    if !t.trim_start().starts_with('[') {
        return None;
    }
    match serde_json::from_str(t) {
        Ok(Json::Array(a)) => Some(a),
        _ => None,
    }
}

fn json_text(j: &Json) -> String {
    super::dynamic::json_to_text(j)
}

fn arrays(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "array_concat", 1, 64, Ret::Dynamic, |a| {
        let mut out = Vec::new();
        for v in a {
            match json_array(v) {
                Some(items) => out.extend(items),
                None => return Out::Null,
            }
        }
        Out::Json(Json::Array(out))
    });
    def(m, "array_slice", 3, 3, Ret::Dynamic, |a| {
        let Some(items) = json_array(&a[0]) else { return Out::Null };
        let n = items.len() as i64;
        let norm = |i: i64| if i < 0 { (n + i).max(0) } else { i.min(n) };
        let (start, end) = (norm(opt_long(a, 1).unwrap_or(0)), norm(opt_long(a, 2).unwrap_or(n - 1)) + 1);
        Out::Json(Json::Array(if start < end.min(n) { items[start as usize..end.min(n) as usize].to_vec() } else { vec![] }))
    });
    def(m, "array_reverse", 1, 1, Ret::Dynamic, |a| {
        json_array(&a[0]).map_or(Out::Null, |mut v| {
            v.reverse();
            Out::Json(Json::Array(v))
        })
    });
    def(m, "array_sort_asc", 1, 64, Ret::Dynamic, |a| sort_arrays(a, false));
    def(m, "array_sort_desc", 1, 64, Ret::Dynamic, |a| sort_arrays(a, true));
    def(m, "array_index_of", 2, 5, Ret::Long, |a| {
        let Some(items) = json_items(&a[0]) else { return Out::Null };
        let target = a[1].json();
        let n = items.len() as i64;
        // A negative start counts from the end; a negative length means "to the end".
        let start = match opt_long(a, 2).unwrap_or(0) {
            s if s < 0 => (n + s).max(0),
            s => s.min(n),
        } as usize;
        let length = opt_long(a, 3).filter(|l| *l >= 0).map(|l| l as usize);
        let occurrence = opt_long(a, 4).unwrap_or(1).max(1) as usize;
        Out::Long(nth_match(items.len(), 1, start, length, occurrence, |i| json_eq(&items[i], &target)))
    });
    def(m, "array_sum", 1, 1, Ret::Real, |a| json_items(&a[0]).map_or(Out::Null, |v| Out::Real(v.iter().filter_map(Json::as_f64).sum())));
    def(m, "set_has_element", 2, 2, Ret::Bool, |a| {
        json_items(&a[0]).map_or(Out::Null, |v| {
            let t = a[1].json();
            Out::Bool(v.iter().any(|x| json_eq(x, &t)))
        })
    });
    def(m, "strcat_array", 2, 2, Ret::Str, |a| {
        json_items(&a[0]).map_or(Out::Null, |v| Out::Str(v.iter().map(json_text).collect::<Vec<_>>().join(&s(&a[1]))))
    });
    def(m, "set_union", 2, 64, Ret::Dynamic, |a| Out::Json(distinct_union(a)));
    def(m, "set_intersect", 2, 64, Ret::Dynamic, |a| {
        let others: Vec<JsonSet> = a[1..].iter().map(|v| JsonSet::of(&json_array(v).unwrap_or_default())).collect();
        let mut seen = JsonSet::default();
        let out = json_array(&a[0]).unwrap_or_default().into_iter().filter(|x| others.iter().all(|o| o.contains(x)) && seen.insert(x));
        Out::Json(Json::Array(out.collect()))
    });
    def(m, "set_difference", 2, 64, Ret::Dynamic, |a| {
        let others: Vec<JsonSet> = a[1..].iter().map(|v| JsonSet::of(&json_array(v).unwrap_or_default())).collect();
        let mut seen = JsonSet::default();
        let out = json_array(&a[0]).unwrap_or_default().into_iter().filter(|x| !others.iter().any(|o| o.contains(x)) && seen.insert(x));
        Out::Json(Json::Array(out.collect()))
    });
    def(m, "array_shift_left", 2, 3, Ret::Dynamic, |a| shift(a, true));
    def(m, "array_shift_right", 2, 3, Ret::Dynamic, |a| shift(a, false));
    def(m, "array_rotate_left", 2, 2, Ret::Dynamic, |a| rotate(a, true));
    def(m, "array_rotate_right", 2, 2, Ret::Dynamic, |a| rotate(a, false));
    def(m, "range", 2, 3, Ret::Dynamic, |a| {
        // Kusto caps range() at 1,048,576 elements.
        const MAX: i64 = 1_048_576;
        match (&a[0], &a[1], a.get(2)) {
            (V::DateTime(start), V::DateTime(stop), step) => {
                // The step is a timespan (ns); datetimes are microseconds.
                // Kusto's default step for datetimes and timespans is 1h.
                let step = match step {
                    Some(V::TimeSpan(s)) if *s >= NANOS_PER_MICRO => *s / NANOS_PER_MICRO,
                    None => 3_600 * MICROS_PER_SECOND,
                    _ => return Out::Null,
                };
                let n = ((i128::from(*stop) - i128::from(*start)) / i128::from(step) + 1).clamp(0, MAX as i128) as i64;
                Out::Json(Json::Array((0..n).map(|i| Json::String(kql_grammar::values::format_datetime_full(start + i * step))).collect()))
            }
            (V::TimeSpan(start), V::TimeSpan(stop), step) => {
                let step = match step {
                    Some(V::TimeSpan(s)) if *s != 0 => *s,
                    None => 3_600 * NANOS_PER_SECOND,
                    _ => return Out::Null,
                };
                let n = ((i128::from(*stop) - i128::from(*start)) / i128::from(step) + 1).clamp(0, MAX as i128) as i64;
                let at = |i: i64| i64::try_from(i128::from(*start) + i128::from(i) * i128::from(step)).ok();
                Out::Json(Json::Array((0..n).map_while(at).map(|t| Json::String(V::TimeSpan(t).text().into_owned())).collect()))
            }
            (V::Long(start), V::Long(stop), step) => {
                let step = step.and_then(V::long).unwrap_or(1);
                if step == 0 {
                    return Out::Null;
                }
                // In 128 bits: a range across the whole of long overflows 64 (found by the fuzzer).
                let n = ((i128::from(*stop) - i128::from(*start)) / i128::from(step) + 1).clamp(0, MAX as i128) as i64;
                let at = |i: i64| i64::try_from(i128::from(*start) + i128::from(i) * i128::from(step)).ok();
                Out::JsonText(json_array_text(&(0..n).map_while(at).collect::<Vec<i64>>()))
            }
            (start, stop, step) => {
                let (Some(a0), Some(b0)) = (start.real(), stop.real()) else { return Out::Null };
                let st = step.and_then(V::real).unwrap_or(1.0);
                if st == 0.0 {
                    return Out::Null;
                }
                let n = (((b0 - a0) / st).floor() as i64 + 1).clamp(0, MAX);
                // A value that is not finite has no JSON number: it is left out.
                let values: Vec<f64> = (0..n).map(|i| a0 + i as f64 * st).filter(|x| x.is_finite()).collect();
                Out::JsonText(json_array_text(&values))
            }
        }
    });
    def(m, "zip", 2, 16, Ret::Dynamic, |a| {
        let lists: Vec<Vec<Json>> = a.iter().map(|v| json_array(v).unwrap_or_default()).collect();
        let n = lists.iter().map(Vec::len).max().unwrap_or(0);
        Out::Json(Json::Array(
            (0..n).map(|i| Json::Array(lists.iter().map(|l| l.get(i).cloned().unwrap_or(Json::Null)).collect())).collect(),
        ))
    });
    def(m, "bag_merge", 1, 64, Ret::Dynamic, |a| {
        let mut out = serde_json::Map::new();
        for v in a {
            if let Json::Object(o) = v.json().into_owned() {
                for (k, x) in o {
                    out.entry(k).or_insert(x);
                }
            }
        }
        Out::Json(Json::Object(out))
    });
    // Keys are names, or JSONPath (`$.a.b`, `$['a']`) into nested bags.
    def(m, "bag_remove_keys", 2, 2, Ret::Dynamic, |a| match a[0].json().into_owned() {
        Json::Object(o) => {
            let mut bag = Json::Object(o);
            for k in json_array(&a[1]).unwrap_or_default() {
                if let Some((parent, last)) = parent_bag(&mut bag, &json_text(&k), false) {
                    parent.remove(&last);
                }
            }
            Out::Json(bag)
        }
        _ => Out::Null,
    });
    def(m, "bag_set_key", 3, 3, Ret::Dynamic, |a| match a[0].json().into_owned() {
        Json::Object(o) => {
            let mut bag = Json::Object(o);
            if let Some((parent, last)) = parent_bag(&mut bag, &s(&a[1]), true) {
                parent.insert(last, a[2].json().into_owned());
            }
            Out::Json(bag)
        }
        _ => Out::Null,
    });
    // A lookup only: the bag is read where it lies, not copied.
    def(m, "bag_has_key", 2, 2, Ret::Bool, |a| match a[0].json().as_ref() {
        bag @ Json::Object(_) => {
            let mut path = bag_path(&s(&a[1]));
            let Some(last) = path.pop() else { return Out::Bool(false) };
            let parent = path.iter().try_fold(bag, |at, key| at.get(key));
            Out::Bool(parent.and_then(Json::as_object).is_some_and(|p| p.contains_key(&last)))
        }
        _ => Out::Null,
    });
    def(m, "extract_json", 2, 3, Ret::Str, |a| json_path(&s(&a[0]), &a[1]));
    def(m, "extractjson", 2, 3, Ret::Str, |a| json_path(&s(&a[0]), &a[1]));
    def(m, "format_ipv4", 1, 2, Ret::Str, |a| masked_ipv4(a).map_or(Out::Str(String::new()), |n| Out::Str(n.network().to_string())));
    def(m, "format_ipv4_mask", 1, 2, Ret::Str, |a| masked_ipv4(a).map_or(Out::Str(String::new()), |n| Out::Str(n.to_string())));
    def(m, "parse_ipv4", 1, 1, Ret::Long, |a| match super::ip::parse_ipv4_net(&s(&a[0])) {
        Some(net) => Out::Long(u32::from(net.network()) as i64),
        None => Out::Null,
    });
    def(m, "ipv4_compare", 2, 3, Ret::Long, |a| {
        let (Some(x), Some(y)) = (super::ip::parse_ipv4_net(&s(&a[0])), super::ip::parse_ipv4_net(&s(&a[1]))) else { return Out::Null };
        let prefix = (opt_long(a, 2).unwrap_or(32) as u8).min(x.prefix_len()).min(y.prefix_len());
        let net = |n: ipnet::Ipv4Net| ipnet::Ipv4Net::new(n.network(), prefix).ok().map(|n| u32::from(n.trunc().network()));
        match (net(x), net(y)) {
            (Some(x), Some(y)) => Out::Long(match x.cmp(&y) {
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Greater => 1,
            }),
            _ => Out::Null,
        }
    });
    def(m, "ipv4_is_match", 2, 3, Ret::Bool, |a| {
        let (Some(x), Some(y)) = (super::ip::parse_ipv4_net(&s(&a[0])), super::ip::parse_ipv4_net(&s(&a[1]))) else { return Out::Null };
        let prefix = (opt_long(a, 2).unwrap_or(32) as u8).min(x.prefix_len()).min(y.prefix_len());
        let net = |n: ipnet::Ipv4Net| ipnet::Ipv4Net::new(n.network(), prefix).ok().map(|n| n.trunc());
        match (net(x), net(y)) {
            (Some(x), Some(y)) => Out::Bool(x.network() == y.network()),
            _ => Out::Null,
        }
    });
    def(m, "ipv4_netmask_suffix", 1, 1, Ret::Long, |a| match super::ip::parse_ipv4_net(&s(&a[0])) {
        Some(n) => Out::Long(n.prefix_len() as i64),
        None => Out::Null,
    });
}

/// Sorted values; nulls go last unless `nulls_last` is false.
/// The address of `a[0]` masked by the smaller of its own prefix and `a[1]`.
fn masked_ipv4(a: &[V]) -> Option<ipnet::Ipv4Net> {
    let net = super::ip::parse_ipv4_net(&s(&a[0]))?;
    // A mask outside 0..=32 gives no address.
    let prefix = match opt_long(a, 1) {
        Some(m) if !(0..=32).contains(&m) => return None,
        m => (m.unwrap_or(32) as u8).min(net.prefix_len()),
    };
    ipnet::Ipv4Net::new(net.network(), prefix).ok().map(|n| n.trunc())
}

/// `array_sort_asc(a1, a2, ..., [nulls_last])`: the first array sorted, and the others put in
/// the same order; with several arrays the result is the array of them.
fn sort_arrays(a: &[V], desc: bool) -> Out {
    let (arrays, nulls_last) = match a.last() {
        Some(V::Bool(b)) if a.len() > 1 => (&a[..a.len() - 1], *b),
        Some(V::Null) if a.len() > 1 => (&a[..a.len() - 1], true),
        _ => (a, true),
    };
    let Some(keys) = json_array(&arrays[0]) else { return Out::Null };
    let order = sort_permutation(&keys, desc, nulls_last);
    let mut out = Vec::with_capacity(arrays.len());
    for v in arrays {
        let Some(items) = json_array(v) else { return Out::Null };
        if items.len() != keys.len() {
            return Out::Null;
        }
        out.push(Json::Array(order.iter().map(|i| items[*i].clone()).collect()));
    }
    match out.len() {
        1 => Out::Json(out.remove(0)),
        _ => Out::Json(Json::Array(out)),
    }
}

/// The order that sorts `keys`: numbers by value, other values by their text, nulls first or
/// last; equal keys keep their order.
fn sort_permutation(keys: &[Json], desc: bool, nulls_last: bool) -> Vec<usize> {
    let (mut values, nulls): (Vec<usize>, Vec<usize>) = (0..keys.len()).partition(|i| !keys[*i].is_null());
    values.sort_by(|i, j| {
        let (x, y) = (&keys[*i], &keys[*j]);
        let o = match (x.as_f64(), y.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
            _ => json_text(x).cmp(&json_text(y)),
        };
        if desc { o.reverse() } else { o }
    });
    if nulls_last {
        values.extend(nulls);
        values
    } else {
        let mut out = nulls;
        out.extend(values);
        out
    }
}

/// Values kept once each, in a hash set of `json_key`s: the sets of `make_set`, `hll` and the
/// `set_*` functions. Comparing each value with every value kept before took the square of the
/// set's size (`make_set` of 335,000 distinct values: minutes).
#[derive(Default)]
struct JsonSet {
    keys: std::collections::HashSet<String>,
}

impl JsonSet {
    fn of<'a>(values: impl IntoIterator<Item = &'a Json>) -> Self {
        let mut set = JsonSet::default();
        values.into_iter().for_each(|v| {
            set.insert(v);
        });
        set
    }

    /// Whether `v` was not in the set before.
    fn insert(&mut self, v: &Json) -> bool {
        self.keys.insert(json_key(v))
    }

    fn contains(&self, v: &Json) -> bool {
        self.keys.contains(&json_key(v))
    }
}

/// What `json_eq` compares, as one text: a number by its value (1 and 1.0 alike), anything
/// else by its text (so a number and the string of the same text are alike, as there).
fn json_key(v: &Json) -> String {
    match v.as_f64() {
        // `+ 0.0` makes -0 the same as 0.
        Some(x) => (x + 0.0).to_string(),
        None => json_text(v),
    }
}

fn json_eq(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b || json_text(a) == json_text(b),
    }
}

fn shift(a: &[V], left: bool) -> Out {
    let Some(items) = json_array(&a[0]) else { return Out::Null };
    let n = items.len();
    let by = opt_long(a, 1).unwrap_or(0);
    // A negative shift goes the other way.
    let left = left == (by >= 0);
    let k = (by.unsigned_abs() as usize).min(n);
    let fill = a.get(2).map_or(Json::Null, |v| v.json().into_owned());
    let mut out: Vec<Json> = Vec::with_capacity(n);
    if left {
        out.extend(items[k..].iter().cloned());
        out.extend(std::iter::repeat_n(fill, k));
    } else {
        out.extend(std::iter::repeat_n(fill, k));
        out.extend(items[..n - k].iter().cloned());
    }
    Out::Json(Json::Array(out))
}

fn rotate(a: &[V], left: bool) -> Out {
    let Some(mut items) = json_array(&a[0]) else { return Out::Null };
    if items.is_empty() {
        return Out::Json(Json::Array(items));
    }
    let k = opt_long(a, 1).unwrap_or(0).rem_euclid(items.len() as i64) as usize;
    if left {
        items.rotate_left(k)
    } else {
        items.rotate_right(k)
    }
    Out::Json(Json::Array(items))
}

/// A JSONPath subset: `$.a.b[0]['c']`.
fn json_path(path: &str, doc: &V) -> Out {
    let mut cur = match doc {
        V::Str(t) => match serde_json::from_str::<Json>(t) {
            Ok(j) => j,
            Err(_) => return Out::Null,
        },
        other => other.json().into_owned(),
    };
    let p = path.trim().trim_start_matches('$');
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end]).cloned().unwrap_or(Json::Null);
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            let key = r[..end].trim_matches(|c| c == '\'' || c == '"');
            cur = match key.parse::<usize>() {
                Ok(i) => cur.get(i).cloned().unwrap_or(Json::Null),
                Err(_) => cur.get(key).cloned().unwrap_or(Json::Null),
            };
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            return Out::Null;
        }
    }
    match cur {
        Json::Null => Out::Null,
        other => Out::Str(json_text(&other)),
    }
}

/// Finishing functions of aggregates that collect a group's values into a list first. An
/// item of the list is a number, or a `[value, weight]` pair for the weighted forms
/// (`percentilew`, `tdigest(x, w)`). A t-digest here is that list, kept exact.
pub fn percentile() -> ScalarUDF {
    RowUdf::scalar("kql_percentile", Ret::Real, |a| {
        let values = weighted_values(&a[0]);
        a[1].real().and_then(|p| nearest_rank(&values, p)).map_or(Out::Null, |v| Out::Real(v.real()))
    })
}

/// The percentile of whole numbers: one of them, exact (a long past 2^53 has no exact real, and
/// one near the long's ends did not even cast back).
pub fn percentile_long() -> ScalarUDF {
    RowUdf::scalar("kql_percentile_long", Ret::Long, |a| {
        let values = weighted_values(&a[0]);
        match a[1].real().and_then(|p| nearest_rank(&values, p)) {
            Some(Num::Whole(v)) => Out::Long(v),
            // A weighted item carries its value as a real.
            Some(Num::Real(v)) if v.fract() == 0.0 && v.abs() < 9.2e18 => Out::Long(v as i64),
            _ => Out::Null,
        }
    })
}

pub fn percentiles_array() -> ScalarUDF {
    RowUdf::scalar("kql_percentiles_array", Ret::Dynamic, |a| {
        let values = weighted_values(&a[0]);
        // The percentiles come as constants or as one dynamic array of them.
        let ps: Vec<Option<f64>> = match a.get(1).map(V::json).as_deref() {
            Some(Json::Array(items)) => items.iter().map(Json::as_f64).collect(),
            _ => a[1..].iter().map(V::real).collect(),
        };
        let out: Vec<Json> = ps.into_iter().map(|p| p.and_then(|p| nearest_rank(&values, p)).map_or(Json::Null, Num::to_json)).collect();
        Out::Json(Json::Array(out))
    })
}

/// A collected value: a whole number stays exact (as an `f64`, longs past 2^53 lose digits).
#[derive(Debug, Clone, Copy)]
enum Num {
    Whole(i64),
    Real(f64),
}

impl Num {
    fn of(item: &Json) -> Option<Num> {
        item.as_i64().map(Num::Whole).or_else(|| item.as_f64().map(Num::Real))
    }

    fn real(self) -> f64 {
        match self {
            Num::Whole(v) => v as f64,
            Num::Real(v) => v,
        }
    }

    fn cmp(&self, other: &Num) -> std::cmp::Ordering {
        match (self, other) {
            (Num::Whole(a), Num::Whole(b)) => a.cmp(b),
            _ => self.real().partial_cmp(&other.real()).unwrap_or(std::cmp::Ordering::Equal),
        }
    }

    /// As JSON: a whole number prints as one (`20`, not `20.0`).
    fn to_json(self) -> Json {
        match self {
            Num::Whole(v) => Json::from(v),
            Num::Real(v) if v.fract() == 0.0 && v.abs() < 9e15 => Json::from(v as i64),
            Num::Real(v) => num(v),
        }
    }
}

/// The (value, weight) pairs of a collected list, sorted by value.
fn weighted_values(v: &V) -> Vec<(Num, f64)> {
    let mut values: Vec<(Num, f64)> = match v.json().as_ref() {
        Json::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Json::Array(pair) => Some((Num::of(pair.first()?)?, pair.get(1)?.as_f64()?)),
                other => Some((Num::of(other)?, 1.0)),
            })
            .filter(|(_, w)| *w > 0.0)
            .collect(),
        _ => vec![],
    };
    values.sort_by(|x, y| x.0.cmp(&y.0));
    values
}

/// The nearest-rank percentile: the smallest value with at least `p`% of the weight at or
/// below it (every weight 1 gives the plain nearest rank).
fn nearest_rank(sorted: &[(Num, f64)], p: f64) -> Option<Num> {
    let total: f64 = sorted.iter().map(|(_, w)| w).sum();
    let wanted = (p / 100.0 * total).max(f64::MIN_POSITIVE);
    let mut seen = 0.0;
    for (v, w) in sorted {
        seen += w;
        if seen >= wanted - 1e-9 {
            return Some(*v);
        }
    }
    sorted.last().map(|(v, _)| *v)
}

/// `tdigest` functions over the exact digests `tdigest()` makes.
pub fn register_tdigest(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "percentile_tdigest", 2, 2, Ret::Real, |a| {
        let values = weighted_values(&a[0]);
        a[1].real().and_then(|p| nearest_rank(&values, p)).map_or(Out::Null, |v| Out::Real(v.real()))
    });
    def(m, "percentiles_array_tdigest", 2, 64, Ret::Dynamic, |a| {
        let values = weighted_values(&a[0]);
        let ps: Vec<Option<f64>> = match a.get(1).map(V::json).as_deref() {
            Some(Json::Array(items)) => items.iter().map(Json::as_f64).collect(),
            _ => a[1..].iter().map(V::real).collect(),
        };
        Out::Json(Json::Array(ps.into_iter().map(|p| p.and_then(|p| nearest_rank(&values, p)).map_or(Json::Null, Num::to_json)).collect()))
    });
    def(m, "rank_tdigest", 2, 2, Ret::Long, |a| {
        let Some(x) = a[1].real() else { return Out::Null };
        let rank: f64 = weighted_values(&a[0]).iter().filter(|(v, _)| v.real() <= x).map(|(_, w)| w).sum();
        Out::Long(rank as i64)
    });
    def(m, "merge_tdigest", 1, 64, Ret::Dynamic, |a| {
        let mut digest = super::tdigest::Digest::default();
        for v in a {
            // A digest may come as the text of one, as `tdigest_merge` takes it too.
            if let Some(items) = json_items(v) {
                digest.add_items(&items);
            }
        }
        Out::JsonText(digest.to_json())
    });
}

/// `kql_series_fill(bins, values, n, default)`: a series of `n` values, `values[i]` at position
/// `bins[i]`, `default` elsewhere.
pub fn series_fill() -> ScalarUDF {
    RowUdf::scalar("kql_series_fill", Ret::Dynamic, |a| {
        let n = a[2].long().unwrap_or(0).clamp(0, 10_000_000) as usize;
        let default = a[3].json().into_owned();
        let mut out = vec![default; n];
        if let (Json::Array(bins), Json::Array(values)) = (a[0].json().into_owned(), a[1].json().into_owned()) {
            for (b, v) in bins.iter().zip(values) {
                if let Some(i) = b.as_u64().map(|i| i as usize).filter(|i| *i < n)
                    && !v.is_null()
                {
                    out[i] = v;
                }
            }
        }
        Out::Json(Json::Array(out))
    })
}

/// `kql_series_axis(start, step, n)`: the `n` bin starts of a series.
pub fn series_axis() -> ScalarUDF {
    RowUdf::scalar("kql_series_axis", Ret::Dynamic, |a| {
        let n = a[2].long().unwrap_or(0).clamp(0, 10_000_000);
        let items: Vec<Json> = match (&a[0], &a[1]) {
            (V::DateTime(start), V::TimeSpan(step)) => {
                let step = step / NANOS_PER_MICRO;
                (0..n).map(|i| Json::String(kql_grammar::values::format_datetime_full(start + i * step))).collect()
            }
            (V::Long(start), V::Long(step)) => (0..n).map(|i| Json::from(start + i * step)).collect(),
            (start, step) => match (start.real(), step.real()) {
                (Some(s), Some(st)) => {
                    (0..n).map(|i| serde_json::Number::from_f64(s + i as f64 * st).map_or(Json::Null, Json::Number)).collect()
                }
                _ => vec![],
            },
        };
        Out::Json(Json::Array(items))
    })
}

/// IPv6 (and IPv4, mapped) text with an optional `/prefix`, as a 128-bit number and prefix.
fn parse_ip6(text: &str) -> Option<(u128, u8)> {
    let text = text.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (text, None),
    };
    if let Ok(v4) = addr.parse::<std::net::Ipv4Addr>() {
        let bits = u128::from(v4.to_ipv6_mapped());
        return Some((bits, prefix.map_or(128, |p| (p + 96).min(128))));
    }
    let v6: std::net::Ipv6Addr = addr.parse().ok()?;
    // `::192.168.1.1` is the IPv4 address, as `::ffff:192.168.1.1`, and its prefix counts the
    // IPv4 bits.
    if addr.contains('.') && u128::from(v6) >> 32 == 0 {
        let v4 = std::net::Ipv4Addr::from(u128::from(v6) as u32);
        return Some((u128::from(v4.to_ipv6_mapped()), prefix.map_or(128, |p| (p + 96).min(128))));
    }
    Some((u128::from(v6), prefix.unwrap_or(128).min(128)))
}

fn masked(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { bits & (!0u128 << (128 - prefix as u32)) }
}

pub fn register_ipv6(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "parse_ipv6", 1, 1, Ret::Str, |a| match parse_ip6(&s(&a[0])) {
        Some((bits, p)) => {
            let segs: Vec<String> = std::net::Ipv6Addr::from(masked(bits, p)).segments().iter().map(|x| format!("{x:04x}")).collect();
            Out::Str(segs.join(":"))
        }
        None => Out::Null,
    });
    // The fewest CIDR blocks that cover start..=end.
    def(m, "ipv4_range_to_cidr_list", 2, 2, Ret::Dynamic, |a| {
        let parse = |v: &V| s(v).trim().parse::<std::net::Ipv4Addr>().ok().map(u32::from);
        let (Some(start), Some(end)) = (parse(&a[0]), parse(&a[1])) else { return Out::Null };
        if start > end {
            return Out::Null;
        }
        let mut blocks = Vec::new();
        let mut at = start as u64;
        while at <= end as u64 {
            // The largest block aligned at `at` that stays within the range.
            let mut size = if at == 0 { 32 } else { (at as u32).trailing_zeros().min(32) };
            while size > 0 && at + (1u64 << size) - 1 > end as u64 {
                size -= 1;
            }
            blocks.push(Json::String(format!("{}/{}", std::net::Ipv4Addr::from(at as u32), 32 - size)));
            at += 1u64 << size;
        }
        Out::Json(Json::Array(blocks))
    });
    def(m, "parse_ipv6_mask", 2, 2, Ret::Str, |a| match (parse_ip6(&s(&a[0])), a[1].long()) {
        (Some((bits, p)), Some(mask)) if (0..=128).contains(&mask) => {
            let segs: Vec<String> =
                std::net::Ipv6Addr::from(masked(bits, p.min(mask as u8))).segments().iter().map(|x| format!("{x:04x}")).collect();
            Out::Str(segs.join(":"))
        }
        _ => Out::Null,
    });
    def(m, "ipv6_compare", 2, 3, Ret::Long, |a| {
        let (Some((x, px)), Some((y, py))) = (parse_ip6(&s(&a[0])), parse_ip6(&s(&a[1]))) else { return Out::Null };
        let p = (opt_long(a, 2).unwrap_or(128) as u8).min(px).min(py);
        Out::Long(match masked(x, p).cmp(&masked(y, p)) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        })
    });
    def(m, "ipv6_is_match", 2, 3, Ret::Bool, |a| {
        let (Some((x, px)), Some((y, py))) = (parse_ip6(&s(&a[0])), parse_ip6(&s(&a[1]))) else { return Out::Null };
        let p = (opt_long(a, 2).unwrap_or(128) as u8).min(px).min(py);
        Out::Bool(masked(x, p) == masked(y, p))
    });
    def(m, "ipv6_is_in_range", 2, 2, Ret::Bool, |a| {
        let (Some((ip, _)), Some((net, p))) = (parse_ip6(&s(&a[0])), parse_ip6(&s(&a[1]))) else { return Out::Null };
        Out::Bool(masked(ip, p) == masked(net, p))
    });
    def(m, "ipv6_is_in_any_range", 2, 64, Ret::Bool, |a| {
        let Some((ip, _)) = parse_ip6(&s(&a[0])) else { return Out::Null };
        Out::Bool(list_values(&a[1..]).iter().filter_map(|r| parse_ip6(r)).any(|(net, p)| masked(ip, p) == masked(net, p)))
    });
    def(m, "parse_ipv4_mask", 2, 2, Ret::Long, |a| {
        let text = format!("{}/{}", s(&a[0]), opt_long(a, 1).unwrap_or(32));
        super::ip::parse_ipv4_net(&text).map_or(Out::Null, |n| Out::Long(u32::from(n.network()) as i64))
    });
    def(m, "toguid", 1, 1, Ret::Str, |a| {
        let t = s(&a[0]).trim().trim_matches(|c| c == '{' || c == '}').to_ascii_lowercase();
        let hex: String = t.chars().filter(|c| *c != '-').collect();
        if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            Out::Str(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
        } else {
            Out::Null
        }
    });
}

/// More of the corpus's functions: aliases, command lines, series statistics.
pub fn register_more(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "translate", 3, 3, Ret::Str, |a| {
        let (from, to): (Vec<char>, Vec<char>) = (s(&a[0]).chars().collect(), s(&a[1]).chars().collect());
        Out::Str(
            s(&a[2])
                .chars()
                .filter_map(|c| match from.iter().position(|f| *f == c) {
                    // Characters past the end of `to` map to its last one; an empty `to` deletes.
                    Some(i) => to.get(i).or(to.last()).copied(),
                    None => Some(c),
                })
                .collect(),
        )
    });
    def(m, "array_strcat", 2, 2, Ret::Str, |a| {
        json_items(&a[0]).map_or(Out::Null, |v| Out::Str(v.iter().map(json_text).collect::<Vec<_>>().join(&s(&a[1]))))
    });
    def(m, "dynamic_to_json", 1, 1, Ret::Str, |a| Out::Str(sorted_keys(a[0].json().into_owned()).to_string()));
    def(m, "make_string", 1, 64, Ret::Str, |a| {
        let mut out = String::new();
        for v in a {
            match v.json().as_ref() {
                Json::Array(items) => out.extend(items.iter().filter_map(|x| x.as_u64()).filter_map(|c| char::from_u32(c as u32))),
                other => out.extend(other.as_u64().and_then(|c| char::from_u32(c as u32))),
            }
        }
        Out::Str(out)
    });
    def(m, "unicode_codepoints_from_string", 1, 1, Ret::Dynamic, |a| {
        Out::Json(Json::Array(s(&a[0]).chars().map(|c| Json::from(c as u32)).collect()))
    });
    // Code points come as numbers, dynamic arrays of numbers, or a mix of both.
    def(m, "unicode_codepoints_to_string", 1, 64, Ret::Str, |a| {
        let points = a.iter().flat_map(|v| match v {
            V::Json(j) if j.is_array() => {
                j.as_array().map_or_else(Vec::new, |items| items.iter().filter_map(Json::as_u64).collect::<Vec<_>>())
            }
            other => json_array(other).map_or_else(
                || other.long().map(|c| c as u64).into_iter().collect(),
                |items| items.iter().filter_map(Json::as_u64).collect(),
            ),
        });
        Out::Str(points.filter_map(|c| char::from_u32(c as u32)).collect())
    });
    def(m, "parse_command_line", 2, 2, Ret::Dynamic, |a| {
        Out::Json(Json::Array(windows_args(&s(&a[0])).into_iter().map(Json::String).collect()))
    });
    def(m, "dcount_hll", 1, 1, Ret::Long, |a| json_array(&a[0]).map_or(Out::Long(0), |v| Out::Long(v.len() as i64)));
    def(m, "series_stats_dynamic", 1, 2, Ret::Dynamic, |a| series_stats(&a[0]));
    def(m, "series_fit_line_dynamic", 1, 1, Ret::Dynamic, |a| series_fit_line(&a[0]));
}

/// Keys in sorted order, as `dynamic_to_json` writes them.
fn sorted_keys(v: Json) -> Json {
    match v {
        Json::Object(o) => {
            let mut pairs: Vec<(String, Json)> = o.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            pairs.sort_by(|x, y| x.0.cmp(&y.0));
            Json::Object(pairs.into_iter().collect())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

/// Splits a Windows command line the way `CommandLineToArgvW` does: quotes group, `\"` is a quote.
fn windows_args(cmd: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut has = false;
    let chars: Vec<char> = cmd.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let run = chars[i..].iter().take_while(|x| **x == '\\').count();
                if chars.get(i + run) == Some(&'"') {
                    cur.extend(std::iter::repeat_n('\\', run / 2));
                    if run % 2 == 1 {
                        cur.push('"');
                        i += run + 1;
                        has = true;
                        continue;
                    }
                    i += run;
                    continue;
                }
                cur.extend(std::iter::repeat_n('\\', run));
                i += run;
                has = true;
                continue;
            }
            '"' => {
                quoted = !quoted;
                has = true;
            }
            c if c.is_whitespace() && !quoted => {
                if has {
                    args.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
        i += 1;
    }
    if has {
        args.push(cur);
    }
    args
}

fn series_values(v: &V) -> Vec<f64> {
    json_array(v).unwrap_or_default().iter().filter_map(Json::as_f64).collect()
}

fn num(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

fn series_stats(v: &V) -> Out {
    let xs = series_values(v);
    if xs.is_empty() {
        return Out::Null;
    }
    let n = xs.len() as f64;
    let (mut min, mut max, mut min_idx, mut max_idx) = (f64::INFINITY, f64::NEG_INFINITY, 0, 0);
    for (i, x) in xs.iter().enumerate() {
        if *x < min {
            min = *x;
            min_idx = i;
        }
        if *x > max {
            max = *x;
            max_idx = i;
        }
    }
    let avg = xs.iter().sum::<f64>() / n;
    let variance = if xs.len() > 1 { xs.iter().map(|x| (x - avg).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    Out::Json(serde_json::json!({
        "min": num(min), "min_idx": min_idx, "max": num(max), "max_idx": max_idx,
        "avg": num(avg), "stdev": num(variance.sqrt()), "variance": num(variance),
        "sum": num(xs.iter().sum()), "len": xs.len(),
    }))
}

fn series_fit_line(v: &V) -> Out {
    let ys = series_values(v);
    let n = ys.len() as f64;
    if ys.len() < 2 {
        return Out::Null;
    }
    let xs: Vec<f64> = (1..=ys.len()).map(|i| i as f64).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let fit: Vec<f64> = xs.iter().map(|x| intercept + slope * x).collect();
    let ss_res: f64 = ys.iter().zip(&fit).map(|(y, f)| (y - f).powi(2)).sum();
    let ss_tot: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    let rsquare = if ss_tot == 0.0 { 1.0 } else { 1.0 - ss_res / ss_tot };
    let variance = ys.iter().map(|y| (y - my).powi(2)).sum::<f64>() / n;
    Out::Json(serde_json::json!({
        "rsquare": num(rsquare), "slope": num(slope), "variance": num(variance), "rvariance": num(ss_res / n),
        "interception": num(intercept), "line_fit": fit.into_iter().map(num).collect::<Vec<_>>(),
    }))
}

/// Unites a list of sets (JSON array texts) into one set, for `hll_merge`.
pub fn merge_sets() -> ScalarUDF {
    RowUdf::scalar("kql_merge_sets", Ret::Dynamic, |a| {
        let mut out: Vec<Json> = Vec::new();
        let mut seen = JsonSet::default();
        if let Json::Array(items) = a[0].json().into_owned() {
            for item in items {
                let set = match item {
                    Json::String(text) => serde_json::from_str(&text).unwrap_or(Json::Null),
                    other => other,
                };
                for v in set.as_array().cloned().unwrap_or_default() {
                    if seen.insert(&v) {
                        out.push(v);
                    }
                }
            }
        }
        Out::Json(Json::Array(out))
    })
}

/// `kql_collected_values(array, flatten, distinct)`: the values `make_list`/`make_set`
/// collected, finished. With `flatten`, an element that is itself an array gives its
/// elements (both aggregates take the elements of dynamic arrays one by one, as Kusto does);
/// with `distinct`, only the first of equal values stays; with a fourth argument (MaxSize),
/// at most that many values.
pub fn collected_values() -> ScalarUDF {
    RowUdf::scalar("kql_collected_values", Ret::Dynamic, |a| {
        let flatten = matches!(a.get(1), Some(V::Bool(true)));
        let distinct = matches!(a.get(2), Some(V::Bool(true)));
        let max_size = match a.get(3) {
            Some(V::Long(n)) => usize::try_from(*n).unwrap_or(0),
            _ => usize::MAX,
        };
        let mut out: Vec<Json> = Vec::new();
        let mut seen = JsonSet::default();
        let mut add = |v: Json, out: &mut Vec<Json>| {
            if out.len() < max_size && (!distinct || seen.insert(&v)) {
                out.push(v);
            }
        };
        for item in json_array(&a[0]).unwrap_or_default() {
            match item {
                Json::Array(inner) if flatten => inner.into_iter().for_each(|v| add(v, &mut out)),
                other => add(other, &mut out),
            }
        }
        Out::Json(Json::Array(out))
    })
}

/// `kql_build_schema(list)`: the schema `buildschema()` gives for a list of dynamic values.
pub fn build_schema() -> ScalarUDF {
    RowUdf::scalar("kql_build_schema", Ret::Dynamic, |a| {
        let mut schema = SchemaSet::default();
        for item in json_array(&a[0]).unwrap_or_default() {
            let value = match item {
                Json::String(text) => serde_json::from_str(&text).unwrap_or(Json::String(text)),
                other => other,
            };
            schema.add(&value);
        }
        schema.to_json().map_or(Out::Null, Out::Json)
    })
}

/// The types seen at one place of a dynamic value: scalar type names, and at most one object
/// whose keys have their own sets (an array is the object with the one key `` `indexer` ``).
#[derive(Default)]
struct SchemaSet {
    types: Vec<Alternative>,
}

enum Alternative {
    Scalar(&'static str),
    Object(Vec<(String, SchemaSet)>),
}

impl SchemaSet {
    fn add(&mut self, value: &Json) {
        let scalar = match value {
            Json::Null => return,
            Json::Bool(_) => "bool",
            Json::Number(n) if n.is_i64() || n.is_u64() => "long",
            Json::Number(_) => "double",
            Json::String(_) => "string",
            Json::Array(items) => {
                let fields = self.object();
                let at = field(fields, "`indexer`");
                items.iter().for_each(|v| fields[at].1.add(v));
                return;
            }
            Json::Object(map) => {
                let fields = self.object();
                for (k, v) in map {
                    let at = field(fields, k);
                    fields[at].1.add(v);
                }
                return;
            }
        };
        if !self.types.iter().any(|t| matches!(t, Alternative::Scalar(s) if *s == scalar)) {
            self.types.push(Alternative::Scalar(scalar));
        }
    }

    fn object(&mut self) -> &mut Vec<(String, SchemaSet)> {
        let at = match self.types.iter().position(|t| matches!(t, Alternative::Object(_))) {
            Some(at) => at,
            None => {
                self.types.push(Alternative::Object(Vec::new()));
                self.types.len() - 1
            }
        };
        match &mut self.types[at] {
            Alternative::Object(fields) => fields,
            Alternative::Scalar(_) => unreachable!("position() found an object"),
        }
    }

    fn to_json(&self) -> Option<Json> {
        let mut out: Vec<Json> = self
            .types
            .iter()
            .map(|t| match t {
                Alternative::Scalar(s) => Json::String(s.to_string()),
                Alternative::Object(fields) => Json::Object(fields.iter().filter_map(|(k, v)| Some((k.clone(), v.to_json()?))).collect()),
            })
            .collect();
        match out.len() {
            0 => None,
            1 => out.pop(),
            _ => Some(Json::Array(out)),
        }
    }
}

/// The index of `key` among `fields`, added when new.
fn field(fields: &mut Vec<(String, SchemaSet)>, key: &str) -> usize {
    match fields.iter().position(|(k, _)| k == key) {
        Some(at) => at,
        None => {
            fields.push((key.to_string(), SchemaSet::default()));
            fields.len() - 1
        }
    }
}

/// `parse_xml(text)`: XML as a dynamic value. An element is `{"name": content}`; attributes
/// are `@name` properties, text beside children is `#text`, an element with only text is its
/// text, and repeated children make an array.
pub fn register_xml(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "parse_xml", 1, 1, Ret::Dynamic, |a| xml_to_json(&s(&a[0])).map_or(Out::Null, Out::Json));
}

fn xml_to_json(text: &str) -> Option<Json> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    // A stack of open elements: name, properties, text.
    let mut stack: Vec<(String, serde_json::Map<String, Json>, String)> = vec![(String::new(), serde_json::Map::new(), String::new())];
    let attrs = |e: &quick_xml::events::BytesStart| -> serde_json::Map<String, Json> {
        e.attributes()
            .flatten()
            .map(|at| {
                let key = format!("@{}", String::from_utf8_lossy(at.key.as_ref()));
                let value = at.unescape_value().map(|v| v.into_owned()).unwrap_or_default();
                (key, Json::String(value))
            })
            .collect()
    };
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => stack.push((String::from_utf8_lossy(e.name().as_ref()).into_owned(), attrs(&e), String::new())),
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let props = attrs(&e);
                let value = if props.is_empty() { Json::Null } else { Json::Object(props) };
                add_child(&mut stack.last_mut()?.1, name, value);
            }
            Event::Text(t) => {
                let decoded = t.decode().ok()?;
                let unescaped = quick_xml::escape::unescape(&decoded).ok()?;
                stack.last_mut()?.2.push_str(&unescaped);
            }
            Event::CData(t) => stack.last_mut()?.2.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                let (name, mut props, text) = stack.pop()?;
                let value = if props.is_empty() {
                    Json::String(text)
                } else {
                    if !text.is_empty() {
                        props.insert("#text".into(), Json::String(text));
                    }
                    Json::Object(props)
                };
                add_child(&mut stack.last_mut()?.1, name, value);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let (_, root, _) = stack.pop()?;
    (!root.is_empty()).then_some(Json::Object(root))
}

/// A second child of the same name turns the property into an array.
fn add_child(parent: &mut serde_json::Map<String, Json>, name: String, value: Json) {
    match parent.get_mut(&name) {
        Some(Json::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Json::Array(vec![first, value]);
        }
        None => {
            parent.insert(name, value);
        }
    }
}

/// Element-wise `series_*` functions over dynamic arrays of numbers.
pub fn register_series(m: &mut HashMap<&'static str, RowDef>) {
    macro_rules! unary {
        ($name:literal, $f:expr) => {
            def(m, $name, 1, 1, Ret::Dynamic, |a| series_map(&a[0], $f));
        };
    }
    unary!("series_abs", f64::abs);
    unary!("series_acos", f64::acos);
    unary!("series_asin", f64::asin);
    unary!("series_atan", f64::atan);
    unary!("series_ceiling", f64::ceil);
    unary!("series_cos", f64::cos);
    unary!("series_exp", f64::exp);
    unary!("series_floor", f64::floor);
    unary!("series_log", f64::ln);
    unary!("series_sign", |x: f64| if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    });
    unary!("series_sin", f64::sin);
    unary!("series_tan", f64::tan);
    macro_rules! binary {
        ($name:literal, $f:expr) => {
            def(m, $name, 2, 2, Ret::Dynamic, |a| series_zip(&a[0], &a[1], $f));
        };
    }
    binary!("series_add", |x: f64, y: f64| Json::from(x + y));
    binary!("series_subtract", |x: f64, y: f64| Json::from(x - y));
    binary!("series_multiply", |x: f64, y: f64| Json::from(x * y));
    binary!("series_divide", |x: f64, y: f64| if y == 0.0 { Json::Null } else { Json::from(x / y) });
    binary!("series_pow", |x: f64, y: f64| Json::from(x.powf(y)));
    binary!("series_greater", |x: f64, y: f64| Json::Bool(x > y));
    binary!("series_greater_equals", |x: f64, y: f64| Json::Bool(x >= y));
    binary!("series_less", |x: f64, y: f64| Json::Bool(x < y));
    binary!("series_less_equals", |x: f64, y: f64| Json::Bool(x <= y));
    binary!("series_equals", |x: f64, y: f64| Json::Bool(x == y));
    binary!("series_not_equals", |x: f64, y: f64| Json::Bool(x != y));
    def(m, "series_sum", 1, 1, Ret::Real, |a| Out::Real(series_values(&a[0]).iter().sum()));
    def(m, "series_product", 1, 1, Ret::Real, |a| Out::Real(series_values(&a[0]).iter().product()));
    def(m, "series_magnitude", 1, 1, Ret::Real, |a| Out::Real(series_values(&a[0]).iter().map(|x| x * x).sum::<f64>().sqrt()));
    def(m, "series_dot_product", 2, 2, Ret::Real, |a| {
        // A number on either side stands for a series of that number.
        let side = |v: &V, n: usize| -> Vec<f64> { json_array(v).map_or_else(|| vec![v.real().unwrap_or(0.0); n], |_| series_values(v)) };
        let n = series_values(&a[0]).len().max(series_values(&a[1]).len());
        let (x, y) = (side(&a[0], n), side(&a[1], n));
        Out::Real(x.iter().zip(&y).map(|(p, q)| p * q).sum())
    });
    def(m, "series_cosine_similarity", 2, 2, Ret::Real, |a| {
        let (x, y) = (series_values(&a[0]), series_values(&a[1]));
        let dot: f64 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
        let norm = |v: &[f64]| v.iter().map(|p| p * p).sum::<f64>().sqrt();
        Out::Real(dot / (norm(&x) * norm(&y)))
    });
    def(m, "series_pearson_correlation", 2, 2, Ret::Real, |a| {
        let (x, y) = (series_values(&a[0]), series_values(&a[1]));
        let n = x.len().min(y.len()) as f64;
        if n < 2.0 {
            return Out::Null;
        }
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let cov: f64 = x.iter().zip(&y).map(|(p, q)| (p - mx) * (q - my)).sum();
        let (sx, sy) = (x.iter().map(|p| (p - mx).powi(2)).sum::<f64>().sqrt(), y.iter().map(|q| (q - my).powi(2)).sum::<f64>().sqrt());
        Out::Real(cov / (sx * sy))
    });
    def(m, "series_fill_const", 1, 3, Ret::Dynamic, |a| {
        let fill = a.get(1).map_or(Json::from(0), |v| v.json().into_owned());
        Out::Json(Json::Array(
            json_array(&a[0]).unwrap_or_default().into_iter().map(|v| if v.is_null() { fill.clone() } else { v }).collect(),
        ))
    });
    def(m, "series_fill_forward", 1, 2, Ret::Dynamic, |a| {
        let mut last = Json::Null;
        Out::Json(Json::Array(
            json_array(&a[0])
                .unwrap_or_default()
                .into_iter()
                .map(|v| {
                    if v.is_null() {
                        last.clone()
                    } else {
                        last = v.clone();
                        v
                    }
                })
                .collect(),
        ))
    });
    def(m, "series_fill_backward", 1, 2, Ret::Dynamic, |a| {
        let mut next = Json::Null;
        let mut out: Vec<Json> = json_array(&a[0])
            .unwrap_or_default()
            .into_iter()
            .rev()
            .map(|v| {
                if v.is_null() {
                    next.clone()
                } else {
                    next = v.clone();
                    v
                }
            })
            .collect();
        out.reverse();
        Out::Json(Json::Array(out))
    });
    def(m, "series_fill_linear", 1, 4, Ret::Dynamic, |a| {
        let placeholder = a.get(1).and_then(V::real);
        let fill_edges = !matches!(a.get(2), Some(V::Bool(false)));
        let constant = match a.get(3) {
            None => Some(0.0),
            Some(v) => v.real(),
        };
        Out::Json(Json::Array(series_fill_linear(&json_array(&a[0]).unwrap_or_default(), placeholder, fill_edges, constant)))
    });
}

/// `series_fill_linear(series, placeholder, fill_edges, constant)` as the docs describe it:
/// missing elements (null, or equal to the placeholder) between two values are interpolated;
/// those before the first and after the last value take the nearest value when `fill_edges`;
/// an array with no value at all is filled with `constant`. An array of only integers stays
/// integers, the interpolated values truncated (the docs' example: 73.5 is 73, 32.667 is 32).
fn series_fill_linear(items: &[Json], placeholder: Option<f64>, fill_edges: bool, constant: Option<f64>) -> Vec<Json> {
    let values: Vec<Option<f64>> = items.iter().map(|v| v.as_f64().filter(|x| placeholder != Some(*x))).collect();
    let present: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
    let (Some(&first), Some(&last)) = (present.first(), present.last()) else {
        return items.iter().map(|_| constant.map_or(Json::Null, num)).collect();
    };
    let integers = items.iter().all(|v| v.is_null() || v.is_i64() || v.is_u64());
    let number = |x: f64| if integers { Json::from(x.trunc() as i64) } else { num(x) };
    let mut out = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        out.push(match *value {
            Some(_) => items[i].clone(),
            None if i < first => {
                if fill_edges {
                    items[first].clone()
                } else {
                    items[i].clone()
                }
            }
            None if i > last => {
                if fill_edges {
                    items[last].clone()
                } else {
                    items[i].clone()
                }
            }
            None => {
                let next = present.partition_point(|&j| j < i);
                let (pi, ni) = (present[next - 1], present[next]);
                let (pv, nv) = (values[pi].unwrap_or_default(), values[ni].unwrap_or_default());
                number(pv + (nv - pv) * (i - pi) as f64 / (ni - pi) as f64)
            }
        });
    }
    out
}

fn series_map(v: &V, f: fn(f64) -> f64) -> Out {
    match json_array(v) {
        Some(items) => Out::Json(Json::Array(items.iter().map(|x| x.as_f64().map_or(Json::Null, |x| num(f(x)))).collect())),
        None => Out::Null,
    }
}

/// Pairs two series (or a series and a number) element by element.
fn series_zip(a: &V, b: &V, f: fn(f64, f64) -> Json) -> Out {
    let left = json_array(a);
    let right = json_array(b);
    let n = left.as_ref().map_or(0, Vec::len).max(right.as_ref().map_or(0, Vec::len));
    let at = |side: &Option<Vec<Json>>, scalar: &V, i: usize| -> Option<f64> {
        match side {
            Some(items) => items.get(i).and_then(Json::as_f64),
            None => scalar.real(),
        }
    };
    if left.is_none() && right.is_none() {
        return Out::Null;
    }
    Out::Json(Json::Array(
        (0..n)
            .map(|i| match (at(&left, a, i), at(&right, b, i)) {
                (Some(x), Some(y)) => f(x, y),
                _ => Json::Null,
            })
            .collect(),
    ))
}

use super::geo_sphere::EARTH_RADIUS_M;

fn valid_point(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

/// Great-circle distance in meters between two (longitude, latitude) points.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = (p2 - p1, (lon2 - lon1).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Distances between points; the grid cells (geohash, H3, S2) are in `geo_cells.rs`.
pub fn register_geo(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "geo_distance_2points", 4, 4, Ret::Real, |a| {
        let p: Vec<Option<f64>> = a.iter().map(V::real).collect();
        match (p[0], p[1], p[2], p[3]) {
            (Some(x1), Some(y1), Some(x2), Some(y2)) if valid_point(x1, y1) && valid_point(x2, y2) => Out::Real(distance(x1, y1, x2, y2)),
            _ => Out::Null,
        }
    });
    def(m, "geo_point_in_circle", 5, 5, Ret::Bool, |a| {
        let p: Vec<Option<f64>> = a.iter().map(V::real).collect();
        match (p[0], p[1], p[2], p[3], p[4]) {
            (Some(x), Some(y), Some(cx), Some(cy), Some(r)) if valid_point(x, y) && valid_point(cx, cy) && r >= 0.0 => {
                Out::Bool(distance(x, y, cx, cy) <= r)
            }
            _ => Out::Null,
        }
    });
}

/// Still more of the library: `array_iff`, `replace_strings`, `bag_zip`,
/// `array_split`, and the scalar form of `hll_merge`.
pub fn register_rest(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "array_iff", 3, 3, Ret::Dynamic, |a| {
        let (Some(c), Some(t), Some(f)) = (
            json_array(&a[0]),
            json_array(&a[1]).or_else(|| Some(vec![a[1].json().into_owned()])),
            json_array(&a[2]).or_else(|| Some(vec![a[2].json().into_owned()])),
        ) else {
            return Out::Null;
        };
        let pick =
            |side: &Vec<Json>, i: usize| side.get(i).or(if side.len() == 1 { side.first() } else { None }).cloned().unwrap_or(Json::Null);
        Out::Json(Json::Array(
            c.iter()
                .enumerate()
                .map(|(i, x)| match x.as_bool() {
                    Some(true) => pick(&t, i),
                    Some(false) => pick(&f, i),
                    None => Json::Null,
                })
                .collect(),
        ))
    });
    def(m, "replace_strings", 3, 3, Ret::Str, |a| {
        let (lookups, rewrites) = (json_array(&a[1]).unwrap_or_default(), json_array(&a[2]).unwrap_or_default());
        // A lookup whose replacement is not a string still claims its matches but leaves them
        // as they are.
        let pairs: Vec<(String, String)> = lookups
            .iter()
            .zip(rewrites.iter())
            .filter(|(l, _)| l.is_string())
            .map(|(l, r)| (json_text(l), if r.is_string() { json_text(r) } else { json_text(l) }))
            .filter(|(l, _)| !l.is_empty())
            .collect();
        // Lookups claim their matches in list order; a later lookup's match that overlaps one
        // already claimed is left alone (so `['is', 'This']` turns "This" into "Thwas").
        // Replacements are not searched again.
        let text = s(&a[0]);
        let mut claimed: Vec<(usize, usize, &str)> = Vec::new();
        for (l, r) in &pairs {
            for (at, _) in text.match_indices(l.as_str()) {
                let end = at + l.len();
                if !claimed.iter().any(|(s, e, _)| at < *e && *s < end) {
                    claimed.push((at, end, r.as_str()));
                }
            }
        }
        claimed.sort_by_key(|(s, _, _)| *s);
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        for (start, end, r) in claimed {
            out.push_str(&text[i..start]);
            out.push_str(r);
            i = end;
        }
        out.push_str(&text[i..]);
        Out::Str(out)
    });
    def(m, "bag_zip", 2, 2, Ret::Dynamic, |a| {
        // Keys that are not an array give null; values that are not one give null values.
        let Some(keys) = json_array(&a[0]) else { return Out::Null };
        let values = json_array(&a[1]).unwrap_or_default();
        let bag: serde_json::Map<String, Json> = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.is_string())
            .map(|(i, k)| (json_text(k), values.get(i).cloned().unwrap_or(Json::Null)))
            .collect();
        Out::Json(Json::Object(bag))
    });
    def(m, "array_split", 2, 2, Ret::Dynamic, |a| {
        let Some(items) = json_array(&a[0]) else { return Out::Null };
        let n = items.len() as i64;
        let mut cuts: Vec<usize> = match a[1].json().as_ref() {
            Json::Array(idx) => idx.iter().filter_map(Json::as_i64).collect::<Vec<_>>(),
            other => other.as_i64().into_iter().collect(),
        }
        .into_iter()
        .map(|i| (if i < 0 { n + i } else { i }).clamp(0, n) as usize)
        .collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for c in cuts.into_iter().chain(std::iter::once(items.len())) {
            parts.push(Json::Array(items[start..c.max(start)].to_vec()));
            start = c.max(start);
        }
        Out::Json(Json::Array(parts))
    });
    // Sketches are exact sets here, so merging them is a set union.
    def(m, "hll_merge", 2, 64, Ret::Dynamic, |a| Out::Json(distinct_union(a)));
}

/// The distinct elements of all the given arrays, in first-seen order.
fn distinct_union(arrays: &[V]) -> Json {
    let mut out: Vec<Json> = Vec::new();
    let mut seen = JsonSet::default();
    for v in arrays {
        for x in json_array(v).unwrap_or_default() {
            if seen.insert(&x) {
                out.push(x);
            }
        }
    }
    Json::Array(out)
}

/// The keys of a bag path: `$.a.b` and `$['a']['b']` are `[a, b]`; a plain key is itself.
fn bag_path(key: &str) -> Vec<String> {
    let Some(rest) = key.strip_prefix('$') else { return vec![key.to_string()] };
    let mut out = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(r[..end].to_string());
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
            let end = r.find(['\'', '"']).unwrap_or(r.len());
            out.push(r[..end].to_string());
            rest = r.get(end + 2..).unwrap_or("");
        } else {
            break;
        }
    }
    out
}

/// The bag that holds a key's last step, and that step: `$.a.b` gives bag `a` and `b`. With
/// `create`, missing bags on the way are made.
fn parent_bag<'j>(root: &'j mut Json, key: &str, create: bool) -> Option<(&'j mut serde_json::Map<String, Json>, String)> {
    let mut path = bag_path(key);
    let last = path.pop()?;
    match nested_mut(root, &path, create)? {
        Json::Object(parent) => Some((parent, last)),
        _ => None,
    }
}

/// The value at a path of keys; with `create`, missing bags on the way are made.
fn nested_mut<'j>(root: &'j mut Json, path: &[String], create: bool) -> Option<&'j mut Json> {
    let mut at = root;
    for key in path {
        let Json::Object(o) = at else { return None };
        if create && !o.contains_key(key) {
            o.insert(key.clone(), Json::Object(serde_json::Map::new()));
        }
        at = o.get_mut(key)?;
    }
    Some(at)
}
