//! The Prometheus metrics of a node (`GET /metrics` on the admin listener),
//! with the names and labels of the design. Recording is lock-free: each
//! worker thread gets, once per script at a cold start, its own
//! [`ScriptStats`] whose counters only it writes; a scrape sums the
//! threads' shards under the registry mutex, which the request path never
//! takes. A deleted script's series are dropped from the output.
//! Not for the request log or the tail (`request.rs`, `tail.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use islet_bindings::kv::KvOp;
use prometheus::proto::{self, MetricFamily, MetricType};
use serde_json::json;

use super::histogram::{add_own, HistogramShard, HistogramTotal, CPU_TIME, ISOLATE_STARTUP, REQUEST_DURATION};
use super::tail::{HasTail, Tail};

/// `status` label values of `islet_requests_total`: the class of the code.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// A limit a request can break (`limit` label of `islet_limit_exceeded_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// CPU time per request.
    Cpu,
    /// The isolate's heap.
    Memory,
    /// Wall time until the response head.
    WallTime,
    /// Outbound `fetch()` calls per request.
    Subrequests,
}

impl LimitKind {
    const ALL: [LimitKind; 4] = [
        LimitKind::Cpu,
        LimitKind::Memory,
        LimitKind::WallTime,
        LimitKind::Subrequests,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Cpu => "cpu",
            LimitKind::Memory => "memory",
            LimitKind::WallTime => "wall_time",
            LimitKind::Subrequests => "subrequests",
        }
    }
}

/// Every metric of one node.
pub struct Metrics {
    scripts: Mutex<BTreeMap<String, Arc<ScriptSeries>>>,
    threads: Mutex<Vec<Arc<ThreadStats>>>,
    kv: Mutex<BTreeMap<String, Arc<KvCounters>>>,
    process: prometheus::Registry,
}

/// One script's series: a shard per worker thread that served it, and
/// its live tail.
pub struct ScriptSeries {
    name: String,
    shards: Mutex<Vec<(usize, Arc<ScriptShard>)>>,
    deleted: AtomicBool,
    tail: Tail,
}

impl HasTail for ScriptSeries {
    fn tail(&self) -> &Tail {
        &self.tail
    }
}

impl ScriptSeries {
    /// The script's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the script was deleted (its series are no longer exported).
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Relaxed)
    }
}

/// One worker thread's counters for one script; only that thread writes
/// them.
struct ScriptShard {
    requests: [AtomicU64; 5],
    duration: HistogramShard,
    cpu: HistogramShard,
    cold_starts: AtomicU64,
    limits: [AtomicU64; 4],
    subrequests: AtomicU64,
}

impl ScriptShard {
    fn new() -> ScriptShard {
        ScriptShard {
            requests: Default::default(),
            duration: HistogramShard::new(REQUEST_DURATION),
            cpu: HistogramShard::new(CPU_TIME),
            cold_starts: AtomicU64::new(0),
            limits: Default::default(),
            subrequests: AtomicU64::new(0),
        }
    }
}

/// A worker thread's handle on one script's metrics and tail.
pub struct ScriptStats {
    series: Arc<ScriptSeries>,
    shard: Arc<ScriptShard>,
}

/// What one finished request used, for [`ScriptStats::record_request`].
#[derive(Debug, Clone, Copy)]
pub struct RequestFigures {
    /// HTTP status sent.
    pub status: u16,
    /// From arrival to the end of the response body.
    pub duration: Duration,
    /// CPU time of its JavaScript, nanoseconds.
    pub cpu_ns: u64,
    /// Outbound `fetch()` calls started.
    pub subrequests: u32,
}

impl ScriptStats {
    /// The script's series (name, tail).
    pub fn series(&self) -> &Arc<ScriptSeries> {
        &self.series
    }

    /// Records one finished request.
    pub fn record_request(&self, r: RequestFigures) {
        let s = &self.shard;
        add_own(&s.requests[status_class(r.status)], 1);
        s.duration
            .observe_ns(u64::try_from(r.duration.as_nanos()).unwrap_or(u64::MAX));
        s.cpu.observe_ns(r.cpu_ns);
        if r.subrequests > 0 {
            add_own(&s.subrequests, u64::from(r.subrequests));
        }
    }

    /// Records a request stopped (or refused a call) by `limit`.
    pub fn record_limit(&self, limit: LimitKind) {
        let i = LimitKind::ALL.iter().position(|l| *l == limit).unwrap_or(0);
        add_own(&self.shard.limits[i], 1);
    }

    /// Records a cold start of the script on this thread.
    pub fn record_cold_start(&self) {
        add_own(&self.shard.cold_starts, 1);
    }
}

/// One worker thread's isolate figures; only that thread writes them, but
/// for `spares` (see [`ThreadStats::set_spares`]).
pub struct ThreadStats {
    index: usize,
    startup: HistogramShard,
    isolates: AtomicI64,
    spares: AtomicI64,
    /// Cold starts that took a spare from the stock, and cold starts that
    /// made their isolate on the worker thread (the stock was empty, or the
    /// script wants another heap limit).
    from_stock: AtomicU64,
    made_here: AtomicU64,
    /// Requests that matched no route and went to the origin, by status class.
    origin: [AtomicU64; 5],
    /// Requests that matched no route, with no origin configured.
    no_route: AtomicU64,
}

impl ThreadStats {
    /// Records the creation of an isolate for a cold start; `from_stock`:
    /// it began from a spare, rather than from the snapshot on this thread.
    pub fn record_isolate_startup(&self, took: Duration, from_stock: bool) {
        self.startup
            .observe_ns(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        add_own(if from_stock { &self.from_stock } else { &self.made_here }, 1);
    }

    /// Sets the number of script isolates alive on this thread.
    pub fn set_isolates(&self, n: usize) {
        self.isolates.store(n as i64, Ordering::Relaxed);
    }

    /// Sets the number of spare isolates in this thread's stock: written
    /// under the stock's lock, by the worker or by the isolate factory.
    pub fn set_spares(&self, n: usize) {
        self.spares.store(n as i64, Ordering::Relaxed);
    }

    /// Records a request that matched no route: sent to the origin, which
    /// answered `status` (or islet did, 502/504), or answered 404 (`None`:
    /// no origin configured).
    pub fn record_unrouted(&self, origin_status: Option<u16>) {
        match origin_status {
            Some(status) => add_own(&self.origin[status_class(status)], 1),
            None => add_own(&self.no_route, 1),
        }
    }
}

/// Index in [`STATUS_CLASSES`] of `status`.
fn status_class(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// Calls of one KV namespace, by kind.
pub struct KvCounters {
    ops: [AtomicU64; 4],
}

impl KvCounters {
    /// Counts one call.
    pub fn record(&self, op: KvOp) {
        let i = KvOp::ALL.iter().position(|o| *o == op).unwrap_or(0);
        self.ops[i].fetch_add(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters stay meaningful even if a thread panicked while holding it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics, with the process collector (memory, fds, CPU).
    pub fn new() -> Metrics {
        let process = prometheus::Registry::new();
        if let Err(e) = process.register(Box::new(prometheus::process_collector::ProcessCollector::for_self())) {
            tracing::warn!("process metrics are not available: {e}");
        }
        Metrics {
            scripts: Mutex::new(BTreeMap::new()),
            threads: Mutex::new(Vec::new()),
            kv: Mutex::new(BTreeMap::new()),
            process,
        }
    }

    /// Worker thread `thread`'s handle on script `name` (a cold start
    /// takes it once; requests then record without any lock).
    pub fn script_stats(&self, name: &str, thread: usize) -> ScriptStats {
        let series = self.series(name);
        let shard = {
            let mut shards = lock(&series.shards);
            match shards.iter().find(|(t, _)| *t == thread) {
                Some((_, s)) => s.clone(),
                None => {
                    let s = Arc::new(ScriptShard::new());
                    shards.push((thread, s.clone()));
                    s
                }
            }
        };
        ScriptStats { series, shard }
    }

    /// Script `name`'s series, created if needed (for its tail too).
    pub fn series(&self, name: &str) -> Arc<ScriptSeries> {
        lock(&self.scripts)
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(ScriptSeries {
                    name: name.to_string(),
                    shards: Mutex::new(Vec::new()),
                    deleted: AtomicBool::new(false),
                    tail: Tail::default(),
                })
            })
            .clone()
    }

    /// Drops a deleted script's series from the output and ends its tails.
    pub fn forget_script(&self, name: &str) {
        let removed = lock(&self.scripts).remove(name);
        if let Some(series) = removed {
            series.deleted.store(true, Ordering::Relaxed);
            series.tail.close(&json!({
                "type": "closed",
                "script": name,
                "message": "the script was deleted",
            }));
        }
    }

    /// Worker thread `index`'s isolate figures.
    pub fn thread(&self, index: usize) -> Arc<ThreadStats> {
        let mut threads = lock(&self.threads);
        if let Some(t) = threads.iter().find(|t| t.index == index) {
            return t.clone();
        }
        let t = Arc::new(ThreadStats {
            index,
            startup: HistogramShard::new(ISOLATE_STARTUP),
            isolates: AtomicI64::new(0),
            spares: AtomicI64::new(0),
            from_stock: AtomicU64::new(0),
            made_here: AtomicU64::new(0),
            origin: Default::default(),
            no_route: AtomicU64::new(0),
        });
        threads.push(t.clone());
        t
    }

    /// KV namespace `namespace`'s call counters.
    pub fn kv(&self, namespace: &str) -> Arc<KvCounters> {
        lock(&self.kv)
            .entry(namespace.to_string())
            .or_insert_with(|| {
                Arc::new(KvCounters {
                    ops: Default::default(),
                })
            })
            .clone()
    }

    /// The Prometheus text format of every metric; `scripts` is the number
    /// of deployed scripts.
    pub fn render(&self, scripts: usize) -> String {
        let mut families = self.script_families();
        families.extend(self.thread_families());
        families.push(self.kv_family());
        families.push(family(
            "islet_scripts",
            "Scripts deployed on this node.",
            MetricType::GAUGE,
            vec![gauge(&[], scripts as f64)],
        ));
        // The collector's CPU counter is truncated to whole seconds; ours
        // has the kernel's tick resolution.
        let mut process = self.process.gather();
        process.retain(|f| f.name() != "process_cpu_seconds_total");
        families.extend(process);
        if let Some(cpu) = process_cpu_seconds() {
            families.push(family(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                MetricType::COUNTER,
                vec![counter(&[], cpu)],
            ));
        }
        families.retain(|f| !f.get_metric().is_empty());
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| format!("# cannot encode the metrics: {e}\n"))
    }

    fn script_families(&self) -> Vec<MetricFamily> {
        let scripts: Vec<Arc<ScriptSeries>> = lock(&self.scripts).values().cloned().collect();
        let (mut requests, mut duration, mut cpu, mut cold, mut limits, mut subrequests) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for series in scripts {
            let name = series.name.as_str();
            let shards: Vec<Arc<ScriptShard>> = lock(&series.shards).iter().map(|(_, s)| s.clone()).collect();
            let sum = |f: &dyn Fn(&ScriptShard) -> u64| shards.iter().map(|s| f(s)).sum::<u64>() as f64;
            for (i, class) in STATUS_CLASSES.iter().enumerate() {
                let n = sum(&|s| s.requests[i].load(Ordering::Relaxed));
                requests.push(counter(&[("script", name), ("status", class)], n));
            }
            let (mut d, mut c) = (HistogramTotal::new(REQUEST_DURATION), HistogramTotal::new(CPU_TIME));
            for s in &shards {
                d.add(&s.duration);
                c.add(&s.cpu);
            }
            duration.push(histogram(&[("script", name)], &d));
            cpu.push(histogram(&[("script", name)], &c));
            cold.push(counter(
                &[("script", name)],
                sum(&|s| s.cold_starts.load(Ordering::Relaxed)),
            ));
            for (i, limit) in LimitKind::ALL.iter().enumerate() {
                let n = sum(&|s| s.limits[i].load(Ordering::Relaxed));
                limits.push(counter(&[("script", name), ("limit", limit.as_str())], n));
            }
            subrequests.push(counter(
                &[("script", name)],
                sum(&|s| s.subrequests.load(Ordering::Relaxed)),
            ));
        }
        vec![
            family(
                "islet_requests_total",
                "Requests answered by a script, by status class (1xx to 5xx), including islet's own error responses for it.",
                MetricType::COUNTER,
                requests,
            ),
            family(
                "islet_request_duration_seconds",
                "Time from a request's arrival to the end of its response body.",
                MetricType::HISTOGRAM,
                duration,
            ),
            family(
                "islet_cpu_time_seconds",
                "CPU time of a request's JavaScript (handler, promise callbacks, timers, body streaming).",
                MetricType::HISTOGRAM,
                cpu,
            ),
            family(
                "islet_cold_starts_total",
                "Requests that had to load the script into a new isolate.",
                MetricType::COUNTER,
                cold,
            ),
            family(
                "islet_limit_exceeded_total",
                "Requests stopped by a limit (cpu, memory, wall_time) or refused a subrequest over the limit.",
                MetricType::COUNTER,
                limits,
            ),
            family(
                "islet_subrequests_total",
                "Outbound fetch() calls made by scripts.",
                MetricType::COUNTER,
                subrequests,
            ),
        ]
    }

    fn thread_families(&self) -> Vec<MetricFamily> {
        let threads: Vec<Arc<ThreadStats>> = lock(&self.threads).clone();
        let mut startup = HistogramTotal::new(ISOLATE_STARTUP);
        let (mut isolates, mut spares, mut sources) = (vec![], vec![], vec![]);
        let (mut origin, mut no_route) = ([0u64; 5], 0u64);
        for t in &threads {
            startup.add(&t.startup);
            for (total, n) in origin.iter_mut().zip(&t.origin) {
                *total += n.load(Ordering::Relaxed);
            }
            no_route += t.no_route.load(Ordering::Relaxed);
            let index = t.index.to_string();
            isolates.push(gauge(&[("thread", &index)], t.isolates.load(Ordering::Relaxed) as f64));
            spares.push(gauge(&[("thread", &index)], t.spares.load(Ordering::Relaxed) as f64));
            for (source, n) in [("stock", &t.from_stock), ("thread", &t.made_here)] {
                sources.push(counter(
                    &[("thread", &index), ("source", source)],
                    n.load(Ordering::Relaxed) as f64,
                ));
            }
        }
        vec![
            family(
                "islet_isolate_startup_seconds",
                "Time to make a script's isolate on a cold start (from a spare or the snapshot, script loaded).",
                MetricType::HISTOGRAM,
                if threads.is_empty() {
                    vec![]
                } else {
                    vec![histogram(&[], &startup)]
                },
            ),
            family(
                "islet_isolates",
                "Script isolates alive on each worker thread.",
                MetricType::GAUGE,
                isolates,
            ),
            family(
                "islet_spare_isolates",
                "Isolates made ahead of time on each worker thread, ready for a cold start.",
                MetricType::GAUGE,
                spares,
            ),
            family(
                "islet_cold_start_isolates_total",
                "Cold starts by where their isolate came from: a spare the isolate factory made (stock) or one the worker thread had to make itself (thread).",
                MetricType::COUNTER,
                sources,
            ),
            family(
                "islet_origin_requests_total",
                "Requests that matched no route and went to the origin, by status class (islet's 502/504 included).",
                MetricType::COUNTER,
                if threads.is_empty() {
                    vec![]
                } else {
                    STATUS_CLASSES
                        .iter()
                        .zip(origin)
                        .map(|(class, n)| counter(&[("status", class)], n as f64))
                        .collect()
                },
            ),
            family(
                "islet_no_route_total",
                "Requests that matched no route, answered 404 (no origin configured).",
                MetricType::COUNTER,
                if threads.is_empty() {
                    vec![]
                } else {
                    vec![counter(&[], no_route as f64)]
                },
            ),
        ]
    }

    fn kv_family(&self) -> MetricFamily {
        let mut metrics = Vec::new();
        for (namespace, counters) in lock(&self.kv).iter() {
            for (i, op) in KvOp::ALL.iter().enumerate() {
                let n = counters.ops[i].load(Ordering::Relaxed) as f64;
                metrics.push(counter(&[("namespace", namespace), ("op", op.as_str())], n));
            }
        }
        family(
            "islet_kv_operations_total",
            "Calls of KV bindings by scripts, by namespace and operation.",
            MetricType::COUNTER,
            metrics,
        )
    }
}

/// User + system CPU time of this process, seconds.
fn process_cpu_seconds() -> Option<f64> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut f = MetricFamily::new();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn labels(pairs: &[(&str, &str)]) -> Vec<proto::LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = proto::LabelPair::new();
            l.set_name((*k).to_string());
            l.set_value((*v).to_string());
            l
        })
        .collect()
}

fn counter(pairs: &[(&str, &str)], value: f64) -> proto::Metric {
    let mut c = proto::Counter::new();
    c.set_value(value);
    let mut m = proto::Metric::from_label(labels(pairs));
    m.set_counter(c);
    m
}

fn gauge(pairs: &[(&str, &str)], value: f64) -> proto::Metric {
    let mut g = proto::Gauge::new();
    g.set_value(value);
    let mut m = proto::Metric::from_label(labels(pairs));
    m.set_gauge(g);
    m
}

fn histogram(pairs: &[(&str, &str)], total: &HistogramTotal) -> proto::Metric {
    let mut m = proto::Metric::from_label(labels(pairs));
    m.set_histogram(total.to_proto());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_add_up_and_deleted_scripts_disappear() {
        let m = Metrics::new();
        let a0 = m.script_stats("a", 0);
        let a1 = m.script_stats("a", 1);
        let figures = RequestFigures {
            status: 200,
            duration: Duration::from_micros(300),
            cpu_ns: 40_000,
            subrequests: 2,
        };
        a0.record_request(figures);
        a1.record_request(RequestFigures { status: 503, ..figures });
        a1.record_limit(LimitKind::Cpu);
        let text = m.render(1);
        assert!(
            text.contains("islet_requests_total{script=\"a\",status=\"2xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("islet_requests_total{script=\"a\",status=\"5xx\"} 1"),
            "{text}"
        );
        assert!(text.contains("islet_subrequests_total{script=\"a\"} 4"), "{text}");
        assert!(
            text.contains("islet_limit_exceeded_total{limit=\"cpu\",script=\"a\"} 1")
                || text.contains("islet_limit_exceeded_total{script=\"a\",limit=\"cpu\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("islet_cpu_time_seconds_bucket{script=\"a\",le=\"0.00005\"} 2"),
            "{text}"
        );
        m.forget_script("a");
        assert!(a0.series().is_deleted());
        let text = m.render(0);
        assert!(!text.contains("script=\"a\""), "{text}");
        assert!(text.contains("islet_scripts 0"), "{text}");
    }
}
