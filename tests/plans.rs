//! Snapshots of the optimized plans of representative queries (insta; the snapshots sit in
//! `tests/snapshots/`). Results alone do not show a filter that stopped reaching the Parquet
//! scan, a `serialize` that moved, or a join that changed kind: these do. A change to a plan
//! fails here; when it is meant, review the new plan and accept it
//! (`INSTA_UPDATE=always cargo test -p kql-tests --test in_process plans::`, or `cargo insta review`).

use kql_engine::session::{Session, SessionOptions};

use crate::support::root;

/// The plans of `query` over the bundled samples, two partitions whatever the machine.
fn plans(query: &str) -> String {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let options = SessionOptions { target_partitions: Some(2), now: Some(1_714_694_400_000_000), ..Default::default() };
        let mut session = Session::new(options).expect("session");
        session.register_data_dir(&base().join("samples/data")).await.expect("samples");
        let planned = session.plan(query).expect("plan");
        let last = planned.last().expect("a result statement");
        session.explain(last, false).await.expect("explain")
    })
}

/// Plans name the samples by absolute path: the clone's place is not part of the plan.
fn check(name: &str, query: &str) {
    let text = plans(query);
    let root = base().display().to_string();
    let root = root.trim_start_matches('/').to_string();
    // Helper names carry a process-wide counter (`__kql_p16`): their numbers depend on which
    // tests ran before, so they are left out.
    let filters = [(regex_escape(&root), "[root]".to_string()), (r"(__kql_[a-z]+_?)\d+".to_string(), "${1}N".to_string())];
    let filters: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    insta::with_settings!({ filters => filters, description => query, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

fn base() -> std::path::PathBuf {
    root().canonicalize().expect("the clone's folder")
}

fn regex_escape(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '/' || c == '_' { c.to_string() } else { format!("\\{c}") }).collect()
}

#[test]
fn a_filter_and_a_projection_reach_the_parquet_scan() {
    check(
        "filter_projection_pushdown",
        "NetworkSession | where DstPortNumber == 443 and SrcIpAddr startswith '10.' | project SrcIpAddr, DstIpAddr",
    );
}

#[test]
fn a_time_window_prunes_by_statistics() {
    check("time_window", "NetworkSession | where TimeGenerated > ago(1d) | count");
}

#[test]
fn serialize_sorts_once_before_next() {
    check(
        "serialize_next",
        "NetworkSession | where DstPortNumber == 443 | sort by TimeGenerated asc | extend Gap = next(TimeGenerated) - TimeGenerated | project SrcIpAddr, Gap",
    );
}

#[test]
fn summarize_by_a_bin_and_a_key() {
    check("summarize_bin", "NetworkSession | summarize Sessions = count(), Bytes = sum(DstBytes) by SrcIpAddr, bin(TimeGenerated, 1h)");
}

#[test]
fn an_innerunique_join_keeps_one_left_row_per_key() {
    check(
        "join_innerunique",
        "NetworkSession | where DstPortNumber == 443 | join (NetworkSession | where DstPortNumber == 22 | project SrcIpAddr, SshDst = DstIpAddr) on SrcIpAddr",
    );
}

/// The join keeps every left row; the lookup builds its hash table from the lookup (right)
/// table, which comes first in its join, and streams the left side through it.
#[test]
fn a_leftouter_join_and_a_lookup() {
    check(
        "join_leftouter_lookup",
        "NetworkSession | join kind=leftouter (NetworkSession | summarize Peers = dcount(DstIpAddr) by SrcIpAddr) on SrcIpAddr | lookup (NetworkSession | summarize Ports = dcount(DstPortNumber) by SrcIpAddr) on SrcIpAddr",
    );
}

/// A summarize over rows sorted on a group key (after `sort`/`serialize`) sorts nothing again:
/// no `SortExec` of the repartitioned partial results in front of its final step
/// (`physical_rules.rs`). Since `serialize` streams, the repartition keeps the order by merging,
/// and the aggregation runs in sorted mode in one step per partition (`sorted_aggregate.rs`).
#[test]
fn a_summarize_after_a_sort_does_not_sort_again() {
    check(
        "summarize_after_sort",
        "NetworkSession | sort by SrcIpAddr asc, TimeGenerated asc | serialize | extend n = next(SrcIpAddr) | where n == SrcIpAddr \
         | summarize c = count() by SrcIpAddr, DstIpAddr",
    );
}

/// Two `summarize` steps over sorted rows (the beaconing rule's shape): each aggregates in one
/// step per partition (`sorted_aggregate.rs`), the rows hashed once on the sorted key; the
/// second step reuses that partitioning.
#[test]
fn two_summarize_steps_after_a_sort_aggregate_in_one_step_each() {
    check(
        "two_summarize_steps_after_sort",
        "NetworkSession | sort by SrcIpAddr asc, TimeGenerated asc | serialize | extend n = next(SrcIpAddr) | where n == SrcIpAddr \
         | summarize c = count() by SrcIpAddr, DstIpAddr, bin(TimeGenerated, 1h) \
         | summarize (top, at) = arg_max(c, TimeGenerated), total = sum(c) by SrcIpAddr, DstIpAddr",
    );
}

/// The beaconing rule's shape: the filter after `serialize` keeps only rows whose next row has
/// the same first sort key, and drops the rows without a next row (`datetime_diff` of a null is
/// null). `serialize` then runs per partition of rows hashed on that key, each partition
/// sorted by itself (`serial_partitioning.rs`): no merge into one stream. Without the second
/// condition (`a_summarize_after_a_sort_does_not_sort_again`) it keeps one stream.
#[test]
fn serialize_runs_per_partition_where_the_filter_keeps_rows_of_one_key() {
    check(
        "serialize_per_partition",
        "NetworkSession | sort by SrcIpAddr asc, TimeGenerated asc | serialize \
         | extend n = next(SrcIpAddr), nt = next(TimeGenerated) | where n == SrcIpAddr | where datetime_diff('second', nt, TimeGenerated) > 10 \
         | summarize c = count(), l = make_list(TimeGenerated) by SrcIpAddr, DstIpAddr",
    );
}

/// Two sorted summarize steps joined on their keys: a join hashed in partitions needs both
/// inputs hashed on the join keys, so neither aggregation is made one step (its output would be
/// hashed on `SrcIpAddr` alone, and DataFusion refused the plan: "HashJoinExec requires
/// children [0, 1] to be co-partitioned").
#[test]
fn sorted_summarize_steps_joined_on_their_keys_keep_their_partitioning() {
    check(
        "sorted_summarize_join",
        "NetworkSession | sort by SrcIpAddr | serialize n = next(SrcIpAddr) | summarize c = count() by SrcIpAddr, DstIpAddr \
         | join kind=inner (NetworkSession | sort by SrcIpAddr | serialize n = next(SrcIpAddr) | summarize d = count() by SrcIpAddr, DstIpAddr) \
           on SrcIpAddr, DstIpAddr | summarize count(), sum(c), sum(d)",
    );
}

/// The plan of `query` just before `EnsureRequirements`, made ready by kql's rules that run
/// before it, and what DataFusion's rule and kql's memoized one make of it.
fn ensure_requirements_both_ways(query: &str) -> (usize, String, String) {
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_optimizer::PhysicalOptimizerRule;
    use datafusion::physical_optimizer::ensure_requirements::EnsureRequirements;
    use datafusion::physical_plan::displayable;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let options = SessionOptions { target_partitions: Some(2), now: Some(1_714_694_400_000_000), ..Default::default() };
        let mut session = Session::new(options).expect("session");
        session.register_data_dir(&base().join("samples/data")).await.expect("samples");
        session.load_functions(&base().join("samples/functions/asim.kql")).expect("the ASIM prelude");
        let planned = session.plan_reading_data(query).await.expect("plan");
        let logical = planned.last().expect("a result statement").plan.clone();
        let state = session.context().state();
        let bare = SessionStateBuilder::new_from_existing(state.clone()).with_physical_optimizer_rules(vec![]).build();
        let mut plan = bare.create_physical_plan(&logical).await.expect("physical plan");
        let config = state.config_options();
        let ensure = EnsureRequirements::new();
        for rule in kql_engine::physical_rules::rules() {
            if rule.name() == ensure.name() {
                break;
            }
            plan = rule.optimize(plan, config).expect("an earlier rule");
        }
        let operators = displayable(plan.as_ref()).indent(true).to_string().lines().count();
        let memoized = kql_engine::statistics_memo::MemoizedEnsureRequirements::new().optimize(plan.clone(), config).expect("memoized");
        let plain = ensure.optimize(plan, config).expect("DataFusion's rule");
        (operators, displayable(plain.as_ref()).indent(true).to_string(), displayable(memoized.as_ref()).indent(true).to_string())
    })
}

/// Statistics computed once per plan (`statistics_memo.rs`) change how long
/// `EnsureRequirements` takes, never what it decides: over plans large enough to carry
/// statistics at several operators (joins, unions of ASIM parsers, the sample hunts), the
/// plans with and without the carriers are the same.
#[test]
fn memoized_statistics_leave_the_repartitions_and_sorts_as_they_were() {
    let hunt = |name: &str| std::fs::read_to_string(base().join("samples/hunts").join(name)).expect("a sample hunt");
    let join_chain = format!(
        "NetworkSession | where DstPortNumber == 443{}",
        " | join kind=leftouter (NetworkSession | summarize Peers = dcount(DstIpAddr) by SrcIpAddr) on SrcIpAddr".repeat(16)
    );
    let union_legs =
        (0..12).map(|i| format!("(NetworkSession | where DstPortNumber == {i} | summarize c = count() by SrcIpAddr)")).collect::<Vec<_>>();
    let union = format!("union {} | summarize sum(c) by SrcIpAddr | sort by SrcIpAddr", union_legs.join(", "));
    // Over a few rows, where the row counts decide that no repartition is worth it.
    let small_chain = format!(
        "let L = datatable(k:int, a:long)[1, 1, 2, 2];\nlet R = datatable(c:long, b:long)[1, 10];\nL{}",
        " | join R on $left.k == $right.c".repeat(12)
    ) + " | take 100000 | where a >= 0 | extend z = a * 2";
    // Row counts that survive up to the top (a union keeps exact ones): there they decide
    // that the filter above the union is not worth a round-robin repartition.
    let small_union = format!(
        "union {} | take 100000 | where a >= 0 | extend z = a * 2",
        (0..40).map(|i| format!("(datatable(a:long)[{i}, 1])")).collect::<Vec<_>>().join(", ")
    );
    let cases = [
        ("union of datatables", small_union, 64),
        ("join chain", join_chain, 64),
        ("join chain over datatables", small_chain, 64),
        ("union", union, 64),
        ("ASIM beaconing hunt", hunt("asim_networksession_beaconing.kql"), 0),
        ("WFP hunt", hunt("wfp_non_standard_ports.kql"), 0),
    ];
    for (name, query, at_least) in cases {
        let (operators, plain, memoized) = ensure_requirements_both_ways(&query);
        assert!(operators >= at_least, "{name}: {operators} operators, too few to carry statistics at several");
        assert_eq!(plain, memoized, "{name}: the memoized rule decided otherwise");
    }
}

#[test]
fn several_members_of_one_dynamic_column_are_found_in_one_walk() {
    check(
        "dynamic_members_once",
        "WindowsEvent | where EventID == 5156 | extend Src = tostring(EventData.SourceAddress), Port = toint(EventData.DestPort), \
         App = tostring(EventData.Application), Layer = EventData.LayerName | project Src, Port, App, Layer",
    );
}
