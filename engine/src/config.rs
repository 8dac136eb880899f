//! kql's own settings in DataFusion's session configuration, for the code that runs inside a
//! plan and sees nothing of the session but its configuration (a scalar function gets it with
//! each batch, and a plan decoded on another node carries it).

use datafusion::common::{Result, exec_err, extensions_options};
use datafusion::config::{ConfigExtension, ConfigOptions};

extensions_options! {
    /// Settings under the `kql.` prefix.
    pub struct KqlConfig {
        /// `--memory-limit` in bytes; 0 when there is none.
        pub memory_limit: usize, default = 0
        /// The kql build that planned the query, set by a cluster client so that every node
        /// can refuse a job from another build (`kql_cluster::build`); empty elsewhere.
        pub build: String, default = String::new()
    }
}

impl ConfigExtension for KqlConfig {
    const PREFIX: &'static str = "kql";
}

/// The memory limit the session runs under, if any.
pub fn memory_limit(options: &ConfigOptions) -> Option<usize> {
    options.extensions.get::<KqlConfig>().map(|c| c.memory_limit).filter(|limit| *limit > 0)
}

/// Fails when the output that one batch of a function or operator builds, `bytes` of it, is
/// past what an Arrow column holds (2 GB, its offsets being 32-bit) or past the memory limit:
/// it is held in memory whole, so no spilling can help. `what` begins the message
/// (`range(): its values for one batch of rows are`); it is made only for the error.
pub fn check_batch_bytes(bytes: usize, memory_limit: Option<usize>, what: impl FnOnce() -> String) -> Result<()> {
    if bytes > i32::MAX as usize {
        return exec_err!("{} past the 2 GB a column may hold", what());
    }
    match memory_limit {
        Some(limit) if bytes > limit => exec_err!("{} past the memory limit of {} MB (--memory-limit)", what(), limit >> 20),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_read_back_and_absent_without_one() {
        let mut options = ConfigOptions::new();
        assert_eq!(memory_limit(&options), None);
        options.extensions.insert(KqlConfig { memory_limit: 0, ..Default::default() });
        assert_eq!(memory_limit(&options), None);
        options.extensions.insert(KqlConfig { memory_limit: 512 << 20, ..Default::default() });
        assert_eq!(memory_limit(&options), Some(512 << 20));
        // `SET kql.memory_limit` reaches it as text, as a plan decoded elsewhere does.
        options.set("kql.memory_limit", "1024").unwrap();
        assert_eq!(memory_limit(&options), Some(1024));
    }
}
