//! String functions and the string predicates behind `has`, `contains`, `startswith`,
//! `endswith` (each with `!` and `_cs` forms, the negation applied by the planner).

use std::sync::Arc;

use arrow::array::{BooleanArray, Int64Array};
use arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use datafusion::scalar::ScalarValue;

use super::{KqlUdf, StrArray, arrays, result, scalar_str};

/// `strlen(s)`: Unicode characters; a null string has length 0 (KQL strings are never null).
pub fn strlen() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_strlen",
        |_| Ok(DataType::Int64),
        |args, rows| {
            let arrays = arrays(args, rows)?;
            let s = StrArray::try_new(&arrays[0])?;
            let out: Int64Array = (0..s.len()).map(|i| Some(s.get(i).map_or(0, |v| v.chars().count() as i64))).collect();
            result(args, Arc::new(out))
        },
    )
}

/// Which test `string_test(s, pattern, code)` runs; `code` is this as an integer constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Test {
    Has = 0,
    Contains = 1,
    StartsWith = 2,
    EndsWith = 3,
    HasPrefix = 4,
    HasSuffix = 5,
}

impl Test {
    pub fn from_code(code: i64) -> Option<Test> {
        Some(match code {
            0 => Test::Has,
            1 => Test::Contains,
            2 => Test::StartsWith,
            3 => Test::EndsWith,
            4 => Test::HasPrefix,
            5 => Test::HasSuffix,
            _ => return None,
        })
    }

    /// The constant third argument that selects this test, case-sensitive or not.
    pub fn code(self, case_sensitive: bool) -> ScalarValue {
        ScalarValue::Int64(Some(self as i64 * 2 + case_sensitive as i64))
    }
}

fn is_term_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Does `hay` hold `needle` starting at byte `at`, under the case rule?
fn matches_at(hay: &str, at: usize, needle: &str, case_sensitive: bool) -> bool {
    let Some(part) = hay.get(at..at + needle.len()) else { return false };
    if case_sensitive {
        part == needle
    } else if part.is_ascii() && needle.is_ascii() {
        // Decisive for ASCII, and no allocation at each position of each row.
        part.eq_ignore_ascii_case(needle)
    } else {
        part.to_lowercase() == needle.to_lowercase()
    }
}

/// Byte offsets where `needle` occurs in `hay`.
fn occurrences<'a>(hay: &'a str, needle: &'a str, case_sensitive: bool) -> impl Iterator<Item = usize> + 'a {
    hay.char_indices().map(|(i, _)| i).filter(move |&i| matches_at(hay, i, needle, case_sensitive))
}

/// The test itself, for one text and one needle.
pub fn run_test(test: Test, hay: &str, needle: &str, case_sensitive: bool) -> bool {
    match test {
        Test::Contains => {
            if case_sensitive {
                hay.contains(needle)
            } else if needle.is_ascii() {
                contains_ascii_ci(hay.as_bytes(), needle.as_bytes())
            } else {
                hay.to_lowercase().contains(&needle.to_lowercase())
            }
        }
        Test::StartsWith => matches_at(hay, 0, needle, case_sensitive),
        Test::EndsWith => {
            hay.len() >= needle.len()
                && hay.is_char_boundary(hay.len() - needle.len())
                && matches_at(hay, hay.len() - needle.len(), needle, case_sensitive)
        }
        Test::Has | Test::HasPrefix | Test::HasSuffix => {
            if needle.is_empty() {
                return test != Test::Has || hay.is_empty();
            }
            let terms = TermEnds::of(needle);
            occurrences(hay, needle, case_sensitive).any(|at| terms.match_at(test, hay, at, needle.len()))
        }
    }
}

/// Whether a needle starts and ends with term characters: a `has` match must then start a term
/// (unless the needle starts with a non-term character) and, for `has`, end one.
#[derive(Clone, Copy)]
struct TermEnds {
    starts: bool,
    ends: bool,
}

impl TermEnds {
    fn of(needle: &str) -> TermEnds {
        TermEnds { starts: needle.chars().next().is_some_and(is_term_char), ends: needle.chars().last().is_some_and(is_term_char) }
    }

    /// Does the occurrence of the needle at byte `at` (a char boundary) of `hay` count?
    fn match_at(self, test: Test, hay: &str, at: usize, len: usize) -> bool {
        let before_ok = !self.starts || !hay[..at].chars().last().is_some_and(is_term_char);
        let after_ok = !self.ends || !hay[at + len..].chars().next().is_some_and(is_term_char);
        match test {
            Test::Has => before_ok && after_ok,
            Test::HasPrefix => before_ok,
            _ => after_ok,
        }
    }
}

fn contains_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > hay.len() {
        return false;
    }
    let first = needle[0].to_ascii_lowercase();
    (0..=hay.len() - needle.len()).any(|i| hay[i].to_ascii_lowercase() == first && hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// A constant needle, prepared once per batch. `contains` and the term tests search with
/// memchr's SIMD substring finder instead of comparing at every byte; when case is ignored (and
/// the needle is ASCII) they search the ASCII-lowercased text for the lowercased needle, which
/// keeps every byte offset, so term boundaries are read off the original text. A needle that is
/// not ASCII under a case-insensitive test goes through `run_test`.
pub struct PreparedNeedle {
    test: Test,
    needle: String,
    case_sensitive: bool,
    finder: Option<memchr::memmem::Finder<'static>>,
    /// Whether the text is lowercased before the search (the needle has ASCII letters and case
    /// is ignored).
    lower_text: bool,
    terms: TermEnds,
    /// A case-insensitive test of a needle whose lowercase is beyond ASCII: no ASCII text passes
    /// it (an ASCII text's lowercase is ASCII), so such a text is answered without lowercasing
    /// it, which cost an allocation per row, or per position for the term tests.
    beyond_ascii: bool,
}

impl PreparedNeedle {
    pub fn new(test: Test, needle: &str, case_sensitive: bool) -> PreparedNeedle {
        let searchable = matches!(test, Test::Contains | Test::Has | Test::HasPrefix | Test::HasSuffix)
            && !needle.is_empty()
            && (case_sensitive || needle.is_ascii());
        let lower_text = !case_sensitive && needle.bytes().any(|b| b.is_ascii_alphabetic());
        let finder = searchable.then(|| {
            let searched = if lower_text { needle.to_ascii_lowercase() } else { needle.to_string() };
            memchr::memmem::Finder::new(searched.as_bytes()).into_owned()
        });
        let beyond_ascii = !case_sensitive && !needle.to_lowercase().is_ascii();
        PreparedNeedle { test, needle: needle.to_string(), case_sensitive, finder, lower_text, terms: TermEnds::of(needle), beyond_ascii }
    }

    /// The test on one text; `buf` is scratch space reused across the rows of a batch.
    pub fn test(&self, hay: &str, buf: &mut Vec<u8>) -> bool {
        if self.beyond_ascii && hay.is_ascii() {
            return false;
        }
        let Some(finder) = &self.finder else { return run_test(self.test, hay, &self.needle, self.case_sensitive) };
        let text: &[u8] = if self.lower_text {
            buf.clear();
            buf.extend(hay.bytes().map(|b| b.to_ascii_lowercase()));
            buf
        } else {
            hay.as_bytes()
        };
        if self.test == Test::Contains {
            return finder.find(text).is_some();
        }
        // Occurrences may overlap (`a-a` in `ba-a-a`): the search resumes one byte after each.
        // A match of an ASCII needle starts at an ASCII byte, and a match of any needle at its
        // first byte, so `at` is always a char boundary of `hay`.
        let mut from = 0;
        while let Some(k) = finder.find(&text[from..]) {
            let at = from + k;
            if self.terms.match_at(self.test, hay, at, self.needle.len()) {
                return true;
            }
            from = at + 1;
        }
        false
    }
}

/// `string_test(s, pattern, code)`: one UDF for the string predicates; null strings are "".
pub fn string_test() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_string_test",
        |_| Ok(DataType::Boolean),
        |args, rows| {
            let code = match &args[2] {
                ColumnarValue::Scalar(ScalarValue::Int64(Some(c))) => *c,
                _ => return exec_err!("string test code must be a constant"),
            };
            let (Some(test), case_sensitive) = (Test::from_code(code / 2), code % 2 == 1) else {
                return exec_err!("unknown string test {code}");
            };
            // Only the text is made an array: a constant needle repeated for every row of the
            // batch cost a copy per row (a 17 KB `search` term: 140 MB per batch and column).
            let hay = args[0].to_array(rows)?;
            let hay = StrArray::try_new(&hay)?;
            let out: BooleanArray = match scalar_str(&args[1]) {
                Some(needle) => {
                    let needle = PreparedNeedle::new(test, &needle, case_sensitive);
                    let mut buf = Vec::new();
                    (0..hay.len()).map(|i| Some(needle.test(hay.get(i).unwrap_or(""), &mut buf))).collect()
                }
                None => {
                    let needles = args[1].to_array(rows)?;
                    let needles = StrArray::try_new(&needles)?;
                    (0..hay.len())
                        .map(|i| Some(run_test(test, hay.get(i).unwrap_or(""), needles.get(i).unwrap_or(""), case_sensitive)))
                        .collect()
                }
            };
            result(&args[..2], Arc::new(out))
        },
    )
}

/// `kql_string_test_any(s, code, needle, needle, ...)`: whether any of the constant needles
/// passes the test `code` on `s`. It is what `s contains "a" or s contains "b" or ...` asks,
/// planned as one call (`planner/string_sets.rs`): Sigma rules converted to KQL are mostly such
/// chains. `contains` runs one Aho-Corasick scan of each text for all the needles at once
/// (ASCII case folding as `contains` folds); the other tests try each prepared needle in turn.
/// Like `kql_string_test`, a null text is "" and the result is never null.
pub fn string_test_any() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_string_test_any",
        |_| Ok(DataType::Boolean),
        |args, rows| {
            let code = match args.get(1) {
                Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(c)))) => *c,
                _ => return exec_err!("string test code must be a constant"),
            };
            let (Some(test), case_sensitive) = (Test::from_code(code / 2), code % 2 == 1) else {
                return exec_err!("unknown string test {code}");
            };
            let needles: Vec<String> = args[2..].iter().map(scalar_str).collect::<Option<_>>().unwrap_or_default();
            if needles.len() != args.len() - 2 {
                return exec_err!("kql_string_test_any takes constant needles");
            }
            let matcher = AnyNeedle::new(test, &needles, case_sensitive);
            let hay = args[0].to_array(rows)?;
            let hay = StrArray::try_new(&hay)?;
            let mut buf = Vec::new();
            let out: BooleanArray = (0..hay.len()).map(|i| Some(matcher.test(hay.get(i).unwrap_or(""), &mut buf))).collect();
            result(&args[..1], Arc::new(out))
        },
    )
}

/// Several needles under one test, prepared once per batch.
enum AnyNeedle {
    /// `contains`: one automaton for every needle.
    Automaton(aho_corasick::AhoCorasick),
    /// Case-insensitive `contains` of needles some of which are beyond ASCII: the ASCII needles
    /// in one automaton that folds ASCII letters; the needles whose lowercase is beyond ASCII in
    /// one automaton over the lowercased text, which only a text beyond ASCII can match (so an
    /// ASCII text is never lowercased); the rest (a needle such as the Kelvin sign, whose
    /// lowercase is ASCII) one by one.
    FoldedContains { ascii: aho_corasick::AhoCorasick, beyond: aho_corasick::AhoCorasick, rest: Vec<PreparedNeedle> },
    /// Each needle in turn.
    Each(Vec<PreparedNeedle>),
}

impl AnyNeedle {
    fn new(test: Test, needles: &[String], case_sensitive: bool) -> AnyNeedle {
        let each = || AnyNeedle::Each(needles.iter().map(|n| PreparedNeedle::new(test, n, case_sensitive)).collect());
        if test != Test::Contains {
            return each();
        }
        if case_sensitive || needles.iter().all(|n| n.is_ascii()) {
            // Aho-Corasick folds ASCII letters only, as `contains` does for an ASCII needle.
            return match aho_corasick::AhoCorasick::builder().ascii_case_insensitive(!case_sensitive).build(needles) {
                Ok(automaton) => AnyNeedle::Automaton(automaton),
                Err(_) => each(),
            };
        }
        let (ascii, others): (Vec<&String>, Vec<&String>) = needles.iter().partition(|n| n.is_ascii());
        let (beyond, rest): (Vec<String>, Vec<&String>) = {
            let mut beyond = Vec::new();
            let mut rest = Vec::new();
            for n in others {
                let lower = n.to_lowercase();
                if lower.is_ascii() { rest.push(n) } else { beyond.push(lower) }
            }
            (beyond, rest)
        };
        let built =
            (aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build(&ascii), aho_corasick::AhoCorasick::new(&beyond));
        match built {
            (Ok(ascii), Ok(beyond)) => AnyNeedle::FoldedContains {
                ascii,
                beyond,
                rest: rest.into_iter().map(|n| PreparedNeedle::new(test, n, case_sensitive)).collect(),
            },
            _ => each(),
        }
    }

    fn test(&self, hay: &str, buf: &mut Vec<u8>) -> bool {
        match self {
            AnyNeedle::Automaton(a) => a.is_match(hay),
            AnyNeedle::FoldedContains { ascii, beyond, rest } => {
                ascii.is_match(hay) || (!hay.is_ascii() && beyond.is_match(&hay.to_lowercase())) || rest.iter().any(|n| n.test(hay, buf))
            }
            AnyNeedle::Each(needles) => needles.iter().any(|n| n.test(hay, buf)),
        }
    }
}

/// `kql_parse_groups(s, pattern)`: the captures of the groups named `k0`, `k1`, ... of
/// `pattern` (compiled once per batch), as a list; null when the pattern does not match.
pub fn parse_groups() -> ScalarUDF {
    KqlUdf::scalar(
        "kql_parse_groups",
        |_| Ok(DataType::List(Arc::new(arrow::datatypes::Field::new("item", DataType::Utf8, true)))),
        |args, rows| {
            let Some(pattern) = scalar_str(&args[1]) else {
                return exec_err!("parse: the pattern must be a constant");
            };
            let re = match regex::Regex::new(&pattern) {
                Ok(r) => r,
                Err(e) => return exec_err!("parse: invalid pattern: {e}"),
            };
            let names: Vec<String> = re.capture_names().flatten().filter(|n| n.starts_with('k')).map(str::to_string).collect();
            let arrays = arrays(&args[..1], rows)?;
            let text = StrArray::try_new(&arrays[0])?;
            let mut out = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
            for i in 0..text.len() {
                match text.get(i).and_then(|t| re.captures(t)) {
                    Some(caps) => {
                        for n in &names {
                            out.values().append_option(caps.name(n).map(|m| m.as_str()));
                        }
                        out.append(true);
                    }
                    None => out.append(false),
                }
            }
            result(&args[..1], Arc::new(out.finish()))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_matches_whole_terms() {
        assert!(run_test(Test::Has, "North America", "america", false));
        assert!(!run_test(Test::Has, "North America", "amer", false));
        assert!(run_test(Test::Has, "user@contoso.com", "contoso", false));
        assert!(run_test(Test::Has, "North America", "America", false));
        assert!(!run_test(Test::Has, "North America", "america", true));
        assert!(run_test(Test::HasPrefix, "North America", "ame", false));
        assert!(run_test(Test::HasSuffix, "North America", "rica", false));
        assert!(run_test(Test::Contains, "FabriKam", "BRIK", false));
        assert!(!run_test(Test::Contains, "FabriKam", "BRIK", true));
        assert!(run_test(Test::StartsWith, "Fabrikam", "fab", false));
        assert!(run_test(Test::EndsWith, "Fabrikam", "KAM", false));
    }

    /// The prepared needle gives `run_test`'s answer for every test, case rule and text,
    /// overlapping and non-ASCII cases included.
    #[test]
    fn a_prepared_needle_agrees_with_run_test() {
        let texts = [
            "",
            "North America",
            "ba-a-a",
            "a-a",
            "xA-Ay",
            "C:\\Windows\\System32\\CMD.EXE /c whoami",
            "Ünïcode ärger Straße",
            "aaa",
            "KAB k ab",
            "ab\u{212A}ab",
            "powershell \u{2013}ENC abc",
            "powershell -enc abc",
            "KAB",
            "äb",
        ];
        let needles = [
            "",
            "a",
            "a-a",
            "america",
            "AMER",
            "cmd.exe",
            "\\system32\\",
            "rger",
            "STRASSE",
            "ärger",
            "Ärger",
            "k",
            "-",
            "ab",
            "aa",
            "\u{2013}enc",
            "\u{212A}",
            "ÄB",
        ];
        let tests = [Test::Has, Test::Contains, Test::StartsWith, Test::EndsWith, Test::HasPrefix, Test::HasSuffix];
        let mut buf = Vec::new();
        for test in tests {
            for needle in needles {
                for case_sensitive in [false, true] {
                    let prepared = PreparedNeedle::new(test, needle, case_sensitive);
                    for text in texts {
                        assert_eq!(
                            prepared.test(text, &mut buf),
                            run_test(test, text, needle, case_sensitive),
                            "{test:?} {needle:?} in {text:?}, case-sensitive: {case_sensitive}"
                        );
                    }
                }
            }
        }
        assert!(PreparedNeedle::new(Test::Has, "a-a", false).test("ba-a-a", &mut buf));
    }

    /// Several needles at once give what the tests give one by one, joined by `or`.
    #[test]
    fn any_needle_agrees_with_each_test() {
        let texts = [
            "",
            "C:\\Windows\\System32\\CMD.EXE /c whoami",
            "powershell -EncodedCommand SQBFAFgA",
            "Straße ärger",
            "ab\u{212A}ab",
            "powershell \u{2013}enc x \u{1F600}",
            "kab",
        ];
        let sets: [&[&str]; 7] = [
            &["whoami", "-enc"],
            &["WHOAMI", "nothing"],
            &["", "x"],
            &["ärger", "ZZZ"],
            &["k", "q"],
            &["\u{2013}ENC", "STRASSE", "\u{212A}", "-Enc"],
            &["\u{1F600}", "ÄRGER"],
        ];
        let tests = [Test::Has, Test::Contains, Test::StartsWith, Test::EndsWith, Test::HasPrefix, Test::HasSuffix];
        let mut buf = Vec::new();
        for test in tests {
            for needles in sets {
                for case_sensitive in [false, true] {
                    let owned: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
                    let any = AnyNeedle::new(test, &owned, case_sensitive);
                    for text in texts {
                        let expected = needles.iter().any(|n| run_test(test, text, n, case_sensitive));
                        assert_eq!(
                            any.test(text, &mut buf),
                            expected,
                            "{test:?} {needles:?} in {text:?}, case-sensitive: {case_sensitive}"
                        );
                    }
                }
            }
        }
    }
}
