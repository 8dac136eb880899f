//! `kql cluster scheduler`: Ballista's scheduler, planning with kql's session state.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use datafusion::execution::registry::FunctionRegistry as _;
use datafusion::prelude::SessionConfig;

use crate::codec::{ClusterLogicalCodec, ClusterPhysicalCodec};

/// How a scheduler is started.
pub struct SchedulerOptions {
    /// The address it listens on; loopback unless the user says otherwise.
    pub bind: SocketAddr,
    /// The host name its executors and clients reach it by.
    pub external_host: Option<String>,
}

/// The state a job is planned in: kql's, over the configuration its client sent, with
/// `kql_field_metadata` never folded into a literal (`functions::special`).
fn job_state(config: SessionConfig) -> datafusion::common::Result<datafusion::execution::SessionState> {
    let options = kql_engine::SessionOptions::default();
    let mut state = kql_engine::session::session_state_with_config(&options, config).map_err(crate::to_datafusion)?;
    state.register_udf(kql_engine::functions::special::field_metadata_unfolded_udf().clone())?;
    Ok(state)
}

/// Runs a scheduler until the process ends.
pub async fn run(options: SchedulerOptions) -> Result<(), String> {
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.external_host.clone().unwrap_or_else(|| options.bind.ip().to_string()),
        override_session_builder: Some(Arc::new(job_state)),
        override_config_producer: Some(Arc::new(crate::base_config)),
        override_logical_codec: Some(Arc::new(ClusterLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(ClusterPhysicalCodec::default())),
        ..Default::default()
    };
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| format!("the scheduler cannot start: {e}"))?;
    ballista_scheduler::scheduler_process::start_server(cluster, options.bind, config)
        .await
        .map_err(|e| format!("the scheduler stopped: {e}"))
}
