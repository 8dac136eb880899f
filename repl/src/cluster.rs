//! `kql cluster scheduler|executor`: the nodes of a Ballista cluster (`kql-cluster`).

use std::net::SocketAddr;
use std::process::ExitCode;

use crate::cli::{ClusterRole, ExecutorArgs, SchedulerArgs};

pub async fn run(role: &ClusterRole) -> ExitCode {
    kql_cluster::logging::init();
    let result = match role {
        ClusterRole::Scheduler(args) => scheduler(args).await,
        ClusterRole::Executor(args) => executor(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn scheduler(args: &SchedulerArgs) -> Result<(), String> {
    let bind: SocketAddr =
        args.bind.parse().map_err(|_| format!("--bind {}: expected an IP address and port, like 127.0.0.1:50050", args.bind))?;
    let token = kql_cluster::token::from_env();
    let tls = kql_cluster::tls::from_env()?;
    if !bind.ip().is_loopback() && token.is_none() && tls.is_none() {
        eprintln!(
            "warning: the scheduler listens on {bind}, beyond this machine, and neither {} nor {} is set: anyone who reaches it can run queries over the files its executors read",
            kql_cluster::token::TOKEN_ENV,
            kql_cluster::tls::CERT_VAR
        );
    }
    let guarded = match (&token, &tls) {
        (Some(_), Some(_)) => ", TLS: clients need a certificate of the cluster's authority and its token",
        (None, Some(_)) => ", TLS: clients need a certificate of the cluster's authority",
        (Some(_), None) => ", clients need its token",
        (None, None) => "",
    };
    eprintln!("kql cluster scheduler listening on {bind}{guarded}");
    let data_roots = kql_cluster::data_roots::DataRoots::new(&args.data_root)?;
    kql_cluster::scheduler::run(kql_cluster::scheduler::SchedulerOptions {
        bind,
        external_host: args.external_host.clone(),
        token,
        tls,
        data_roots,
    })
    .await
}

async fn executor(args: &ExecutorArgs) -> Result<(), String> {
    let (host, port) = args.scheduler.rsplit_once(':').ok_or_else(|| format!("--scheduler {}: expected HOST:PORT", args.scheduler))?;
    let port: u16 = port.parse().map_err(|_| format!("--scheduler {}: the port is not a number from 1 to 65535", args.scheduler))?;
    let memory_limit = match &args.memory_limit {
        Some(s) => Some(crate::cli::parse_size(s).ok_or_else(|| format!("--memory-limit: '{s}' is not a size like 4G or 512M"))? as u64),
        None => None,
    };
    let max_task_output = match args.max_task_output.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(s) => Some(Some(
            crate::cli::parse_size(s).ok_or_else(|| format!("--max-task-output: '{s}' is not a size like 20G or 512M, or none"))? as u64,
        )),
    };
    if let Some(dir) = &args.work_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("--work-dir {}: {e}", dir.display()))?;
    }
    let data_roots = kql_cluster::data_roots::DataRoots::new(&args.data_root)?;
    if data_roots.is_empty() {
        eprintln!("warning: no --data-root: this executor reads any file a job names");
    }
    let options = kql_cluster::executor::ExecutorOptions {
        scheduler_host: host.to_string(),
        scheduler_port: port,
        bind_host: args.bind_host.clone(),
        port: args.port,
        grpc_port: args.grpc_port,
        external_host: args.external_host.clone(),
        work_dir: args.work_dir.as_ref().map(|d| d.display().to_string()),
        cores: args.cores,
        memory_limit,
        max_task_output,
        data_roots,
        tls: kql_cluster::tls::from_env()?,
    };
    eprintln!("kql cluster executor on {}:{} (scheduler {}:{port})", args.bind_host, args.port, host);
    kql_cluster::executor::run(options).await
}
