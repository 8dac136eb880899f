//! Tables read where they live: `s3://`, `az://` / `abfss://` (Azure Blob and ADLS Gen2),
//! `gs://` and `http(s)://` locations, through the `object_store` crate. Credentials come from
//! the environment as each cloud's own tools read it (and, for S3, the `~/.aws` profile files);
//! nothing is contacted unless the user names a location.

use std::sync::Arc;

use datafusion::execution::context::SessionState;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use futures::TryStreamExt;
use object_store::ClientConfigKey;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use url::Url;

use crate::error::{KqlError, Result};

/// The schemes kql reads through an object store.
pub const SCHEMES: [&str; 9] = ["s3", "s3a", "az", "azure", "abfs", "abfss", "gs", "http", "https"];

/// The URL of a remote location; `None` for a local path.
pub fn remote_url(location: &str) -> Option<Url> {
    let url = Url::parse(location).ok()?;
    SCHEMES.contains(&url.scheme()).then_some(url)
}

/// The object store of `url`'s bucket or container (or HTTP origin), registered in the session
/// for every scan of the table.
pub fn register_store(state: &SessionState, url: &Url) -> Result<Arc<dyn ObjectStore>> {
    let store = store_for(url)?;
    state.runtime_env().register_object_store(url, store.clone());
    Ok(store)
}

/// Names rustls's process-wide cryptography. The dependency tree enables two (ring, and
/// aws-lc-rs through delta-rs's clients), and then rustls picks neither: every `https://`,
/// S3, Azure and GCS request failed with "error sending request". An `Err` means one is
/// chosen already (by `kql-cluster`'s TLS, the same one).
pub fn choose_tls_cryptography() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long one request may take, body included, unless the environment says otherwise
/// (`AWS_TIMEOUT`, ...). A remote JSON or CSV object is read as fast as the query consumes it
/// (`text_source/streamed.rs`), which can take far longer than object_store's default of 30
/// seconds; a server that cannot be reached still fails within the connect timeout (5 s).
const REQUEST_TIMEOUT: &str = "1h";

fn store_for(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    // Also here, not only in `Session::new`: a cluster's nodes build their sessions otherwise.
    choose_tls_cryptography();
    let cannot = |e: object_store::Error| KqlError::new(format!("cannot open '{url}': {}", error_text(&e)));
    Ok(match url.scheme() {
        "s3" | "s3a" => {
            use object_store::aws::AmazonS3ConfigKey as Key;
            let mut builder = with_aws_profile(AmazonS3Builder::from_env()).with_url(url.as_str());
            let timeout = Key::Client(ClientConfigKey::Timeout);
            if builder.get_config_value(&timeout).is_none() {
                builder = builder.with_config(timeout, REQUEST_TIMEOUT);
            }
            Arc::new(builder.build().map_err(cannot)?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            let timeout = object_store::azure::AzureConfigKey::Client(ClientConfigKey::Timeout);
            if builder.get_config_value(&timeout).is_none() {
                builder = builder.with_config(timeout, REQUEST_TIMEOUT);
            }
            // Without a key, SAS or service principal in the environment, the token of `az login`.
            if ![
                "AZURE_STORAGE_ACCOUNT_KEY",
                "AZURE_STORAGE_ACCESS_KEY",
                "AZURE_STORAGE_SAS_KEY",
                "AZURE_CLIENT_SECRET",
                "AZURE_STORAGE_USE_EMULATOR",
            ]
            .iter()
            .any(|v| std::env::var_os(v).is_some())
            {
                builder = builder.with_use_azure_cli(true);
            }
            Arc::new(builder.build().map_err(cannot)?)
        }
        "gs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
            let timeout = object_store::gcp::GoogleConfigKey::Client(ClientConfigKey::Timeout);
            if builder.get_config_value(&timeout).is_none() {
                builder = builder.with_config(timeout, REQUEST_TIMEOUT);
            }
            Arc::new(builder.build().map_err(cannot)?)
        }
        _ => {
            let origin = url.origin().ascii_serialization();
            // Plain http is the user's choice when they name an http:// URL.
            let options = object_store::ClientOptions::new()
                .with_allow_http(url.scheme() == "http")
                .with_config(ClientConfigKey::Timeout, REQUEST_TIMEOUT);
            Arc::new(HttpBuilder::new().with_url(origin).with_client_options(options).build().map_err(cannot)?)
        }
    })
}

/// S3 credentials and region from `~/.aws/credentials` and `~/.aws/config` (profile
/// `AWS_PROFILE`, else `default`), where the environment does not set them, as the AWS CLI reads
/// them.
fn with_aws_profile(mut builder: AmazonS3Builder) -> AmazonS3Builder {
    use object_store::aws::AmazonS3ConfigKey as Key;
    let Some(home) = std::env::var_os("HOME").map(std::path::PathBuf::from) else { return builder };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").map(Into::into).unwrap_or_else(|| home.join(".aws/credentials"));
    let config = std::env::var_os("AWS_CONFIG_FILE").map(Into::into).unwrap_or_else(|| home.join(".aws/config"));
    let section = |file: &std::path::Path, name: &str| -> Option<ini::Properties> {
        let ini = ini::Ini::load_from_file(file).ok()?;
        ini.section(Some(name)).cloned()
    };
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
        && let Some(p) = section(&credentials, &profile)
    {
        for (key, config_key) in
            [("aws_access_key_id", Key::AccessKeyId), ("aws_secret_access_key", Key::SecretAccessKey), ("aws_session_token", Key::Token)]
        {
            if let Some(v) = p.get(key) {
                builder = builder.with_config(config_key, v);
            }
        }
    }
    let config_section = if profile == "default" { "default".to_string() } else { format!("profile {profile}") };
    if std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        && let Some(region) = section(&config, &config_section).and_then(|p| p.get("region").map(str::to_string))
    {
        builder = builder.with_region(region);
    }
    builder
}

/// An object store error in a hunter's words: what went wrong, not the HTTP client's chain.
pub fn error_text(e: &object_store::Error) -> String {
    let text = e.to_string();
    // The HTTP client's top message is "error sending request"; the reason is its last source.
    let cause = root_cause(e);
    if cause.contains("invalid peer certificate") {
        return format!(
            "the server's TLS certificate is not trusted ({cause}): a private certificate authority's PEM file can be named with SSL_CERT_FILE"
        );
    }
    match e {
        object_store::Error::NotFound { .. } => "no such bucket, container or object".to_string(),
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            format!("access denied: check the credentials in the environment ({})", first_line(&text))
        }
        // The client's message carries the server's status ("... status code: 403 Forbidden");
        // a bare "403" could be part of a port or a key.
        _ if text.contains("InvalidAccessKeyId")
            || text.contains("SignatureDoesNotMatch")
            || text.contains("AuthenticationFailed")
            || has_status(&text, 403)
            || has_status(&text, 401) =>
        {
            format!("access denied: check the credentials in the environment ({})", first_line(&text))
        }
        _ if text.contains("NoSuchBucket") || text.contains("ContainerNotFound") || has_status(&text, 404) => {
            format!("no such bucket or container ({})", first_line(&text))
        }
        _ if !text.contains(&cause) => format!("{}: {cause}", first_line(&text)),
        _ => first_line(&text),
    }
}

/// The innermost error of `e`'s chain of sources, as text.
fn root_cause(e: &object_store::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    first_line(&cause.to_string())
}

/// Whether an HTTP client's error text reports the server's status `code`.
fn has_status(text: &str, code: u16) -> bool {
    text.contains(&format!("status code: {code} ")) || text.contains(&format!("status code: {code}:"))
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 300 { format!("{}...", line.chars().take(300).collect::<String>()) } else { line.to_string() }
}

/// The objects under `url`'s path (a prefix; the whole bucket when empty), in key order.
pub async fn list(store: &Arc<dyn ObjectStore>, url: &Url) -> Result<Vec<ObjectMeta>> {
    let prefix = ObjectPath::from_url_path(url.path()).map_err(|e| KqlError::new(format!("cannot open '{url}': {e}")))?;
    let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
    let mut objects: Vec<ObjectMeta> =
        store.list(prefix.as_ref()).try_collect().await.map_err(|e| KqlError::new(format!("cannot list '{url}': {}", error_text(&e))))?;
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(objects)
}

/// The object at `url`, if there is one.
pub async fn head(store: &Arc<dyn ObjectStore>, url: &Url) -> Result<Option<ObjectMeta>> {
    let path = ObjectPath::from_url_path(url.path()).map_err(|e| KqlError::new(format!("cannot open '{url}': {e}")))?;
    match store.head(&path).await {
        Ok(meta) => Ok(Some(meta)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(KqlError::new(format!("cannot open '{url}': {}", error_text(&e)))),
    }
}

/// A remote Parquet object's footer, checked as a local file's is (`catalog::check_footer`).
pub async fn check_parquet_footer(store: &Arc<dyn ObjectStore>, meta: &ObjectMeta) -> std::result::Result<(), String> {
    if meta.size < 12 {
        return Err(format!("{} bytes is too short", meta.size));
    }
    let tail = store.get_range(&meta.location, meta.size - 8..meta.size).await.map_err(|e| error_text(&e))?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err("it does not end with the Parquet magic bytes".into());
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer + 12 > meta.size {
        return Err(format!("its footer claims {footer} bytes, more than the file holds"));
    }
    Ok(())
}

/// The URL of an object of the store `base` names.
pub fn object_url(base: &Url, location: &ObjectPath) -> String {
    let mut url = base.clone();
    url.set_path(&format!("/{location}"));
    url.set_query(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_told_from_a_port_that_holds_its_digits() {
        let forbidden = "Error performing GET http://127.0.0.1:40469/logs?list-type=2 in 26ms - Server returned non-2xx status code: 403 Forbidden: <?xml";
        assert!(has_status(forbidden, 403));
        assert!(!has_status(forbidden, 404));
        assert!(has_status("Server returned non-2xx status code: 404 Not Found: <?xml", 404));
    }

    #[test]
    fn remote_locations_are_urls_of_known_schemes() {
        assert!(remote_url("s3://bucket/logs/").is_some());
        assert!(remote_url("abfss://logs@account.dfs.core.windows.net/SecurityEvent/").is_some());
        assert!(remote_url("https://example.com/x.parquet").is_some());
        assert!(remote_url("/data/x.parquet").is_none());
        assert!(remote_url("C:/data/x.parquet").is_none());
        assert!(remote_url("samples/data").is_none());
    }
}
