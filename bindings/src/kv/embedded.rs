//! The embedded KV backend: tables in the node's redb database (the same
//! file as the script store, `<data-dir>/islet.redb`), durable and
//! crash-safe like the rest of the store.
//!
//! Reads run on tokio's blocking pool, so a worker thread never waits on
//! the disk. Writes go to one writer thread that commits whatever has
//! queued up in one transaction (group commit): one fsync serves many
//! concurrent puts, and each put is durable when its future completes.
//! Expired keys are hidden on read and removed by the writer thread when
//! it is idle (every `cleanup_interval`) and at start.
//!
//! Tables: `kv_meta` ((namespace, key) -> expiration and metadata, small,
//! what a listing reads), `kv_values` ((namespace, key) -> bytes) and
//! `kv_expiry` ((expiration, namespace, key) -> (), the cleanup index).

use std::ops::Bound;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;

use super::backend::{KvBackend, KvClock, KvError, KvFuture, KvKey, KvKeys, KvListQuery, KvValue};

const META: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("kv_meta");
const VALUES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("kv_values");
const EXPIRY: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("kv_expiry");

/// Most writes one transaction takes, and most value bytes.
const BATCH_WRITES: usize = 512;
const BATCH_BYTES: usize = 64 << 20;
/// Most expired keys one cleanup transaction removes.
const CLEANUP_BATCH: usize = 10_000;

/// How often the writer thread removes expired keys by default.
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

enum WriteOp {
    Put {
        namespace: String,
        key: String,
        value: KvValue,
    },
    Delete {
        namespace: String,
        key: String,
    },
}

struct Write {
    op: WriteOp,
    done: oneshot::Sender<Result<(), KvError>>,
}

/// KV in the node's redb database.
pub struct EmbeddedKv {
    db: Arc<Database>,
    clock: Arc<dyn KvClock>,
    writer: Mutex<Option<mpsc::Sender<Write>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl EmbeddedKv {
    /// KV tables in `db` (created when missing), expired keys removed
    /// every `cleanup_interval`.
    pub fn open(db: Arc<Database>, clock: Arc<dyn KvClock>, cleanup_interval: Duration) -> Result<EmbeddedKv, KvError> {
        let txn = db.begin_write().map_err(KvError::backend)?;
        txn.open_table(META).map_err(KvError::backend)?;
        txn.open_table(VALUES).map_err(KvError::backend)?;
        txn.open_table(EXPIRY).map_err(KvError::backend)?;
        txn.commit().map_err(KvError::backend)?;
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            db: db.clone(),
            clock: clock.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("islet-kv-writer".into())
            .spawn(move || writer.run(&rx, cleanup_interval))
            .map_err(|e| KvError::backend(format!("cannot start the KV writer thread: {e}")))?;
        Ok(EmbeddedKv {
            db,
            clock,
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Removes every key expired by now; returns how many. The writer
    /// thread does this by itself; tests call it to see it done.
    pub fn purge_expired(&self) -> Result<usize, KvError> {
        Writer {
            db: self.db.clone(),
            clock: self.clock.clone(),
        }
        .purge_expired()
    }

    fn write(&self, op: WriteOp) -> KvFuture<()> {
        let (done, rx) = oneshot::channel();
        let sent = match self.writer.lock() {
            Ok(guard) => guard.as_ref().is_some_and(|tx| tx.send(Write { op, done }).is_ok()),
            Err(_) => false,
        };
        Box::pin(async move {
            if !sent {
                return Err(KvError::backend("the KV writer has stopped"));
            }
            rx.await
                .unwrap_or_else(|_| Err(KvError::backend("the KV writer has stopped")))
        })
    }

    /// Runs `f` with a read transaction on the blocking pool.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction, u64) -> Result<T, KvError> + Send + 'static,
    ) -> KvFuture<T> {
        let db = self.db.clone();
        let clock = self.clock.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let txn = db.begin_read().map_err(KvError::backend)?;
                f(&txn, clock.now())
            })
            .await
            .map_err(|e| KvError::backend(format!("KV read task: {e}")))?
        })
    }
}

impl Drop for EmbeddedKv {
    fn drop(&mut self) {
        // Closing the channel stops the writer once the queue is written;
        // waiting for it means the database is closed when this returns.
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl KvBackend for EmbeddedKv {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn get(&self, namespace: &str, key: &str) -> KvFuture<Option<KvValue>> {
        let (namespace, key) = (namespace.to_string(), key.to_string());
        self.read(move |txn, now| {
            let meta = txn.open_table(META).map_err(KvError::backend)?;
            let Some(entry) = meta.get((namespace.as_str(), key.as_str())).map_err(KvError::backend)? else {
                return Ok(None);
            };
            let (expiration, metadata) = decode_meta(entry.value())?;
            if expiration.is_some_and(|e| e <= now) {
                return Ok(None);
            }
            let values = txn.open_table(VALUES).map_err(KvError::backend)?;
            let value = values
                .get((namespace.as_str(), key.as_str()))
                .map_err(KvError::backend)?
                .map(|v| v.value().to_vec())
                .unwrap_or_default();
            Ok(Some(KvValue {
                value,
                metadata,
                expiration,
            }))
        })
    }

    fn put(&self, namespace: &str, key: &str, value: KvValue) -> KvFuture<()> {
        self.write(WriteOp::Put {
            namespace: namespace.to_string(),
            key: key.to_string(),
            value,
        })
    }

    fn delete(&self, namespace: &str, key: &str) -> KvFuture<()> {
        self.write(WriteOp::Delete {
            namespace: namespace.to_string(),
            key: key.to_string(),
        })
    }

    fn list(&self, namespace: &str, query: KvListQuery) -> KvFuture<KvKeys> {
        let namespace = namespace.to_string();
        self.read(move |txn, now| {
            let meta = txn.open_table(META).map_err(KvError::backend)?;
            let start = match &query.after {
                Some(after) if after.as_str() >= query.prefix.as_str() => {
                    Bound::Excluded((namespace.as_str(), after.as_str()))
                }
                _ => Bound::Included((namespace.as_str(), query.prefix.as_str())),
            };
            let mut page = KvKeys::default();
            for entry in meta
                .range::<(&str, &str)>((start, Bound::Unbounded))
                .map_err(KvError::backend)?
            {
                let (k, v) = entry.map_err(KvError::backend)?;
                let (ns, name) = k.value();
                if ns != namespace || !name.starts_with(query.prefix.as_str()) {
                    break;
                }
                let (expiration, metadata) = decode_meta(v.value())?;
                let key = KvKey {
                    name: name.to_string(),
                    expiration,
                    metadata,
                };
                if !page.offer(key, now, query.limit) {
                    break;
                }
            }
            Ok(page)
        })
    }
}

/// `kv_meta` values: a flags byte (1: expiration follows, 2: metadata
/// follows), the expiration as 8 little-endian bytes, the metadata's JSON.
fn encode_meta(expiration: Option<u64>, metadata: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + metadata.map_or(0, str::len));
    out.push(u8::from(expiration.is_some()) | (u8::from(metadata.is_some()) << 1));
    if let Some(e) = expiration {
        out.extend_from_slice(&e.to_le_bytes());
    }
    if let Some(m) = metadata {
        out.extend_from_slice(m.as_bytes());
    }
    out
}

fn decode_meta(bytes: &[u8]) -> Result<(Option<u64>, Option<String>), KvError> {
    let corrupt = || KvError::backend("corrupt KV record");
    let (&flags, mut rest) = bytes.split_first().ok_or_else(corrupt)?;
    let expiration = if flags & 1 != 0 {
        let (head, tail) = rest.split_at_checked(8).ok_or_else(corrupt)?;
        rest = tail;
        Some(u64::from_le_bytes(head.try_into().map_err(|_| corrupt())?))
    } else {
        None
    };
    let metadata = if flags & 2 != 0 {
        Some(String::from_utf8(rest.to_vec()).map_err(|_| corrupt())?)
    } else {
        None
    };
    Ok((expiration, metadata))
}

/// The writer thread's state.
struct Writer {
    db: Arc<Database>,
    clock: Arc<dyn KvClock>,
}

impl Writer {
    fn run(self, rx: &mpsc::Receiver<Write>, cleanup_interval: Duration) {
        if let Err(e) = self.purge_expired() {
            tracing::warn!("KV cleanup failed: {e}");
        }
        loop {
            match rx.recv_timeout(cleanup_interval) {
                Ok(first) => {
                    let mut bytes = op_bytes(&first.op);
                    let mut batch = vec![first];
                    while batch.len() < BATCH_WRITES && bytes < BATCH_BYTES {
                        match rx.try_recv() {
                            Ok(w) => {
                                bytes += op_bytes(&w.op);
                                batch.push(w);
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit(batch);
                }
                Err(RecvTimeoutError::Timeout) => match self.purge_expired() {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(removed = n, "KV cleanup removed expired keys"),
                    Err(e) => tracing::warn!("KV cleanup failed: {e}"),
                },
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Applies `batch` in one transaction; every write of it gets the outcome.
    fn commit(&self, batch: Vec<Write>) {
        let outcome = self
            .db
            .begin_write()
            .map_err(KvError::backend)
            .and_then(|txn| match apply(&txn, &batch) {
                Ok(()) => txn.commit().map_err(KvError::backend),
                Err(e) => {
                    let _ = txn.abort();
                    Err(e)
                }
            });
        for write in batch {
            let result = match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(KvError::backend(e)),
            };
            let _ = write.done.send(result);
        }
    }

    fn purge_expired(&self) -> Result<usize, KvError> {
        let now = self.clock.now();
        let txn = self.db.begin_write().map_err(KvError::backend)?;
        let removed = {
            let mut expiry = txn.open_table(EXPIRY).map_err(KvError::backend)?;
            let due: Vec<(u64, String, String)> = expiry
                .range::<(u64, &str, &str)>(..(now.saturating_add(1), "", ""))
                .map_err(KvError::backend)?
                .take(CLEANUP_BATCH)
                .map(|entry| {
                    entry.map(|(k, _)| {
                        let (at, ns, key) = k.value();
                        (at, ns.to_string(), key.to_string())
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(KvError::backend)?;
            let mut meta = txn.open_table(META).map_err(KvError::backend)?;
            let mut values = txn.open_table(VALUES).map_err(KvError::backend)?;
            for (at, ns, key) in &due {
                expiry
                    .remove((*at, ns.as_str(), key.as_str()))
                    .map_err(KvError::backend)?;
                meta.remove((ns.as_str(), key.as_str())).map_err(KvError::backend)?;
                values.remove((ns.as_str(), key.as_str())).map_err(KvError::backend)?;
            }
            due.len()
        };
        if removed == 0 {
            let _ = txn.abort();
            return Ok(0);
        }
        txn.commit().map_err(KvError::backend)?;
        Ok(removed)
    }
}

fn op_bytes(op: &WriteOp) -> usize {
    match op {
        WriteOp::Put { value, .. } => value.value.len(),
        WriteOp::Delete { .. } => 0,
    }
}

fn apply(txn: &WriteTransaction, batch: &[Write]) -> Result<(), KvError> {
    let mut meta = txn.open_table(META).map_err(KvError::backend)?;
    let mut values = txn.open_table(VALUES).map_err(KvError::backend)?;
    let mut expiry = txn.open_table(EXPIRY).map_err(KvError::backend)?;
    for write in batch {
        let (namespace, key) = match &write.op {
            WriteOp::Put { namespace, key, .. } | WriteOp::Delete { namespace, key } => {
                (namespace.as_str(), key.as_str())
            }
        };
        let old = match &write.op {
            WriteOp::Put { value, .. } => {
                let record = encode_meta(value.expiration, value.metadata.as_deref());
                let old = meta
                    .insert((namespace, key), record.as_slice())
                    .map_err(KvError::backend)?;
                let old = old.map(|g| decode_meta(g.value())).transpose()?;
                values
                    .insert((namespace, key), value.value.as_slice())
                    .map_err(KvError::backend)?;
                if let Some(at) = value.expiration {
                    expiry.insert((at, namespace, key), ()).map_err(KvError::backend)?;
                }
                old
            }
            WriteOp::Delete { .. } => {
                let old = meta.remove((namespace, key)).map_err(KvError::backend)?;
                let old = old.map(|g| decode_meta(g.value())).transpose()?;
                values.remove((namespace, key)).map_err(KvError::backend)?;
                old
            }
        };
        let new_expiration = match &write.op {
            WriteOp::Put { value, .. } => value.expiration,
            WriteOp::Delete { .. } => None,
        };
        if let Some((Some(at), _)) = old {
            if Some(at) != new_expiration {
                expiry.remove((at, namespace, key)).map_err(KvError::backend)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::ManualClock;
    use redb::ReadableTableMetadata;

    struct TempDb(std::path::PathBuf);

    impl TempDb {
        fn new(tag: &str) -> TempDb {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!("islet-kv-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDb(dir)
        }
        fn open(&self) -> Arc<Database> {
            Arc::new(Database::create(self.0.join("kv.redb")).unwrap())
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn value(v: &str, expiration: Option<u64>) -> KvValue {
        KvValue {
            value: v.as_bytes().to_vec(),
            metadata: None,
            expiration,
        }
    }

    #[test]
    fn meta_round_trip() {
        for (e, m) in [
            (None, None),
            (Some(7), None),
            (None, Some("{}")),
            (Some(u64::MAX), Some("[1]")),
        ] {
            assert_eq!(decode_meta(&encode_meta(e, m)).unwrap(), (e, m.map(str::to_string)));
        }
        assert!(decode_meta(&[]).is_err());
        assert!(decode_meta(&[1, 0]).is_err());
    }

    #[test]
    fn cleanup_removes_expired_keys_and_their_index() {
        let dir = TempDb::new("cleanup");
        let clock = Arc::new(ManualClock::starting_at(1_000));
        let db = dir.open();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let kv = EmbeddedKv::open(db.clone(), clock.clone(), Duration::from_secs(3600)).unwrap();
        rt.block_on(async {
            kv.put("ns", "short", value("a", Some(1_100))).await.unwrap();
            kv.put("ns", "long", value("b", Some(5_000))).await.unwrap();
            kv.put("ns", "moved", value("c", Some(1_100))).await.unwrap();
            // Re-put with a later expiration: the old index entry goes.
            kv.put("ns", "moved", value("c", Some(9_000))).await.unwrap();
            kv.put("ns", "kept", value("d", None)).await.unwrap();
        });
        clock.set(1_100);
        rt.block_on(async {
            assert!(
                kv.get("ns", "short").await.unwrap().is_none(),
                "hidden on read once due"
            );
        });
        assert_eq!(kv.purge_expired().unwrap(), 1);
        assert_eq!(kv.purge_expired().unwrap(), 0);
        let txn = db.begin_read().unwrap();
        assert_eq!(txn.open_table(EXPIRY).unwrap().len().unwrap(), 2);
        assert_eq!(txn.open_table(META).unwrap().len().unwrap(), 3);
        assert_eq!(txn.open_table(VALUES).unwrap().len().unwrap(), 3);
        drop(txn);
        rt.block_on(async {
            kv.delete("ns", "long").await.unwrap();
        });
        let txn = db.begin_read().unwrap();
        assert_eq!(
            txn.open_table(EXPIRY).unwrap().len().unwrap(),
            1,
            "a delete drops the index entry"
        );
    }

    #[test]
    fn concurrent_puts_share_commits_and_all_land() {
        let dir = TempDb::new("group");
        let kv =
            Arc::new(EmbeddedKv::open(dir.open(), Arc::new(ManualClock::new()), DEFAULT_CLEANUP_INTERVAL).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let puts: Vec<_> = (0..200)
                .map(|i| kv.put("ns", &format!("k{i:03}"), value("v", None)))
                .collect();
            for p in puts {
                p.await.unwrap();
            }
            let page = kv
                .list(
                    "ns",
                    KvListQuery {
                        prefix: "k".into(),
                        after: Some("k099".into()),
                        limit: 50,
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.keys.len(), 50);
            assert_eq!(page.keys[0].name, "k100");
            assert!(page.more);
        });
    }
}
