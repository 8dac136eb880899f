//! Every "equals one of these texts" test that the queries of a shared scan ask of one text
//! column, answered with one hash lookup per distinct text of a batch.
//!
//! Sigma rules ask `FileName =~ "x.exe"` and `ProcessIntegrityLevel in~ ("High", "System")`
//! by the hundred: planned as `lower(FileName) = 'x.exe'` and `lower(...) IN (...)`, each is a
//! comparison of every row per rule. Here the texts of the column (lowercased once, when the
//! tests compare `lower(column)`) are looked up in one table of every value any test names, and
//! only the tests of the value found are set.
//!
//! The answers are DataFusion's: a null text gives null (as `NULL = 'a'` and
//! `NULL IN ('a')` do), any other text true or false; `lower` is Rust's `str::to_lowercase`,
//! as in DataFusion's `lower` (for an ASCII text, its ASCII lowercase, the same bytes).

use std::collections::HashMap;

use arrow::array::BooleanArray;

use super::answers::Answers;
use super::distinct_texts::{DistinctTexts, NULL_TEXT};

/// The tests of one column (or of its lowercase), prepared once for the whole scan.
pub struct EqualTests {
    lowered: bool,
    tests: usize,
    /// Each value any test names: the tests that name it.
    users: HashMap<String, Vec<usize>, ahash::RandomState>,
}

impl EqualTests {
    /// `tests[i]` lists the values test `i` accepts; `lowered`: the texts are compared in
    /// lowercase (the values are as the query wrote them, lowercased already by its plan).
    pub fn new(lowered: bool, tests: &[Vec<String>]) -> EqualTests {
        let mut users: HashMap<String, Vec<usize>, ahash::RandomState> = HashMap::default();
        for (t, values) in tests.iter().enumerate() {
            for value in values {
                let list = users.entry(value.clone()).or_default();
                if list.last() != Some(&t) {
                    list.push(t);
                }
            }
        }
        EqualTests { lowered, tests: tests.len(), users }
    }

    /// Each test's answer for every row of a batch's column, given as its distinct texts, in
    /// the order the tests were given. Each distinct text is lowercased and looked up once.
    pub fn evaluate(&self, column: &DistinctTexts) -> Vec<BooleanArray> {
        let empty = Vec::new();
        let mut lowercase = String::new();
        let tests_of: Vec<&Vec<usize>> = column
            .texts()
            .iter()
            .map(|&text| {
                let key = if !self.lowered {
                    text
                } else if text.is_ascii() {
                    lowercase.clear();
                    lowercase.push_str(text);
                    lowercase.make_ascii_lowercase();
                    lowercase.as_str()
                } else {
                    lowercase = text.to_lowercase();
                    lowercase.as_str()
                };
                self.users.get(key).unwrap_or(&empty)
            })
            .collect();
        let mut answers = Answers::new(self.tests, column.of_row().len());
        for (row, &id) in column.of_row().iter().enumerate() {
            if id != NULL_TEXT {
                for &t in tests_of[id] {
                    answers.pass(t, row);
                }
            }
        }
        answers.finish(column.nulls())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray, StringViewArray};

    use super::*;
    use crate::functions::StrArray;

    fn evaluate(tests: &EqualTests, array: &ArrayRef) -> Vec<BooleanArray> {
        tests.evaluate(&DistinctTexts::new(&StrArray::try_new(array).unwrap()))
    }

    /// The answers are those of `lower(text) = value` / `lower(text) IN (values)` (and of the
    /// text itself): null for a null text, Rust's `to_lowercase` (DataFusion's `lower`) for
    /// texts beyond ASCII (the Kelvin sign lowercases to `k`, `ẞ` to `ß`).
    #[test]
    fn the_lookup_agrees_with_each_comparison_alone() {
        let texts: Vec<Option<&str>> = vec![
            None,
            Some(""),
            Some("CMD.EXE"),
            Some("cmd.exe"),
            Some("Cmd.Exe "),
            Some("\u{212A}"),
            Some("STRA\u{1E9E}E"),
            Some("High"),
            Some("x"),
        ];
        let tests: Vec<Vec<String>> = [
            vec!["cmd.exe"],
            vec!["CMD.EXE"],
            vec!["k"],
            vec!["stra\u{df}e", "high", "cmd.exe"],
            vec![""],
            vec!["high", "high"],
            vec!["nothing"],
        ]
        .iter()
        .map(|values| values.iter().map(|v| v.to_string()).collect())
        .collect();
        let arrays: [ArrayRef; 2] = [Arc::new(StringArray::from(texts.clone())), Arc::new(StringViewArray::from(texts.clone()))];
        for array in arrays {
            for lowered in [true, false] {
                let answers = evaluate(&EqualTests::new(lowered, &tests), &array);
                assert_eq!(answers.len(), tests.len());
                for (values, answer) in tests.iter().zip(&answers) {
                    let got: Vec<Option<bool>> = answer.iter().collect();
                    let expected: Vec<Option<bool>> =
                        texts.iter().map(|t| t.map(|t| values.contains(&if lowered { t.to_lowercase() } else { t.to_string() }))).collect();
                    assert_eq!(got, expected, "{values:?}, lowered: {lowered}");
                }
            }
        }
        // Spot checks that do not lean on `to_lowercase`.
        let answers = evaluate(&EqualTests::new(true, &tests), &(Arc::new(StringArray::from(texts.clone())) as ArrayRef));
        assert_eq!(
            answers[0].iter().collect::<Vec<_>>(),
            [None, Some(false), Some(true), Some(true), Some(false), Some(false), Some(false), Some(false), Some(false)]
        );
        assert!(answers[2].value(5));
        assert_eq!(answers[3].iter().filter(|a| *a == Some(true)).count(), 4);
    }
}
