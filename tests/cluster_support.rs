//! A Ballista cluster of `kql` processes for the tests that run queries on one: a scheduler
//! and two executors on 127.0.0.1, on free ports, started by the first test that asks for it
//! and killed by PID when the test binary ends (`stop`).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct Cluster {
    url: String,
    nodes: Vec<Child>,
    dir: PathBuf,
}

/// A cluster that failed to start, or is stopped, leaves no process behind.
impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static CLUSTER: Mutex<Option<Result<Cluster, String>>> = Mutex::new(None);

/// Set when a query got no answer from the cluster in time.
static HUNG: AtomicBool = AtomicBool::new(false);

pub fn mark_hung() {
    HUNG.store(true, Ordering::SeqCst);
}

pub fn hung() -> bool {
    HUNG.load(Ordering::SeqCst)
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Waits until something listens on `port`, or the node behind it has exited.
fn wait_for(port: u16, node: &mut Child, what: &str, log: &Path) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = node.try_wait() {
            let said = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("the {what} exited ({status}) before listening on {port}: {said}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("the {what} did not listen on {port} within 30 s"))
}

fn spawn(dir: &Path, name: &str, args: &[String], env: &[(&str, &str)]) -> Result<(Child, PathBuf), String> {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(crate::support::kql_binary())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start the {name}: {e}"))?;
    Ok((child, log))
}

/// The shared cluster logs what Ballista does with each job (`RUST_LOG=info`), so that a hung
/// or failed query's report (`log_tails`) shows how far its job got.
fn start() -> Result<Cluster, String> {
    start_with("shared", &[("RUST_LOG", "info")], &[])
}

/// A cluster of its own for one test: every node started with `env` (a token, `RUST_LOG`)
/// and `extra` arguments (`--data-root`), two executors; `name` keeps its files apart.
pub fn start_with(name: &str, env: &[(&str, &str)], extra: &[String]) -> Result<Cluster, String> {
    start_with_roles(name, env, extra, extra)
}

/// `start_with`, with arguments of their own for the scheduler and for the executors.
pub fn start_with_roles(
    name: &str,
    env: &[(&str, &str)],
    scheduler_extra: &[String],
    executor_extra: &[String],
) -> Result<Cluster, String> {
    let dir = std::env::temp_dir().join(format!("kql-test-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut cluster = Cluster { url: String::new(), nodes: Vec::new(), dir: dir.clone() };
    let scheduler_port = free_port()?;
    let mut args = vec!["cluster".to_string(), "scheduler".into(), "--bind".into(), format!("127.0.0.1:{scheduler_port}")];
    args.extend_from_slice(scheduler_extra);
    let (mut scheduler, log) = spawn(&dir, "scheduler", &args, env)?;
    let ready = wait_for(scheduler_port, &mut scheduler, "scheduler", &log);
    cluster.nodes.push(scheduler);
    ready?;
    for n in 1..=2 {
        let (port, grpc_port) = (free_port()?, free_port()?);
        let name = format!("executor{n}");
        let mut args = vec![
            "cluster".to_string(),
            "executor".into(),
            "--scheduler".into(),
            format!("127.0.0.1:{scheduler_port}"),
            "--port".into(),
            port.to_string(),
            "--grpc-port".into(),
            grpc_port.to_string(),
            "--work-dir".into(),
            dir.join(&name).display().to_string(),
        ];
        args.extend_from_slice(executor_extra);
        let (mut executor, log) = spawn(&dir, &name, &args, env)?;
        let ready = wait_for(port, &mut executor, &name, &log);
        cluster.nodes.push(executor);
        ready?;
    }
    cluster.url = format!("http://127.0.0.1:{scheduler_port}");
    Ok(cluster)
}

impl Cluster {
    /// The address `kql --cluster` takes.
    pub fn address(&self) -> String {
        self.url.replace("http://", "df://")
    }

    /// What a node (`scheduler`, `executor1`, `executor2`) has written to its log so far.
    pub fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{node}.log"))).unwrap_or_default()
    }

    /// Kills every executor at once (`kill -9`: no goodbye to the scheduler), as when their
    /// machines go away.
    pub fn kill_executors(&mut self) {
        for executor in self.nodes.iter_mut().skip(1) {
            let _ = executor.kill();
            let _ = executor.wait();
        }
    }
}

/// The scheduler's URL (`kql_cluster::client::cluster_state` takes it), the cluster started
/// on first use.
pub fn scheduler_url() -> Result<String, String> {
    let mut cluster = CLUSTER.lock().map_err(|_| "the cluster's lock is poisoned".to_string())?;
    let cluster = cluster.get_or_insert_with(start);
    match cluster {
        Ok(c) => Ok(c.url.clone()),
        Err(e) => Err(e.clone()),
    }
}

/// The last lines of each node's log, for a test that reports a hung or failed job.
pub fn log_tails() -> String {
    let Ok(cluster) = CLUSTER.lock() else {
        return "(the cluster's lock is poisoned)".into();
    };
    let Some(Ok(cluster)) = cluster.as_ref() else {
        return "(no cluster running)".into();
    };
    let mut said = String::new();
    for name in ["scheduler", "executor1", "executor2"] {
        let log = std::fs::read_to_string(cluster.dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        said.push_str(&format!("--- {name}\n{tail}\n"));
    }
    said
}

/// Kills the cluster's processes, if it was started, and removes its files.
pub fn stop() {
    if let Ok(mut cluster) = CLUSTER.lock() {
        cluster.take();
    }
}
