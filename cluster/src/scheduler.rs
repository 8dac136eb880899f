//! `kql cluster scheduler`: Ballista's scheduler, planning with kql's session state.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::create_scheduler;
use datafusion::execution::registry::FunctionRegistry as _;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::codec::{ClusterLogicalCodec, ClusterPhysicalCodec};
use crate::data_roots::{DataRoots, DataRootsRule};
use crate::ordered_shuffles::OrderedShufflesRule;
use datafusion::execution::SessionStateBuilder;

/// How a scheduler is started.
pub struct SchedulerOptions {
    /// The address it listens on; loopback unless the user says otherwise.
    pub bind: SocketAddr,
    /// The host name its executors and clients reach it by.
    pub external_host: Option<String>,
    /// The token clients must give (`token.rs`); `None` accepts every client.
    pub token: Option<String>,
    /// Where jobs may read tables; empty: anywhere.
    pub data_roots: DataRoots,
    /// TLS with a certificate on both sides (`tls.rs`); executors then pull their tasks.
    pub tls: Option<crate::tls::ClusterTls>,
}

/// The state a job is planned in: kql's, over the configuration its client sent, with
/// `kql_field_metadata` never folded into a literal (`functions::special`), and sorted
/// partitions kept sorted across shuffles (`ordered_shuffles.rs`).
/// With data roots, a job that names a file outside them is refused as it is planned
/// (`data_roots.rs`).
fn job_state(config: SessionConfig, data_roots: &DataRoots) -> datafusion::common::Result<datafusion::execution::SessionState> {
    crate::build::check(&config, "scheduler")?;
    let options = kql_engine::SessionOptions::default();
    let mut state = kql_engine::session::session_state_with_config(&options, config).map_err(crate::to_datafusion)?;
    state.register_udf(kql_engine::functions::special::field_metadata_unfolded_udf().clone())?;
    // Stages exchange rows through shuffles, which do not merge sorted inputs.
    let state = SessionStateBuilder::new_from_existing(state).with_physical_optimizer_rule(Arc::new(OrderedShufflesRule)).build();
    if data_roots.is_empty() {
        return Ok(state);
    }
    Ok(SessionStateBuilder::new_from_existing(state).with_physical_optimizer_rule(Arc::new(DataRootsRule(data_roots.clone()))).build())
}

/// Runs a scheduler until the process ends.
pub async fn run(options: SchedulerOptions) -> Result<(), String> {
    let data_roots = options.data_roots.clone();
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.external_host.clone().unwrap_or_else(|| options.bind.ip().to_string()),
        override_session_builder: Some(Arc::new(move |config| job_state(config, &data_roots))),
        override_config_producer: Some(Arc::new(crate::base_config)),
        override_logical_codec: Some(Arc::new(ClusterLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(ClusterPhysicalCodec::default())),
        // An executor that stops (killed, out of memory, its machine gone) is given up after
        // 30 s without a heartbeat (`EXECUTOR_HEARTBEAT_SECONDS`), and its tasks run again
        // elsewhere; when none is left, running jobs fail 10 s later with Ballista's "all
        // executors were lost" instead of waiting for ever (Ballista's defaults: 180 s each).
        executor_timeout_seconds: 30,
        // Ballista pushes tasks to an executor's gRPC port, which cannot take TLS; with TLS
        // executors ask for their tasks instead, over their TLS connection to the scheduler.
        scheduling_policy: if options.tls.is_some() {
            ballista_core::config::TaskSchedulingPolicy::PullStaged
        } else {
            ballista_core::config::TaskSchedulingPolicy::PushStaged
        },
        expire_dead_executor_interval_seconds: 5,
        no_executors_grace_period_seconds: 10,
        ..Default::default()
    };
    config.validate().map_err(|e| format!("the scheduler cannot start: {e}"))?;
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| format!("the scheduler cannot start: {e}"))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config.clone())
        .await
        .map_err(|e| format!("the scheduler cannot start: {e}"))?;
    // Ballista's scheduler service alone (no REST API, no Flight proxy), behind the token
    // check when a token is set (`token.rs`).
    let grpc = SchedulerGrpcServer::new(scheduler)
        .max_encoding_message_size(config.grpc_server_max_encoding_message_size as usize)
        .max_decoding_message_size(config.grpc_server_max_decoding_message_size as usize);
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(grpc);
    let mut router = routes.routes().into_axum_router();
    if let Some(token) = options.token {
        router = router.layer(axum::middleware::from_fn_with_state(Arc::new(token), crate::token::require_with_state));
    }
    let listener =
        tokio::net::TcpListener::bind(options.bind).await.map_err(|e| format!("the scheduler cannot listen on {}: {e}", options.bind))?;
    let served = match &options.tls {
        Some(tls) => {
            let listener = crate::tls::TlsListener::new(listener, tls)?;
            axum::serve(listener, crate::tls::WithPeerAddress(router)).await
        }
        None => axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await,
    };
    served.map_err(|e| format!("the scheduler stopped: {e}"))
}
