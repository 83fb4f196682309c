//! One worker thread's listeners: the accept loops (cleartext and TLS), the
//! HTTP/1.1 and HTTP/2 connection (h2c by prior knowledge in cleartext, h2
//! by ALPN over TLS; told apart here, so that hyper reads the socket
//! directly), the protections of the listener (header size and count
//! limits, timeouts for slow clients) and the graceful drain at shutdown.
//! Not for what a request does (`edge.rs`).

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use super::coarse_timer::CoarseTimer;
use super::edge;
use super::proxy::{ClientInfo, Origin};
use crate::worker::Worker;

/// Limits that protect the listener from slow or greedy clients.
#[derive(Debug, Clone, Copy)]
pub struct Protection {
    /// Most header fields in one request (HTTP/1.1).
    pub max_headers: usize,
    /// Most bytes of one request head (HTTP/1.1 read buffer, HTTP/2 header
    /// list); at least 8 KiB.
    pub max_header_bytes: usize,
    /// Time a client has to send a whole request head, and to send the
    /// first byte after connecting.
    pub header_read_timeout: Duration,
    /// Time a client has to finish the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// At shutdown, how long in-flight requests may take before their
    /// connections are closed anyway.
    pub shutdown_grace: Duration,
}

impl Default for Protection {
    fn default() -> Self {
        Protection {
            max_headers: 100,
            max_header_bytes: 64 << 10,
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            max_concurrent_streams: 200,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// hyper's own limit on header fields per HTTP/1.1 request.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Runs hyper's background work (HTTP/2 streams) on this thread's
/// `LocalSet`: the request futures hold `Rc`s and cannot move threads.
#[derive(Clone, Copy)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Counts open connections so the shutdown can wait for them.
#[derive(Default)]
struct Connections {
    open: Cell<usize>,
    closed: Notify,
}

struct Open(Rc<Connections>);

impl Open {
    fn new(conns: &Rc<Connections>) -> Open {
        conns.open.set(conns.open.get() + 1);
        Open(conns.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get().saturating_sub(1));
        self.0.closed.notify_waiters();
    }
}

/// What every connection of a thread shares.
pub struct Shared {
    /// The thread's isolates.
    pub worker: Rc<Worker>,
    /// The origin of the drop-in proxy, if any.
    pub origin: Option<Rc<Origin>>,
    /// Listener limits.
    pub protection: Protection,
}

/// Accepts on `plain` (and `tls`, when configured) until `shutdown`, then
/// lets open connections finish their requests, for at most the grace time.
pub async fn run(
    shared: Rc<Shared>,
    plain: TcpListener,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let conns = Rc::new(Connections::default());
    let (tls_listener, acceptor) = match tls {
        Some((l, a)) => (Some(l), Some(a)),
        None => (None, None),
    };
    loop {
        let accepted = tokio::select! {
            r = plain.accept() => r.map(|(s, peer)| (s, peer, false)),
            r = accept_opt(tls_listener.as_ref()) => r.map(|(s, peer)| (s, peer, true)),
            _ = shutdown.changed() => break,
        };
        let (stream, peer, is_tls) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                // EMFILE and friends: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let open = Open::new(&conns);
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let acceptor = if is_tls { acceptor.clone() } else { None };
        tokio::task::spawn_local(async move {
            let _open = open;
            let client = ClientInfo { peer, tls: is_tls };
            match acceptor {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(shared.protection.tls_handshake_timeout, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(tls)) => {
                            let protocol = match tls.get_ref().1.alpn_protocol() {
                                Some(b"h2") => Protocol::Http2,
                                _ => Protocol::Http1,
                            };
                            serve(shared, tls, protocol, client, shutdown).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => match sniff_cleartext(&stream, shared.protection.header_read_timeout).await {
                    Some(protocol) => serve(shared, stream, protocol, client, shutdown).await,
                    // A client that connects and sends nothing never reaches
                    // hyper's header timeout: it gets the same time here.
                    None => tracing::debug!(%peer, "client sent nothing in time"),
                },
            }
        });
    }
    drop(plain);
    drop(tls_listener);
    drain(&conns, shared.protection.shutdown_grace).await;
}

async fn accept_opt(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Waits until every connection is closed, or the grace time is over.
async fn drain(conns: &Rc<Connections>, grace: Duration) {
    let wait = async {
        loop {
            let closed = conns.closed.notified();
            if conns.open.get() == 0 {
                return;
            }
            closed.await;
        }
    };
    if tokio::time::timeout(grace, wait).await.is_err() {
        tracing::warn!(
            open = conns.open.get(),
            "shutdown: connections still open after the grace period are closed"
        );
    }
}

/// The protocol a connection speaks, known before hyper sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// What an HTTP/2 client with prior knowledge (h2c) sends first.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Looks at the first bytes of a cleartext connection without consuming
/// them: HTTP/2 when they are the h2c preface, HTTP/1 as soon as they
/// differ from it. `None` when the client sends nothing (or only part of
/// the preface) within `timeout`, or closes. Deciding here lets hyper
/// read the socket directly, where its `auto` builder would read through
/// a rewind buffer for the life of the connection.
async fn sniff_cleartext(stream: &TcpStream, timeout: Duration) -> Option<Protocol> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut start = [0u8; H2_PREFACE.len()];
    let mut pause = Duration::from_millis(1);
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut start))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if start[..n] != H2_PREFACE[..n] {
            return Some(Protocol::Http1);
        }
        if n == H2_PREFACE.len() {
            return Some(Protocol::Http2);
        }
        // Part of the preface so far. The socket stays readable with those
        // bytes unread, so wait rather than spin on `peek`; longer each
        // time (a real client sends the preface whole), so that a client
        // that stops there costs a few wake-ups a second, not a thousand.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
    }
}

/// Serves one connection in `protocol` until it ends; on shutdown,
/// finishes the requests in flight and closes.
async fn serve<I>(shared: Rc<Shared>, io: I, protocol: Protocol, client: ClientInfo, shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let p = shared.protection;
    let service = service_fn(move |req| {
        let worker = shared.worker.clone();
        let origin = shared.origin.clone();
        // `handle` does the synchronous part (routing, dispatch) at once;
        // its future is small when the script answered during it.
        edge::handle(worker, req, origin, client)
    });
    let io = TokioIo::new(io);
    let result = match protocol {
        Protocol::Http1 => {
            let mut builder = http1::Builder::new();
            builder
                .timer(CoarseTimer)
                .header_read_timeout(p.header_read_timeout)
                .max_buf_size(p.max_header_bytes.max(8192))
                // Head and body in one buffer and one `send`: cheaper than
                // `writev` for the small responses most requests get.
                .writev(false)
                .keep_alive(true);
            // hyper parses into a stack array when the limit is its default;
            // any explicit limit costs a heap array filled on every request.
            if p.max_headers != HYPER_DEFAULT_MAX_HEADERS {
                builder.max_headers(p.max_headers);
            }
            // With upgrades: the drop-in proxy passes WebSockets through.
            drive(builder.serve_connection(io, service).with_upgrades(), shutdown).await
        }
        Protocol::Http2 => {
            let mut builder = http2::Builder::new(LocalExec);
            builder
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(p.max_header_bytes).unwrap_or(u32::MAX))
                .max_concurrent_streams(p.max_concurrent_streams)
                .keep_alive_interval(Some(Duration::from_secs(30)))
                .keep_alive_timeout(p.header_read_timeout);
            drive(builder.serve_connection(io, service), shutdown).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(peer = %client.peer, "connection ended with error: {e}");
    }
}

/// A hyper connection that can be asked to finish its requests and close.
trait GracefulConnection: Future<Output = hyper::Result<()>> {
    fn start_graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulConnection for http1::UpgradeableConnection<I, S>
where
    Self: Future<Output = hyper::Result<()>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn start_graceful_shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, E, B> GracefulConnection for http2::Connection<I, S, E>
where
    Self: Future<Output = hyper::Result<()>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn start_graceful_shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs `conn` to its end; on shutdown, lets it finish the requests in
/// flight and close.
async fn drive<C: GracefulConnection>(conn: C, mut shutdown: watch::Receiver<bool>) -> hyper::Result<()> {
    tokio::pin!(conn);
    if *shutdown.borrow_and_update() {
        conn.as_mut().start_graceful_shutdown();
    }
    match until_shutdown(conn.as_mut(), &mut shutdown).await {
        Some(r) => r,
        None => {
            conn.as_mut().start_graceful_shutdown();
            conn.as_mut().await
        }
    }
}

/// Polls `conn` until it ends (`Some`) or the shutdown signal comes
/// (`None`). The signal's future is polled only to register this task's
/// waker (once, as a task keeps its waker); on the other wake-ups, which
/// come with every request, an atomic load tells whether it changed. (A
/// `select!` would poll it, and take its lock, on each of them.)
async fn until_shutdown<F: Future>(mut conn: Pin<&mut F>, shutdown: &mut watch::Receiver<bool>) -> Option<F::Output> {
    let probe = shutdown.clone();
    let mut changed = std::pin::pin!(shutdown.changed());
    let mut registered: Option<Waker> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        let same_task = registered.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if same_task && !probe.has_changed().unwrap_or(true) {
            return Poll::Pending;
        }
        registered = Some(cx.waker().clone());
        changed.as_mut().poll(cx).map(|_| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::{sniff_cleartext, Protocol, H2_PREFACE};

    /// Connects to a fresh listener, lets `client` write, and sniffs the
    /// accepted side with `timeout`.
    async fn sniffed<F, Fut>(timeout: Duration, client: F) -> Option<Protocol>
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let writer = tokio::spawn(async move { client(TcpStream::connect(addr).await.expect("connect")).await });
        let (server, _) = listener.accept().await.expect("accept");
        let protocol = sniff_cleartext(&server, timeout).await;
        writer.abort();
        protocol
    }

    #[tokio::test]
    async fn http1_requests_are_told_apart_from_the_h2c_preface_even_when_they_start_with_p() {
        for request in [
            "GET / HTTP/1.1\r\n",
            "POST /x HTTP/1.1\r\n",
            "PUT / HTTP/1.1\r\n",
            "PRIX",
        ] {
            let got = sniffed(Duration::from_secs(5), move |mut s| async move {
                s.write_all(request.as_bytes()).await.expect("write");
                tokio::time::sleep(Duration::from_secs(10)).await;
            })
            .await;
            assert_eq!(got, Some(Protocol::Http1), "{request:?}");
        }
    }

    #[tokio::test]
    async fn an_h2c_preface_sent_in_pieces_is_http2() {
        let got = sniffed(Duration::from_secs(5), |mut s| async move {
            s.write_all(&H2_PREFACE[..5]).await.expect("write");
            tokio::time::sleep(Duration::from_millis(30)).await;
            s.write_all(&H2_PREFACE[5..]).await.expect("write");
            tokio::time::sleep(Duration::from_secs(10)).await;
        })
        .await;
        assert_eq!(got, Some(Protocol::Http2));
    }

    #[tokio::test]
    async fn silence_or_a_partial_preface_runs_out_of_time_and_a_close_ends_it() {
        let silent = sniffed(Duration::from_millis(100), |_s| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        assert_eq!(silent.await, None);
        let partial = sniffed(Duration::from_millis(100), |mut s| async move {
            s.write_all(b"PRI * ").await.expect("write");
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        assert_eq!(partial.await, None);
        let closed = sniffed(Duration::from_secs(5), |s| async move { drop(s) });
        assert_eq!(closed.await, None);
    }
}
