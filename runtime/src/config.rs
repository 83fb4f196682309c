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
    /// Data directory (scripts, routes, KV).
    pub data_dir: PathBuf,
    /// Worker threads; 0 means one per available core.
    pub workers: usize,
    /// Per-script limits.
    pub limits: LimitsConfig,
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
