//! Every "equals one of these texts" test that the queries of a shared scan ask of one text
//! column, answered with one hash lookup per text.
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

use arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::common::Result;

use super::answers::Answers;
use crate::functions::StrArray;

/// The tests of one column (or of its lowercase), prepared once for the whole scan.
pub struct EqualTests {
    lowered: bool,
    tests: usize,
    /// Each value any test names: the tests that name it.
    users: HashMap<String, Vec<usize>>,
}

impl EqualTests {
    /// `tests[i]` lists the values test `i` accepts; `lowered`: the texts are compared in
    /// lowercase (the values are as the query wrote them, lowercased already by its plan).
    pub fn new(lowered: bool, tests: &[Vec<String>]) -> EqualTests {
        let mut users: HashMap<String, Vec<usize>> = HashMap::new();
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

    /// Each test's answer for every text of `column`, in the order the tests were given.
    pub fn evaluate(&self, column: &ArrayRef) -> Result<Vec<BooleanArray>> {
        let texts = StrArray::try_new(column)?;
        let rows = texts.len();
        let mut answers = Answers::new(self.tests, rows);
        let mut lowercase = String::new();
        for row in 0..rows {
            let Some(text) = texts.get(row) else { continue };
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
            if let Some(tests) = self.users.get(key) {
                for &t in tests {
                    answers.pass(t, row);
                }
            }
        }
        Ok(answers.finish(column.logical_nulls()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{StringArray, StringViewArray};

    use super::*;

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
                let answers = EqualTests::new(lowered, &tests).evaluate(&array).unwrap();
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
        let answers = EqualTests::new(true, &tests).evaluate(&(Arc::new(StringArray::from(texts.clone())) as ArrayRef)).unwrap();
        assert_eq!(
            answers[0].iter().collect::<Vec<_>>(),
            [None, Some(false), Some(true), Some(true), Some(false), Some(false), Some(false), Some(false), Some(false)]
        );
        assert!(answers[2].value(5));
        assert_eq!(answers[3].iter().filter(|a| *a == Some(true)).count(), 4);
    }
}
