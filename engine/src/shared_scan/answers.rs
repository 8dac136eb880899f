//! The answers of many tests over one batch, most of which pass on no row of it.
//!
//! A shared scan asks thousands of tests of a column per batch (`string_tests.rs`,
//! `equal_tests.rs`). Each test that passes nowhere shares one all-false buffer; only a test that
//! passes somewhere gets bits of its own (allocating and clearing them for every test of every
//! batch cost more than the search).

use arrow::array::{BooleanArray, BooleanBufferBuilder};
use arrow::buffer::{BooleanBuffer, NullBuffer};

pub struct Answers {
    rows: usize,
    passed: Vec<Option<BooleanBufferBuilder>>,
}

impl Answers {
    /// `tests` tests over `rows` rows, none passed yet.
    pub fn new(tests: usize, rows: usize) -> Answers {
        Answers { rows, passed: (0..tests).map(|_| None).collect() }
    }

    /// Test `test` passes on row `row`.
    pub fn pass(&mut self, test: usize, row: usize) {
        let rows = self.rows;
        self.passed[test]
            .get_or_insert_with(|| {
                let mut b = BooleanBufferBuilder::new(rows);
                b.append_n(rows, false);
                b
            })
            .set_bit(row, true);
    }

    /// Each test's answers, in the order of the tests, null where `nulls` says.
    pub fn finish(self, nulls: Option<NullBuffer>) -> Vec<BooleanArray> {
        let none_passed = BooleanBuffer::new_unset(self.rows);
        self.passed
            .into_iter()
            .map(|b| BooleanArray::new(b.map_or_else(|| none_passed.clone(), |mut b| b.finish()), nulls.clone()))
            .collect()
    }
}
