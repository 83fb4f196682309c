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
    /// Data directory: the script store (`islet.redb`), the generated admin
    /// token, later KV.
    pub data_dir: PathBuf,
    /// Worker threads; 0 means one per available core.
    pub workers: usize,
    /// Per-script limits.
    pub limits: LimitsConfig,
    /// Admin API settings.
    pub admin: AdminConfig,
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

/// Default limits for every script.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// V8 heap limit per isolate, MiB.
    pub heap_mb: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { heap_mb: 128 }
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
