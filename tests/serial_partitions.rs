//! `serialize` per partition (`engine/src/serial_partitioning.rs`) where the filter after it
//! allows it, and one stream where it does not: the answers are Kusto's either way.
//!
//! The trap the rule must avoid: `coalesce(next(k), "") == k` is true at the end of a row set
//! for the empty key. In the whole row set the empty key sorts first, so its last row is
//! followed by another key and dropped; run per partition, a partition that holds only the
//! empty key would end with it and keep that row, unless the filter also drops rows without a
//! next row. Tables of two keys, `""` and one other, hashed into two partitions: for some of
//! the other keys the two land in different partitions.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use kql_engine::session::{Session, SessionOptions};

use crate::support::scratch;

/// The other keys tried beside `""`.
const OTHER_KEYS: [&str; 8] = ["b", "c", "d", "e", "f", "g", "h", "10.1.5.23"];

/// Writes `Keys.parquet` into `dir`: rows ("", 1), ("", 2), (other, 1), (other, 2), with both
/// columns declared not null (as `SrcIpAddr` in the samples); with `null_key`, the first key is
/// null instead of `""` and the key column nullable (as files other tools write often are),
/// which Kusto reads as `""` all the same.
async fn write_table(dir: &std::path::Path, other: &str, null_key: bool) {
    let ctx = SessionContext::new();
    let path = dir.join("Keys.parquet");
    let first = if null_key { "WHEN value = 0 THEN NULL" } else { "" };
    let statement = format!(
        "COPY (SELECT CASE {first} WHEN value < 2 THEN '' ELSE '{other}' END AS \"k\", value % 2 + 1 AS \"t\" FROM generate_series(0, 3)) \
         TO '{}' STORED AS PARQUET",
        path.display()
    );
    ctx.sql(&statement).await.expect("the COPY statement").collect().await.expect("the file written");
}

/// The query's rows as (key, count), sorted, and its physical plan.
/// `label` names the test's own folder (tests run side by side).
fn run(label: &str, other: &str, test: &str, null_key: bool) -> (Vec<(String, i64)>, String) {
    let query = format!(
        "Keys | sort by k asc, t asc | serialize nk = next(k), nt = next(t) | where k == nk and {test} \
         | summarize n = count() by k | sort by k asc"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = scratch(&format!("serial_partitions_{label}_{}", other.replace('.', "_")));
        write_table(&dir, other, null_key).await;
        let options = SessionOptions { target_partitions: Some(2), ..Default::default() };
        let mut session = Session::new(options).expect("session");
        session.register_data_dir(&dir).await.expect("the table");
        let results = session.execute(&query).await.expect("the query runs");
        let mut rows = Vec::new();
        for batch in &results.last().expect("a result").batches {
            let keys = datafusion::arrow::compute::cast(batch.column(0), &datafusion::arrow::datatypes::DataType::Utf8).expect("text keys");
            let keys = keys.as_string::<i32>();
            let counts = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                rows.push((keys.value(i).to_string(), counts.value(i)));
            }
        }
        let planned = session.plan(&query).expect("plan");
        let plan = session.explain(planned.last().expect("a result statement"), false).await.expect("explain");
        (rows, plan)
    })
}

/// `isnotnull(nt)` drops the rows without a next row: per partition, same answer.
#[test]
fn a_filter_that_drops_rows_without_a_next_row_runs_per_partition() {
    for other in OTHER_KEYS {
        let (rows, plan) = run("filtered", other, "isnotnull(nt) and nt != t", false);
        assert_eq!(rows, vec![(String::new(), 1), (other.to_string(), 1)], "other key {other}");
        assert!(plan.contains("SerialExec: columns=2, per partition of k@"), "{plan}");
    }
}

/// A null key is Kusto's `""` (a string is never null): the null row and the empty one are one
/// key, consecutive in the sort, and the null row's next row is the empty one. The column is
/// read as never null, so the rule applies as it does to a column declared not null.
#[test]
fn a_null_key_is_the_empty_key_whole_or_per_partition() {
    for other in OTHER_KEYS {
        for test in ["isnotnull(nt) and nt != t", "nt != t"] {
            let (rows, plan) = run("null_key", other, test, true);
            assert_eq!(rows, vec![(String::new(), 1), (other.to_string(), 1)], "other key {other}, {test}");
            assert_eq!(plan.contains("SerialExec: columns=2, per partition of k@"), test.starts_with("isnotnull"), "{plan}");
        }
    }
}

/// Kusto's `!=` is true where one side is null, so `nt != t` keeps rows without a next row:
/// one stream, and the empty key's last row, followed by the other key, is dropped.
#[test]
fn a_filter_that_keeps_rows_without_a_next_row_keeps_one_stream() {
    for other in OTHER_KEYS {
        let (rows, plan) = run("kept", other, "nt != t", false);
        assert_eq!(rows, vec![(String::new(), 1), (other.to_string(), 1)], "other key {other}");
        assert!(!plan.contains("per partition"), "{plan}");
    }
}
