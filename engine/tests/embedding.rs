//! kql embedded in another program's async code, whatever its runtime.

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
