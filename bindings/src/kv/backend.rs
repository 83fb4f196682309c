//! The storage contract of the KV binding: the [`KvBackend`] trait, the
//! records a backend keeps, the [`KvClock`] that decides when a key has
//! expired, and [`KvError`]. The backends are `embedded.rs` (redb, the
//! default) and `redis.rs` (fleets).
//!
//! Not for checking what callers pass (key sizes, TTLs, list limits): that
//! is [`super::KvStore`], shared by every backend, so a backend only stores
//! and finds.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The time KV expirations are measured against, in Unix seconds.
///
/// Backends take one at construction so that tests can move time forward
/// instead of sleeping for the 60 seconds a TTL lasts at least.
pub trait KvClock: Send + Sync {
    /// Now, in seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl KvClock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// A clock that moves only when told: for tests of expiration.
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading the current system time until it is moved.
    pub fn new() -> ManualClock {
        ManualClock::starting_at(SystemClock.now())
    }

    /// A clock reading `secs` until it is moved.
    pub fn starting_at(secs: u64) -> ManualClock {
        ManualClock(AtomicU64::new(secs))
    }

    /// Moves the clock `secs` seconds forward.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock to `secs`.
    pub fn set(&self, secs: u64) {
        self.0.store(secs, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl KvClock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A stored value and what is kept beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvValue {
    /// The value's bytes.
    pub value: Vec<u8>,
    /// The metadata, as JSON text.
    pub metadata: Option<String>,
    /// When the key expires, Unix seconds.
    pub expiration: Option<u64>,
}

/// One key of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvKey {
    /// The key.
    pub name: String,
    /// When it expires, Unix seconds.
    pub expiration: Option<u64>,
    /// Its metadata, as JSON text.
    pub metadata: Option<String>,
}

/// What to list: keys of one namespace that start with `prefix` and sort
/// after `after` (exclusive), in byte order, at most `limit` of them.
#[derive(Debug, Clone, Default)]
pub struct KvListQuery {
    /// Keys start with this.
    pub prefix: String,
    /// Keys sort after this one (the last key of the previous page).
    pub after: Option<String>,
    /// Most keys to return.
    pub limit: usize,
}

/// A page of keys, in byte order, without expired ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvKeys {
    /// The keys.
    pub keys: Vec<KvKey>,
    /// Whether more keys follow the last one.
    pub more: bool,
}

impl KvKeys {
    /// Adds a listed key to the page, unless it expired by `now` (Unix
    /// seconds). Once the page holds `limit` keys, notes that more follow
    /// and returns `false`: the listing stops there.
    pub fn offer(&mut self, key: KvKey, now: u64, limit: usize) -> bool {
        if key.expiration.is_some_and(|e| e <= now) {
            return true;
        }
        if self.keys.len() == limit {
            self.more = true;
            return false;
        }
        self.keys.push(key);
        true
    }
}

/// Errors of the KV binding.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The caller's input breaks a KV rule. `status` is the HTTP status
    /// Workers KV answers with (400, 413 or 414); `message` is its text.
    #[error("{message}")]
    Invalid {
        /// HTTP status.
        status: u16,
        /// What is wrong, in Workers KV's words.
        message: String,
    },
    /// The script has no KV store to talk to (an isolate made for a
    /// compile check, or a node started without one).
    #[error("KV is not available here")]
    Unavailable,
    /// The storage failed (database error, Redis unreachable).
    #[error("KV storage failed: {0}")]
    Backend(String),
}

impl KvError {
    /// An input error with this status.
    pub fn invalid(status: u16, message: impl Into<String>) -> KvError {
        KvError::Invalid {
            status,
            message: message.into(),
        }
    }

    /// A storage error.
    pub fn backend(e: impl std::fmt::Display) -> KvError {
        KvError::Backend(e.to_string())
    }
}

/// A backend operation in flight. `Send` and `'static`, so that the
/// backend may run it on a thread or runtime of its own.
pub type KvFuture<T> = Pin<Box<dyn Future<Output = Result<T, KvError>> + Send + 'static>>;

/// Where KV data lives. Every method must leave the calling thread free:
/// blocking work (disk, network) happens elsewhere and the future only
/// waits for it. Keys and values come already checked by
/// [`super::KvStore`]; a backend must never return an expired key
/// according to its clock.
pub trait KvBackend: Send + Sync {
    /// A short name for logs and benchmarks (`embedded`, `redis`).
    fn kind(&self) -> &'static str;

    /// The value of `key` in `namespace`, with its metadata and expiration.
    fn get(&self, namespace: &str, key: &str) -> KvFuture<Option<KvValue>>;

    /// Stores `value` under `key`, replacing what was there (its metadata
    /// and expiration too). Durable when the future completes.
    fn put(&self, namespace: &str, key: &str, value: KvValue) -> KvFuture<()>;

    /// Removes `key`; removing a missing key succeeds.
    fn delete(&self, namespace: &str, key: &str) -> KvFuture<()>;

    /// A page of keys (see [`KvListQuery`]).
    fn list(&self, namespace: &str, query: KvListQuery) -> KvFuture<KvKeys>;
}
