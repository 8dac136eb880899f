//! kql's own settings in DataFusion's session configuration, for the code that runs inside a
//! plan and sees nothing of the session but its configuration (a scalar function gets it with
//! each batch, and a plan decoded on another node carries it).

use std::any::Any;

use datafusion::common::{Result, config_err, exec_err};
use datafusion::config::{ConfigEntry, ConfigExtension, ConfigOptions, ExtensionOptions};

/// Settings under the `kql.` prefix.
///
/// Written out rather than made with DataFusion's `extensions_options!`: that macro lists an
/// extension's settings without their prefix (`build`, not `kql.build`), and a Ballista client
/// sends a job's settings as that list, which the scheduler and executors then set by key. The
/// unprefixed keys were refused there without a word, so no node ever saw the client's build
/// or memory limit (found by `tests/cli.rs::a_cluster_gets_the_clients_build_and_memory_limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KqlConfig {
    /// `--memory-limit` in bytes; 0 when there is none.
    pub memory_limit: usize,
    /// The kql build that planned the query, set by a cluster client so that every node
    /// can refuse a job from another build (`kql_cluster::build`); empty elsewhere.
    pub build: String,
}

impl ConfigExtension for KqlConfig {
    const PREFIX: &'static str = "kql";
}

impl ExtensionOptions for KqlConfig {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    /// `key` without the prefix, as `ConfigOptions::set` passes it on.
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "memory_limit" => {
                self.memory_limit = value.parse().or_else(|_| config_err!("kql.memory_limit: '{value}' is not a number of bytes"))?;
            }
            "build" => self.build = value.to_string(),
            _ => return config_err!("kql has no setting '{key}'"),
        }
        Ok(())
    }

    /// Each setting under its whole key (`kql.build`), as it is set again elsewhere.
    fn entries(&self) -> Vec<ConfigEntry> {
        let entry = |name: &str, value: String, description: &'static str| ConfigEntry {
            key: format!("{}.{name}", Self::PREFIX),
            value: Some(value),
            description,
        };
        vec![
            entry("memory_limit", self.memory_limit.to_string(), "--memory-limit in bytes; 0 when there is none"),
            entry("build", self.build.clone(), "the kql build that planned the query (cluster clients set it)"),
        ]
    }
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

    /// A node sets a job's settings again from the list its client sent: every `kql.` setting
    /// must come through that round trip.
    #[test]
    fn settings_listed_by_one_session_are_set_again_by_another() {
        let mut client = ConfigOptions::new();
        client.extensions.insert(KqlConfig { memory_limit: 7 << 20, build: "0.1.0+abc".to_string() });
        let mut node = ConfigOptions::new();
        node.extensions.insert(KqlConfig::default());
        for entry in client.entries().into_iter().filter(|e| e.key.starts_with("kql.")) {
            node.set(&entry.key, entry.value.as_deref().unwrap_or_default()).unwrap();
        }
        assert_eq!(node.extensions.get::<KqlConfig>(), client.extensions.get::<KqlConfig>());
        assert_eq!(
            node.set("kql.memory_limit", "lots").map_err(|e| e.to_string()),
            Err("Invalid or Unsupported Configuration: kql.memory_limit: 'lots' is not a number of bytes".to_string())
        );
    }
}
