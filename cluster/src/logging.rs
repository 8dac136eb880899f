//! What a scheduler or executor tells its log. Ballista reports jobs, stages, tasks and lost
//! executors through the `log` crate; without a logger they are lost, and a stuck job leaves
//! no trace. `RUST_LOG` chooses what is shown, as in every Rust server (for example
//! `RUST_LOG=info`, or `RUST_LOG=ballista_scheduler=debug`); without it, warnings and errors.

use tracing_subscriber::EnvFilter;

/// Starts printing log records to standard error; call once, at the start of a node.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    // `try_init` fails only if a logger is already set (a test that starts two nodes in one
    // process): the first one keeps printing.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(true).try_init();
}
