//! kql-engine: plans KQL onto Apache DataFusion and runs it with Kusto's semantics.
//!
//! The entry point is [`Session`]: register tables, load a function prelude, then `execute`
//! query text. Errors carry spans into the text ([`KqlError::render`]).

/// This build: the package version and, when built from a git checkout, the commit (`build.rs`).
pub const BUILD_ID: &str = env!("KQL_BUILD_ID");

pub mod cancel;
pub mod catalog;
pub mod codec;
pub mod config;
pub mod data_location;
pub mod declared;
pub mod delta;
pub mod dynamic_members;
pub mod error;
pub mod evtx_import;
pub mod first_row;
pub mod functions;
pub mod join_filter_sampling;
pub mod join_selection;
pub mod logical_rules;
pub mod memory_pool;
pub mod network;
pub mod object_stores;
pub mod parquet_dates;
pub mod partitions;
pub mod physical_rules;
pub mod planner;
pub mod prelude;
pub mod range_table;
pub mod render;
pub mod schema_merge;
pub mod serial;
pub mod serial_partitioning;
pub mod session;
pub mod shared_scan;
pub mod sorted_aggregate;
pub mod statistics_memo;
pub mod steps;
pub mod store_registry;
pub mod string_filters;
pub mod strings_as_read;
pub mod text_source;
pub mod truncation;
pub mod types;
pub mod watchlist;

pub use error::{ErrorKind, KqlError, Result};
pub use session::{LoadProgress, Progress, QueryResult, ResultUse, Session, SessionOptions};
