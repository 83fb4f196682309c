//! The server: N worker threads, each with a current-thread tokio runtime,
//! its own accept loop on the edge port (SO_REUSEPORT) and its own isolates,
//! so a request never changes thread.

pub mod body;
pub mod edge;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use crate::error::RuntimeError;
use crate::isolate::IsolateOptions;
use crate::registry::Registry;
use crate::worker::Worker;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Edge listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// Number of worker threads.
    pub workers: usize,
    /// Isolate settings.
    pub isolate: IsolateOptions,
}

/// A running server.
pub struct ServerHandle {
    /// The bound edge address.
    pub edge_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting, lets the threads finish, and waits for them.
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

/// Binds the edge port and starts the worker threads.
pub fn start(options: &ServerOptions, registry: Arc<Registry>) -> Result<ServerHandle, RuntimeError> {
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
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut threads = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let registry = registry.clone();
        let shutdown_rx = shutdown_rx.clone();
        let isolate_options = options.isolate;
        let thread = std::thread::Builder::new()
            .name(format!("islet-worker-{index}"))
            .spawn(move || worker_thread(listener, registry, isolate_options, shutdown_rx))
            .map_err(|e| RuntimeError::V8(format!("cannot start worker thread: {e}")))?;
        threads.push(thread);
    }
    tracing::info!(addr = %edge_addr, workers = threads.len(), "edge listening");
    Ok(ServerHandle {
        edge_addr,
        shutdown,
        threads,
    })
}

fn worker_thread(
    listener: std::net::TcpListener,
    registry: Arc<Registry>,
    options: IsolateOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start a worker runtime: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot register the edge listener: {e}");
                return;
            }
        };
        let worker = Rc::new(Worker::new(registry, options));
        worker.fill_spares();
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = shutdown.changed() => break,
            };
            let (stream, _peer) = match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let worker = worker.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req| {
                    let worker = worker.clone();
                    async move { Ok::<_, std::convert::Infallible>(edge::handle(worker, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("connection ended with error: {e}");
                }
            });
        }
    });
}
