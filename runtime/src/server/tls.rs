//! TLS on the edge: rustls with one certificate per host name, chosen by
//! SNI (exact name, then `*.` wildcard, then the first certificate), ALPN
//! h2 and http/1.1. Certificates are reloaded when their files change, by
//! a thread that polls their modification times: new handshakes get the
//! new certificate, connections already open keep theirs. Not for outbound
//! TLS (`islet_bindings::fetch::connector`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::RuntimeError;

/// One certificate and the host names it serves.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Host names (`example.com`, `*.example.com`).
    pub hosts: Vec<String>,
    /// PEM file: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The TLS listener's settings.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Listen address of the TLS edge (port 0 picks one).
    pub listen: std::net::SocketAddr,
    /// Certificates; the first one also answers names no entry lists.
    pub certificates: Vec<CertSpec>,
    /// How often the certificate files are checked for changes.
    pub reload_interval: Duration,
}

/// Certificates by host name, swapped whole on reload.
#[derive(Default)]
struct CertTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl CertTable {
    fn find(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(key) = self.exact.get(&name) {
                return Some(key.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(key) = self.wildcard.get(parent) {
                    return Some(key.clone());
                }
            }
        }
        self.default.clone()
    }
}

/// Chooses the certificate of each handshake from the current table.
#[derive(Debug)]
pub struct SniResolver {
    table: ArcSwap<CertTable>,
}

impl std::fmt::Debug for CertTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertTable")
            .field("exact", &self.exact.keys().collect::<Vec<_>>())
            .field("wildcard", &self.wildcard.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.table.load().find(hello.server_name())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_key(spec: &CertSpec, provider: &rustls::crypto::CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let certs = CertificateDer::pem_file_iter(&spec.cert)
        .map_err(|e| format!("{}: {e}", spec.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", spec.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in the file", spec.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&spec.key).map_err(|e| format!("{}: {e}", spec.key.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("{}: {e}", spec.key.display()))?;
    Ok(Arc::new(CertifiedKey::new(certs, signing)))
}

fn load_table(specs: &[CertSpec]) -> Result<CertTable, String> {
    let provider = provider();
    let mut table = CertTable::default();
    for spec in specs {
        let key = load_key(spec, &provider)?;
        if table.default.is_none() {
            table.default = Some(key.clone());
        }
        for host in &spec.hosts {
            let host = host.trim().to_ascii_lowercase();
            match host.strip_prefix("*.") {
                Some(parent) => table.wildcard.insert(parent.to_string(), key.clone()),
                None => table.exact.insert(host, key.clone()),
            };
        }
    }
    Ok(table)
}

/// What identifies a version of a file: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn stamps(specs: &[CertSpec]) -> Vec<Stamp> {
    specs.iter().flat_map(|s| [stamp(&s.cert), stamp(&s.key)]).collect()
}

/// The edge's TLS: the rustls configuration and the reload thread.
pub struct EdgeTls {
    /// For `tokio_rustls::TlsAcceptor`.
    pub config: Arc<rustls::ServerConfig>,
    stop: std::sync::mpsc::Sender<()>,
}

impl EdgeTls {
    /// Loads the certificates (any error stops the start) and starts the
    /// reload thread.
    pub fn start(options: &TlsOptions) -> Result<EdgeTls, RuntimeError> {
        if options.certificates.is_empty() {
            return Err(RuntimeError::Config(
                "[tls] needs at least one [[tls.certificates]] entry (hosts, cert, key)".into(),
            ));
        }
        let initial_stamps = stamps(&options.certificates);
        let table = load_table(&options.certificates).map_err(|e| RuntimeError::Config(format!("[tls] {e}")))?;
        let resolver = Arc::new(SniResolver {
            table: ArcSwap::from_pointee(table),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| RuntimeError::Config(format!("[tls] {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let (stop, stopped) = std::sync::mpsc::channel();
        let specs = options.certificates.clone();
        let interval = options.reload_interval.max(Duration::from_millis(10));
        std::thread::Builder::new()
            .name("islet-tls-reload".into())
            .spawn(move || reload_loop(&specs, &resolver, initial_stamps, interval, &stopped))
            .map_err(|e| RuntimeError::V8(format!("cannot start the TLS reload thread: {e}")))?;
        Ok(EdgeTls {
            config: Arc::new(config),
            stop,
        })
    }
}

impl Drop for EdgeTls {
    fn drop(&mut self) {
        let _ = self.stop.send(());
    }
}

fn reload_loop(
    specs: &[CertSpec],
    resolver: &SniResolver,
    mut current: Vec<Stamp>,
    interval: Duration,
    stopped: &std::sync::mpsc::Receiver<()>,
) {
    // Ends when EdgeTls sends or is dropped.
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
        let now = stamps(specs);
        if now == current {
            continue;
        }
        match load_table(specs) {
            Ok(table) => {
                resolver.table.store(Arc::new(table));
                current = now;
                tracing::info!("TLS certificates reloaded");
            }
            // Often a file caught half-written: the old certificates stay,
            // and the next check tries again.
            Err(e) => tracing::warn!("TLS certificates changed but cannot be loaded (keeping the old ones): {e}"),
        }
    }
}
