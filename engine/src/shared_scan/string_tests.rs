//! Every string test of one text column that the queries of a shared scan ask, answered in one
//! pass over the column per batch.
//!
//! A folder of Sigma rules asks hundreds of `contains` / `endswith` / `has` questions of the
//! same few columns (`ProcessCommandLine`, `FolderPath`, ...). Asked query by query, each text is
//! searched once per needle: a thousand rules search each command line a few thousand times.
//! Here one Aho-Corasick automaton holds every needle of the column and reports, for each text,
//! which needles occur in it at all; only those needles' tests are then decided, by the very
//! code the query's own `kql_string_test` runs (`PreparedNeedle::test`).
//!
//! Why the pass can skip a needle that does not occur: every test (`has`, `contains`,
//! `startswith`, `endswith`, `hasprefix`, `hassuffix`, either case rule) of a non-empty ASCII
//! needle passes only if the needle occurs in the text as a substring, ASCII letters folded:
//! the tests fold ASCII letters only, except where `matches_at` lowercases a non-ASCII slice of
//! the needle's byte length; the one non-ASCII character whose lowercase is ASCII, the Kelvin
//! sign, shrinks from three bytes to one, so such a slice never equals an ASCII needle of its
//! length. The tests of a needle that occurs are decided exactly; a case-insensitive `contains`
//! of an ASCII needle is the occurrence itself and needs no second look.
//!
//! A needle beyond ASCII whose lowercase is beyond ASCII too (`–v`, `ärger`; Sigma rules list
//! dash variants) passes no test on an ASCII text (neither the text nor its lowercase can hold
//! it), so its tests are decided exactly on the texts beyond ASCII only, which are few in logs.
//! A needle whose lowercase is ASCII (the Kelvin sign) is not shared (`shareable`).

use std::ops::Range;

use arrow::array::BooleanArray;

use super::answers::Answers;
use super::distinct_texts::{DistinctTexts, NULL_TEXT};
use crate::functions::string::{PreparedNeedle, Test};

/// One shared test: `test` of the column against any of `needles` (several for the `or` of
/// tests that `planner/string_sets.rs` merges into one `kql_string_test_any`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TestOfColumn {
    pub test: Test,
    pub case_sensitive: bool,
    pub needles: Vec<String>,
}

impl TestOfColumn {
    /// Whether the pass may answer this test: its needles are non-empty, and ASCII or with a
    /// lowercase beyond ASCII.
    pub fn shareable(&self) -> bool {
        !self.needles.is_empty() && self.needles.iter().all(|n| !n.is_empty() && (n.is_ascii() || !n.to_lowercase().is_ascii()))
    }
}

/// A test as the pass decides it.
struct PreparedTest {
    /// A case-insensitive `contains`: an occurrence is the answer.
    occurrence_decides: bool,
    needles: Vec<PreparedNeedle>,
}

/// The tests of one column, prepared once for the whole scan.
pub struct ColumnTests {
    tests: Vec<PreparedTest>,
    /// Every distinct needle, ASCII letters folded; `None` when the automaton cannot be built
    /// (too large), and then every test is tried on every text.
    automaton: Option<NeedleSearch>,
    /// For each needle of the automaton: the tests that use it, as (test, needle of that test).
    users: Vec<Vec<(usize, usize)>>,
    /// The needles beyond ASCII, as the tests that use them: tried on texts beyond ASCII only.
    beyond: Vec<(usize, usize)>,
}

impl ColumnTests {
    pub fn new(tests: &[TestOfColumn]) -> ColumnTests {
        ColumnTests::with_search(tests, true)
    }

    /// `new`, with the DFA when `dfa` (and it can be built), else with the automaton the crate
    /// picks.
    fn with_search(tests: &[TestOfColumn], dfa: bool) -> ColumnTests {
        let mut needles: Vec<String> = Vec::new();
        let mut users: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut beyond = Vec::new();
        for (t, test) in tests.iter().enumerate() {
            for (k, needle) in test.needles.iter().enumerate() {
                if !needle.is_ascii() {
                    beyond.push((t, k));
                    continue;
                }
                let folded = needle.to_ascii_lowercase();
                let id = match needles.iter().position(|n| *n == folded) {
                    Some(id) => id,
                    None => {
                        needles.push(folded);
                        users.push(Vec::new());
                        needles.len() - 1
                    }
                };
                users[id].push((t, k));
            }
        }
        let automaton = NeedleSearch::new(&needles, dfa);
        let tests = tests
            .iter()
            .map(|t| PreparedTest {
                occurrence_decides: t.test == Test::Contains && !t.case_sensitive,
                needles: t.needles.iter().map(|n| PreparedNeedle::new(t.test, n, t.case_sensitive)).collect(),
            })
            .collect();
        ColumnTests { tests, automaton, users, beyond }
    }

    /// Each test's answer for every row of a batch's column, given as its distinct texts (a null
    /// text is "", as in `kql_string_test`; the answers are never null), in the order the tests
    /// were given. Each distinct text is searched once; its repeats pass the tests it passed.
    pub fn evaluate(&self, column: &DistinctTexts) -> Vec<BooleanArray> {
        let of_row = column.of_row();
        let mut answers = Answers::new(self.tests.len(), of_row.len());
        // `passed` holds the tests each searched text passed, `passed_by[id]` the part of it of
        // the text `id` once searched (the last entry stands for the null text).
        let mut passed: Vec<usize> = Vec::new();
        let mut passed_by: Vec<Option<Range<usize>>> = vec![None; column.texts().len() + 1];
        // Stamps (the search's number + 1): which needles were seen, and which tests passed, in
        // the current text, without clearing a set per text.
        let mut needle_seen = vec![0u32; self.users.len()];
        let mut test_passed = vec![0u32; self.tests.len()];
        let mut stamp = 0u32;
        let mut buf = Vec::new();
        for (row, &id) in of_row.iter().enumerate() {
            let (text, id) = match id {
                NULL_TEXT => ("", passed_by.len() - 1),
                id => (column.texts()[id], id),
            };
            let range = match &passed_by[id] {
                Some(range) => range.clone(),
                None => {
                    let start = passed.len();
                    stamp += 1;
                    self.search(text, stamp, &mut needle_seen, &mut test_passed, &mut buf, &mut passed);
                    passed_by[id].insert(start..passed.len()).clone()
                }
            };
            for &t in &passed[range] {
                answers.pass(t, row);
            }
        }
        answers.finish(None)
    }

    /// Appends to `passed` the tests `text` passes, each once. `needle_seen` and `test_passed`
    /// hold `stamp` for the needles seen and tests passed in this text.
    fn search(&self, text: &str, stamp: u32, needle_seen: &mut [u32], test_passed: &mut [u32], buf: &mut Vec<u8>, passed: &mut Vec<usize>) {
        let Some(automaton) = &self.automaton else {
            for (t, test) in self.tests.iter().enumerate() {
                if test.needles.iter().any(|n| n.test(text, buf)) {
                    passed.push(t);
                }
            }
            return;
        };
        // No needle of the automaton is empty, so the empty text passes none of its tests.
        if text.is_empty() {
            return;
        }
        if !self.beyond.is_empty() && !text.is_ascii() {
            for &(t, k) in &self.beyond {
                if test_passed[t] != stamp && self.tests[t].needles[k].test(text, buf) {
                    test_passed[t] = stamp;
                    passed.push(t);
                }
            }
        }
        automaton.each_occurrence(text, |id| {
            if needle_seen[id] == stamp {
                return;
            }
            needle_seen[id] = stamp;
            for &(t, k) in &self.users[id] {
                if test_passed[t] == stamp {
                    continue;
                }
                let test = &self.tests[t];
                if test.occurrence_decides || test.needles[k].test(text, buf) {
                    test_passed[t] = stamp;
                    passed.push(t);
                }
            }
        });
    }
}

/// The Aho-Corasick automaton of a column's needles.
enum NeedleSearch {
    /// A DFA (one table lookup per byte), walked here byte by byte: the crate's overlapping
    /// iterator costs a call and a saved state per occurrence, and a command line holds dozens
    /// of occurrences of the rules' needles (` `, `\`, ` -`), most of them repeats.
    Dfa { dfa: Box<aho_corasick::dfa::DFA>, start: aho_corasick::automaton::StateID },
    /// The automaton the crate picks, for needles too many for a DFA (it costs memory per state).
    Other(aho_corasick::AhoCorasick),
}

impl NeedleSearch {
    fn new(needles: &[String], dfa: bool) -> Option<NeedleSearch> {
        use aho_corasick::automaton::Automaton;
        let built = match dfa {
            true => aho_corasick::dfa::Builder::new()
                .ascii_case_insensitive(true)
                .match_kind(aho_corasick::MatchKind::Standard)
                .build(needles)
                .ok(),
            false => None,
        };
        // The walk starts anywhere in a text (unanchored), which the builder's default allows.
        match built.and_then(|dfa| Some((dfa.start_state(aho_corasick::Anchored::No).ok()?, dfa))) {
            Some((start, dfa)) => Some(NeedleSearch::Dfa { dfa: Box::new(dfa), start }),
            None => aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(aho_corasick::MatchKind::Standard)
                .build(needles)
                .ok()
                .map(NeedleSearch::Other),
        }
    }

    /// Calls `found` with the needle of each occurrence in `text`, overlapping ones included (a
    /// needle may come more than once).
    fn each_occurrence(&self, text: &str, mut found: impl FnMut(usize)) {
        use aho_corasick::Anchored;
        use aho_corasick::automaton::Automaton;
        match self {
            NeedleSearch::Dfa { dfa, start } => {
                // With the standard match kind, each state lists every needle that ends where it
                // is reached (the automaton copies them along its failure links), and the
                // unanchored walk never dies: the states met are all the occurrences, as the
                // crate's own overlapping search reports them. Needles are never empty, so the
                // start state matches nothing.
                let mut state = *start;
                for &byte in text.as_bytes() {
                    state = dfa.next_state(Anchored::No, state, byte);
                    if dfa.is_special(state) && dfa.is_match(state) {
                        for i in 0..dfa.match_len(state) {
                            found(dfa.match_pattern(state, i).as_usize());
                        }
                    }
                }
            }
            NeedleSearch::Other(automaton) => automaton.find_overlapping_iter(text).for_each(|m| found(m.pattern().as_usize())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, StringArray, StringViewArray};

    use super::*;
    use crate::functions::StrArray;
    use crate::functions::string::run_test;

    const TESTS: [Test; 6] = [Test::Has, Test::Contains, Test::StartsWith, Test::EndsWith, Test::HasPrefix, Test::HasSuffix];

    /// The pass agrees with the tests asked one by one (`run_test`, the reference the UDFs are
    /// checked against), on texts chosen to trip it: overlapping occurrences, term edges, case,
    /// letters beyond ASCII (the Kelvin sign lowercases to `k`), nulls, repeated texts.
    #[test]
    fn the_pass_agrees_with_each_test_alone() {
        let texts: Vec<Option<&str>> = vec![
            None,
            Some(""),
            Some("C:\\Windows\\System32\\CMD.EXE /c whoami"),
            Some("powershell -EncodedCommand SQBFAFgA -enc"),
            Some("ba-a-a"),
            Some("ab\u{212A}ab k"),
            Some("Straße \u{212A}ey kEY"),
            Some("\\netsh.exe"),
            Some("netsh.exe advfirewall firewall add rule"),
            Some("whoamiwhoami"),
            Some("powershell \u{2013}ENC x \u{1F600}"),
            Some("STRAßE ÄRGER -Enc"),
        ];
        // Each text again, in reverse order: a text met before in the batch is answered from
        // the first one's answers.
        let texts: Vec<Option<&str>> = texts.iter().chain(texts.iter().rev()).copied().collect();
        let needles = [
            "whoami",
            "-enc",
            "a-a",
            "k",
            "key",
            "\\netsh.exe",
            "NETSH.EXE",
            "firewall ",
            "cmd",
            "a",
            "ab",
            "exe",
            "\\",
            "\u{2013}enc",
            "STRASSE",
            "Straße",
            "ärger",
            "\u{1F600}",
        ];
        let mut cases = Vec::new();
        for test in TESTS {
            for case_sensitive in [false, true] {
                for (i, n) in needles.iter().enumerate() {
                    cases.push(TestOfColumn { test, case_sensitive, needles: vec![n.to_string()] });
                    let other = needles[(i * 7 + 3) % needles.len()];
                    cases.push(TestOfColumn { test, case_sensitive, needles: vec![n.to_string(), other.to_string()] });
                }
            }
        }
        let arrays: [ArrayRef; 2] = [Arc::new(StringArray::from(texts.clone())), Arc::new(StringViewArray::from(texts.clone()))];
        for array in arrays {
            let searches = [
                ColumnTests::new(&cases),
                ColumnTests::with_search(&cases, false),
                ColumnTests { automaton: None, ..ColumnTests::new(&cases) },
            ];
            assert!(matches!(searches[0].automaton, Some(NeedleSearch::Dfa { .. })));
            assert!(matches!(searches[1].automaton, Some(NeedleSearch::Other(_))));
            for column in searches {
                let answers = column.evaluate(&DistinctTexts::new(&StrArray::try_new(&array).unwrap()));
                assert_eq!(answers.len(), cases.len());
                for (case, answer) in cases.iter().zip(&answers) {
                    assert_eq!(answer.null_count(), 0);
                    for (row, text) in texts.iter().enumerate() {
                        let text = text.unwrap_or("");
                        let expected = case.needles.iter().any(|n| run_test(case.test, text, n, case.case_sensitive));
                        assert_eq!(answer.value(row), expected, "{case:?} on {text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn only_non_empty_ascii_needles_are_shared() {
        let of = |needles: &[&str]| TestOfColumn {
            test: Test::Contains,
            case_sensitive: false,
            needles: needles.iter().map(|n| n.to_string()).collect(),
        };
        assert!(of(&["a", "b"]).shareable());
        assert!(!of(&["a", ""]).shareable());
        assert!(of(&["\u{2013}v", "-v"]).shareable());
        // The Kelvin sign's lowercase is `k`: an ASCII text can pass its tests.
        assert!(!of(&["\u{212A}"]).shareable());
        assert!(!of(&[]).shareable());
    }
}
