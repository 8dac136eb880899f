//! Every node and client of a cluster must run the same kql build: a plan is written by one
//! build and read by another, and kql's functions, nodes and codecs change between builds. A
//! client names its build in the job's settings (`kql.build`); the scheduler and each executor
//! refuse a job from another build with an error that says which builds met.

use datafusion::error::DataFusionError;
use datafusion::prelude::SessionConfig;

/// This build: the package version and, when built from a git checkout, the commit.
pub const BUILD_ID: &str = kql_engine::BUILD_ID;

/// `config` naming this build, for a client's jobs.
pub fn name_build(mut config: SessionConfig) -> SessionConfig {
    let extensions = &mut config.options_mut().extensions;
    if extensions.get::<kql_engine::config::KqlConfig>().is_none() {
        extensions.insert(kql_engine::config::KqlConfig::default());
    }
    if let Some(kql) = extensions.get_mut::<kql_engine::config::KqlConfig>() {
        kql.build = BUILD_ID.to_string();
    }
    config
}

/// Refuses a job whose client runs another build; `node` names this node in the error. A job
/// that names no build (a configuration a node makes for itself) passes.
pub fn check(config: &SessionConfig, node: &str) -> Result<(), DataFusionError> {
    let client = config.options().extensions.get::<kql_engine::config::KqlConfig>().map(|c| c.build.as_str()).unwrap_or("");
    if client.is_empty() || client == BUILD_ID {
        return Ok(());
    }
    Err(DataFusionError::Plan(format!(
        "the cluster's {node} runs kql {BUILD_ID} and this client kql {client}: every node and client of a cluster must run the same kql build"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_from_another_build_is_refused() {
        let config = crate::base_config();
        assert!(check(&config, "scheduler").is_ok());
        let ours = name_build(crate::base_config());
        assert!(check(&ours, "scheduler").is_ok());
        let mut theirs = crate::base_config();
        theirs.options_mut().set("kql.build", "0.0.1+abc").expect("set the build");
        assert_eq!(
            check(&theirs, "executor").map_err(|e| e.to_string()),
            Err(format!(
                "Error during planning: the cluster's executor runs kql {BUILD_ID} and this client kql 0.0.1+abc: every node and client of a cluster must run the same kql build"
            ))
        );
    }
}
