//! The record of one request served by a script: started when the edge
//! routes it, completed when its response body ends (or the client goes),
//! and then reported once: to the metrics, to the request log (one line,
//! at the configured level) and to the script's live tail.
//! Not for choosing the response (that is `server/edge.rs`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use islet_bindings::limits::SharedUsage;
use serde_json::json;
use tracing::Level;

use super::metrics::{LimitKind, RequestFigures, ScriptStats};
use super::tail::HasTail;

/// A request's id in logs and the tail: 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(pub u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

thread_local! {
    /// Per thread, a random start then a counter: unique without a shared
    /// atomic on the request path.
    static NEXT_ID: Cell<u64> = Cell::new({
        let mut seed = [0u8; 8];
        let _ = getrandom::getrandom(&mut seed);
        u64::from_le_bytes(seed)
    });
}

thread_local! {
    /// Usage cells of finished requests, reused: one allocation fewer per
    /// request.
    static SPARE_USAGE: std::cell::RefCell<Vec<SharedUsage>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Usage cells kept for reuse per thread.
const SPARE_USAGE_MAX: usize = 256;

/// A new request id.
pub fn next_request_id() -> RequestId {
    NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1));
        RequestId(id)
    })
}

/// How a script request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The script answered.
    Ok,
    /// The handler threw, or its promise rejected.
    Exception,
    /// Stopped: CPU time limit.
    CpuLimit,
    /// Stopped: memory limit.
    MemoryLimit,
    /// The response head did not come within the wall time limit.
    WallTime,
    /// Its isolate was stopped by another request's limit.
    Discarded,
    /// Refused: the script is throttled after repeated limit breaches.
    Throttled,
    /// The script could not be loaded.
    LoadFailed,
    /// The script failed and the request went to the origin instead.
    PassedThrough,
}

impl Outcome {
    /// Lowercase name, as in logs and the tail.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Exception => "exception",
            Outcome::CpuLimit => "cpu_limit",
            Outcome::MemoryLimit => "memory_limit",
            Outcome::WallTime => "wall_time",
            Outcome::Discarded => "discarded",
            Outcome::Throttled => "throttled",
            Outcome::LoadFailed => "load_failed",
            Outcome::PassedThrough => "passed_through",
        }
    }

    fn limit(self) -> Option<LimitKind> {
        match self {
            Outcome::CpuLimit => Some(LimitKind::Cpu),
            Outcome::MemoryLimit => Some(LimitKind::Memory),
            Outcome::WallTime => Some(LimitKind::WallTime),
            _ => None,
        }
    }
}

/// One request of a script, reported when dropped.
pub struct RequestRecord {
    stats: Rc<ScriptStats>,
    log_level: Option<Level>,
    started: Instant,
    id: RequestId,
    cold_start: bool,
    method: http::Method,
    url: String,
    usage: SharedUsage,
    status: u16,
    outcome: Outcome,
    error: Option<String>,
}

impl RequestRecord {
    /// Starts the record of a request that arrived at `started`.
    pub fn new(stats: Rc<ScriptStats>, log_level: Option<Level>, started: Instant, id: RequestId) -> RequestRecord {
        RequestRecord {
            stats,
            log_level,
            started,
            id,
            cold_start: false,
            method: http::Method::GET,
            url: String::new(),
            usage: SPARE_USAGE.with(|s| s.borrow_mut().pop()).unwrap_or_default(),
            status: 0,
            outcome: Outcome::Ok,
            error: None,
        }
    }

    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The request's method.
    pub fn method(&self) -> &http::Method {
        &self.method
    }

    /// What the request is: for the log line and the tail.
    pub fn set_request(&mut self, method: http::Method, url: String) {
        self.method = method;
        self.url = url;
    }

    /// The request needed a new isolate.
    pub fn set_cold_start(&mut self) {
        self.cold_start = true;
    }

    /// The usage the isolate accounts the request's CPU time and
    /// subrequests in.
    pub fn usage(&self) -> SharedUsage {
        self.usage.clone()
    }

    /// How the request ended; `error` is the detail of a failure, shown
    /// in the tail.
    pub fn set_outcome(&mut self, status: u16, outcome: Outcome, error: Option<String>) {
        self.status = status;
        self.outcome = outcome;
        self.error = error;
    }

    /// Whether the script's tail has a reader (worth keeping error text for).
    pub fn is_tailed(&self) -> bool {
        self.stats.series().tail().is_active()
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        let duration = self.started.elapsed();
        let usage = self.usage.get();
        self.stats.record_request(RequestFigures {
            status: self.status,
            duration,
            cpu_ns: usage.cpu_ns,
            subrequests: usage.subrequests,
        });
        if let Some(limit) = self.outcome.limit() {
            self.stats.record_limit(limit);
        }
        if usage.subrequests_refused {
            self.stats.record_limit(LimitKind::Subrequests);
        }
        if let Some(level) = self.log_level {
            self.log(level, duration, usage.cpu_ns);
        }
        self.report_to_tail(duration, usage);
        // The isolate no longer holds the cell once the request is over.
        if std::rc::Rc::strong_count(&self.usage) == 1 {
            self.usage.set(Default::default());
            let usage = self.usage.clone();
            SPARE_USAGE.with(|s| {
                let mut spare = s.borrow_mut();
                if spare.len() < SPARE_USAGE_MAX {
                    spare.push(usage);
                }
            });
        }
    }
}

impl RequestRecord {
    /// The request's line on the script's live tail, if anyone reads it.
    fn report_to_tail(&self, duration: Duration, usage: islet_bindings::limits::RequestUsage) {
        let tail = self.stats.series().tail();
        if tail.is_active() {
            tail.publish(&json!({
                "type": "request",
                "timestamp": unix_millis(),
                "script": self.stats.series().name(),
                "request_id": self.id.to_string(),
                "method": self.method.as_str(),
                "url": self.url,
                "status": self.status,
                "outcome": self.outcome.as_str(),
                "error": self.error,
                "duration_ms": millis(duration),
                "cpu_ms": millis(Duration::from_nanos(usage.cpu_ns)),
                "cold_start": self.cold_start,
                "subrequests": usage.subrequests,
            }));
        }
    }
}

impl RequestRecord {
    /// The request log line (target `islet::request`).
    fn log(&self, level: Level, duration: Duration, cpu_ns: u64) {
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "islet::request",
                    $level,
                    script = self.stats.series().name(),
                    request_id = %self.id,
                    method = self.method.as_str(),
                    url = self.url.as_str(),
                    status = self.status,
                    outcome = self.outcome.as_str(),
                    duration_ms = millis(duration),
                    cpu_ms = millis(Duration::from_nanos(cpu_ns)),
                    cold_start = self.cold_start,
                    "request"
                )
            };
        }
        match level {
            Level::ERROR => line!(Level::ERROR),
            Level::WARN => line!(Level::WARN),
            Level::INFO => line!(Level::INFO),
            Level::DEBUG => line!(Level::DEBUG),
            Level::TRACE => line!(Level::TRACE),
        }
    }
}

/// Milliseconds with microsecond precision.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// Now, in milliseconds since the Unix epoch (the tail's timestamps).
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
