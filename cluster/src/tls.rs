//! TLS between a cluster's nodes and its clients, with a certificate on both sides (mutual TLS).
//!
//! Every node and client is given three PEM files by environment variables, as the token is
//! (`token.rs`): its own certificate and key, and the certificate of the cluster's authority
//! that signed every member's. Each connection then proves both ends: a client or node whose
//! certificate the authority did not sign cannot open one, to the scheduler or to an executor's
//! Arrow Flight port (shuffle and result data), which the token alone never guarded.
//!
//! Ballista's executors serve task calls on a gRPC port that takes no TLS; with TLS the cluster
//! schedules by pull instead (executors ask the scheduler for work), so that port is never
//! opened. The scheduler's service is served by kql (`scheduler.rs`) through `TlsListener`; an
//! executor's Flight service through Ballista's hook for it; every client connection through
//! Ballista's hook for endpoints (`endpoint`).

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::EndpointOverrideFn;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// The node's or client's certificate, its key, and the cluster authority's certificate.
pub const CERT_VAR: &str = "KQL_CLUSTER_TLS_CERT";
pub const KEY_VAR: &str = "KQL_CLUSTER_TLS_KEY";
pub const CA_VAR: &str = "KQL_CLUSTER_TLS_CA";

/// How long a connecting peer may take to finish its handshake with the scheduler.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM texts a cluster member proves itself with.
#[derive(Clone)]
pub struct ClusterTls {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Vec<u8>,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("ClusterTls")
    }
}

/// The member's TLS files from the environment: `None` when none of the three variables is
/// set, an error naming what is wrong when some are missing or unreadable.
pub fn from_env() -> Result<Option<ClusterTls>, String> {
    let vars = [CERT_VAR, KEY_VAR, CA_VAR].map(|name| (name, std::env::var_os(name).filter(|v| !v.is_empty())));
    if vars.iter().all(|(_, v)| v.is_none()) {
        return Ok(None);
    }
    let mut texts = Vec::new();
    for (name, value) in vars {
        let Some(path) = value else {
            return Err(format!("{name} is not set: TLS needs {CERT_VAR}, {KEY_VAR} and {CA_VAR} (PEM files)"));
        };
        let text = std::fs::read(&path).map_err(|e| format!("{name}={}: cannot read it: {e}", path.to_string_lossy()))?;
        texts.push(text);
    }
    let [cert, key, ca] = <[Vec<u8>; 3]>::try_from(texts).map_err(|_| "three TLS files".to_string())?;
    let tls = ClusterTls { cert, key, ca };
    tls.rustls_server_config()?;
    // tonic builds its TLS settings with rustls's process-wide choice of cryptography, and the
    // tree enables two (ring, and aws-lc-rs through object stores' clients): name one. An
    // `Err` means one is chosen already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(Some(tls))
}

impl ClusterTls {
    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, &self.key)
    }

    fn authority(&self) -> Certificate {
        Certificate::from_pem(&self.ca)
    }

    /// A server that asks every peer for a certificate the cluster's authority signed.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(self.identity()).client_ca_root(self.authority())
    }

    /// `endpoint` speaking TLS with this member's certificate, trusting the cluster's authority
    /// only. Ballista writes some addresses as `http://` (an executor's to its scheduler); tonic
    /// speaks TLS to `https://` ones only, so those are written again.
    pub fn endpoint(&self, endpoint: Endpoint) -> Result<Endpoint, Box<dyn Error + Send + Sync>> {
        let endpoint = if endpoint.uri().scheme_str() == Some("https") {
            endpoint
        } else {
            let authority = endpoint.uri().authority().map(|a| a.to_string()).unwrap_or_default();
            Endpoint::from_shared(format!("https://{authority}"))?
                .connect_timeout(Duration::from_secs(20))
                .tcp_nodelay(true)
                .tcp_keepalive(Some(Duration::from_secs(60)))
                .http2_keep_alive_interval(Duration::from_secs(60))
                .keep_alive_timeout(Duration::from_secs(20))
        };
        Ok(endpoint.tls_config(ClientTlsConfig::new().ca_certificate(self.authority()).identity(self.identity()))?)
    }

    /// `endpoint` as Ballista's hook takes it.
    pub fn endpoint_override(&self) -> EndpointOverrideFn {
        let tls = self.clone();
        Arc::new(move |endpoint| tls.endpoint(endpoint))
    }

    /// The scheduler's server side, for `TlsListener`: this member's certificate, and a peer
    /// certificate signed by the cluster's authority required of every connection.
    pub fn rustls_server_config(&self) -> Result<rustls::ServerConfig, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{CERT_VAR}: not a PEM certificate ({e})"))?;
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|e| format!("{KEY_VAR}: not a PEM private key ({e})"))?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&self.ca) {
            let ca = ca.map_err(|e| format!("{CA_VAR}: not a PEM certificate ({e})"))?;
            roots.add(ca).map_err(|e| format!("{CA_VAR}: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("{CA_VAR}: {e}"))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .map_err(|e| format!("{CERT_VAR} and {KEY_VAR}: {e}"))?;
        // gRPC is HTTP/2, which a TLS peer asks for by ALPN.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// The scheduler's listening socket, answering with TLS: connections whose handshake fails
/// (no certificate, one of another authority, not TLS at all) are dropped and logged. Each
/// handshake runs in a task of its own, so a peer that stalls in it holds up no other.
pub struct TlsListener {
    local: SocketAddr,
    ready: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `tcp` (inside a Tokio runtime).
    pub fn new(tcp: tokio::net::TcpListener, tls: &ClusterTls) -> Result<TlsListener, String> {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.rustls_server_config()?));
        let local = tcp.local_addr().map_err(|e| e.to_string())?;
        let (send, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        warn(&format!("the scheduler could not accept a connection: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, send) = (acceptor.clone(), send.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = send.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => warn(&format!("refused a TLS connection from {peer}: {e}")),
                        Err(_) => warn(&format!("refused a TLS connection from {peer}: no handshake within 10 s")),
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task never ends while the listener lives: wait, as a listener does.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Makes each TLS connection's service: the scheduler's router, with the peer's address as
/// `ConnectInfo<SocketAddr>`, where Ballista's service reads an executor's address (axum gives
/// it for plain TCP listeners only).
#[derive(Clone)]
pub struct WithPeerAddress(pub axum::Router);

impl<'a> tower_service::Service<axum::serve::IncomingStream<'a, TlsListener>> for WithPeerAddress {
    type Response = axum::Router;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<axum::Router, std::convert::Infallible>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, incoming: axum::serve::IncomingStream<'a, TlsListener>) -> Self::Future {
        let peer = *incoming.remote_addr();
        std::future::ready(Ok(self.0.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)))))
    }
}

/// A node's warnings go where Ballista's do (`logging.rs`).
fn warn(message: &str) {
    log::warn!("{message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tls").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_test_files_make_a_server_configuration() {
        let tls = ClusterTls { cert: fixture("node.pem"), key: fixture("node.key"), ca: fixture("cluster-ca.pem") };
        assert!(tls.rustls_server_config().is_ok());
        let swapped = ClusterTls { cert: fixture("node.key"), key: fixture("node.pem"), ca: fixture("cluster-ca.pem") };
        assert!(swapped.rustls_server_config().is_err());
    }

    #[test]
    fn an_http_address_is_written_as_https() {
        let tls = ClusterTls { cert: fixture("node.pem"), key: fixture("node.key"), ca: fixture("cluster-ca.pem") };
        let endpoint = tls.endpoint(Endpoint::from_static("http://127.0.0.1:50050")).expect("an endpoint");
        assert_eq!(endpoint.uri().to_string(), "https://127.0.0.1:50050/");
    }
}
