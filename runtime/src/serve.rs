//! Starting a whole node the way `islet serve` does: open the script store
//! in the data directory, serve what it holds on the edge, and start the
//! admin API beside it. Tests start nodes through this too.
//! Not for parsing flags (`main.rs`) nor for serving requests (`server/`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use islet_bindings::kv::embedded::EmbeddedKv;
use islet_bindings::kv::redis::RedisKv;
use islet_bindings::kv::{KvBackend, KvClock, KvStore, SystemClock};

use crate::admin::{self, AdminHandle, AdminOptions, TokenSource};
use crate::config::Config;
use crate::error::RuntimeError;
use crate::isolate::IsolateOptions;
use crate::observe::Observability;
use crate::registry::Registry;
use crate::router::{Route, RouteTable};
use crate::script::{self, ScriptVersion};
use crate::server::{self, ServerHandle, ServerOptions};
use crate::store::{BindingsUpdate, NewVersion, Store};

/// A running node: edge server and admin API over one store.
pub struct Node {
    /// Bound edge address.
    pub edge_addr: SocketAddr,
    /// Bound admin API address.
    pub admin_addr: SocketAddr,
    /// Where the admin token came from.
    pub token_source: TokenSource,
    /// What the edge serves.
    pub registry: Arc<Registry>,
    /// The KV store scripts and the admin API use.
    pub kv: Arc<KvStore>,
    /// Metrics and the live tails.
    pub observe: Arc<Observability>,
    edge: ServerHandle,
    admin: AdminHandle,
}

impl Node {
    /// Stops both servers and waits for their threads; the store is closed
    /// when this returns.
    pub fn shutdown(self) {
        self.admin.shutdown();
        self.edge.shutdown();
    }

    /// Blocks until the edge server stops (normally: until the process is
    /// killed).
    pub fn wait(self) {
        self.edge.join();
        self.admin.shutdown();
    }
}

/// Opens the store under `config.data_dir`, loads its scripts and routes,
/// and starts the edge server and the admin API.
pub fn start(config: &Config) -> Result<Node, RuntimeError> {
    let store = Arc::new(Store::open(&config.data_dir)?);
    import_folder(&store, &config.data_dir)?;
    let kv = open_kv(config, &store)?;
    let registry = Arc::new(load(&store, &kv)?);
    let (token, token_source) = admin::auth::resolve(config.admin.token.as_deref(), &config.data_dir)?;
    match &token_source {
        TokenSource::Configured => tracing::info!("admin API token: from ISLET_ADMIN_TOKEN or the config file"),
        TokenSource::File { path, created: true } => tracing::warn!(
            file = %path.display(),
            "no admin token configured: generated one and wrote it to this file (mode 0600); \
             deploy with ISLET_ADMIN_TOKEN=$(cat {}) islet deploy ...",
            path.display()
        ),
        TokenSource::File { path, created: false } => {
            tracing::info!(file = %path.display(), "admin API token: from this file")
        }
    }
    let isolate: IsolateOptions = config.limits.isolate_options();
    let observe = Arc::new(Observability::new(config.log.request_level()?));
    let edge = server::start(
        &ServerOptions {
            listen: config.listen,
            workers: config.worker_threads(),
            isolate,
            edge: config.edge_options()?,
        },
        registry.clone(),
        observe.clone(),
    )?;
    let admin_options = AdminOptions {
        listen: config.admin_listen,
        token,
        max_upload_bytes: config.admin.max_upload_bytes,
        isolate,
    };
    let admin = match admin::start(admin_options, store, registry.clone(), kv.clone(), observe.clone()) {
        Ok(a) => a,
        Err(e) => {
            edge.shutdown();
            return Err(e);
        }
    };
    Ok(Node {
        edge_addr: edge.edge_addr,
        admin_addr: admin.addr,
        token_source,
        registry,
        kv,
        observe,
        edge,
        admin,
    })
}

/// The KV store: Redis when `config.store` is a Redis URL, otherwise
/// tables in the script store's database.
fn open_kv(config: &Config, store: &Store) -> Result<Arc<KvStore>, RuntimeError> {
    let clock: Arc<dyn KvClock> = config.kv.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
    let backend: Arc<dyn KvBackend> = match config.store.as_deref().map(str::trim) {
        None | Some("") => Arc::new(
            EmbeddedKv::open(
                store.database(),
                clock.clone(),
                Duration::from_secs(config.kv.cleanup_interval_secs.max(1)),
            )
            .map_err(|e| RuntimeError::Store(e.to_string()))?,
        ),
        Some(url) if url.starts_with("redis://") || url.starts_with("redis+unix://") => {
            let kv = RedisKv::connect(
                url,
                config.kv.redis_pool_size,
                Duration::from_secs(config.kv.cleanup_interval_secs.max(1)),
                clock.clone(),
            )
            .map_err(|e| RuntimeError::Config(format!("--store {}: {e}", redact_url(url))))?;
            tracing::info!(store = %redact_url(url), "KV namespaces live in Redis");
            Arc::new(kv)
        }
        Some(other) => {
            let url = redact_url(other);
            return Err(RuntimeError::Config(format!(
                "--store {url}: use a redis://host:port[/db] URL, or no --store for the embedded store in --data-dir"
            )));
        }
    };
    let backend = match &config.kv.layer {
        Some(layer) => layer(backend),
        None => backend,
    };
    Ok(Arc::new(KvStore::new(backend, clock)))
}

/// A store URL without its password, for messages and logs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// The registry serving the store's current versions and routes.
fn load(store: &Store, kv: &Arc<KvStore>) -> Result<Registry, RuntimeError> {
    let mut scripts = Vec::new();
    for (record, version) in store.current_versions()? {
        tracing::info!(script = %record.name, version = version.version, "loaded script");
        scripts.push(version.to_script_version(&record.name).with_kv_store(kv));
    }
    if scripts.is_empty() {
        tracing::info!("no scripts yet: deploy one with `islet deploy FILE --name NAME --route '*/*'`");
    }
    let routes: Vec<Route> = store
        .routes()?
        .into_iter()
        .map(|r| Route {
            pattern: r.pattern,
            script: r.script,
        })
        .collect();
    let table = RouteTable::new(&routes).map_err(|e| RuntimeError::Store(format!("stored routes: {e}")))?;
    Ok(Registry::new(scripts, table))
}

/// Imports `<data-dir>/scripts/` and `routes.json` (the layout before the
/// store existed) into an empty store, once. Afterwards the folder is not
/// read again.
fn import_folder(store: &Store, data_dir: &Path) -> Result<(), RuntimeError> {
    let scripts_dir = data_dir.join("scripts");
    let routes_file = data_dir.join("routes.json");
    if !scripts_dir.exists() && !routes_file.exists() {
        return Ok(());
    }
    if !store.scripts()?.is_empty() {
        return Ok(());
    }
    let scripts = script::load_dir(&scripts_dir)?;
    let routes = load_routes(&routes_file)?;
    RouteTable::new(&routes).map_err(|e| RuntimeError::Config(format!("{}: {e}", routes_file.display())))?;
    let (count, route_count) = (scripts.len(), routes.len());
    let uploads = scripts.into_iter().map(|s| (s.name.clone(), as_upload(s))).collect();
    let routes: Vec<(String, String)> = routes.into_iter().map(|r| (r.pattern, r.script)).collect();
    if store.import_once(uploads, &routes)? {
        tracing::info!(
            scripts = count,
            routes = route_count,
            dir = %data_dir.display(),
            "imported scripts/ and routes.json into the store; they are not read again: deploy changes with `islet deploy`"
        );
    }
    Ok(())
}

fn as_upload(s: ScriptVersion) -> NewVersion {
    NewVersion {
        modules: s.modules,
        main: s.main,
        format: s.format,
        bindings: BindingsUpdate {
            vars: Some(s.vars),
            ..BindingsUpdate::default()
        },
        limits: None,
        routes: None,
    }
}

fn load_routes(path: &Path) -> Result<Vec<Route>, RuntimeError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            RuntimeError::Config(format!(
                "{}: {e} (expected [{{\"pattern\": \"example.com/*\", \"script\": \"name\"}}])",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(RuntimeError::io(path, e)),
    }
}
