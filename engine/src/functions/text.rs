//! More string functions: punycode (through the idna crate's RFC 3492 codec), `has_any_index`,
//! `format_bytes` and `parse_version`.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::library::{RowDef, def};
use super::rowwise::{Out, Ret, V};
use super::string::{Test, run_test};

/// The dots that separate the labels of a domain name (IDNA treats the full-width and
/// ideographic ones as dots too).
fn is_label_dot(c: char) -> bool {
    matches!(c, '.' | '。' | '．' | '｡')
}

/// Each label that is not ASCII becomes `xn--` and its punycode; the case and the characters
/// of the labels are kept, as Kusto does (no IDNA mapping).
fn domain_to_punycode(domain: &str) -> Option<String> {
    let labels: Vec<String> = domain
        .split(is_label_dot)
        .map(|label| match label.is_ascii() {
            true => Some(label.to_string()),
            false => idna::punycode::encode_str(label).map(|p| format!("xn--{p}")),
        })
        .collect::<Option<_>>()?;
    Some(labels.join("."))
}

fn domain_from_punycode(domain: &str) -> Option<String> {
    let labels: Vec<String> = domain
        .split('.')
        .map(|label| match label.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("xn--") => idna::punycode::decode_to_string(&label[4..]),
            _ => Some(label.to_string()),
        })
        .collect::<Option<_>>()?;
    Some(labels.join("."))
}

/// `format_bytes(size [, precision [, unit]])`: "564 Bytes", "10.1 KB", "19 MB".
fn format_bytes(size: f64, precision: usize, unit: Option<&str>) -> String {
    const UNITS: [&str; 7] = ["Bytes", "KB", "MB", "GB", "TB", "PB", "EB"];
    let power = match unit.and_then(|u| UNITS.iter().position(|x| x.eq_ignore_ascii_case(u))) {
        Some(p) => p,
        None => {
            let mut p = 0;
            while p + 1 < UNITS.len() && size.abs() >= 1024f64.powi(p as i32 + 1) {
                p += 1;
            }
            p
        }
    };
    let value = size / 1024f64.powi(power as i32);
    format!("{value:.precision$} {}", UNITS[power])
}

/// `parse_version("1.2.3.4")`: the four parts, each up to eight digits, as one comparable
/// decimal (1·10²⁴ + 2·10¹⁶ + 3·10⁸ + 4).
fn parse_version(text: &str) -> Option<i128> {
    let parts: Vec<&str> = text.trim().split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut value = 0i128;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || part.len() > 8 || !part.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        value += part.parse::<i128>().ok()? * 10i128.pow(8 * (3 - i as u32));
    }
    Some(value)
}

pub fn register(m: &mut HashMap<&'static str, RowDef>) {
    def(m, "punycode_from_string", 1, 1, Ret::Str, |a| idna::punycode::encode_str(&a[0].text()).map_or(Out::Null, Out::Str));
    def(m, "punycode_to_string", 1, 1, Ret::Str, |a| idna::punycode::decode_to_string(&a[0].text()).map_or(Out::Null, Out::Str));
    def(m, "punycode_domain_to_string", 1, 1, Ret::Str, |a| domain_to_punycode(&a[0].text()).map_or(Out::Null, Out::Str));
    def(m, "punycode_domain_from_string", 1, 1, Ret::Str, |a| domain_from_punycode(&a[0].text()).map_or(Out::Null, Out::Str));
    // The index of the first lookup the text `has`, or -1.
    def(m, "has_any_index", 2, 2, Ret::Long, |a| {
        let text = a[0].text();
        let lookups = a[1].json();
        let Json::Array(lookups) = lookups.as_ref() else { return Out::Null };
        let found = lookups.iter().position(|l| {
            let needle = match l {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            !needle.is_empty() && run_test(Test::Has, &text, &needle, false)
        });
        Out::Long(found.map_or(-1, |i| i as i64))
    });
    def(m, "format_bytes", 1, 3, Ret::Str, |a| {
        let Some(size) = a[0].real() else { return Out::Null };
        let precision = a.get(1).and_then(V::long).unwrap_or(0).clamp(0, 20) as usize;
        let unit = a.get(2).map(V::text);
        Out::Str(format_bytes(size, precision, unit.as_deref().filter(|u| !u.is_empty())))
    });
    def(m, "parse_version", 1, 1, Ret::Decimal, |a| parse_version(&a[0].text()).map_or(Out::Null, Out::Decimal));
}
