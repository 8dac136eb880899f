//! `kql cluster executor`: Ballista's executor, running stages with kql's functions and nodes.

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::error::BallistaError;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::ArrowFlightServerProvider;
use ballista_executor::execution_engine::DefaultExecutionEngine;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::flight_service::BallistaFlightService;

use crate::codec::{ClusterLogicalCodec, ClusterPhysicalCodec};
use crate::fields::KqlExecutionEngine;

/// How an executor is started.
pub struct ExecutorOptions {
    /// The scheduler's host and gRPC port.
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// The address it listens on (Arrow Flight at `port`, gRPC at `grpc_port`).
    pub bind_host: String,
    pub port: u16,
    pub grpc_port: u16,
    /// The host name the scheduler and other executors reach it by.
    pub external_host: Option<String>,
    /// Where shuffle files are written; a fresh temporary folder if `None`.
    pub work_dir: Option<String>,
    /// Tasks it runs at once; every core if 0.
    pub cores: usize,
    /// The memory its tasks may hold in all before they spill, in bytes.
    pub memory_limit: Option<u64>,
    /// The bytes one task may output for the next stage: `Some(None)` for no limit, `None` for
    /// the default, a quarter of the free disk where shuffle files are written.
    pub max_task_output: Option<Option<u64>>,
    /// Where it may read tables (`data_roots.rs`).
    pub data_roots: crate::data_roots::DataRoots,
    /// TLS with a certificate on both sides (`tls.rs`): it then asks the scheduler for tasks,
    /// and serves Arrow Flight to members of the cluster only.
    pub tls: Option<crate::tls::ClusterTls>,
}

/// Runs an executor until the process ends.
pub async fn run(options: ExecutorOptions) -> Result<(), String> {
    let kql_options = kql_engine::SessionOptions::default();
    let task_output_budget = match options.max_task_output {
        Some(chosen) => chosen,
        None => free_disk_bytes(options.work_dir.as_deref()).map(|free| free / 4),
    };
    let state = kql_engine::session::session_state(&kql_options).map_err(|e| e.to_string())?;
    let mut config = ExecutorProcessConfig {
        scheduler_host: options.scheduler_host,
        scheduler_port: options.scheduler_port,
        bind_host: options.bind_host,
        port: options.port,
        grpc_port: options.grpc_port,
        external_host: options.external_host,
        work_dir: options.work_dir,
        vcores: options.cores,
        memory_pool_size: options.memory_limit,
        // Shuffle files of finished jobs are removed once an hour, and when a job's data is a
        // day old.
        job_data_clean_up_interval_seconds: 3600,
        job_data_ttl_seconds: 24 * 3600,
        executor_heartbeat_interval_seconds: crate::EXECUTOR_HEARTBEAT_SECONDS,
        ..Default::default()
    };
    config.override_function_registry = Some(Arc::new(BallistaFunctionRegistry::from(&state)));
    config.override_config_producer = Some(Arc::new(crate::base_config));
    if let Some(tls) = &options.tls {
        config.task_scheduling_policy = ballista_core::config::TaskSchedulingPolicy::PullStaged;
        config.override_create_grpc_client_endpoint = Some(tls.endpoint_override());
        config.override_arrow_flight_service = Some(flight_with_tls(tls.clone()));
        // Its tasks fetch shuffle data from other executors' Flight ports: over TLS too.
        let endpoint = tls.endpoint_override();
        config.override_config_producer = Some(Arc::new(move || {
            crate::base_config().with_ballista_use_tls(true).with_ballista_override_create_grpc_client_endpoint(endpoint.clone())
        }));
    }
    config.override_logical_codec = Some(Arc::new(ClusterLogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(ClusterPhysicalCodec::default()));
    // Ballista's pool of shuffle-fetch connections is private to its crate, so an engine of
    // our own fetches without it: each fetch opens its own connection.
    config.override_execution_engine =
        Some(Arc::new(KqlExecutionEngine::new(DefaultExecutionEngine::new(), kql_options, options.data_roots, task_output_budget)));
    start_executor_process(Arc::new(config)).await.map_err(|e| format!("the executor stopped: {e}"))
}

/// The bytes free for this user on the file system of `work_dir` (the temporary folder when
/// none is given, as Ballista then makes one there); `None` when it cannot be read.
fn free_disk_bytes(work_dir: Option<&str>) -> Option<u64> {
    let dir = work_dir.map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let stats = rustix::fs::statvfs(&dir).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Ballista's Flight service (shuffle and result data), served with TLS that asks every peer
/// for a certificate of the cluster's authority.
fn flight_with_tls(tls: crate::tls::ClusterTls) -> Arc<ArrowFlightServerProvider> {
    Arc::new(move |work_dir, address, mut shutdown, server_config| {
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut server = ballista_core::utils::create_grpc_server(&server_config)
                .tls_config(tls.server_config())
                .map_err(|e| BallistaError::General(format!("the executor's Flight service cannot use its TLS files: {e}")))?;
            server
                .add_service(FlightServiceServer::new(BallistaFlightService::new(work_dir)))
                .serve_with_shutdown(address, shutdown.recv())
                .await
                .map_err(BallistaError::TonicError)
        })
    })
}
