//! What an isolate reports while it runs a script: `console.*` output goes
//! to the log (target `islet::console`, with the script and request id)
//! and to the script's live tail; KV calls go to the metrics.
//! Not for the request log line (`request.rs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use islet_bindings::console::Level;
use islet_bindings::host::ScriptObserver;
use islet_bindings::kv::KvOp;
use serde_json::json;

use super::metrics::{KvCounters, Metrics, ScriptSeries};
use super::request::{unix_millis, RequestId};
use super::tail::HasTail;

/// A worker thread's KV counters by namespace, so a KV call takes no lock.
pub struct KvCounterCache {
    metrics: Arc<Metrics>,
    namespaces: RefCell<HashMap<String, Arc<KvCounters>>>,
}

impl KvCounterCache {
    /// An empty cache over `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> KvCounterCache {
        KvCounterCache {
            metrics,
            namespaces: RefCell::new(HashMap::new()),
        }
    }

    fn record(&self, namespace: &str, op: KvOp) {
        if let Some(c) = self.namespaces.borrow().get(namespace) {
            c.record(op);
            return;
        }
        let c = self.metrics.kv(namespace);
        c.record(op);
        self.namespaces.borrow_mut().insert(namespace.to_string(), c);
    }
}

/// The observer of one isolate serving one script.
pub struct IsolateObserver {
    series: Arc<ScriptSeries>,
    kv: Rc<KvCounterCache>,
}

impl IsolateObserver {
    /// An observer reporting to `series` (log, tail) and `kv`.
    pub fn new(series: Arc<ScriptSeries>, kv: Rc<KvCounterCache>) -> IsolateObserver {
        IsolateObserver { series, kv }
    }
}

/// `-` when a console call was made outside a request.
struct OptionalId(Option<u64>);

impl std::fmt::Display for OptionalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(id) => RequestId(id).fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Longest console message kept in a log line or tail line, bytes: a
/// script logging megabytes cannot fill the log or the tail's buffer.
pub const MAX_MESSAGE_BYTES: usize = 64 << 10;

/// `message`, cut to [`MAX_MESSAGE_BYTES`] with a note of what was cut.
fn capped(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.into();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... [{} more bytes cut]", &message[..end], message.len() - end).into()
}

impl ScriptObserver for IsolateObserver {
    fn console(&self, request_id: Option<u64>, level: Level, message: &str) {
        let script = self.series.name();
        let message = capped(message);
        let id = OptionalId(request_id);
        match level {
            Level::Error => tracing::error!(target: "islet::console", script, request_id = %id, "{message}"),
            Level::Warn => tracing::warn!(target: "islet::console", script, request_id = %id, "{message}"),
            Level::Debug => tracing::debug!(target: "islet::console", script, request_id = %id, "{message}"),
            Level::Log | Level::Info => tracing::info!(target: "islet::console", script, request_id = %id, "{message}"),
        }
        let tail = self.series.tail();
        if tail.is_active() {
            tail.publish(&json!({
                "type": "console",
                "timestamp": unix_millis(),
                "script": script,
                "request_id": request_id.map(|id| RequestId(id).to_string()),
                "level": level.as_str(),
                "message": message,
            }));
        }
    }

    fn kv_operation(&self, namespace: &str, op: KvOp) {
        self.kv.record(namespace, op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        assert_eq!(capped("short"), "short");
        let long = "\u{e9}".repeat(MAX_MESSAGE_BYTES);
        let cut = capped(&long);
        assert!(cut.len() < MAX_MESSAGE_BYTES + 40);
        assert!(cut.ends_with(&format!("[{} more bytes cut]", MAX_MESSAGE_BYTES)));
    }
}
