//! Snapshots of the optimized plans of representative queries (insta; the snapshots sit in
//! `tests/snapshots/`). Results alone do not show a filter that stopped reaching the Parquet
//! scan, a `serialize` that moved, or a join that changed kind: these do. A change to a plan
//! fails here; when it is meant, review the new plan and accept it
//! (`INSTA_UPDATE=always cargo test -p kql-tests --test plans`, or `cargo insta review`).

mod support;

use kql_engine::session::{Session, SessionOptions};
use support::root;

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

/// A summarize over rows sorted on a group key (after `sort`/`serialize`) hashes its final step:
/// no sort of the repartitioned partial results in front of it (`physical_rules.rs`).
#[test]
fn a_summarize_after_a_sort_does_not_sort_again() {
    check(
        "summarize_after_sort",
        "NetworkSession | sort by SrcIpAddr asc, TimeGenerated asc | serialize | extend n = next(SrcIpAddr) | where n == SrcIpAddr \
         | summarize c = count() by SrcIpAddr, DstIpAddr",
    );
}
