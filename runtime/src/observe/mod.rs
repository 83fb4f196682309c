//! Observability: Prometheus metrics, the one-line-per-request log,
//! scripts' console output and the live tail of a script. The only module
//! that spells a metric name or a log target. Recording on the request
//! path takes no lock: each worker thread writes counters only it writes,
//! and `GET /metrics` sums them. Not for deciding what a request's outcome
//! is (that is `server/`).

pub mod console;
pub mod histogram;
pub mod logging;
pub mod metrics;
pub mod request;
pub mod tail;

use std::sync::Arc;

pub use console::{IsolateObserver, KvCounterCache};
pub use metrics::{LimitKind, Metrics, ScriptSeries, ScriptStats, ThreadStats};
pub use request::{next_request_id, Outcome, RequestId, RequestRecord};
pub use tail::TailStream;

/// One node's observability, shared by the edge threads and the admin API.
pub struct Observability {
    /// Every metric of the node.
    pub metrics: Arc<Metrics>,
    /// Level of the request log line; `None` turns it off.
    pub request_log: Option<tracing::Level>,
}

impl Observability {
    /// Fresh metrics, and the request log at `request_log`.
    pub fn new(request_log: Option<tracing::Level>) -> Observability {
        Observability {
            metrics: Arc::new(Metrics::new()),
            request_log,
        }
    }
}

impl Default for Observability {
    fn default() -> Self {
        Observability::new(Some(tracing::Level::DEBUG))
    }
}
