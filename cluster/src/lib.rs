//! kql on an Apache DataFusion Ballista cluster. One binary plays every role, so every node
//! has the same functions: `kql cluster scheduler`, `kql cluster executor`, and
//! `kql --cluster df://HOST:PORT` for the client (one-shot, REPL, `hunt`, `check`).
//!
//! kql plans a query as it does on one machine; Ballista's scheduler turns the optimized plan
//! into stages, which its executors run and exchange through shuffle files. What kql adds to
//! Ballista: its session state on the scheduler (kql's physical planner, rules and functions),
//! its functions on the executors, and codecs that carry its own nodes, tables and `dynamic`
//! types between them (`codec`, `fields`).

pub mod client;
pub mod codec;
pub mod executor;
mod fields;
mod job_errors;
pub mod scheduler;

use ballista_core::extension::SessionConfigExt;
use datafusion::prelude::SessionConfig;

/// The configuration a node starts from before a job's own settings: Ballista's, with kql's
/// settings known (`kql_engine::config::KqlConfig`), so that a client's `kql.` settings apply.
fn base_config() -> SessionConfig {
    let mut config = SessionConfig::new_with_ballista();
    config.options_mut().extensions.insert(kql_engine::config::KqlConfig::default());
    config
}

fn to_datafusion(e: kql_engine::KqlError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Plan(e.to_string())
}
