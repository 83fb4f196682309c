//! The connector of the outbound HTTP client: resolves the host, applies
//! the address [`Policy`] to every address DNS returned, connects with a
//! timeout, and speaks TLS (rustls, ALPN h2 and http/1.1) for `https`.
//! Not for pooling or HTTP itself: hyper-util's client does that.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::policy::{Denied, Policy};

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The policy refuses every address the host resolved to.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The URL has no host, or a scheme other than http and https.
    #[error("{0}")]
    BadUri(String),
    /// DNS failed.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// Connecting timed out.
    #[error("connecting to {0} timed out")]
    Timeout(String),
    /// Connecting or the TLS handshake failed.
    #[error("cannot connect to {host}: {source}")]
    Io {
        /// The host.
        host: String,
        /// The OS or TLS error.
        source: io::Error,
    },
}

/// Builds the rustls client configuration: the Mozilla roots (webpki-roots)
/// plus the certificates of `extra_ca` (a PEM file), ALPN h2 and http/1.1.
pub fn tls_config(extra_ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate in the file", path.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Resolves, checks, connects; `Clone` and cheap, as hyper-util wants.
#[derive(Clone)]
pub struct Connector {
    policy: Arc<Policy>,
    tls: tokio_rustls::TlsConnector,
    connect_timeout: Duration,
}

impl Connector {
    /// A connector applying `policy`, trusting `tls`'s roots.
    pub fn new(policy: Arc<Policy>, tls: Arc<rustls::ClientConfig>, connect_timeout: Duration) -> Connector {
        Connector {
            policy,
            tls: tokio_rustls::TlsConnector::from(tls),
            connect_timeout,
        }
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Stream>, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await.map(TokioIo::new) })
    }
}

impl Connector {
    async fn connect(self, uri: http::Uri) -> Result<Stream, ConnectError> {
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(ConnectError::BadUri(format!("unsupported URL scheme {other:?}"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| ConnectError::BadUri(format!("{uri} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        let addrs = match tokio::time::timeout_at(deadline, resolve(&host, port)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnectError::Timeout(host)),
        };
        let mut allowed = Vec::with_capacity(addrs.len());
        let mut denied = None;
        for addr in addrs {
            match self.policy.check(&host, addr.ip()) {
                Ok(()) => allowed.push(addr),
                Err(d) => denied = Some(d),
            }
        }
        if allowed.is_empty() {
            return Err(match denied {
                Some(d) => ConnectError::Denied(d),
                None => ConnectError::Resolve {
                    host,
                    source: io::Error::new(io::ErrorKind::NotFound, "no address"),
                },
            });
        }
        let tcp = match tokio::time::timeout_at(deadline, connect_any(&allowed)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(ConnectError::Io { host, source }),
            Err(_) => return Err(ConnectError::Timeout(host)),
        };
        let _ = tcp.set_nodelay(true);
        if !tls {
            return Ok(Stream::Plain(tcp));
        }
        let name = ServerName::try_from(host.clone())
            .map_err(|e| ConnectError::BadUri(format!("{host} is not a valid TLS server name: {e}")))?;
        match tokio::time::timeout_at(deadline, self.tls.connect(name, tcp)).await {
            Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
            Ok(Err(source)) => Err(ConnectError::Io { host, source }),
            Err(_) => Err(ConnectError::Timeout(host)),
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => Ok(addrs.collect()),
        Err(source) => Err(ConnectError::Resolve {
            host: host.to_string(),
            source,
        }),
    }
}

async fn connect_any(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A connection to an upstream: plain TCP or TLS over it.
pub enum Stream {
    /// `http`
    Plain(TcpStream),
    /// `https`
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Plain(s) => s.connected(),
            Stream::Tls(s) => {
                let (tcp, session) = s.get_ref();
                let connected = tcp.connected();
                if session.alpn_protocol() == Some(b"h2") {
                    connected.negotiated_h2()
                } else {
                    connected
                }
            }
        }
    }
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
