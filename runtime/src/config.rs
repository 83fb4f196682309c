//! Configuration of `islet serve`: defaults, then `islet.toml`, then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::RuntimeError;

/// Effective settings for `islet serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Edge listen address.
    pub listen: SocketAddr,
    /// Admin API listen address.
    pub admin_listen: SocketAddr,
    /// Data directory: the script store and embedded KV (`islet.redb`), the
    /// generated admin token.
    pub data_dir: PathBuf,
    /// Worker threads; 0 means one per available core.
    pub workers: usize,
    /// Per-script limits.
    pub limits: LimitsConfig,
    /// Admin API settings.
    pub admin: AdminConfig,
    /// Where KV lives: unset for the embedded store in `data_dir`, or a
    /// `redis://` URL (`--store`) for a fleet.
    pub store: Option<String>,
    /// KV settings.
    pub kv: KvConfig,
    /// The drop-in proxy: where requests that match no route go.
    pub origin: OriginSection,
    /// Outbound `fetch()`: address policy, extra CA, timeouts.
    pub fetch: FetchSection,
    /// The TLS listener and its certificates; none without this section.
    pub tls: Option<TlsSection>,
    /// Protection of the edge listener.
    pub edge: EdgeSection,
    /// The process log and the request log line.
    pub log: LogSection,
}

/// `[log]`: where log lines go and which.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// Filter, as in `ISLET_LOG` (which overrides it): `info`, `warn`,
    /// `islet::request=debug,info`...
    pub level: String,
    /// `text` or `json` (one object per line).
    pub format: crate::observe::logging::LogFormat,
    /// Level of the one line logged per script request (target
    /// `islet::request`): `off`, `error`, `warn`, `info`, `debug`, `trace`.
    pub requests: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: crate::observe::logging::LogFormat::Text,
            requests: "debug".into(),
        }
    }
}

impl LogSection {
    /// The level of the request log line (`None`: off).
    pub fn request_level(&self) -> Result<Option<tracing::Level>, RuntimeError> {
        crate::observe::logging::parse_level(&self.requests)
            .map_err(|e| RuntimeError::Config(format!("[log] requests: {e}")))
    }
}

/// Settings of the KV binding (`[kv]` in `islet.toml`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KvConfig {
    /// Connections to Redis when `store` is a Redis URL.
    pub redis_pool_size: usize,
    /// How often expired keys are removed (from the embedded store, or
    /// from the listings of Redis, where values expire by themselves), seconds.
    pub cleanup_interval_secs: u64,
    /// The clock KV expirations are measured with; the system clock when
    /// unset. Set in code only, by tests that move time forward.
    #[serde(skip)]
    pub clock: Option<std::sync::Arc<dyn islet_bindings::kv::KvClock>>,
    /// Wraps the backend before scripts and the admin API use it: set in
    /// code only (tests hold KV calls in flight with it).
    #[serde(skip)]
    pub layer: Option<KvLayer>,
}

/// A function that wraps a KV backend in another (see [`KvConfig::layer`]).
pub type KvLayer = std::sync::Arc<
    dyn Fn(std::sync::Arc<dyn islet_bindings::kv::KvBackend>) -> std::sync::Arc<dyn islet_bindings::kv::KvBackend>
        + Send
        + Sync,
>;

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            redis_pool_size: islet_bindings::kv::redis::DEFAULT_POOL_SIZE,
            cleanup_interval_secs: islet_bindings::kv::embedded::DEFAULT_CLEANUP_INTERVAL.as_secs(),
            clock: None,
            layer: None,
        }
    }
}

impl std::fmt::Debug for KvConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvConfig")
            .field("redis_pool_size", &self.redis_pool_size)
            .field("cleanup_interval_secs", &self.cleanup_interval_secs)
            .field("clock", &self.clock.as_ref().map(|_| "<custom>"))
            .field("layer", &self.layer.as_ref().map(|_| "<custom>"))
            .finish()
    }
}

/// Settings of the admin API (`[admin]` in `islet.toml`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token. `ISLET_ADMIN_TOKEN` overrides it; with neither, islet
    /// generates one on first start and keeps it in `<data-dir>/admin-token`.
    pub token: Option<String>,
    /// Largest accepted upload (script or multipart body), bytes.
    pub max_upload_bytes: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            token: None,
            max_upload_bytes: 10 << 20,
        }
    }
}

// Hand-written so that the token never reaches a log line.
impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_upload_bytes", &self.max_upload_bytes)
            .finish()
    }
}

/// Default limits for every script, and the isolate lifecycle.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// CPU time per request, milliseconds.
    pub cpu_ms: u64,
    /// Wall time per request (until the response head), milliseconds.
    pub wall_ms: u64,
    /// V8 heap limit per isolate, MiB.
    pub heap_mb: usize,
    /// Outbound `fetch()` calls per request.
    pub subrequests: u32,
    /// CPU time a script's top level may take when it loads, milliseconds.
    pub startup_cpu_ms: u64,
    /// Isolates kept per worker thread (least recently used go first).
    pub isolates_per_thread: usize,
    /// Seconds an unused isolate is kept.
    pub isolate_idle_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = crate::isolate::IsolateOptions::default();
        LimitsConfig {
            cpu_ms: u64::try_from(d.limits.cpu.as_millis()).unwrap_or(50),
            wall_ms: u64::try_from(d.limits.wall.as_millis()).unwrap_or(30_000),
            heap_mb: d.limits.heap_bytes >> 20,
            subrequests: d.limits.subrequests,
            startup_cpu_ms: u64::try_from(d.limits.startup_cpu.as_millis()).unwrap_or(400),
            isolates_per_thread: d.max_isolates,
            isolate_idle_secs: d.idle_timeout.as_secs(),
        }
    }
}

impl LimitsConfig {
    /// The isolate settings these values describe.
    pub fn isolate_options(&self) -> crate::isolate::IsolateOptions {
        use std::time::Duration;
        crate::isolate::IsolateOptions {
            limits: crate::limits::Limits {
                cpu: Duration::from_millis(self.cpu_ms),
                wall: Duration::from_millis(self.wall_ms),
                heap_bytes: self.heap_mb.saturating_mul(1 << 20),
                subrequests: self.subrequests,
                startup_cpu: Duration::from_millis(self.startup_cpu_ms),
            },
            max_isolates: self.isolates_per_thread.max(1),
            idle_timeout: Duration::from_secs(self.isolate_idle_secs.max(1)),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            data_dir: PathBuf::from("./islet-data"),
            workers: 0,
            limits: LimitsConfig::default(),
            admin: AdminConfig::default(),
            store: None,
            kv: KvConfig::default(),
            origin: OriginSection::default(),
            fetch: FetchSection::default(),
            tls: None,
            edge: EdgeSection::default(),
            log: LogSection::default(),
        }
    }
}

impl Config {
    /// Reads `path` (TOML) over the defaults.
    pub fn from_file(path: &Path) -> Result<Config, RuntimeError> {
        let text = std::fs::read_to_string(path).map_err(|e| RuntimeError::io(path, e))?;
        toml::from_str(&text).map_err(|e| RuntimeError::Config(format!("{}: {e}", path.display())))
    }

    /// Worker threads to start: the configured number, or one per core.
    pub fn worker_threads(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
    }
}

/// `[origin]`: the drop-in proxy (`--origin URL` sets `url`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OriginSection {
    /// The origin's URL (`http://127.0.0.1:3000`, `https://origin.example`);
    /// requests that match no route are sent there. Unset: they get a 404.
    pub url: Option<String>,
    /// Extra CA certificates (PEM file) trusted for an https origin.
    pub ca_file: Option<PathBuf>,
    /// Time to connect to the origin, milliseconds.
    pub connect_timeout_ms: u64,
    /// Time until the origin's response head, milliseconds.
    pub timeout_ms: u64,
}

impl Default for OriginSection {
    fn default() -> Self {
        OriginSection {
            url: None,
            ca_file: None,
            connect_timeout_ms: 10_000,
            timeout_ms: 100_000,
        }
    }
}

/// `[fetch]`: outbound requests of scripts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchSection {
    /// Allow loopback, private, link-local and metadata addresses.
    pub allow_private: bool,
    /// Non-public networks allowed anyway, in CIDR notation.
    pub allow: Vec<String>,
    /// Extra CA certificates (PEM file) trusted besides the Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Time to resolve, connect and finish TLS, milliseconds.
    pub connect_timeout_ms: u64,
    /// Time from `fetch()` to the end of the response body, milliseconds.
    pub timeout_ms: u64,
    /// Redirects followed before `fetch()` rejects.
    pub max_redirects: u32,
}

impl Default for FetchSection {
    fn default() -> Self {
        let d = islet_bindings::fetch::FetchSettings::default();
        FetchSection {
            allow_private: d.allow_private,
            allow: Vec::new(),
            ca_file: None,
            connect_timeout_ms: u64::try_from(d.connect_timeout.as_millis()).unwrap_or(10_000),
            timeout_ms: u64::try_from(d.timeout.as_millis()).unwrap_or(60_000),
            max_redirects: d.max_redirects,
        }
    }
}

/// `[tls]`: the TLS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Listen address of the TLS edge, e.g. `0.0.0.0:8443`.
    pub listen: SocketAddr,
    /// How often certificate files are checked for changes, milliseconds.
    #[serde(default = "default_reload_ms")]
    pub reload_interval_ms: u64,
    /// `[[tls.certificates]]`: `hosts`, `cert` and `key`; the first also
    /// answers host names no entry lists.
    pub certificates: Vec<CertificateEntry>,
}

fn default_reload_ms() -> u64 {
    2_000
}

/// One `[[tls.certificates]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateEntry {
    /// Host names it serves (`example.com`, `*.example.com`).
    pub hosts: Vec<String>,
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[edge]`: protection of the edge listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeSection {
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Most bytes of one request head.
    pub max_header_bytes: usize,
    /// Time a client has to send a request head, milliseconds.
    pub header_read_timeout_ms: u64,
    /// Time a client has to finish the TLS handshake, milliseconds.
    pub tls_handshake_timeout_ms: u64,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// At shutdown (SIGTERM), how long in-flight requests may take, milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for EdgeSection {
    fn default() -> Self {
        let d = crate::server::Protection::default();
        EdgeSection {
            max_headers: d.max_headers,
            max_header_bytes: d.max_header_bytes,
            header_read_timeout_ms: u64::try_from(d.header_read_timeout.as_millis()).unwrap_or(10_000),
            tls_handshake_timeout_ms: u64::try_from(d.tls_handshake_timeout.as_millis()).unwrap_or(10_000),
            max_concurrent_streams: d.max_concurrent_streams,
            shutdown_grace_ms: u64::try_from(d.shutdown_grace.as_millis()).unwrap_or(30_000),
        }
    }
}

impl Config {
    /// The edge settings these sections describe (TLS, origin, fetch,
    /// protection); fails on a bad origin URL or CIDR.
    pub fn edge_options(&self) -> Result<crate::server::EdgeOptions, RuntimeError> {
        use std::time::Duration;
        let origin = match &self.origin.url {
            Some(url) => {
                let mut o = crate::server::OriginOptions::parse(url)?;
                o.ca_file.clone_from(&self.origin.ca_file);
                o.connect_timeout = Duration::from_millis(self.origin.connect_timeout_ms);
                o.timeout = Duration::from_millis(self.origin.timeout_ms);
                Some(o)
            }
            None => None,
        };
        let allow = self
            .fetch
            .allow
            .iter()
            .map(|c| {
                c.parse()
                    .map_err(|e| RuntimeError::Config(format!("[fetch] allow: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fetch = islet_bindings::fetch::FetchSettings {
            allow_private: self.fetch.allow_private,
            allow,
            ca_file: self.fetch.ca_file.clone(),
            connect_timeout: Duration::from_millis(self.fetch.connect_timeout_ms),
            timeout: Duration::from_millis(self.fetch.timeout_ms),
            max_redirects: self.fetch.max_redirects,
        };
        let tls = self.tls.as_ref().map(|t| crate::server::TlsOptions {
            listen: t.listen,
            reload_interval: Duration::from_millis(t.reload_interval_ms),
            certificates: t
                .certificates
                .iter()
                .map(|c| crate::server::CertSpec {
                    hosts: c.hosts.clone(),
                    cert: c.cert.clone(),
                    key: c.key.clone(),
                })
                .collect(),
        });
        let e = &self.edge;
        let protection = crate::server::Protection {
            max_headers: e.max_headers,
            max_header_bytes: e.max_header_bytes,
            header_read_timeout: Duration::from_millis(e.header_read_timeout_ms),
            tls_handshake_timeout: Duration::from_millis(e.tls_handshake_timeout_ms),
            max_concurrent_streams: e.max_concurrent_streams,
            shutdown_grace: Duration::from_millis(e.shutdown_grace_ms),
        };
        Ok(crate::server::EdgeOptions {
            tls,
            origin,
            fetch,
            protection,
        })
    }
}

#[cfg(test)]
mod edge_config_tests {
    use super::*;

    #[test]
    fn the_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/islet.toml");
        let config = Config::from_file(&path).unwrap();
        let edge = config.edge_options().unwrap();
        assert!(edge.origin.is_none());
        assert!(!edge.fetch.allow_private);
    }

    #[test]
    fn edge_sections_become_options() {
        let config: Config = toml::from_str(
            r#"
            [origin]
            url = "https://origin.internal:8443/app"
            timeout_ms = 5000
            [fetch]
            allow = ["10.0.0.0/8", "::1"]
            max_redirects = 3
            [tls]
            listen = "127.0.0.1:8443"
            [[tls.certificates]]
            hosts = ["a.test"]
            cert = "a.crt"
            key = "a.key"
            [edge]
            max_headers = 50
            header_read_timeout_ms = 2500
            "#,
        )
        .unwrap();
        let edge = config.edge_options().unwrap();
        let origin = edge.origin.unwrap();
        assert_eq!(origin.url.to_string(), "https://origin.internal:8443/app");
        assert_eq!(origin.timeout, std::time::Duration::from_secs(5));
        assert_eq!(edge.fetch.allow.len(), 2);
        assert_eq!(edge.fetch.max_redirects, 3);
        let tls = edge.tls.unwrap();
        assert_eq!(tls.certificates[0].hosts, vec!["a.test".to_string()]);
        assert_eq!(tls.reload_interval, std::time::Duration::from_secs(2));
        assert_eq!(edge.protection.max_headers, 50);
        assert_eq!(
            edge.protection.header_read_timeout,
            std::time::Duration::from_millis(2500)
        );
    }

    #[test]
    fn bad_edge_settings_are_refused() {
        let bad_cidr: Config = toml::from_str("[fetch]\nallow = [\"10.0.0.0/40\"]").unwrap();
        assert!(bad_cidr.edge_options().is_err());
        let bad_origin: Config = toml::from_str("[origin]\nurl = \"ftp://x\"").unwrap();
        assert!(bad_origin.edge_options().is_err());
        assert!(toml::from_str::<Config>("[fetch]\nallow_privat = true").is_err());
    }

    #[test]
    fn the_example_config_parses_and_sets_the_limits() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/islet.toml");
        let config = Config::from_file(&path).unwrap();
        let o = config.limits.isolate_options();
        assert_eq!(o.limits.cpu, std::time::Duration::from_millis(50));
        assert_eq!(o.limits.wall, std::time::Duration::from_secs(30));
        assert_eq!(o.limits.heap_bytes, 128 << 20);
        assert_eq!(o.max_isolates, 1000);
    }
}
