//! Network helpers for the fetch, proxy and edge tests: a test origin
#![allow(dead_code)]
//! server (cleartext or TLS) on its own thread, certificates made with
//! rcgen, and HTTP/1.1, HTTP/2 and TLS clients. Everything listens and
//! connects on 127.0.0.1 only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::common::TempDir;

type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

fn full(b: impl Into<Bytes>) -> BoxBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed_unsync()
}

/// A CA and certificates it signs, as PEM files in a temp dir.
pub struct Pki {
    pub dir: TempDir,
    ca_cert: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("islet test CA {tag}"));
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let dir = TempDir::new(&format!("pki-{tag}"));
        std::fs::write(dir.path.join("ca.pem"), ca_cert.pem()).unwrap();
        Pki { dir, ca_cert, ca_key }
    }

    /// The CA certificate's PEM file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path.join("ca.pem")
    }

    /// A leaf certificate for `names`, written to `<file>.crt`/`<file>.key`
    /// (overwriting them). Returns the two paths.
    pub fn issue(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0].clone());
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        let cert_path = self.dir.path.join(format!("{file}.crt"));
        let key_path = self.dir.path.join(format!("{file}.key"));
        // Written beside, then renamed: a reload never sees half a file.
        write_atomic(&cert_path, cert.pem().as_bytes());
        write_atomic(&key_path, key.serialize_pem().as_bytes());
        (cert_path, key_path)
    }

    /// A rustls client trusting only this CA, with these ALPN protocols.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A rustls server configuration with one certificate for `names`.
    pub fn server_config(&self, file: &str, names: &[&str]) -> Arc<rustls::ServerConfig> {
        use rustls_pki_types::pem::PemObject;
        let (cert, key) = self.issue(file, names);
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

fn write_atomic(path: &Path, data: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A test origin server on its own thread and runtime.
///
/// Paths: `/echo` (JSON of method, uri, headers, body), `/status/N`,
/// `/redirect?status=N&to=URL`, `/slow?ms=N` (head after a delay),
/// `/drip` (one chunk, then nothing for a long time), `/gate` (one chunk,
/// then the rest once the test calls `open_gate`), `/count` (streams the
/// request body and answers its length and checksum), `/ws` (an upgrade
/// that echoes bytes in upper case); anything else answers
/// `origin METHOD /path?query`.
pub struct OriginServer {
    pub addr: SocketAddr,
    gate: Arc<Notify>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OriginServer {
    pub fn start() -> OriginServer {
        OriginServer::start_with(None)
    }

    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> OriginServer {
        OriginServer::start_with(Some(config))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> OriginServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = Arc::new(Notify::new());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let gate2 = gate.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
                loop {
                    let (stream, _) = tokio::select! {
                        r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                        _ = &mut stopped => break,
                    };
                    let gate = gate2.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| origin_handle(req, gate.clone()));
                        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        match acceptor {
                            Some(acceptor) => {
                                if let Ok(tls) = acceptor.accept(stream).await {
                                    let _ = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).await;
                                }
                            }
                            None => {
                                let _ = builder
                                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    });
                }
            });
        });
        OriginServer {
            addr,
            gate,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Lets `/gate` send the rest of its body.
    pub fn open_gate(&self) {
        self.gate.notify_one();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for OriginServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn query(req: &Request<Incoming>, key: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%2F", "/").replace("%3A", ":"))
    })
}

async fn origin_handle(mut req: Request<Incoming>, gate: Arc<Notify>) -> Result<Response<BoxBody>, Infallible> {
    let path = req.uri().path().to_string();
    let res = if path == "/echo" {
        let method = req.method().to_string();
        let uri = req.uri().to_string();
        let version = format!("{:?}", req.version());
        let mut headers = serde_json::Map::new();
        for (k, v) in req.headers() {
            headers.insert(k.to_string(), v.to_str().unwrap_or("").into());
        }
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let json = serde_json::json!({
            "method": method, "uri": uri, "version": version, "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        Response::builder()
            .header("content-type", "application/json")
            .header("x-origin", "yes")
            .body(full(json.to_string()))
            .unwrap()
    } else if let Some(code) = path.strip_prefix("/status/") {
        let code: u16 = code.parse().unwrap_or(500);
        Response::builder()
            .status(code)
            .header("x-origin-status", code.to_string())
            .body(full(format!("status {code}")))
            .unwrap()
    } else if path == "/redirect" {
        let status: u16 = query(&req, "status").and_then(|s| s.parse().ok()).unwrap_or(302);
        let to = query(&req, "to").unwrap_or_else(|| "/echo".into());
        Response::builder()
            .status(status)
            .header("location", to)
            .body(full("redirecting"))
            .unwrap()
    } else if path == "/slow" {
        let ms: u64 = query(&req, "ms").and_then(|s| s.parse().ok()).unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Response::new(full("slow"))
    } else if path == "/drip" || path == "/gate" {
        let wait_gate = path == "/gate";
        let stream = futures_util::stream::unfold(0u32, move |i| {
            let gate = gate.clone();
            async move {
                match i {
                    0 => Some((Ok::<_, std::io::Error>(Frame::data(Bytes::from_static(b"first;"))), 1)),
                    1 => {
                        if wait_gate {
                            gate.notified().await;
                        } else {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        Some((Ok(Frame::data(Bytes::from_static(b"second"))), 2))
                    }
                    _ => None,
                }
            }
        });
        Response::new(StreamBody::new(stream).boxed_unsync())
    } else if path == "/count" {
        let mut body = req.into_body();
        let (mut len, mut sum) = (0u64, 0u64);
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                len += data.len() as u64;
                sum = data
                    .iter()
                    .fold(sum, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
            }
        }
        Response::new(full(format!("{len}:{sum}")))
    } else if path == "/ws" {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                loop {
                    match io.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let up: Vec<u8> = buf[..n].to_ascii_uppercase();
                            if io.write_all(&up).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .body(full(Bytes::new()))
            .unwrap()
    } else {
        Response::new(full(format!("origin {} {}", req.method(), req.uri())))
    };
    Ok(res)
}

/// The checksum `/count` computes.
pub fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)))
}

/// Connects over TLS to `addr` with SNI `name`.
pub async fn tls_connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    tokio_rustls::TlsConnector::from(config).connect(name, tcp).await
}

/// An HTTP/2 sender over any connected stream (prior knowledge).
pub async fn h2_sender<T>(io: T) -> hyper::client::conn::http2::SendRequest<Full<Bytes>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// An HTTP/1.1 sender over any connected stream.
pub async fn h1_sender<T>(io: T) -> hyper::client::conn::http1::SendRequest<Full<Bytes>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.unwrap();
    tokio::spawn(conn);
    sender
}

/// A GET for `uri` with this Host (or :authority) and no body.
pub fn get(uri: &str, host: &str) -> Request<Full<Bytes>> {
    Request::get(uri)
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// Reads a response to (status, version, body text).
pub async fn read(res: Response<Incoming>) -> (u16, http::Version, String) {
    let status = res.status().as_u16();
    let version = res.version();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, version, String::from_utf8_lossy(&body).into_owned())
}

/// Reads from `stream` until `needle` appears or the stream ends.
pub async fn read_until<R: tokio::io::AsyncRead + Unpin>(stream: &mut R, needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.windows(needle.len()).any(|w| w == needle) {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// A body of `chunks` pieces of `size` bytes each, sent as a stream.
pub fn chunked_body(
    chunks: usize,
    size: usize,
) -> (
    Vec<u8>,
    impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>>,
) {
    let data: Vec<u8> = (0..chunks * size).map(|i| (i % 251) as u8).collect();
    let pieces: Vec<Bytes> = data.chunks(size).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::stream::iter(pieces).map(|b| Ok(Frame::data(b)));
    (data, stream)
}
