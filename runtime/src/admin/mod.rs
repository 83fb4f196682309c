//! The admin API server: its own listener (default `127.0.0.1:8081`) and
//! its own thread with a current-thread tokio runtime, so that uploads,
//! compile checks and store commits never run on an edge worker thread.
//! Every endpoint but `/healthz` needs the bearer token.
//! See `docs/admin-api.md` for the endpoints; not for the edge path.

pub mod api;
pub mod auth;
pub mod http;
pub mod kv;
pub mod upload;
pub mod views;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

pub use auth::{AdminToken, TokenSource, TOKEN_FILE};

use crate::error::RuntimeError;
use crate::isolate::IsolateOptions;
use crate::observe::Observability;
use crate::registry::Registry;
use crate::store::Store;
use islet_bindings::kv::KvStore;

/// How to run the admin API.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// Listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// Token every request but `/healthz` must carry.
    pub token: AdminToken,
    /// Largest accepted upload, bytes.
    pub max_upload_bytes: u64,
    /// Settings of the isolates uploads are compiled in.
    pub isolate: IsolateOptions,
}

/// The running admin API.
pub struct AdminHandle {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl AdminHandle {
    /// Stops accepting, drops open connections and waits for the thread.
    pub fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds the admin listener and starts its thread.
pub fn start(
    options: AdminOptions,
    store: Arc<Store>,
    registry: Arc<Registry>,
    kv: Arc<KvStore>,
    observe: Arc<Observability>,
) -> Result<AdminHandle, RuntimeError> {
    let err = |source| RuntimeError::Listen {
        addr: options.listen.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(options.listen).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let state = api::AdminState {
        store,
        registry,
        kv,
        observe,
        token: options.token,
        max_upload_bytes: options.max_upload_bytes,
        isolate: options.isolate,
    };
    let thread = std::thread::Builder::new()
        .name("islet-admin".into())
        .spawn(move || admin_thread(listener, state, shutdown_rx))
        .map_err(|source| RuntimeError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!(addr = %addr, "admin API listening");
    Ok(AdminHandle {
        addr,
        shutdown,
        thread: Some(thread),
    })
}

fn admin_thread(listener: std::net::TcpListener, state: api::AdminState, mut shutdown: watch::Receiver<bool>) {
    // A LocalSet because uploads are compiled in a V8 isolate on this
    // thread, and host calls a script's top level makes spawn local tasks.
    crate::platform::block_on_local("admin", async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot register the admin listener: {e}");
                return;
            }
        };
        let state = Rc::new(state);
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = shutdown.changed() => break,
            };
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    tracing::warn!("admin accept failed: {e}");
                    continue;
                }
            };
            let state = state.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(api::handle(state, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("admin connection ended with error: {e}");
                }
            });
        }
    });
}
