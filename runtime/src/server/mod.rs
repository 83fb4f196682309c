//! The server: N worker threads, each with a current-thread tokio runtime,
//! its own accept loops on the edge ports (SO_REUSEPORT; cleartext and,
//! when configured, TLS) and its own isolates, so a request never changes
//! thread. Connection handling is in `listener`, TLS in `tls`, the origin
//! proxy in `proxy`.

pub mod body;
pub mod coarse_timer;
pub mod edge;
pub mod listener;
pub mod outcome;
pub mod proxy;
pub mod tls;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use islet_bindings::fetch::FetchConfig;
use tokio::sync::watch;

use crate::error::RuntimeError;
use crate::isolate::factory::Stock;
use crate::isolate::IsolateOptions;
use crate::observe::Observability;
use crate::registry::Registry;
use crate::worker::Worker;

pub use islet_bindings::fetch::FetchSettings;
pub use listener::Protection;
pub use proxy::OriginOptions;
pub use tls::{CertSpec, TlsOptions};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Edge listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// Number of worker threads.
    pub workers: usize,
    /// Isolate settings.
    pub isolate: IsolateOptions,
    /// TLS, origin proxy, outbound fetch and listener protection.
    pub edge: EdgeOptions,
}

/// The edge's settings beyond addresses and isolates.
#[derive(Debug, Clone, Default)]
pub struct EdgeOptions {
    /// A TLS listener beside the cleartext one.
    pub tls: Option<TlsOptions>,
    /// Where requests that match no route go (404 without one).
    pub origin: Option<OriginOptions>,
    /// Outbound `fetch()` settings.
    pub fetch: FetchSettings,
    /// Header limits, slow-client timeouts, shutdown grace.
    pub protection: Protection,
}

/// A running server.
pub struct ServerHandle {
    /// The bound edge address.
    pub edge_addr: SocketAddr,
    /// The bound TLS edge address, when TLS is configured.
    pub tls_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
    /// Keeps the certificate reload thread running.
    _tls: Option<tls::EdgeTls>,
}

impl ServerHandle {
    /// Stops accepting, lets the requests in flight finish (for at most the
    /// shutdown grace time) and waits for the threads.
    pub fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Waits until every worker thread has exited.
    pub fn join(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, RuntimeError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let err = |source| RuntimeError::Listen {
        addr: addr.to_string(),
        source,
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_reuse_port(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.set_nodelay(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(1024).map_err(err)?;
    Ok(socket.into())
}

/// Binds the edge port and starts the worker threads, which record their
/// metrics and logs in `observe`.
pub fn start(
    options: &ServerOptions,
    registry: Arc<Registry>,
    observe: Arc<Observability>,
) -> Result<ServerHandle, RuntimeError> {
    crate::platform::init_v8();
    let first = bind(options.listen)?;
    let edge_addr = first.local_addr().map_err(|source| RuntimeError::Listen {
        addr: options.listen.to_string(),
        source,
    })?;
    let mut listeners = vec![first];
    for _ in 1..options.workers.max(1) {
        listeners.push(bind(edge_addr)?);
    }
    let edge_tls = match &options.edge.tls {
        Some(t) => Some((tls::EdgeTls::start(t)?, t.listen)),
        None => None,
    };
    let mut tls_listeners = Vec::new();
    let mut tls_addr = None;
    if let Some((_, listen)) = &edge_tls {
        let first = bind(*listen)?;
        let addr = first.local_addr().map_err(|source| RuntimeError::Listen {
            addr: listen.to_string(),
            source,
        })?;
        tls_listeners.push(first);
        for _ in 1..options.workers.max(1) {
            tls_listeners.push(bind(addr)?);
        }
        tls_addr = Some(addr);
    }
    let fetch =
        Arc::new(FetchConfig::new(&options.edge.fetch).map_err(|e| RuntimeError::Config(format!("[fetch] {e}")))?);
    let origin = match &options.edge.origin {
        Some(o) => Some((o.clone(), proxy::Origin::tls_config(o)?)),
        None => None,
    };
    let acceptor = edge_tls
        .as_ref()
        .map(|(t, _)| tokio_rustls::TlsAcceptor::from(t.config.clone()));
    // Started after `init_v8`, as the worker threads below: with memory
    // protection keys, a thread only gets access to V8's pointer tables if
    // it was created after V8 was initialised.
    let stats = (0..listeners.len()).map(|i| observe.metrics.thread(i)).collect();
    let stocks =
        crate::isolate::factory::start(stats, crate::isolate::factory::STOCK, options.isolate.limits.heap_bytes)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut threads = Vec::new();
    let mut tls_listeners = tls_listeners.into_iter();
    for ((index, listener), stock) in listeners.into_iter().enumerate().zip(stocks) {
        let thread = ThreadSetup {
            index,
            stock,
            observe: observe.clone(),
            listener,
            tls: tls_listeners.next().zip(acceptor.clone()),
            registry: registry.clone(),
            isolate: options.isolate,
            fetch: fetch.clone(),
            origin: origin.clone(),
            protection: options.edge.protection,
            shutdown: shutdown_rx.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("islet-worker-{index}"))
            .spawn(move || worker_thread(thread))
            .map_err(|e| RuntimeError::V8(format!("cannot start worker thread: {e}")))?;
        threads.push(thread);
    }
    tracing::info!(addr = %edge_addr, workers = threads.len(), "edge listening");
    if let Some(addr) = tls_addr {
        tracing::info!(%addr, "TLS edge listening");
    }
    if let Some((o, _)) = &origin {
        tracing::info!(origin = %o.url, "requests that match no route go to the origin");
    }
    Ok(ServerHandle {
        edge_addr,
        tls_addr,
        shutdown,
        threads,
        _tls: edge_tls.map(|(t, _)| t),
    })
}

/// What one worker thread starts with.
struct ThreadSetup {
    index: usize,
    stock: Stock,
    observe: Arc<Observability>,
    listener: std::net::TcpListener,
    tls: Option<(std::net::TcpListener, tokio_rustls::TlsAcceptor)>,
    registry: Arc<Registry>,
    isolate: IsolateOptions,
    fetch: Arc<FetchConfig>,
    origin: Option<(OriginOptions, Arc<rustls::ClientConfig>)>,
    protection: Protection,
    shutdown: watch::Receiver<bool>,
}

fn worker_thread(setup: ThreadSetup) {
    let ThreadSetup {
        index,
        stock,
        observe,
        listener,
        tls,
        registry,
        isolate: options,
        fetch,
        origin,
        protection,
        shutdown,
    } = setup;
    if let Err(e) = stock.prime() {
        tracing::error!(thread = index, "cannot create an isolate: {e}");
    }
    crate::platform::block_on_local("worker", async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot register the edge listener: {e}");
                return;
            }
        };
        let tls = match tls {
            Some((l, acceptor)) => match tokio::net::TcpListener::from_std(l) {
                Ok(l) => Some((l, acceptor)),
                Err(e) => {
                    tracing::error!("cannot register the TLS edge listener: {e}");
                    return;
                }
            },
            None => None,
        };
        islet_bindings::fetch::install(fetch);
        let worker = Rc::new(Worker::new(registry, options, observe, index, stock));
        worker.start_sweeper();
        let shared = Rc::new(listener::Shared {
            worker,
            origin: origin.map(|(o, tls)| Rc::new(proxy::Origin::new(&o, tls))),
            protection,
        });
        listener::run(shared, listener, tls, shutdown).await;
    });
}
