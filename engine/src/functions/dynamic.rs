//! The `dynamic` type: JSON text in a Utf8 column (tagged with the `arrow.json` extension).
//! These functions parse each value with serde_json, once per row, and give back JSON text,
//! or a typed value when leaving the dynamic world (`tostring`, comparisons, `to typeof()`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use datafusion::scalar::ScalarValue;
use serde_json::Value as Json;

use super::{KqlUdf, StrArray, arrays, result};
use crate::render::to_json;

/// A cell as JSON: dynamic text is parsed; a plain string that is not JSON is a JSON string.
pub fn cell_json(array: &dyn Array, row: usize, dynamic: bool) -> Json {
    if array.is_null(row) {
        return Json::Null;
    }
    if dynamic && let Some(text) = crate::render::format_cell(array, row) {
        return serde_json::from_str(&text).unwrap_or(Json::String(text));
    }
    to_json(array, row)
}

/// Parses dynamic text; a JSON `null` is a null value.
fn parse(text: &str) -> Option<Json> {
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Null) => None,
        Ok(v) => Some(v),
        Err(_) => Some(Json::String(text.to_string())),
    }
}

/// Parses dynamic text, except a plain string (see `plain_json_string`), which is taken as it is.
fn parse_unless_plain(text: &str) -> Option<Json> {
    match plain_json_string(text) {
        Some(plain) => Some(Json::String(plain.to_string())),
        None => parse(text),
    }
}

/// Appends a JSON value as dynamic text (null for JSON null).
fn append(out: &mut StringBuilder, v: Option<&Json>) {
    match v {
        None | Some(Json::Null) => out.append_null(),
        Some(v) => out.append_value(v.to_string()),
    }
}

/// Runs `f` over each row's parsed dynamic value, building dynamic text.
fn map_dynamic(args: &[ColumnarValue], rows: usize, f: impl Fn(Option<Json>, usize) -> Option<Json>) -> Result<ColumnarValue> {
    let arrays = arrays(args, rows)?;
    let values = StrArray::try_new(&arrays[0])?;
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
    for i in 0..values.len() {
        let v = values.get(i).and_then(parse);
        append(&mut out, f(v, i).as_ref());
    }
    result(args, Arc::new(out.finish()))
}

fn utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}

/// `parse_json(s)`: JSON text as dynamic; text that is not JSON becomes a dynamic string.
pub fn parse_json() -> ScalarUDF {
    KqlUdf::dynamic("kql_parse_json", |args, rows| map_dynamic(args, rows, |v, _| v))
}

/// `to_dynamic(x, is_json)`: any value (a list from `make_list`, a number, ...) as dynamic text.
/// `is_json` says the values (or list elements) are dynamic text already.
pub fn to_dynamic() -> ScalarUDF {
    KqlUdf::dynamic("kql_to_dynamic", |args, rows| {
        let elements_are_json = matches!(&args[1], ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))));
        let arrays = arrays(&args[..1], rows)?;
        let a = &arrays[0];
        let mut out = StringBuilder::with_capacity(a.len(), a.len() * 16);
        for i in 0..a.len() {
            let v = match a.data_type() {
                DataType::List(_) if elements_are_json && !a.is_null(i) => {
                    let list = arrow::array::AsArray::as_list::<i32>(a).value(i);
                    Json::Array((0..list.len()).map(|j| cell_json(list.as_ref(), j, true)).collect())
                }
                _ => cell_json(a.as_ref(), i, elements_are_json),
            };
            append(&mut out, Some(&v));
        }
        result(&args[..1], Arc::new(out.finish()))
    })
}

/// `kql_dyn_get(value, key, ...)`: the element a property path names (`d.a.b[0]` is
/// `kql_dyn_get(d, "a", "b", 0)`; the planner folds a path into one call). A name looks into a
/// bag, a long into an array (negative from the end), and a name also into a string that holds
/// a JSON bag. Each row's text is walked once: the levels on the way are skipped over as raw
/// JSON (`RawValue`), not built into values and written out again; only the element found is
/// parsed, so that its text comes out as JSON's compact form.
pub fn get() -> ScalarUDF {
    KqlUdf::dynamic("kql_dyn_get", |args, rows| {
        let arrays = arrays(args, rows)?;
        let values = StrArray::try_new(&arrays[0])?;
        let keys: Vec<KeyColumn> = arrays[1..].iter().map(KeyColumn::new).collect::<Result<_>>()?;
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
        let mut path: Vec<Key> = Vec::with_capacity(keys.len());
        for i in 0..values.len() {
            path.clear();
            path.extend(keys.iter().map_while(|k| k.get(i)));
            let found = match values.get(i) {
                Some(text) if path.len() == keys.len() => get_path_text(text, &path),
                _ => None,
            };
            append_text(&mut out, found.as_deref());
        }
        result(args, Arc::new(out.finish()))
    })
}

/// `kql_dyn_members(d, "a", "b", ...)`: the members `a`, `b`, ... of each row's bag, found in
/// one walk of its text, as a struct whose field `"0"`, `"1"`, ... holds what `kql_dyn_get(d,
/// "a")`, `kql_dyn_get(d, "b")`, ... give. The optimizer rule `dynamic_members` plans it where
/// one projection reads several members of a column: the WindowsEvent firewall parser reads ten
/// of `EventData`, and walking each row's text once per member was most of its time.
pub fn members() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_dyn_members",
        |types| Ok(DataType::Struct(member_fields(types.len().saturating_sub(1)))),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let values = StrArray::try_new(&arrays[0])?;
            let names = args[1..]
                .iter()
                .map(|a| {
                    super::scalar_str(a).ok_or_else(|| {
                        datafusion::common::DataFusionError::Execution("kql_dyn_members() takes constant member names".into())
                    })
                })
                .collect::<Result<Vec<String>>>()?;
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut outs: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::with_capacity(values.len(), values.len() * 8)).collect();
            let mut found: Vec<Option<&str>> = vec![None; names.len()];
            for i in 0..values.len() {
                match values.get(i) {
                    None => outs.iter_mut().for_each(StringBuilder::append_null),
                    Some(text) if raw_members(text, &names, &mut found) => {
                        outs.iter_mut().zip(&found).for_each(|(out, raw)| append_text(out, *raw));
                    }
                    // A string holding JSON, a key with escapes, text that is not a bag: each
                    // member the way `kql_dyn_get` finds it.
                    Some(text) => {
                        for (out, name) in outs.iter_mut().zip(&names) {
                            append_text(out, get_path_text(text, &[Key::Name(name)]).as_deref());
                        }
                    }
                }
            }
            let columns: Vec<ArrayRef> = outs.iter_mut().map(|o| Arc::new(o.finish()) as ArrayRef).collect();
            let members = arrow::array::StructArray::try_new(member_fields(names.len()), columns, None)?;
            result(args, Arc::new(members))
        },
    )
}

/// `kql_dyn_member_at(members, i)`: field `i` of a `kql_dyn_members` struct. Not DataFusion's
/// `get_field`: its optimizer moves `get_field` calls towards the scan, and in doing so wrote
/// the struct's whole `kql_dyn_members` call into each of them, which undid the one walk.
pub fn member_at() -> ScalarUDF {
    KqlUdf::dynamic("kql_dyn_member_at", |args, rows| {
        let members = args[0].to_array(rows)?;
        let Some(members) = members.as_any().downcast_ref::<arrow::array::StructArray>() else {
            return exec_err!("kql_dyn_member_at() reads a kql_dyn_members() struct, got a {}", members.data_type());
        };
        let position = match &args[1] {
            ColumnarValue::Scalar(ScalarValue::Int64(Some(i))) => usize::try_from(*i).ok(),
            _ => None,
        };
        match position.filter(|i| *i < members.num_columns()) {
            Some(i) => result(args, members.column(i).clone()),
            None => exec_err!("kql_dyn_member_at() takes the constant position of a member"),
        }
    })
}

/// The fields of `kql_dyn_members`' struct: `"0"`, `"1"`, ... (names that no member name can
/// clash with), each `dynamic`.
fn member_fields(n: usize) -> arrow::datatypes::Fields {
    (0..n).map(|i| crate::types::dynamic_field(Field::new(i.to_string(), DataType::Utf8, true))).collect()
}

/// Appends found dynamic text in JSON's compact form, the form `kql_dyn_get` has always given
/// (it parsed the element found and wrote it out again). A string without escapes and a bool
/// are already in that form, and are copied without being parsed.
fn append_text(out: &mut StringBuilder, text: Option<&str>) {
    match text {
        None => out.append_null(),
        Some(t) if plain_json_string(t).is_some() || t == "true" || t == "false" => out.append_value(t),
        Some(t) => append(out, parse(t).as_ref()),
    }
}

/// The content of a JSON string that holds no escape and no control character (as most
/// values in logs): `"abc"` is `abc`. Such text is its own compact JSON form. `None` for
/// anything else, which must be parsed.
pub(super) fn plain_json_string(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    inner.bytes().all(|b| b != b'"' && b != b'\\' && b >= 0x20).then_some(inner)
}

/// One step of a property path.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    Name(&'a str),
    Index(i64),
}

/// A column of path steps: names or positions (or values of another type, which name nothing).
enum KeyColumn<'a> {
    Names(StrArray<'a>),
    Indexes(ArrayRef),
    Neither,
}

impl<'a> KeyColumn<'a> {
    fn new(array: &'a ArrayRef) -> Result<KeyColumn<'a>> {
        Ok(match array.data_type() {
            DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 => {
                KeyColumn::Indexes(arrow::compute::cast(array, &DataType::Int64)?)
            }
            _ => StrArray::try_new(array).map_or(KeyColumn::Neither, KeyColumn::Names),
        })
    }

    fn get(&self, i: usize) -> Option<Key<'_>> {
        match self {
            KeyColumn::Names(names) => names.get(i).map(Key::Name),
            KeyColumn::Indexes(a) => {
                let a = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(a);
                (!a.is_null(i)).then(|| Key::Index(a.value(i)))
            }
            KeyColumn::Neither => None,
        }
    }
}

/// The text of the element at `path` in the dynamic value written as `text` (not yet in
/// compact form: see `append_text`). The levels on the way stay slices of the row's text (or
/// of the one value a `NotRaw` step had to write out).
fn get_path_text<'t>(text: &'t str, path: &[Key]) -> Option<std::borrow::Cow<'t, str>> {
    let mut current = std::borrow::Cow::Borrowed(text);
    for key in path {
        let found = match raw_step(&current, *key) {
            RawStep::Found(raw) => Some(subslice_range(&current, raw)),
            RawStep::Missing => return None,
            RawStep::NotRaw => None,
        };
        current = match (found, current) {
            (Some(range), std::borrow::Cow::Borrowed(t)) => std::borrow::Cow::Borrowed(&t[range]),
            (Some(range), std::borrow::Cow::Owned(mut s)) => {
                s.truncate(range.end);
                s.drain(..range.start);
                std::borrow::Cow::Owned(s)
            }
            (None, current) => std::borrow::Cow::Owned(parse(&current).and_then(|v| value_step(v, *key))?.to_string()),
        };
    }
    Some(current)
}

/// Where `part`, a slice of `whole`, lies in it.
fn subslice_range(whole: &str, part: &str) -> std::ops::Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

enum RawStep<'t> {
    Found(&'t str),
    Missing,
    /// Text the quick walk does not take (a string holding JSON, a key with escapes, text that
    /// is not JSON): the step parses it into a value instead.
    NotRaw,
}

/// A step over raw JSON: a bag's member or an array's element, as text.
fn raw_step<'t>(text: &'t str, key: Key<'_>) -> RawStep<'t> {
    use serde_json::value::RawValue;
    match (text.trim_start().as_bytes().first(), key) {
        (Some(b'{'), Key::Name(name)) => {
            let mut found = [None];
            match (raw_members(text, &[name], &mut found), found[0]) {
                (true, Some(raw)) => RawStep::Found(raw),
                (true, None) => RawStep::Missing,
                (false, _) => RawStep::NotRaw,
            }
        }
        (Some(b'['), Key::Index(n)) => match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => {
                let idx = if n < 0 { items.len() as i64 + n } else { n };
                if (0..items.len() as i64).contains(&idx) { RawStep::Found(items[idx as usize].get()) } else { RawStep::Missing }
            }
            Err(_) => RawStep::NotRaw,
        },
        (Some(b'{'), Key::Index(_)) | (Some(b'['), Key::Name(_)) => RawStep::Missing,
        _ => RawStep::NotRaw,
    }
}

/// Reads the JSON bag `text` for its members `names`, borrowing each one's text into `found`
/// (same positions): every member is read (the last of equal keys counts, as when the bag is
/// parsed into a value), none is kept but those asked for. False when `each_member` cannot take
/// the text; the caller then reads it as a value instead.
fn raw_members<'t>(text: &'t str, names: &[&str], found: &mut [Option<&'t str>]) -> bool {
    found.fill(None);
    each_member(text, |key, value| {
        for (name, slot) in names.iter().zip(found.iter_mut()) {
            if *name == key {
                *slot = Some(value.get());
            }
        }
    })
}

/// Walks the JSON bag `text`, giving `f` each member's key and the text of its value, borrowed
/// from `text`, in order. False when the walk cannot take the text: not a bag, not JSON, or a
/// key with escapes in it (which cannot be borrowed); `f` may have seen members by then.
pub(super) fn each_member<'t>(text: &'t str, f: impl FnMut(&'t str, &'t serde_json::value::RawValue)) -> bool {
    use serde::de::DeserializeSeed;
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return false;
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    EachMember(f).deserialize(&mut reader).and_then(|()| reader.end()).is_ok()
}

struct EachMember<F>(F);

impl<'de, F: FnMut(&'de str, &'de serde_json::value::RawValue)> serde::de::DeserializeSeed<'de> for EachMember<F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(&'de str, &'de serde_json::value::RawValue)> serde::de::Visitor<'de> for EachMember<F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<&'de str>()? {
            let value: &'de serde_json::value::RawValue = map.next_value()?;
            (self.0)(key, value);
        }
        Ok(())
    }
}

/// A step over a parsed value (see `raw_step` for when).
fn value_step(v: Json, key: Key) -> Option<Json> {
    match (v, key) {
        (Json::Object(mut m), Key::Name(k)) => m.remove(k),
        (Json::Array(mut a), Key::Index(n)) => {
            let idx = if n < 0 { a.len() as i64 + n } else { n };
            (0..a.len() as i64).contains(&idx).then(|| a.swap_remove(idx as usize))
        }
        (Json::String(s), Key::Name(k)) => parse(&s).filter(|p| !p.is_string()).and_then(|p| match p {
            Json::Object(mut m) => m.remove(k),
            _ => None,
        }),
        _ => None,
    }
}

/// The text of a dynamic value the way `tostring` gives it: strings bare, the rest as JSON.
pub fn json_to_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn to_string() -> ScalarUDF {
    KqlUdf::scalar("kql_dyn_to_string", utf8, |args, rows| {
        let arrays = arrays(args, rows)?;
        let values = StrArray::try_new(&arrays[0])?;
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
        for i in 0..values.len() {
            match values.get(i).map(|t| (t, plain_json_string(t))) {
                Some((_, Some(plain))) => out.append_value(plain),
                Some((t, None)) => out.append_value(parse(t).map(|v| json_to_text(&v)).unwrap_or_default()),
                None => out.append_value(""),
            }
        }
        result(args, Arc::new(out.finish()))
    })
}

pub fn to_real() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_dyn_to_real",
        |_| Ok(DataType::Float64),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let values = StrArray::try_new(&arrays[0])?;
            let out: Float64Array = (0..values.len())
                .map(|i| match values.get(i).and_then(parse_unless_plain)? {
                    Json::Number(n) => n.as_f64(),
                    Json::String(s) => s.trim().parse().ok(),
                    Json::Bool(b) => Some(b as i64 as f64),
                    _ => None,
                })
                .collect();
            result(args, Arc::new(out))
        },
    )
}

pub fn to_long() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_dyn_to_long",
        |_| Ok(DataType::Int64),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let values = StrArray::try_new(&arrays[0])?;
            let out: Int64Array = (0..values.len())
                .map(|i| match values.get(i).and_then(parse_unless_plain)? {
                    Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                    Json::String(s) => s.trim().parse().ok(),
                    Json::Bool(b) => Some(b as i64),
                    _ => None,
                })
                .collect();
            result(args, Arc::new(out))
        },
    )
}

pub fn to_bool() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_dyn_to_bool",
        |_| Ok(DataType::Boolean),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let values = StrArray::try_new(&arrays[0])?;
            let out: BooleanArray = (0..values.len())
                .map(|i| match values.get(i).and_then(parse)? {
                    Json::Bool(b) => Some(b),
                    Json::Number(n) => n.as_f64().map(|f| f != 0.0),
                    Json::String(s) => match s.to_ascii_lowercase().as_str() {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            result(args, Arc::new(out))
        },
    )
}

/// `array_length(d)`: elements of an array; null when `d` is not an array.
pub fn array_length() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_array_length",
        |_| Ok(DataType::Int64),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let values = StrArray::try_new(&arrays[0])?;
            let out: Int64Array = (0..values.len())
                .map(|i| match values.get(i).and_then(parse_unless_plain)? {
                    Json::Array(a) => Some(a.len() as i64),
                    _ => None,
                })
                .collect();
            result(args, Arc::new(out))
        },
    )
}

pub fn bag_keys() -> ScalarUDF {
    KqlUdf::dynamic("kql_bag_keys", |args, rows| {
        map_dynamic(args, rows, |v, _| match v? {
            Json::Object(m) => Some(Json::Array(m.keys().map(|k| Json::String(k.clone())).collect())),
            _ => None,
        })
    })
}

/// `pack_array(v1, v2, ...)`; the trailing boolean arguments say which values are dynamic.
pub fn pack_array() -> ScalarUDF {
    KqlUdf::dynamic("kql_pack_array", |args, rows| {
        let n = args.len() / 2;
        let flags = dynamic_flags(&args[n..]);
        let arrays = arrays(&args[..n], rows)?;
        let rows_out = arrays.first().map_or(rows, |a| a.len());
        let mut out = StringBuilder::with_capacity(rows_out, rows_out * 16);
        let mut row = Vec::new();
        for i in 0..rows_out {
            row.clear();
            row.push(b'[');
            for (k, (a, d)) in arrays.iter().zip(&flags).enumerate() {
                if k > 0 {
                    row.push(b',');
                }
                write_cell(a.as_ref(), i, *d, &mut row);
            }
            row.push(b']');
            append_packed(&mut out, &row, "array")?;
        }
        result(&args[..n], Arc::new(out.finish()))
    })
}

/// `bag_pack(k1, v1, k2, v2, ...)`; the trailing booleans say which values are dynamic.
pub fn bag_pack() -> ScalarUDF {
    KqlUdf::dynamic("kql_bag_pack", |args, rows| pack_bag(args, rows, false))
}

/// `pack_all(true)`: `bag_pack` without the members whose value is null or an empty string.
pub fn bag_pack_ignoring_null_empty() -> ScalarUDF {
    KqlUdf::dynamic("kql_bag_pack_ignoring_null_empty", |args, rows| pack_bag(args, rows, true))
}

fn pack_bag(args: &[ColumnarValue], rows: usize, skip_null_empty: bool) -> Result<ColumnarValue> {
    let n = args.len() / 3 * 2;
    let flags = dynamic_flags(&args[n..]);
    let arrays = arrays(&args[..n], rows)?;
    let rows_out = arrays.first().map_or(rows, |a| a.len());
    let mut out = StringBuilder::with_capacity(rows_out, rows_out * 32);
    let key_at = |i: usize| -> Vec<String> {
        arrays.chunks(2).map(|pair| crate::render::format_cell(pair[0].as_ref(), i).unwrap_or_default()).collect()
    };
    // Constant keys (`pack_all`'s column names, most `bag_pack` calls) are written once.
    let constant_keys = args[..n].chunks(2).all(|pair| matches!(pair[0], ColumnarValue::Scalar(_)));
    let mut keys = if constant_keys && rows_out > 0 { key_at(0) } else { Vec::new() };
    let mut repeated = repeats_a_key(&keys);
    let mut row = Vec::new();
    for i in 0..rows_out {
        if !constant_keys {
            keys = key_at(i);
            repeated = repeats_a_key(&keys);
        }
        row.clear();
        let members = arrays.chunks(2).zip(&flags).zip(&keys).map(|((pair, d), key)| (key, pair[1].as_ref(), *d));
        if repeated {
            // A repeated key keeps its first place and its last value, as a map does.
            let mut bag = serde_json::Map::new();
            for (key, values, dynamic) in members {
                bag.insert(key.clone(), cell_json(values, i, dynamic));
            }
            if skip_null_empty {
                bag.retain(|_, v| !is_null_or_empty(v));
            }
            let _ = serde_json::to_writer(&mut row, &Json::Object(bag));
        } else {
            row.push(b'{');
            for (key, values, dynamic) in members {
                let member_start = row.len();
                if member_start > 1 {
                    row.push(b',');
                }
                super::compact_json::write_string(key, &mut row);
                row.push(b':');
                let value_start = row.len();
                write_cell(values, i, dynamic, &mut row);
                if skip_null_empty && matches!(&row[value_start..], b"null" | b"\"\"") {
                    row.truncate(member_start);
                }
            }
            row.push(b'}');
        }
        append_packed(&mut out, &row, "bag")?;
    }
    result(&args[..n], Arc::new(out.finish()))
}

fn repeats_a_key(keys: &[String]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    !keys.iter().all(|k| seen.insert(k.as_str()))
}

fn is_null_or_empty(v: &Json) -> bool {
    v.is_null() || v.as_str().is_some_and(str::is_empty)
}

/// Writes one cell as a JSON value: dynamic text in JSON's compact form, token by token (see
/// `compact_json`); any other value, and dynamic text that cannot be taken so, as a parsed
/// value writes it (text that is not JSON becomes a JSON string).
fn write_cell(array: &dyn Array, row: usize, dynamic: bool, out: &mut Vec<u8>) {
    if dynamic
        && !array.is_null(row)
        && let Some(text) = text_at(array, row)
        && super::compact_json::write_compact(text, out)
    {
        return;
    }
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &cell_json(array, row, dynamic));
}

/// A text array's value at `row`; None for arrays of other types.
fn text_at(array: &dyn Array, row: usize) -> Option<&str> {
    use arrow::array::AsArray;
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(array.as_string_view().value(row)),
        _ => None,
    }
}

/// Appends a packed bag's or array's text, unless it is past the largest value a column may
/// hold: a packed value that holds the one before it twice doubles per step.
fn append_packed(out: &mut StringBuilder, text: &[u8], what: &str) -> Result<()> {
    let max = super::rowwise::MAX_VALUE_BYTES;
    if text.len() > max {
        let megabytes = text.len().div_ceil(1 << 20);
        return exec_err!("a packed {what} of {megabytes} MB is past the {} MB a value may hold", max >> 20);
    }
    // One batch's column of values past what an Arrow string array holds would panic in Arrow.
    crate::config::check_batch_bytes(out.values_slice().len() + text.len(), None, || {
        format!("packed {what}s: their values for one batch of rows are")
    })?;
    match std::str::from_utf8(text) {
        Ok(text) => out.append_value(text),
        Err(e) => return exec_err!("a packed {what} is not UTF-8 text: {e}"),
    }
    Ok(())
}

fn dynamic_flags(args: &[ColumnarValue]) -> Vec<bool> {
    args.iter().map(|a| matches!(a, ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))).collect()
}

/// The elements `mv-expand` makes of one value: an array's elements, a bag's properties (as
/// `{"k": v}` bags, or `["k", v]` arrays when `as_arrays`), a scalar as itself; at most `limit`.
pub fn expand_elements(v: Option<Json>, as_arrays: bool, limit: usize) -> Vec<Json> {
    match v {
        None => vec![],
        Some(Json::Array(a)) => a.into_iter().take(limit).collect(),
        Some(Json::Object(m)) => m
            .into_iter()
            .take(limit)
            .map(|(k, v)| {
                if as_arrays {
                    Json::Array(vec![Json::String(k), v])
                } else {
                    let mut one = serde_json::Map::new();
                    one.insert(k, v);
                    Json::Object(one)
                }
            })
            .collect(),
        Some(other) => vec![other],
    }
}

/// `kql_expand(d, as_arrays, limit)`: a list of element texts per row, for `unnest`.
pub fn expand() -> ScalarUDF {
    KqlUdf::configured(
        "kql_expand",
        |_| Ok(DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))),
        |args, rows, config| {
            let as_arrays = matches!(&args[1], ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))));
            let limit = expansion_limit(&args[2]);
            let mut budget = ExpansionBudget::new(crate::config::memory_limit(config));
            let mut out = ListBuilder::new(StringBuilder::new());
            // A null value expands to one null row; an empty array or bag to none.
            let texts = |v: Option<Json>| -> Option<Vec<Option<String>>> {
                v.map(|v| expand_elements(Some(v), as_arrays, limit).iter().map(|e| (!e.is_null()).then(|| e.to_string())).collect())
            };
            let mut push = |out: &mut ListBuilder<StringBuilder>, elements: &Option<Vec<Option<String>>>| -> Result<()> {
                match elements {
                    None => out.append(false),
                    Some(elements) => {
                        let bytes = elements.iter().map(|e| e.as_ref().map_or(0, String::len) + 4).sum::<usize>();
                        budget.take(elements.len(), bytes)?;
                        for e in elements {
                            out.values().append_option(e.as_deref());
                        }
                        out.append(true);
                    }
                }
                Ok(())
            };
            match &args[0] {
                // One value for every row (a constant `range()`, say): its elements are made
                // once, not parsed again for each row from a copy of its text.
                ColumnarValue::Scalar(v) => {
                    let one = v.to_array_of_size(1)?;
                    let elements = texts(StrArray::try_new(&one)?.get(0).and_then(parse));
                    for _ in 0..rows {
                        push(&mut out, &elements)?;
                    }
                }
                ColumnarValue::Array(a) => {
                    let values = StrArray::try_new(a)?;
                    for i in 0..values.len() {
                        push(&mut out, &texts(values.get(i).and_then(parse)))?;
                    }
                }
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        },
    )
}

/// `kql_expand_index(d, limit)`: the positions 0, 1, ... of the elements `kql_expand` makes.
pub fn expand_index() -> ScalarUDF {
    KqlUdf::configured(
        "kql_expand_index",
        |_| Ok(DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))),
        |args, rows, config| {
            let limit = expansion_limit(&args[1]);
            let mut budget = ExpansionBudget::new(crate::config::memory_limit(config));
            let mut out = ListBuilder::new(arrow::array::Int64Builder::new());
            let mut push = |out: &mut ListBuilder<arrow::array::Int64Builder>, count: Option<usize>| -> Result<()> {
                match count {
                    None => out.append(false),
                    Some(n) => {
                        budget.take(n, n * 8)?;
                        for j in 0..n {
                            out.values().append_value(j as i64);
                        }
                        out.append(true);
                    }
                }
                Ok(())
            };
            let count = |v: Option<Json>| v.map(|v| expand_elements(Some(v), false, limit).len());
            match &args[0] {
                ColumnarValue::Scalar(v) => {
                    let one = v.to_array_of_size(1)?;
                    let n = count(StrArray::try_new(&one)?.get(0).and_then(parse));
                    for _ in 0..rows {
                        push(&mut out, n)?;
                    }
                }
                ColumnarValue::Array(a) => {
                    let values = StrArray::try_new(a)?;
                    for i in 0..values.len() {
                        push(&mut out, count(values.get(i).and_then(parse)))?;
                    }
                }
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        },
    )
}

/// `mv-expand`'s `limit` argument: at most this many elements of each value.
fn expansion_limit(arg: &ColumnarValue) -> usize {
    match arg {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(n))) if *n >= 0 => usize::try_from(*n).unwrap_or(usize::MAX),
        _ => usize::MAX,
    }
}

/// What the elements `mv-expand` makes of one batch of rows may take: its rows are a list
/// column whose offsets are 32-bit (2^31 elements, 2 GB of text), and the session's memory
/// limit. One constant `range()` of a million elements expanded over 861 rows asked for
/// 6 GB of text, which failed deep in Arrow ("offset overflow") after 20 s and 4.6 GB.
struct ExpansionBudget {
    memory_limit: Option<usize>,
    elements: usize,
    bytes: usize,
}

impl ExpansionBudget {
    fn new(memory_limit: Option<usize>) -> Self {
        ExpansionBudget { memory_limit, elements: 0, bytes: 0 }
    }

    /// Counts one row's elements and bytes, or fails when they pass a bound.
    fn take(&mut self, elements: usize, bytes: usize) -> Result<()> {
        self.elements = self.elements.saturating_add(elements);
        self.bytes = self.bytes.saturating_add(bytes);
        // The list's offsets count elements as the text's count bytes: 2^31 of either.
        let held = if self.elements > i32::MAX as usize { usize::MAX } else { self.bytes };
        crate::config::check_batch_bytes(held, self.memory_limit, || "mv-expand: the rows it makes of one batch of input are".to_string())
    }
}

/// `split(s, delimiter [, index])`: a dynamic array of strings (or one element of it).
pub fn split() -> ScalarUDF {
    KqlUdf::dynamic("kql_split", |args, rows| {
        let arrays = arrays(args, rows)?;
        let s = StrArray::try_new(&arrays[0])?;
        let d = StrArray::try_new(&arrays[1])?;
        let index = arrays.get(2).map(|a| arrow::compute::cast(a, &DataType::Int64)).transpose()?;
        let mut out = StringBuilder::with_capacity(s.len(), s.len() * 16);
        for i in 0..s.len() {
            let text = s.get(i).unwrap_or("");
            let delim = d.get(i).unwrap_or("");
            if delim.is_empty() {
                return exec_err!("split(): the delimiter must not be empty");
            }
            let parts: Vec<Json> = text.split(delim).map(|p| Json::String(p.to_string())).collect();
            let v = match &index {
                Some(idx) => {
                    let idx = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(idx);
                    if idx.is_null(i) {
                        None
                    } else {
                        let k = idx.value(i);
                        let k = if k < 0 { parts.len() as i64 + k } else { k };
                        parts.get(k as usize).filter(|_| k >= 0).map(|p| Json::Array(vec![p.clone()]))
                    }
                }
                None => Some(Json::Array(parts)),
            };
            // An index past the parts is null (the real engine's answer), not `[]`.
            append(&mut out, v.as_ref());
        }
        result(args, Arc::new(out.finish()))
    })
}

/// `gettype(x)` of a dynamic value: `string`, `long`, `real`, `bool`, `array`, `dictionary`, `null`.
pub fn dyn_type_name() -> ScalarUDF {
    KqlUdf::scalar("kql_dyn_type", utf8, |args, rows| {
        let arrays = arrays(args, rows)?;
        let values = StrArray::try_new(&arrays[0])?;
        let out: StringArray = (0..values.len())
            .map(|i| {
                Some(match values.get(i).and_then(parse) {
                    None => "null",
                    Some(Json::String(_)) => "string",
                    Some(Json::Number(n)) if n.is_i64() || n.is_u64() => "long",
                    Some(Json::Number(_)) => "real",
                    Some(Json::Bool(_)) => "bool",
                    Some(Json::Array(_)) => "array",
                    Some(Json::Object(_)) => "dictionary",
                    Some(Json::Null) => "null",
                })
            })
            .collect();
        result(args, Arc::new(out))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_arrays_and_bags() {
        let bag: Json = serde_json::from_str(r#"{"a": 1, "b": [2]}"#).unwrap();
        assert_eq!(expand_elements(Some(bag.clone()), false, usize::MAX), vec![serde_json::json!({"a": 1}), serde_json::json!({"b": [2]})]);
        assert_eq!(expand_elements(Some(bag), true, 1), vec![serde_json::json!(["a", 1])]);
        assert_eq!(expand_elements(None, false, 10), Vec::<Json>::new());
    }

    /// `kql_dyn_get(d, name)` of each row, as text (None for null).
    fn get_each(texts: &[Option<&str>], name: &str) -> Vec<Option<String>> {
        let values: ArrayRef = Arc::new(texts.iter().copied().collect::<StringArray>());
        let args = [ColumnarValue::Array(values), ColumnarValue::Scalar(ScalarValue::Utf8(Some(name.to_string())))];
        let out = call(get(), &args, texts.len());
        strings(out)
    }

    fn strings(out: Result<ColumnarValue>) -> Vec<Option<String>> {
        let ColumnarValue::Array(a) = out.unwrap() else { panic!("an array") };
        let a = StrArray::try_new(&a).unwrap();
        (0..a.len()).map(|i| a.get(i).map(str::to_string)).collect()
    }

    /// Runs a plain kql function over `args`.
    fn call(udf: ScalarUDF, args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
        match udf.inner().downcast_ref::<KqlUdf>().map(|u| &u.invoke) {
            Some(super::super::Invoke::Plain(f)) => f(args, rows),
            _ => panic!("a plain kql function"),
        }
    }

    /// The rows the members walk must read as `kql_dyn_get` does: plain bags, the last of equal
    /// keys, escapes in keys and values, nested values in compact form, a string that holds a
    /// bag, arrays, text that is not JSON, JSON null and a null row.
    const ROWS: &[Option<&str>] = &[
        Some(r#"{"a":"x","b":2,"c":{"d" : [1, 2]}}"#),
        Some(r#"{"a":"first","b":1,"a":"last"}"#),
        Some(r#"{"a\u0041":"escaped key","a":"v\"q","b":"C:\\dir"}"#),
        Some(r#"{"b":1e2,"a":true,"c":null}"#),
        Some(r#""{\"a\":7,\"b\":\"s\"}""#),
        Some(r#"[{"a":1},2]"#),
        Some("not json"),
        Some("null"),
        Some("  {\"a\" : \"spaced\" }  "),
        None,
    ];

    #[test]
    fn members_of_one_walk_are_what_each_get_gives() {
        let names = ["a", "b", "c", "missing"];
        let values: ArrayRef = Arc::new(ROWS.iter().copied().collect::<StringArray>());
        let mut args = vec![ColumnarValue::Array(values)];
        args.extend(names.iter().map(|n| ColumnarValue::Scalar(ScalarValue::Utf8(Some(n.to_string())))));
        let members = call(members(), &args, ROWS.len()).unwrap();
        for (i, name) in names.iter().enumerate() {
            let at = [members.clone(), ColumnarValue::Scalar(ScalarValue::Int64(Some(i as i64)))];
            let read = strings(call(member_at(), &at, ROWS.len()));
            assert_eq!(read, get_each(ROWS, name), "member {name}");
        }
        // What `kql_dyn_get` itself gives for these rows.
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            get_each(ROWS, "a"),
            vec![s(r#""x""#), s(r#""last""#), s(r#""v\"q""#), s("true"), s("7"), None, None, None, s(r#""spaced""#), None]
        );
        assert_eq!(get_each(ROWS, "c"), vec![s(r#"{"d":[1,2]}"#), None, None, None, None, None, None, None, None, None]);
        assert_eq!(get_each(ROWS, "b")[3], s("100.0"));
    }

    #[test]
    fn plain_strings_are_taken_without_parsing_and_others_are_not() {
        assert_eq!(plain_json_string(r#""abc""#), Some("abc"));
        assert_eq!(plain_json_string(r#""""#), Some(""));
        assert_eq!(plain_json_string(r#""a\"b""#), None);
        assert_eq!(plain_json_string("\"a\tb\""), None);
        assert_eq!(plain_json_string("\""), None);
        assert_eq!(plain_json_string("abc"), None);
        let texts = [Some(r#""plain""#), Some(r#""C:\\dir""#), Some("\"tab\tin\""), Some("12"), Some("[1]"), None];
        let values: ArrayRef = Arc::new(texts.iter().copied().collect::<StringArray>());
        let out = call(to_string(), &[ColumnarValue::Array(values)], texts.len());
        let s = |v: &str| Some(v.to_string());
        // A raw tab is not JSON: the text is taken as a string, quotes and all, as before.
        assert_eq!(strings(out), vec![s("plain"), s(r"C:\dir"), s("\"tab\tin\""), s("12"), s("[1]"), s("")]);
    }
}
