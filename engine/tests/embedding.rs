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
    assert!(planned[0].read_data);
    let explained = session.explain(&planned[0], false).await.expect("explain");
    assert!(explained.starts_with(kql_engine::session::READ_WHILE_PLANNING), "{explained}");

    let plain = session.plan_reading_data("print x = 1").await.expect("planned");
    assert!(!plain[0].read_data);
    assert!(!session.explain(&plain[0], false).await.expect("explain").contains("Planning read data"));
}
