//! `kql --cluster df://HOST:PORT`: a session whose queries are planned by kql as always, then
//! sent to a Ballista scheduler to run on its executors.

use std::collections::HashMap;
use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::planner::BallistaQueryPlanner;
use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;

use crate::codec::{ClusterLogicalCodec, ClusterPhysicalCodec};

/// The scheduler's address as gRPC takes it, from `df://HOST:PORT` (or `HOST:PORT`).
pub fn scheduler_url(cluster: &str) -> Result<String, String> {
    let address = cluster.strip_prefix("df://").unwrap_or(cluster).trim_end_matches('/');
    let (host, port) = address.rsplit_once(':').ok_or_else(|| format!("--cluster {cluster}: expected df://HOST:PORT"))?;
    let port: u16 = port.parse().map_err(|_| format!("--cluster {cluster}: the port is not a number from 1 to 65535"))?;
    if host.is_empty() || port == 0 {
        return Err(format!("--cluster {cluster}: expected df://HOST:PORT"));
    }
    Ok(format!("http://{host}:{port}"))
}

/// kql's session state (`kql_engine::session::session_state`), made to run its plans on the
/// cluster at `scheduler_url`: Ballista's settings and query planner, the cluster's codecs,
/// and kql's functions registered again (Ballista's upgrade replaces the function lists).
pub fn cluster_state(options: &kql_engine::SessionOptions, scheduler_url: &str) -> kql_engine::Result<SessionState> {
    let state = kql_engine::session::session_state(options)?;
    let config = state
        .config()
        .clone()
        .upgrade_for_ballista()
        // Jobs carry the client's settings: the static planner, as on the nodes (`base_config`).
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_logical_extension_codec(Arc::new(ClusterLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(ClusterPhysicalCodec::default()));
    // TLS with the client's certificate (`tls.rs`), to the scheduler and to the executors'
    // Flight ports that serve the results.
    let tls = crate::tls::from_env().map_err(kql_engine::KqlError::new)?;
    let config = match &tls {
        Some(tls) => config.with_ballista_use_tls(true).with_ballista_override_create_grpc_client_endpoint(tls.endpoint_override()),
        None => config,
    };
    let scheduler_url = match &tls {
        Some(_) => scheduler_url.replacen("http://", "https://", 1),
        None => scheduler_url.to_string(),
    };
    let scheduler_url = scheduler_url.as_str();
    // The scheduler's token, when the user has one (`token.rs`).
    let config = match crate::token::from_env() {
        Some(token) => config.with_ballista_grpc_metadata(HashMap::from([("authorization".to_string(), crate::token::bearer(&token))])),
        None => config,
    };
    let ballista = BallistaQueryPlanner::<LogicalPlanNode>::with_extension(
        scheduler_url.to_string(),
        config.ballista_config(),
        Arc::new(ClusterLogicalCodec::default()),
    );
    let config = config.with_ballista_query_planner(Arc::new(ClusterQueryPlanner { ballista }));
    let config = crate::build::name_build(config);
    let state = SessionStateBuilder::new_from_existing(state).with_config(config).build();
    let mut state = state.upgrade_for_ballista(scheduler_url.to_string())?;
    kql_engine::functions::registry::register(&mut state)?;
    Ok(state)
}

/// Ballista's query planner, after writing the plan's `dynamic` constants as calls that keep
/// their type on the way (`kql_engine::codec::literal_metadata_as_calls`).
#[derive(Debug)]
struct ClusterQueryPlanner {
    ballista: BallistaQueryPlanner<LogicalPlanNode>,
}

#[async_trait::async_trait]
impl QueryPlanner for ClusterQueryPlanner {
    async fn create_physical_plan(&self, plan: &LogicalPlan, state: &dyn datafusion::catalog::Session) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = kql_engine::codec::literal_metadata_as_calls(plan.clone())?;
        check_message_size(&plan, state.config().ballista_config().grpc_client_max_message_size())?;
        let job = self.ballista.create_physical_plan(&plan, state).await.map_err(crate::job_errors::tidy)?;
        Ok(Arc::new(crate::job_errors::TidyErrorsExec::new(job)))
    }
}

/// Room in a job's message for what goes with the plan (settings, the job's name).
const JOB_MESSAGE_OVERHEAD: usize = 256 * 1024;

/// Refuses a plan too large for the message that carries it to the scheduler. Over gRPC's
/// limit the message is cut off on the way, and all that comes back is "h2 protocol error";
/// the plan is as large as the rows written into the query (`datatable`, a big `dynamic`
/// literal), so the hunter is told to move those into a file instead.
fn check_message_size(plan: &LogicalPlan, limit: usize) -> Result<()> {
    let encoded = datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(plan, &ClusterLogicalCodec::default())?;
    if encoded.len() + JOB_MESSAGE_OVERHEAD <= limit {
        return Ok(());
    }
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    Err(datafusion::error::DataFusionError::Plan(format!(
        "the query is {:.1} MiB once encoded for the cluster, over the {:.0} MiB a message to its scheduler may hold: rows written into the query (`datatable`, large literals) belong in a table file the executors read",
        mib(encoded.len()),
        mib(limit)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{LogicalPlanBuilder, lit};

    fn rows(n: usize) -> LogicalPlan {
        let values: Vec<Vec<_>> = (0..n).map(|i| vec![lit(format!("host-{i:08}.corp.example"))]).collect();
        LogicalPlanBuilder::values(values).and_then(|b| b.build()).expect("a plan")
    }

    #[test]
    fn a_plan_within_the_message_limit_is_sent() {
        assert!(check_message_size(&rows(10), 16 * 1024 * 1024).is_ok());
    }

    #[test]
    fn a_plan_over_the_message_limit_is_refused_with_its_size() {
        let e = check_message_size(&rows(100_000), 2 * 1024 * 1024).expect_err("too large");
        assert_eq!(
            e.to_string(),
            "Error during planning: the query is 3.1 MiB once encoded for the cluster, over the 2 MiB a message to its scheduler may hold: rows written into the query (`datatable`, large literals) belong in a table file the executors read"
        );
    }
}
