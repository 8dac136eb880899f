//! A hash join's filter in the scan of its probe side (`engine/src/join_filter_sampling.rs`):
//! it stops looking rows up once a sample shows it keeps nearly all of them, it keeps filtering
//! when it drops many, and the answer is the join's either way.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::prelude::SessionContext;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use kql_engine::session::{Session, SessionOptions};

use crate::support::scratch;

/// 400,000 flows over 5,000 sources, and two tables of sources: all 5,000 of them, and 40.
/// `LateStrangers`: 200,000 flows of those sources, then 200,000 of sources no table lists.
async fn tables(dir: &std::path::Path) {
    let ctx = SessionContext::new();
    let write =
        |name: &str, select: &str| format!("COPY ({select}) TO '{}' STORED AS PARQUET", dir.join(format!("{name}.parquet")).display());
    let statements = [
        write(
            "Flows",
            "SELECT concat('10.0.', CAST(value % 5000 AS VARCHAR)) AS \"SrcIpAddr\", value AS \"Bytes\" FROM generate_series(0, 399999)",
        ),
        write(
            "LateStrangers",
            "SELECT CASE WHEN value < 200000 THEN concat('10.0.', CAST(value % 5000 AS VARCHAR)) ELSE concat('192.0.2.', CAST(value % 250 AS VARCHAR)) END AS \"SrcIpAddr\" FROM generate_series(0, 399999)",
        ),
        write("AllSources", "SELECT concat('10.0.', CAST(value AS VARCHAR)) AS \"SrcIpAddr\" FROM generate_series(0, 4999)"),
        write("FewSources", "SELECT concat('10.0.', CAST(value * 125 AS VARCHAR)) AS \"SrcIpAddr\" FROM generate_series(0, 39)"),
    ];
    for statement in statements {
        ctx.sql(&statement).await.expect("a COPY statement").collect().await.expect("the file written");
    }
}

/// A session over the tables, written into a fresh folder `name`.
async fn session_over_tables(name: &str, partitions: usize) -> Session {
    let dir = scratch(name);
    tables(&dir).await;
    let options = SessionOptions { target_partitions: Some(partitions), ..Default::default() };
    let mut session = Session::new(options).expect("session");
    session.register_data_dir(&dir).await.expect("the tables");
    session
}

/// The query's one `long` result and the text of `--explain analyze` of its run.
fn run(name: &str, partitions: usize, query: &str) -> (i64, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let session = session_over_tables(name, partitions).await;
        let results = session.execute(query).await.expect("the query runs");
        let batch = &results.last().expect("a result").batches[0];
        let column = batch.column(0).as_any().downcast_ref::<Int64Array>().expect("a long column");
        let planned = session.plan(query).expect("plan");
        let analyzed = session.explain(planned.last().expect("a result statement"), true).await.expect("explain analyze");
        (column.value(0), analyzed)
    })
}

#[test]
fn a_join_filter_that_keeps_every_row_stops_filtering() {
    // Flows is the probe side: the join builds on its smaller input.
    let (rows, analyzed) = run("join_filter_all", 2, "Flows | join kind=inner (AllSources) on SrcIpAddr | count");
    assert_eq!(rows, 400_000);
    assert!(analyzed.contains("(stopped filtering rows: the first"), "{analyzed}");
}

/// One partition reads the rows in order: the sample sees only matching rows and stops the
/// filter, and the join alone drops the strangers that follow.
#[test]
fn rows_after_a_stopped_filter_are_still_matched_by_the_join() {
    let (rows, analyzed) = run("join_filter_late", 1, "LateStrangers | join kind=inner (AllSources) on SrcIpAddr | count");
    assert_eq!(rows, 200_000);
    assert!(analyzed.contains("(stopped filtering rows: the first"), "{analyzed}");
}

#[test]
fn a_join_filter_that_drops_rows_keeps_filtering() {
    let (rows, analyzed) = run("join_filter_few", 2, "Flows | join kind=inner (FewSources) on SrcIpAddr | count");
    // 40 of the 5,000 sources, 80 flows each.
    assert_eq!(rows, 3_200);
    assert!(analyzed.contains("DynamicFilter"), "{analyzed}");
    assert!(!analyzed.contains("stopped filtering rows"), "{analyzed}");
}

#[test]
fn a_plan_with_a_sampled_join_filter_travels_to_a_cluster_with_the_joins_plain_filter() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let session = session_over_tables("join_filter_codec", 2).await;
        let planned = session.plan("Flows | join kind=inner (AllSources) on SrcIpAddr | count").expect("plan");
        let state = session.context().state();
        let plan = state.create_physical_plan(&planned.last().expect("a result statement").plan).await.expect("a physical plan");
        let mut sampled = 0;
        datafusion::common::tree_node::TreeNode::apply(&plan, |node| {
            let _ = node.apply_expressions(&mut |expr| {
                sampled += usize::from(format!("{expr:?}").contains("SampledJoinFilter"));
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            });
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        })
        .expect("a walk over the plan");
        assert_eq!(sampled, 1, "the probe side's scan carries one sampled filter");
        // kql's own encoding, and datafusion-proto's default one that Ballista's scheduler uses.
        let bytes = kql_engine::codec::physical_plan_to_bytes(Arc::clone(&plan)).expect("the plan encodes");
        let task = session.context().task_ctx();
        let decoded = kql_engine::codec::physical_plan_from_bytes(&bytes, &task).expect("the plan decodes");
        let codec = kql_cluster::codec::ClusterPhysicalCodec::default();
        let proto = PhysicalPlanNode::try_from_physical_plan(plan, &codec).expect("the plan encodes for a cluster");
        let from_cluster = proto.try_into_physical_plan(&task, &codec).expect("the plan decodes on an executor");
        for decoded in [decoded, from_cluster] {
            let text = datafusion::physical_plan::displayable(decoded.as_ref()).indent(false).to_string();
            assert!(text.contains("DynamicFilter"), "{text}");
        }
    });
}
