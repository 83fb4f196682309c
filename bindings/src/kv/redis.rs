//! The Redis KV backend, for fleets (`islet serve --store redis://...`):
//! every node sees the same keys.
//!
//! Layout, per namespace `ns` (its length first, so that no namespace and
//! key can spell another's): `islet:kv:{<len>:<ns>}:v:<key>` is a hash
//! with the value (`v`), the metadata JSON (`m`, when set) and the
//! expiration (`e`, Unix seconds, 0 for none), given a native TTL when it
//! expires; `islet:kv:{<len>:<ns>}:i` is a sorted set of the keys (all
//! score 0, so it sorts by bytes) that listings page through with
//! `ZRANGEBYLEX`. A key whose hash Redis already expired is dropped from
//! the set when a listing meets it. Keys that expire are also in one sorted
//! set by expiration, `islet:kv:expiring` (members `<len>:<ns>:<key>`),
//! which a cleanup task walks every `cleanup_interval` to drop them from
//! their namespace's set, so sets of namespaces nobody lists do not grow.
//! Puts and deletes change all three in one `MULTI`. Expirations are also
//! checked on read against the backend's clock, so a clock moved forward
//! in tests hides keys as Redis would. Redis Cluster is not supported (the
//! cleanup script touches keys of several namespaces).
//!
//! The connections (a small pool of multiplexed `ConnectionManager`s that
//! reconnect by themselves) live on a thread of their own with its own
//! tokio runtime: calls from worker threads are handed to it and awaited,
//! so no worker thread ever blocks on the network.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::oneshot;

use super::backend::{KvBackend, KvClock, KvError, KvFuture, KvKey, KvKeys, KvListQuery, KvValue};

/// Connections in the pool by default.
pub const DEFAULT_POOL_SIZE: usize = 4;
/// How long connecting may take at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one command may take before it fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys a listing asks Redis for at a time, beyond the page's limit.
const LIST_SLACK: usize = 16;
/// The sorted set of keys with an expiration, by expiration.
const EXPIRING: &str = "islet:kv:expiring";
/// Most expired keys one cleanup round removes.
const CLEANUP_BATCH: usize = 1000;

/// Removes up to ARGV[2] keys of KEYS[1] (the expiring set) whose
/// expiration is at most ARGV[1] from their namespace (hash and index).
/// Atomic, so a key written again meanwhile (with a new score) is kept.
const CLEANUP_SCRIPT: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local colon = string.find(m, ':', 1, true)
  local len = tonumber(string.sub(m, 1, colon - 1))
  local ns = string.sub(m, colon + 1, colon + len)
  local key = string.sub(m, colon + len + 2)
  local prefix = 'islet:kv:{' .. len .. ':' .. ns .. '}'
  redis.call('DEL', prefix .. ':v:' .. key)
  redis.call('ZREM', prefix .. ':i', key)
  redis.call('ZREM', KEYS[1], m)
end
return #due
";

/// KV in Redis.
pub struct RedisKv {
    pool: Vec<ConnectionManager>,
    next: AtomicUsize,
    runtime: tokio::runtime::Handle,
    clock: Arc<dyn KvClock>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

type Started = Result<(Vec<ConnectionManager>, tokio::runtime::Handle), KvError>;

impl RedisKv {
    /// Connects `pool_size` connections to `url` (`redis://[user:pass@]host:port[/db]`)
    /// and removes expired keys from the listings every `cleanup_interval`.
    /// Blocks the calling thread until connected, at most a few seconds.
    pub fn connect(
        url: &str,
        pool_size: usize,
        cleanup_interval: Duration,
        clock: Arc<dyn KvClock>,
    ) -> Result<RedisKv, KvError> {
        let client = redis::Client::open(url).map_err(|e| KvError::backend(format!("invalid Redis URL: {e}")))?;
        let (started_tx, started_rx) = std::sync::mpsc::channel::<Started>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let pool_size = pool_size.max(1);
        let cleanup_clock = clock.clone();
        let thread = std::thread::Builder::new()
            .name("islet-redis".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = started_tx.send(Err(KvError::backend(format!("cannot start the Redis runtime: {e}"))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(CONNECT_TIMEOUT))
                        .set_response_timeout(Some(RESPONSE_TIMEOUT))
                        .set_number_of_retries(2);
                    let mut pool = Vec::with_capacity(pool_size);
                    for _ in 0..pool_size {
                        let made = tokio::time::timeout(
                            CONNECT_TIMEOUT,
                            ConnectionManager::new_with_config(client.clone(), config.clone()),
                        )
                        .await;
                        match made {
                            Ok(Ok(c)) => pool.push(c),
                            Ok(Err(e)) => {
                                let _ = started_tx.send(Err(KvError::backend(format!("cannot connect to Redis: {e}"))));
                                return;
                            }
                            Err(_) => {
                                let _ = started_tx.send(Err(KvError::backend(format!(
                                    "cannot connect to Redis within {} s",
                                    CONNECT_TIMEOUT.as_secs()
                                ))));
                                return;
                            }
                        }
                    }
                    let cleaner = pool.first().cloned();
                    let _ = started_tx.send(Ok((pool, tokio::runtime::Handle::current())));
                    // Serve the connections' tasks, and clean up, until the
                    // backend is dropped.
                    if let Some(conn) = cleaner {
                        tokio::select! {
                            _ = stop_rx => {}
                            () = cleanup_loop(conn, cleanup_clock, cleanup_interval) => {}
                        }
                    } else {
                        let _ = stop_rx.await;
                    }
                });
            })
            .map_err(|e| KvError::backend(format!("cannot start the Redis thread: {e}")))?;
        let started = started_rx
            .recv()
            .unwrap_or_else(|_| Err(KvError::backend("the Redis thread stopped while connecting")));
        let (pool, runtime) = match started {
            Ok(s) => s,
            Err(e) => {
                let _ = thread.join();
                return Err(e);
            }
        };
        Ok(RedisKv {
            pool,
            next: AtomicUsize::new(0),
            runtime,
            clock,
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `f` with a pooled connection on the Redis thread.
    fn run<T, F>(&self, f: impl FnOnce(ConnectionManager, Arc<dyn KvClock>) -> F) -> KvFuture<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, KvError>> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len().max(1);
        let Some(conn) = self.pool.get(i).cloned() else {
            return Box::pin(async { Err(KvError::backend("no Redis connection")) });
        };
        let task = self.runtime.spawn(f(conn, self.clock.clone()));
        Box::pin(async move { task.await.map_err(|e| KvError::backend(format!("Redis task: {e}")))? })
    }
}

impl Drop for RedisKv {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// Every `interval`, removes the keys expired by `clock` from the listings.
async fn cleanup_loop(mut conn: ConnectionManager, clock: Arc<dyn KvClock>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        loop {
            match purge_expired(&mut conn, clock.now()).await {
                Ok(n) if n >= CLEANUP_BATCH => continue,
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "KV cleanup removed expired keys from Redis listings"),
                Err(e) => tracing::warn!("KV cleanup in Redis failed: {e}"),
            }
            break;
        }
    }
}

/// Removes up to [`CLEANUP_BATCH`] keys expired at `now`; returns how many.
async fn purge_expired(conn: &mut ConnectionManager, now: u64) -> Result<usize, KvError> {
    redis::cmd("EVAL")
        .arg(CLEANUP_SCRIPT)
        .arg(1)
        .arg(EXPIRING)
        .arg(now)
        .arg(CLEANUP_BATCH)
        .query_async(conn)
        .await
        .map_err(redis_error)
}

/// The member of [`EXPIRING`] for `key` of `namespace`.
fn expiring_member(namespace: &str, key: &str) -> Vec<u8> {
    let mut m = format!("{}:{namespace}:", namespace.len()).into_bytes();
    m.extend_from_slice(key.as_bytes());
    m
}

fn namespace_prefix(namespace: &str) -> String {
    format!("islet:kv:{{{}:{namespace}}}", namespace.len())
}

fn value_key(namespace: &str, key: &str) -> Vec<u8> {
    let mut k = namespace_prefix(namespace).into_bytes();
    k.extend_from_slice(b":v:");
    k.extend_from_slice(key.as_bytes());
    k
}

fn index_key(namespace: &str) -> String {
    format!("{}:i", namespace_prefix(namespace))
}

fn redis_error(e: redis::RedisError) -> KvError {
    KvError::backend(format!("Redis: {e}"))
}

impl KvBackend for RedisKv {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn get(&self, namespace: &str, key: &str) -> KvFuture<Option<KvValue>> {
        let vkey = value_key(namespace, key);
        self.run(move |mut conn, clock| async move {
            let (value, metadata, expiration): (Option<Vec<u8>>, Option<String>, Option<u64>) = redis::cmd("HMGET")
                .arg(&vkey)
                .arg("v")
                .arg("m")
                .arg("e")
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            let Some(value) = value else {
                return Ok(None);
            };
            let expiration = expiration.filter(|e| *e != 0);
            if expiration.is_some_and(|e| e <= clock.now()) {
                return Ok(None);
            }
            Ok(Some(KvValue {
                value,
                metadata,
                expiration,
            }))
        })
    }

    fn put(&self, namespace: &str, key: &str, value: KvValue) -> KvFuture<()> {
        let vkey = value_key(namespace, key);
        let ikey = index_key(namespace);
        let member = expiring_member(namespace, key);
        let name = key.to_string();
        self.run(move |mut conn, clock| async move {
            let mut pipe = redis::pipe();
            pipe.atomic();
            pipe.cmd("DEL").arg(&vkey).ignore();
            let hset = pipe.cmd("HSET").arg(&vkey).arg("v").arg(value.value.as_slice());
            hset.arg("e").arg(value.expiration.unwrap_or(0));
            if let Some(m) = &value.metadata {
                hset.arg("m").arg(m.as_str());
            }
            hset.ignore();
            if let Some(at) = value.expiration {
                // Relative to the backend's clock, which is the system
                // clock outside tests.
                let ttl = at.saturating_sub(clock.now()).max(1);
                pipe.cmd("EXPIRE").arg(&vkey).arg(ttl).ignore();
                pipe.cmd("ZADD").arg(EXPIRING).arg(at).arg(&member).ignore();
            } else {
                pipe.cmd("ZREM").arg(EXPIRING).arg(&member).ignore();
            }
            pipe.cmd("ZADD").arg(&ikey).arg(0).arg(name.as_str()).ignore();
            pipe.query_async::<()>(&mut conn).await.map_err(redis_error)
        })
    }

    fn delete(&self, namespace: &str, key: &str) -> KvFuture<()> {
        let vkey = value_key(namespace, key);
        let ikey = index_key(namespace);
        let member = expiring_member(namespace, key);
        let name = key.to_string();
        self.run(move |mut conn, _| async move {
            redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(&vkey)
                .ignore()
                .cmd("ZREM")
                .arg(&ikey)
                .arg(name.as_str())
                .ignore()
                .cmd("ZREM")
                .arg(EXPIRING)
                .arg(&member)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(redis_error)
        })
    }

    fn list(&self, namespace: &str, query: KvListQuery) -> KvFuture<KvKeys> {
        let namespace = namespace.to_string();
        self.run(move |mut conn, clock| async move {
            let ikey = index_key(&namespace);
            let mut min: Vec<u8> = match &query.after {
                Some(after) if after.as_str() >= query.prefix.as_str() => [b"(", after.as_bytes()].concat(),
                _ => [b"[", query.prefix.as_bytes()].concat(),
            };
            // UTF-8 never has a 0xff byte: every key with the prefix sorts before this.
            let max: Vec<u8> = if query.prefix.is_empty() {
                b"+".to_vec()
            } else {
                [b"(", query.prefix.as_bytes(), &[0xff]].concat()
            };
            let now = clock.now();
            let mut page = KvKeys::default();
            let mut stale: Vec<String> = Vec::new();
            loop {
                let want = query.limit + 1 - page.keys.len() + LIST_SLACK;
                let names: Vec<Vec<u8>> = redis::cmd("ZRANGEBYLEX")
                    .arg(&ikey)
                    .arg(&min)
                    .arg(&max)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(want)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_error)?;
                if names.is_empty() {
                    break;
                }
                let mut pipe = redis::pipe();
                for name in &names {
                    let name = String::from_utf8_lossy(name);
                    pipe.cmd("HMGET").arg(value_key(&namespace, &name)).arg("e").arg("m");
                }
                let fields: Vec<(Option<u64>, Option<String>)> =
                    pipe.query_async(&mut conn).await.map_err(redis_error)?;
                for (name, (expiration, metadata)) in names.iter().zip(fields) {
                    let name = String::from_utf8_lossy(name).into_owned();
                    let Some(expiration) = expiration else {
                        stale.push(name);
                        continue;
                    };
                    let key = KvKey {
                        name,
                        expiration: Some(expiration).filter(|e| *e != 0),
                        metadata,
                    };
                    if !page.offer(key, now, query.limit) {
                        break;
                    }
                }
                if page.more || names.len() < want {
                    break;
                }
                if let Some(last) = names.last() {
                    min = [b"(", last.as_slice()].concat();
                }
            }
            if !stale.is_empty() {
                // Keys whose hash Redis expired: the index forgets them.
                let removed: Result<(), _> = redis::cmd("ZREM").arg(&ikey).arg(&stale).query_async(&mut conn).await;
                if let Err(e) = removed {
                    tracing::debug!("dropping expired keys from a KV index failed: {e}");
                }
            }
            Ok(page)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_different_namespaces_never_meet() {
        assert_ne!(value_key("a", "b:v:c"), value_key("a:v:b", "c"));
        assert_ne!(value_key("a}", "x"), value_key("a", "}x"));
        assert_eq!(index_key("cache"), "islet:kv:{5:cache}:i");
        assert_eq!(value_key("cache", "k"), b"islet:kv:{5:cache}:v:k".to_vec());
        assert_eq!(expiring_member("cache", "a:b"), b"5:cache:a:b".to_vec());
    }
}
