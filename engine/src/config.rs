//! kql's own settings in DataFusion's session configuration, for the code that runs inside a
//! plan and sees nothing of the session but its configuration (a scalar function gets it with
//! each batch, and a plan decoded on another node carries it).

use datafusion::common::extensions_options;
use datafusion::config::{ConfigExtension, ConfigOptions};

extensions_options! {
    /// Settings under the `kql.` prefix.
    pub struct KqlConfig {
        /// `--memory-limit` in bytes; 0 when there is none.
        pub memory_limit: usize, default = 0
    }
}

impl ConfigExtension for KqlConfig {
    const PREFIX: &'static str = "kql";
}

/// The memory limit the session runs under, if any.
pub fn memory_limit(options: &ConfigOptions) -> Option<usize> {
    options.extensions.get::<KqlConfig>().map(|c| c.memory_limit).filter(|limit| *limit > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_read_back_and_absent_without_one() {
        let mut options = ConfigOptions::new();
        assert_eq!(memory_limit(&options), None);
        options.extensions.insert(KqlConfig { memory_limit: 0 });
        assert_eq!(memory_limit(&options), None);
        options.extensions.insert(KqlConfig { memory_limit: 512 << 20 });
        assert_eq!(memory_limit(&options), Some(512 << 20));
        // `SET kql.memory_limit` reaches it as text, as a plan decoded elsewhere does.
        options.set("kql.memory_limit", "1024").unwrap();
        assert_eq!(memory_limit(&options), Some(1024));
    }
}
