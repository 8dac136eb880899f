//! A `dynamic` value's JSON text rewritten in JSON's compact form, token by token.
//!
//! A bag or array that holds another dynamic value (`bag_pack`, `pack_all`, `pack_array`)
//! writes that value's text into its own, in the compact form a parsed value is written in (no
//! blanks, numbers and escapes as serde_json writes them, the last of repeated keys). Parsing
//! the text into a `serde_json::Value` and writing it out again costs an allocation for every
//! key and value: `extend Packed = pack_all()` repeated, whose values hold the previous step's
//! twice and so double, spent seconds there. Here serde_json's reader hands each token straight
//! to its writer, so the output is the round trip's. The one thing a stream cannot do as a
//! value does is merge a bag's repeated keys (the last value wins, in the first key's place): a
//! bag with a repeated key is refused, and the caller takes the round trip.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Appends `text` in JSON's compact form to `out`. False, with `out` as it was, when the text
/// is not JSON, nests 128 levels or more (past what serde_json reads), holds a bag with a
/// repeated key, or a bag whose key is serde_json's marker of raw JSON (a parsed value reads
/// what such a bag holds as JSON text); the caller then parses it into a value (which gives a
/// plain string for text that is not JSON).
pub fn write_compact(text: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut reader = serde_json::Deserializer::from_str(text);
    let written = Transcode { out: &mut *out }.deserialize(&mut reader).and_then(|()| reader.end()).is_ok();
    if !written {
        out.truncate(start);
    }
    written
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}

/// Writes one value (and everything inside it) as it is read.
struct Transcode<'o> {
    out: &'o mut Vec<u8>,
}

/// Why a text cannot be transcoded though it is JSON (the caller parses it into a value).
const REPEATED_KEY: &str = "a bag repeats a key";
const RAW_VALUE_KEY: &str = "a bag has serde_json's raw value key";

/// The key by which serde_json (its `raw_value` feature, which kql uses) marks a bag that
/// stands for the JSON text it holds: parsing `{"$serde_json::private::RawValue":"[1, 2]"}`
/// into a value gives `[1,2]`.
const SERDE_RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

impl<'de> DeserializeSeed<'de> for Transcode<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Transcode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    // Numbers through serde_json's own writer: the digits a parsed value's number gets.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        serde_json::to_writer(self.out, &v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        serde_json::to_writer(self.out, &v).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        serde_json::to_writer(self.out, &v).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        write_string(v, self.out);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if seq.next_element_seed(Transcode { out: &mut *self.out })?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push(b'{');
        let mut keys = SeenKeys::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key == SERDE_RAW_VALUE_KEY {
                return Err(de::Error::custom(RAW_VALUE_KEY));
            }
            if !keys.is_empty() {
                self.out.push(b',');
            }
            write_string(&key, self.out);
            self.out.push(b':');
            if !keys.insert(key) {
                return Err(de::Error::custom(REPEATED_KEY));
            }
            map.next_value_seed(Transcode { out: &mut *self.out })?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// A bag's keys read so far: a list while they are few, a hash set past that, so that a bag of
/// many keys is not checked in the square of its size.
#[derive(Default)]
struct SeenKeys<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> SeenKeys<'de> {
    const FEW: usize = 16;

    fn is_empty(&self) -> bool {
        self.few.is_empty() && self.many.is_empty()
    }

    /// Adds `key`; false when the bag had it already.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if self.many.is_empty() {
            if self.few.contains(&key) {
                return false;
            }
            if self.few.len() < Self::FEW {
                self.few.push(key);
                return true;
            }
            self.many.extend(self.few.drain(..));
        }
        self.many.insert(key)
    }
}

/// Reads a bag's key, borrowed from the text unless it has escapes (also used by the JSON
/// lines reader).
pub(crate) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the round trip through a parsed value writes, or None where it is not JSON.
    fn round_trip(text: &str) -> Option<String> {
        serde_json::from_str::<serde_json::Value>(text).ok().map(|v| v.to_string())
    }

    fn compact(text: &str) -> Option<String> {
        let mut out = b"prefix".to_vec();
        let written = write_compact(text, &mut out);
        let out = String::from_utf8(out).expect("utf-8");
        let rest = out.strip_prefix("prefix").expect("the prefix stays").to_string();
        if written {
            Some(rest)
        } else {
            assert_eq!(rest, "", "a refused text leaves nothing behind");
            None
        }
    }

    #[test]
    fn writes_what_the_round_trip_through_a_value_writes() {
        for text in [
            "1",
            "-0",
            "-7",
            "18446744073709551615",
            "18446744073709551616",
            "1.50",
            "1e2",
            "-1.5E-7",
            "0.1",
            "true",
            "null",
            r#""plain""#,
            r#""\u00e9\/\t\u0001\"\\ \ud83d\ude00""#,
            r#"  { "b" : [ 1 , 2.0 , { } , [ ] ] , "a" : { "x\"y" : null } }  "#,
            r#"{"k":"v","nested":{"deeper":[true,false,"é"]}}"#,
            "[]",
            "{}",
        ] {
            assert_eq!(compact(text), round_trip(text), "{text}");
        }
    }

    #[test]
    fn refuses_text_that_is_not_json_and_leaves_the_output_as_it_was() {
        for text in ["", "abc", "{\"a\":1", "[1,]", "1 2", "{\"a\":1}x", r#""\ud800""#, "1e400"] {
            assert_eq!(compact(text), None, "{text}");
            assert_eq!(round_trip(text), None, "{text}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(compact(&deep), None);
    }

    #[test]
    fn refuses_a_bag_that_repeats_a_key_few_or_many_keys_in() {
        assert_eq!(compact(r#"{"a":1,"b":2,"a":3}"#), None);
        assert_eq!(compact(r#"[{"a":1},{"a":2}]"#).as_deref(), Some(r#"[{"a":1},{"a":2}]"#));
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let bag = format!("{{{}}}", many.join(","));
        assert_eq!(compact(&bag), round_trip(&bag));
        let repeated = format!("{{{},\"k3\":0}}", many.join(","));
        assert_eq!(compact(&repeated), None);
        // A key written with an escape is the same key as one without.
        assert_eq!(compact(r#"{"a":1,"\u0061":2}"#), None);
    }

    #[test]
    fn leaves_serde_jsons_raw_value_bags_and_depth_limit_to_the_round_trip() {
        // Refused wherever the key stands: the round trip reads a bag that starts with it as the
        // JSON text it holds (or fails on it), and decides.
        for text in [r#"{"$serde_json::private::RawValue":"[1, 2]"}"#, r#"[{"b":1,"$serde_json::private::RawValue":"7"}]"#] {
            assert_eq!(compact(text), None, "{text}");
        }
        assert_eq!(round_trip(r#"{"$serde_json::private::RawValue":"[1, 2]"}"#).as_deref(), Some("[1,2]"));
        let deepest = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert_eq!(compact(&deepest), round_trip(&deepest));
        assert!(compact(&deepest).is_some());
        let too_deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!((compact(&too_deep), round_trip(&too_deep)), (None, None));
    }
}
