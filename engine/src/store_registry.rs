//! The session's registry of object stores. DataFusion's own registry keys a store by the
//! URL's scheme and host, which drops the user part of a URL: every
//! `abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/...` location of one account gets one key,
//! so the container registered last served the tables of all of them (a table read another
//! container's files, or found none). This registry keys such URLs by scheme, user and host;
//! every other URL goes to DataFusion's registry as before.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::object_store::ObjectStore;
use url::Url;

#[derive(Debug, Default)]
pub struct StoreRegistry {
    /// Stores of URLs without a user part (and the local file system).
    by_host: DefaultObjectStoreRegistry,
    /// Stores of URLs with one, by `scheme://user@host:port`.
    by_user_and_host: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

/// `scheme://user@host:port` for a URL with a user part; `None` for others.
fn user_key(url: &Url) -> Option<String> {
    if url.username().is_empty() {
        return None;
    }
    Some(format!("{}://{}@{}", url.scheme(), url.username(), &url[url::Position::BeforeHost..url::Position::AfterPort]))
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        match user_key(url) {
            Some(key) => self.by_user_and_host.write().insert(key, store),
            None => self.by_host.register_store(url, store),
        }
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match user_key(url) {
            Some(key) => self
                .by_user_and_host
                .write()
                .remove(&key)
                .ok_or_else(|| DataFusionError::Execution(format!("no object store is registered for {key}"))),
            None => self.by_host.deregister_store(url),
        }
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match user_key(url) {
            Some(key) => self
                .by_user_and_host
                .read()
                .get(&key)
                .cloned()
                .ok_or_else(|| DataFusionError::Execution(format!("no object store is registered for {key}"))),
            None => self.by_host.get_store(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::object_store::memory::InMemory;

    use super::*;

    #[test]
    fn containers_of_one_account_keep_their_own_stores() {
        let registry = StoreRegistry::default();
        let logs: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let audit: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let url = |s: &str| Url::parse(s).expect("a URL");
        registry.register_store(&url("abfss://logs@acct.dfs.core.windows.net/net/"), logs.clone());
        registry.register_store(&url("abfss://audit@acct.dfs.core.windows.net/"), audit.clone());
        let store = registry.get_store(&url("abfss://logs@acct.dfs.core.windows.net")).expect("logs' store");
        assert!(Arc::ptr_eq(&store, &logs));
        let store = registry.get_store(&url("abfss://audit@acct.dfs.core.windows.net")).expect("audit's store");
        assert!(Arc::ptr_eq(&store, &audit));
        assert!(registry.get_store(&url("abfss://other@acct.dfs.core.windows.net")).is_err());
        // URLs without a user part are DataFusion's registry's, the local file system included.
        registry.register_store(&url("s3://bucket/x/"), logs.clone());
        assert!(Arc::ptr_eq(&registry.get_store(&url("s3://bucket")).expect("the bucket's store"), &logs));
        assert!(registry.get_store(&url("file:///")).is_ok());
    }
}
