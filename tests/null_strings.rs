//! A null string read from a file is Kusto's `""`: Kusto has no null string (null-values.md:
//! "the string data type doesn't support null values"), so a table's null and empty strings
//! are one value to every operator, and a filter on a nullable column still prunes row groups
//! by its statistics (`engine/src/string_filters.rs`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, DictionaryArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use kql_engine::session::{Session, SessionOptions};

use crate::support::scratch;

/// `Logs`: k = [null, "", "a", null, "a", "b"], t = 1..=6; `Other`: j = [null, "a"], v = [10, 20].
/// Both string columns nullable, as files written by most tools are.
fn write_tables(dir: &std::path::Path) {
    let write = |name: &str, columns: Vec<(&str, ArrayRef)>| {
        let batch = RecordBatch::try_from_iter(columns).expect("a batch");
        let file = std::fs::File::create(dir.join(format!("{name}.parquet"))).expect("create");
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    };
    let k: ArrayRef = Arc::new(StringArray::from(vec![None, Some(""), Some("a"), None, Some("a"), Some("b")]));
    let t: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6]));
    write("Logs", vec![("k", k), ("t", t)]);
    let j: ArrayRef = Arc::new(StringArray::from(vec![None, Some("a")]));
    let v: ArrayRef = Arc::new(Int64Array::from(vec![10, 20]));
    write("Other", vec![("j", j), ("v", v)]);
    // A dictionary of strings, as pandas writes its categories.
    let c: ArrayRef = Arc::new(vec![Some("x"), None, Some(""), Some("x")].into_iter().collect::<DictionaryArray<Int32Type>>());
    write("Categories", vec![("c", c)]);
}

/// Each query's rows, cells as text (a null as `NULL`), and the plan of the last one.
fn run(label: &str, queries: &[&str]) -> (Vec<Vec<Vec<String>>>, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = scratch(&format!("null_strings_{label}"));
        write_tables(&dir);
        let mut session = Session::new(SessionOptions { target_partitions: Some(2), ..Default::default() }).expect("session");
        session.register_data_dir(&dir).await.expect("the tables");
        let mut answers = Vec::new();
        let options = FormatOptions::default().with_null("NULL");
        for query in queries {
            let results = session.execute(query).await.unwrap_or_else(|e| panic!("{query}: {e}"));
            let mut rows = Vec::new();
            for batch in &results.last().expect("a result").batches {
                let formatters: Vec<ArrayFormatter> =
                    batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter")).collect();
                for i in 0..batch.num_rows() {
                    rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
                }
            }
            answers.push(rows);
        }
        let last = queries.last().expect("a query");
        let planned = session.plan(last).expect("plan");
        let plan = session.explain(planned.last().expect("a result statement"), false).await.expect("explain");
        (answers, plan)
    })
}

fn rows(text: &[&[&str]]) -> Vec<Vec<String>> {
    text.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
}

#[test]
fn null_and_empty_strings_are_one_value() {
    let (answers, _) = run(
        "one_value",
        &[
            "Logs | summarize n = count(), s = sum(t) by k | sort by k asc",
            "Logs | distinct k | count",
            "Logs | sort by k asc, t asc | project k, t",
            "Logs | join kind=inner (Other) on $left.k == $right.j | summarize n = count() by k, v | sort by k asc",
            "Logs | extend e = isempty(k), n = isnull(k), l = strlen(k) | summarize count() by e, n, l | sort by l asc",
            "Categories | summarize n = count() by c | sort by c asc",
        ],
    );
    assert_eq!(answers[0], rows(&[&["", "3", "7"], &["a", "2", "8"], &["b", "1", "6"]]));
    assert_eq!(answers[1], rows(&[&["3"]]));
    assert_eq!(answers[2], rows(&[&["", "1"], &["", "2"], &["", "4"], &["a", "3"], &["a", "5"], &["b", "6"]]));
    assert_eq!(answers[3], rows(&[&["", "10", "3"], &["a", "20", "2"]]));
    assert_eq!(answers[4], rows(&[&["true", "false", "0", "3"], &["false", "false", "1", "3"]]));
    assert_eq!(answers[5], rows(&[&["", "2"], &["x", "2"]]));
}

#[test]
fn filters_keep_kustos_answers_and_prune_by_the_column() {
    let (answers, plan) = run(
        "filters",
        &[
            "Logs | where k == '' | count",
            "Logs | where k != 'a' | count",
            "Logs | where k in ('a', 'b') | count",
            "Logs | where k !in ('a') | count",
            "Logs | where not(k == 'a') | count",
            "Logs | where k == 'a' or t == 1 | count",
            "Logs | where k == 'a'",
        ],
    );
    let counts: Vec<Vec<Vec<String>>> = ["3", "4", "3", "4", "4", "3"].iter().map(|n| rows(&[&[n]])).collect();
    assert_eq!(answers[..6], counts[..]);
    assert_eq!(answers[6], rows(&[&["a", "3"], &["a", "5"]]));
    // The scan compares the column itself, which its statistics can answer.
    assert!(plan.contains("predicate=k@0 = a, pruning_predicate="), "{plan}");
}
