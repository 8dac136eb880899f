//! Files `externaldata` reads over http(s): never fetched unless the user allows it, cached by
//! URL so that a later run (or an `--offline` one) reads the same bytes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether queries may reach the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetworkPolicy {
    /// Nothing is fetched: the engine reads only what the user gave it.
    #[default]
    Denied,
    /// URLs are fetched (and cached); a failed fetch falls back to the cache with a warning.
    Allowed,
    /// Only the cache is read.
    Offline,
}

/// How long one fetch may take, and how large a file may be.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_FETCH_BYTES: u64 = 512 << 20;

/// A URL's local copy.
pub struct Fetched {
    pub path: PathBuf,
    pub warning: Option<String>,
}

pub fn is_remote(location: &str) -> bool {
    let lower = location.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The cache folder: the one given, else `$XDG_CACHE_HOME/kql/externaldata`, else
/// `~/.cache/kql/externaldata`.
pub fn cache_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kql").join("externaldata")
}

/// Where `url`'s copy lives in `dir`: a hash of the whole URL (query string included, as it may
/// name a different file), then the file name for a person browsing the folder.
pub fn cached_path(dir: &Path, url: &str) -> PathBuf {
    let hash = xxhash_rust::xxh64::xxh64(url.as_bytes(), 0);
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let base: String = without_query
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("file")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' })
        .take(80)
        .collect();
    dir.join(format!("{hash:016x}-{base}"))
}

/// The local copy of `url` under the policy.
pub fn fetch(url: &str, policy: NetworkPolicy, dir: &Path) -> Result<Fetched, String> {
    let cached = cached_path(dir, url);
    match policy {
        NetworkPolicy::Denied => Err(format!(
            "externaldata would read {url} from the network, which kql does not do unless told: pass --allow-network \
             (or --offline to read the copy an earlier run cached)"
        )),
        NetworkPolicy::Offline if cached.is_file() => Ok(Fetched { path: cached, warning: None }),
        NetworkPolicy::Offline => Err(format!("--offline: {url} is not in the cache ({}); run once with --allow-network", dir.display())),
        NetworkPolicy::Allowed => match download(url, &cached) {
            Ok(()) => Ok(Fetched { path: cached, warning: None }),
            Err(e) if cached.is_file() => {
                Ok(Fetched { path: cached, warning: Some(format!("cannot fetch {url} ({e}); reading the copy cached earlier")) })
            }
            Err(e) => Err(format!("cannot fetch {url}: {e}")),
        },
    }
}

/// Downloads into a temporary file next to `target` and renames it, so a failed or cut-off
/// download never leaves a half file in the cache.
fn download(url: &str, target: &Path) -> Result<(), String> {
    let dir = target.parent().ok_or("the cache path has no folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the cache folder {}: {e}", dir.display()))?;
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(FETCH_TIMEOUT)).build().into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_FETCH_BYTES)
        .read_to_vec()
        .map_err(|e| format!("{e} (files over {} MiB are refused)", MAX_FETCH_BYTES >> 20))?;
    let partial = target.with_extension("partial");
    let mut file = std::fs::File::create(&partial).map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, target).map_err(|e| format!("cannot write {}: {e}", target.display()))
}
