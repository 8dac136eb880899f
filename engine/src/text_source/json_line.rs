//! One JSON line into the cells of a scan's columns, in one pass over its text: each key is
//! matched to its column (trying first the column the previous line had at that place, since a
//! shipper writes every line's keys in one order), each value is kept as its raw text, and a
//! value is converted from that text without building a JSON tree where its text says what it
//! is (a string without escapes, a number, `true`, `null`). A value of another kind than its
//! column, and every `dynamic` value, takes the general way through `json_cell`, so both ways
//! give the same cells.

use std::collections::HashMap;
use std::fmt;

use arrow::datatypes::Field;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::decode::{Cell, Target, json_cell, mismatch, text_cell};
use crate::functions::compact_json::KeySeed;

/// The columns of a table, and which of them a scan reads.
pub struct JsonLine {
    /// Every column of the table: its name and its place among the scan's columns.
    columns: Vec<(Box<str>, Option<usize>)>,
    by_name: HashMap<Box<str>, usize>,
    /// The column of the previous line's i-th key (`usize::MAX`: not a column).
    order: Vec<usize>,
    /// How many columns the scan reads.
    read: usize,
}

impl JsonLine {
    /// `table` names every column of the table; `scan` the ones the scan reads, in its order.
    pub fn new<'n>(table: impl Iterator<Item = &'n str>, scan: &[&str]) -> JsonLine {
        let columns: Vec<(Box<str>, Option<usize>)> = table.map(|name| (Box::from(name), scan.iter().position(|s| *s == name))).collect();
        let by_name = columns.iter().enumerate().map(|(i, (name, _))| (name.clone(), i)).collect();
        JsonLine { columns, by_name, order: Vec::new(), read: scan.len() }
    }

    /// The raw value of each column the scan reads (`None`: the line lacks the key), and the
    /// keys that are not columns of the table. A line that is not a JSON object is an error in
    /// serde_json's words.
    pub fn fields<'a>(&mut self, text: &'a str, unknown: &mut Vec<String>) -> Result<Vec<Option<&'a RawValue>>, String> {
        let mut slots = vec![None; self.read];
        let mut de = serde_json::Deserializer::from_str(text);
        let visitor = LineVisitor { line: self, slots: &mut slots, unknown };
        de.deserialize_map(visitor).and_then(|()| de.end()).map_err(|e| format!("not a JSON object ({e})"))?;
        Ok(slots)
    }

    /// The column of a line's `place`-th key.
    fn column_of(&mut self, place: usize, key: &str) -> Option<usize> {
        if let Some(&guess) = self.order.get(place)
            && guess != usize::MAX
            && *self.columns[guess].0 == *key
        {
            return Some(guess);
        }
        let found = self.by_name.get(key).copied();
        if self.order.len() <= place {
            self.order.resize(place + 1, usize::MAX);
        }
        self.order[place] = found.unwrap_or(usize::MAX);
        found
    }
}

struct LineVisitor<'s, 'a> {
    line: &'s mut JsonLine,
    slots: &'s mut [Option<&'a RawValue>],
    unknown: &'s mut Vec<String>,
}

impl<'a> Visitor<'a> for LineVisitor<'_, 'a> {
    type Value = ();

    // serde_json's own words for a map, as a `HashMap` would expect one.
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        let mut place = 0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let column = self.line.column_of(place, &key);
            place += 1;
            match column.map(|c| self.line.columns[c].1) {
                // A key given twice is its last value, as in any JSON reader that keeps one.
                Some(Some(slot)) => self.slots[slot] = Some(map.next_value::<&'a RawValue>()?),
                Some(None) => {
                    map.next_value::<IgnoredAny>()?;
                }
                None => {
                    self.unknown.push(key.into_owned());
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A raw JSON value as a column's type, or why it does not fit.
pub fn raw_cell<'a>(field: &Field, target: Target, raw: &'a RawValue) -> Result<Cell<'a>, String> {
    let text = raw.get();
    let quick = match (text.as_bytes().first(), target) {
        (Some(b'n'), _) => Some(Cell::Null),
        // A string without escapes is its text between the quotes.
        (Some(b'"'), _) if target != Target::Dynamic && !text.contains('\\') => {
            let inner = &text[1..text.len() - 1];
            Some(text_cell(target, inner).ok_or_else(|| mismatch(field, target, text))?)
        }
        (Some(b't'), Target::Bool) => Some(Cell::Bool(true)),
        (Some(b'f'), Target::Bool) => Some(Cell::Bool(false)),
        (Some(b'-' | b'0'..=b'9'), Target::Long) => text.parse::<i64>().ok().map(Cell::Int),
        (Some(b'-' | b'0'..=b'9'), Target::Int) => text.parse::<i32>().ok().map(|v| Cell::Int(i64::from(v))),
        (Some(b'-' | b'0'..=b'9'), Target::Real) => text.parse::<f64>().ok().map(Cell::Real),
        _ => None,
    };
    if let Some(cell) = quick {
        return Ok(cell);
    }
    let value: Json = serde_json::from_str(text).map_err(|e| format!("not a JSON object ({e})"))?;
    json_cell(target, &value).map(Cell::into_owned).ok_or_else(|| mismatch(field, target, &value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    fn cells(target: Target, text: &str) -> Result<Cell<'static>, String> {
        let field = Field::new("c", DataType::Utf8, true);
        let raw: Box<RawValue> = RawValue::from_string(text.to_string()).map_err(|e| e.to_string())?;
        raw_cell(&field, target, &raw).map(Cell::into_owned)
    }

    /// The quick way gives what the general way (`json_cell` over a parsed value) gives.
    #[test]
    fn raw_values_convert_as_parsed_values_do() {
        let values = [
            "null",
            "true",
            "false",
            "0",
            "-12",
            "3.0",
            "3.5",
            "1e3",
            "4000000000",
            "-9223372036854775808",
            "18446744073709551615",
            "\"x\"",
            "\"\"",
            "\" 12 \"",
            "\"a\\\"b\"",
            "\"\\u00e9\"",
            "\"2024-05-01T00:00:00Z\"",
            "\"true\"",
            "\"01:00:00\"",
            "1714521600",
            "[1,2]",
            "{\"a\":{\"b\":null}}",
            "\"{\\\"a\\\":1}\"",
        ];
        let targets =
            [Target::Bool, Target::Int, Target::Long, Target::Real, Target::DateTime, Target::TimeSpan, Target::Text, Target::Dynamic];
        for target in targets {
            for value in values {
                let parsed: Json = serde_json::from_str(value).expect("valid JSON");
                let general = json_cell(target, &parsed).map(Cell::into_owned);
                let quick = cells(target, value).ok();
                assert_eq!(quick, general, "{value} as {target:?}");
            }
        }
    }

    #[test]
    fn keys_find_their_columns_in_any_order_and_unknown_keys_are_named() {
        let mut line = JsonLine::new(["a", "b", "c"].into_iter(), &["c", "a"]);
        let mut unknown = Vec::new();
        let text = r#"{"a":1,"b":[2],"c":"x"}"#;
        let got: Vec<Option<&str>> = line.fields(text, &mut unknown).expect("object").iter().map(|r| r.map(RawValue::get)).collect();
        assert_eq!(got, [Some("\"x\""), Some("1")]);
        let text = r#"{"c":"y","z":0,"\u0061":2}"#;
        let got: Vec<Option<&str>> = line.fields(text, &mut unknown).expect("object").iter().map(|r| r.map(RawValue::get)).collect();
        assert_eq!(got, [Some("\"y\""), Some("2")]);
        assert_eq!(unknown, ["z"]);
        assert_eq!(
            line.fields("[1]", &mut unknown).unwrap_err(),
            "not a JSON object (invalid type: sequence, expected a map at line 1 column 0)"
        );
        assert_eq!(line.fields("{\"a\":1} x", &mut unknown).unwrap_err(), "not a JSON object (trailing characters at line 1 column 9)");
    }
}
