//! kql on an Apache DataFusion Ballista cluster. One binary plays every role, so every node
//! has the same functions: `kql cluster scheduler`, `kql cluster executor`, and
//! `kql --cluster df://HOST:PORT` for the client (one-shot, REPL, `hunt`, `check`).
//!
//! kql plans a query as it does on one machine; Ballista's scheduler turns the optimized plan
//! into stages, which its executors run and exchange through shuffle files. What kql adds to
//! Ballista: its session state on the scheduler (kql's physical planner, rules and functions),
//! its functions on the executors, and codecs that carry its own nodes, tables and `dynamic`
//! types between them (`codec`, `fields`).

pub mod build;
pub mod client;
pub mod codec;
mod compact;
pub mod data_roots;
pub mod executor;
mod fields;
mod job_errors;
pub mod logging;
mod ordered_shuffles;
pub mod scheduler;
pub mod tls;
pub mod token;

use ballista_core::extension::SessionConfigExt;
use datafusion::prelude::SessionConfig;

/// The configuration a node starts from before a job's own settings: Ballista's, with kql's
/// settings known (`kql_engine::config::KqlConfig`), so that a client's `kql.` settings apply.
///
/// Ballista's adaptive planner is off: it plans a job's stages with DataFusion's own physical
/// optimizer rules, not the session's, so kql's rules (`kql_engine::physical_rules`, which
/// leave out `aggregate_statistics` because it gave wrong answers) and the data-root check
/// (`data_roots.rs`) would not run. The static planner plans with the session's state.
fn base_config() -> SessionConfig {
    let mut config = SessionConfig::new_with_ballista().with_ballista_adaptive_query_planner(false);
    config.options_mut().extensions.insert(kql_engine::config::KqlConfig::default());
    config
}

fn to_datafusion(e: kql_engine::KqlError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Plan(e.to_string())
}

/// How often an executor tells the scheduler it is alive (Ballista's default: 60 s). The
/// scheduler gives an executor up after 30 s of silence (`scheduler::run`), so a lost one is
/// noticed within a minute, not after three.
const EXECUTOR_HEARTBEAT_SECONDS: u64 = 5;
