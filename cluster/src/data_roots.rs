//! The folders (or URL prefixes) an executor may read tables from (`--data-root`).
//!
//! An executor runs the file scans of whatever plan its scheduler sends; started with data
//! roots, it refuses a stage that would read a file outside them before reading anything. A
//! root is a local folder (compared after resolving symbolic links and `..`, so a link out of a
//! root does not lead out of it) or an object-store URL prefix (`s3://bucket/logs/`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::DataFusionError;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

#[derive(Debug, Clone)]
enum Root {
    Folder(PathBuf),
    Url(String),
}

/// Where an executor may read; empty: anywhere.
#[derive(Debug, Clone, Default)]
pub struct DataRoots {
    roots: Vec<Root>,
}

impl DataRoots {
    /// The roots as given on the command line: folders must exist.
    pub fn new(given: &[String]) -> std::result::Result<DataRoots, String> {
        let mut roots = Vec::new();
        for root in given {
            if root.contains("://") {
                let url = if root.ends_with('/') { root.clone() } else { format!("{root}/") };
                roots.push(Root::Url(url));
            } else {
                let folder = Path::new(root).canonicalize().map_err(|e| format!("--data-root {root}: {e}"))?;
                roots.push(Root::Folder(folder));
            }
        }
        Ok(DataRoots { roots })
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Whether the file at `url` (its store's URL and path joined) may be read.
    fn allows(&self, store: &str, location: &str) -> bool {
        if self.roots.is_empty() {
            return true;
        }
        let local = store == "file:///";
        let local_path = local.then(|| Path::new("/").join(location).canonicalize().ok()).flatten();
        let url = format!("{store}{location}");
        self.roots.iter().any(|root| match root {
            Root::Folder(folder) => local_path.as_ref().is_some_and(|p| p.starts_with(folder)),
            Root::Url(prefix) => !local && url.starts_with(prefix.as_str()),
        })
    }

    /// Refuses `plan` if one of its scans reads a file outside the roots.
    pub fn check(&self, plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
        if self.roots.is_empty() {
            return Ok(());
        }
        let mut refused = None;
        plan.apply(|node| {
            let Some(scan) = node.downcast_ref::<DataSourceExec>().and_then(|d| d.data_source().downcast_ref::<FileScanConfig>()) else {
                return Ok(TreeNodeRecursion::Continue);
            };
            let store = scan.object_store_url.as_str().to_string();
            for file in scan.file_groups.iter().flat_map(|g| g.files()) {
                let location = file.object_meta.location.as_ref();
                if !self.allows(&store, location) {
                    let shown = if store == "file:///" { format!("/{location}") } else { format!("{store}{location}") };
                    refused = Some(shown);
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        match refused {
            Some(file) => Err(DataFusionError::Execution(format!(
                "the cluster's executors read only under their data roots (--data-root), and {file} is not under them"
            ))),
            None => Ok(()),
        }
    }
}

/// The check as the last of a scheduler's physical optimizer rules: a job that names a file
/// outside the roots fails as it is planned, before a stage runs or an aggregate is answered
/// from a file's statistics.
#[derive(Debug)]
pub struct DataRootsRule(pub DataRoots);

impl PhysicalOptimizerRule for DataRootsRule {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        self.0.check(&plan)?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        "kql_data_roots"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_only_under_a_root() {
        let dir = std::env::temp_dir().join(format!("kql-data-roots-{}", std::process::id()));
        let inside = dir.join("logs");
        std::fs::create_dir_all(&inside).expect("create folders");
        std::fs::write(inside.join("t.parquet"), b"x").expect("write file");
        std::fs::write(dir.join("secret.parquet"), b"x").expect("write file");
        let roots = DataRoots::new(&[inside.display().to_string(), "s3://bucket/logs".into()]).expect("roots");
        let rel = |p: &Path| p.display().to_string().trim_start_matches('/').to_string();
        assert!(roots.allows("file:///", &rel(&inside.join("t.parquet"))));
        assert!(!roots.allows("file:///", &rel(&dir.join("secret.parquet"))));
        // `..` and links are resolved before the comparison.
        assert!(!roots.allows("file:///", &rel(&inside.join("../secret.parquet"))));
        assert!(roots.allows("s3://bucket/", "logs/day=1/t.parquet"));
        assert!(!roots.allows("s3://bucket/", "logs2/t.parquet"));
        assert!(!roots.allows("s3://other/", "logs/t.parquet"));
        assert!(DataRoots::new(&[dir.join("missing").display().to_string()]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
