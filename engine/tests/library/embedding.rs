//! kql as a library: planning apart from reading, on any tokio runtime.

use arrow::array::AsArray;
use kql_engine::{Session, SessionOptions};

/// `evaluate pivot` reads the data to learn its columns while the query is planned. On a
/// current-thread runtime (`#[tokio::main(flavor = "current_thread")]`, common in embedders) that
/// read may not block the runtime's only thread: it panicked ("can call blocking only when
/// running on the multi-threaded runtime").
#[tokio::test(flavor = "current_thread")]
async fn a_query_that_reads_data_to_plan_runs_on_a_current_thread_runtime() {
    let session = Session::new(SessionOptions::default()).expect("session");
    let results =
        session.execute("datatable(k:string, v:long)['a', 1, 'b', 2, 'a', 3] | evaluate pivot(k, sum(v))").await.expect("the pivot runs");
    let result = &results[0];
    let names: Vec<&str> = result.schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let batch = &result.batches[0];
    let value = |i: usize| batch.column(i).as_primitive::<arrow::datatypes::Int64Type>().value(0);
    assert_eq!((value(0), value(1)), (4, 2));
}

/// `Session::plan` reads no data: a query whose plan depends on the data says so (an error of
/// kind `NeedsData`), and `plan_reading_data`, the explicit step before a run, plans it and
/// marks it, which `explain` shows.
#[tokio::test]
async fn plan_reads_no_data_and_the_step_that_does_is_explicit() {
    let session = Session::new(SessionOptions::default()).expect("session");
    let pivot = "datatable(k:string, v:long)['a', 1, 'b', 2] | evaluate pivot(k)";
    let Err(err) = session.plan(pivot) else { panic!("the pivot's columns need the data") };
    assert_eq!(err.kind, kql_engine::ErrorKind::NeedsData);

    let planned = session.plan_reading_data(pivot).await.expect("planned with the data");
    let steps: Vec<(&str, &str, usize)> = planned[0].data_steps.iter().map(|s| (s.what.as_str(), s.at.as_str(), s.rows)).collect();
    assert_eq!(steps, [("the plugin's columns", "1:56", 2)]);
    let explained = session.explain(&planned[0], false).await.expect("explain");
    let expected = format!("{}\n  the plugin's columns (at 1:56): 2 rows\n", kql_engine::session::READ_WHILE_PLANNING);
    assert!(explained.starts_with(&expected), "{explained}");

    let plain = session.plan_reading_data("print x = 1").await.expect("planned");
    assert!(plain[0].data_steps.is_empty());
    assert!(!session.explain(&plain[0], false).await.expect("explain").contains("Data steps"));
}

/// A plan read from bytes that were cut short or damaged (a cluster's message) is an error, and
/// the reader goes on: every prefix of an encoded plan, and the plan with bytes flipped. (Arrow's
/// IPC reader panicked on some of them; the codec turns that into an error.)
#[tokio::test]
async fn damaged_plan_bytes_are_an_error_not_a_panic() {
    let session = Session::new(SessionOptions::default()).expect("session");
    let text = "datatable(k:string, v:long)['a', 1, 'b', 2] | union (range x from 1 to 3 step 1 | project k = tostring(x), v = x) | serialize n = next(v) | extend d = dynamic({'a': 1})";
    let planned = session.plan_reading_data(text).await.expect("planned");
    let state = session.context().state();
    let logical = state.optimize(&planned[0].plan).expect("optimized");
    let physical = state.create_physical_plan(&logical).await.expect("physical plan");
    let logical_bytes = kql_engine::codec::logical_plan_to_bytes(&logical).expect("logical bytes");
    let physical_bytes = kql_engine::codec::physical_plan_to_bytes(physical).expect("physical bytes");
    let task = session.context().task_ctx();
    // The whole encodings decode.
    kql_engine::codec::logical_plan_from_bytes(&logical_bytes, &task).expect("logical plan decodes");
    kql_engine::codec::physical_plan_from_bytes(&physical_bytes, &task).expect("physical plan decodes");
    for bytes in [&logical_bytes, &physical_bytes] {
        for cut in (0..bytes.len()).step_by(7) {
            let _ = kql_engine::codec::logical_plan_from_bytes(&bytes[..cut], &task);
            let _ = kql_engine::codec::physical_plan_from_bytes(&bytes[..cut], &task);
        }
        for at in (0..bytes.len()).step_by(13) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5a;
            let _ = kql_engine::codec::logical_plan_from_bytes(&flipped, &task);
            let _ = kql_engine::codec::physical_plan_from_bytes(&flipped, &task);
        }
    }
}

/// A query has one `now()`: the data step that reads pivot's columns and the plan made after it
/// see the same value (the clock is not fixed here), so every row lands in the column named by it.
#[tokio::test(flavor = "multi_thread")]
async fn a_data_step_and_the_plan_after_it_share_one_now() {
    let session = Session::new(SessionOptions::default()).expect("session");
    let results = session.execute("range x from 1 to 3 step 1 | extend t = tostring(now()) | evaluate pivot(t)").await.expect("runs");
    assert_eq!(results[0].schema.fields().len(), 2, "x and the one column named by now()");
    let counted: i64 =
        results[0].batches.iter().map(|b| b.column(1).as_primitive::<arrow::datatypes::Int64Type>().iter().flatten().sum::<i64>()).sum();
    assert_eq!(counted, 3, "every row counted under the column of the same now()");
}
