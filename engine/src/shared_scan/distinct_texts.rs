//! The distinct texts of one text column of a batch, found once per batch and shared by every
//! pass of the scan over that column (its string tests, regular expressions and equality
//! lookups).
//!
//! Logs repeat their texts: in a batch of the generated Defender process events each folder
//! path comes about eight times and each parent command line five. Every test and pattern of a
//! shared scan depends on the text alone, so each is decided once per distinct text, and a
//! repeat takes the answers of its first occurrence. Hashing a text once costs a fraction of
//! searching it for a thousand needles and seventy patterns, and one hash per row serves every
//! kind of test of the column.

use std::collections::HashMap;

use arrow::buffer::NullBuffer;

use crate::functions::StrArray;

/// The number of a row's text among the batch's distinct texts, or `NULL_TEXT` for a null.
pub type TextId = usize;

/// The `TextId` of a null text.
pub const NULL_TEXT: TextId = TextId::MAX;

pub struct DistinctTexts<'a> {
    /// The distinct non-null texts, in the order of their first rows.
    texts: Vec<&'a str>,
    /// For each row, the number of its text in `texts`.
    of_row: Vec<TextId>,
}

impl<'a> DistinctTexts<'a> {
    pub fn new(column: &StrArray<'a>) -> DistinctTexts<'a> {
        let rows = column.len();
        let mut ids: HashMap<&'a str, TextId, ahash::RandomState> = HashMap::default();
        let mut texts = Vec::new();
        let of_row = (0..rows)
            .map(|row| match column.get(row) {
                None => NULL_TEXT,
                Some(text) => *ids.entry(text).or_insert_with(|| {
                    texts.push(text);
                    texts.len() - 1
                }),
            })
            .collect();
        DistinctTexts { texts, of_row }
    }

    /// The distinct non-null texts, numbered by their position.
    pub fn texts(&self) -> &[&'a str] {
        &self.texts
    }

    /// Each row's `TextId`.
    pub fn of_row(&self) -> &[TextId] {
        &self.of_row
    }

    /// Where the column's texts are null, as a result of the same rows takes it.
    pub fn nulls(&self) -> Option<NullBuffer> {
        let nulls = NullBuffer::from_iter(self.of_row.iter().map(|&id| id != NULL_TEXT));
        (nulls.null_count() > 0).then_some(nulls)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray};

    use super::*;

    #[test]
    fn rows_with_the_same_text_share_its_number_and_nulls_have_none() {
        let array: ArrayRef = Arc::new(StringArray::from(vec![Some("b"), None, Some("a"), Some("b"), Some(""), Some("a"), None, Some("")]));
        let column = StrArray::try_new(&array).unwrap();
        let distinct = DistinctTexts::new(&column);
        assert_eq!(distinct.texts(), ["b", "a", ""]);
        assert_eq!(distinct.of_row(), [0, NULL_TEXT, 1, 0, 2, 1, NULL_TEXT, 2]);
        let valid: Vec<bool> = distinct.nulls().unwrap().iter().collect();
        assert_eq!(valid, [true, false, true, true, true, true, false, true]);
        let no_nulls: ArrayRef = Arc::new(StringArray::from(vec!["a", "a"]));
        assert!(DistinctTexts::new(&StrArray::try_new(&no_nulls).unwrap()).nulls().is_none());
    }
}
