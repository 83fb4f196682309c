//! A worker thread's view of the scripts: its own isolate per script (a
//! cold start takes a spare isolate from the thread's stock, which the
//! isolate factory keeps full, or creates one from the snapshot), and the
//! isolate lifecycle: at most `max_isolates` per thread (least recently
//! used go first), disposal after `idle_timeout`, replacement of an isolate
//! that a limit stopped. An isolate that leaves the cache while requests
//! still run in it (a deploy, an eviction) is kept until they finish.
//! Nothing here is shared between threads except the registry and the
//! metric shards this thread alone writes (`observe`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::error::RuntimeError;
use crate::isolate::factory::Stock;
use crate::isolate::{event_loop, IsolateOptions, JsIsolate, SpareIsolate};
use crate::observe::{IsolateObserver, KvCounterCache, Observability, ScriptStats, ThreadStats};
use crate::registry::Registry;
use crate::script::SharedScript;

/// Per-thread state: the isolate cache and the shared registry.
pub struct Worker {
    /// Scripts and routes.
    pub registry: Arc<Registry>,
    isolates: RefCell<rustc_hash::FxHashMap<String, Cached>>,
    /// Isolates out of the cache that still have requests or work running.
    retiring: RefCell<Vec<Rc<RefCell<JsIsolate>>>>,
    /// Scripts that keep breaking their CPU or memory limits are refused
    /// for a while, so they cannot keep a thread busy for other tenants.
    penalties: RefCell<HashMap<String, Penalty>>,
    /// Isolates with a context but no script yet, made by the isolate
    /// factory: a cold start takes one.
    stock: Stock,
    options: IsolateOptions,
    /// This thread's index (the `thread` label of its metrics).
    index: usize,
    observe: Arc<Observability>,
    thread_stats: Arc<ThreadStats>,
    kv_counters: Rc<KvCounterCache>,
    /// This thread's metric handles, per script.
    script_stats: RefCell<HashMap<String, Rc<ScriptStats>>>,
    /// When the latest script request arrived on this thread.
    last_arrival: Cell<Option<Instant>>,
}

/// The isolate that serves a request, with its script's metric handles.
pub struct Serving {
    /// The isolate.
    pub iso: Rc<RefCell<JsIsolate>>,
    /// Where the request's metrics go.
    pub stats: Rc<ScriptStats>,
    /// Whether the isolate was made for this request.
    pub cold_start: bool,
}

/// A script's recent limit breaches on this thread.
#[derive(Default)]
struct Penalty {
    /// Limit breaches in a row, without a successful request between.
    consecutive: u32,
    /// Requests are refused until then.
    until: Option<Instant>,
}

/// Breaches in a row that a script may make before it is throttled: the
/// first ones each get a fresh isolate, as a one-off bug deserves.
const FREE_BREACHES: u32 = 3;
/// First throttle period; each further breach multiplies it by 4.
const FIRST_THROTTLE: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest throttle period.
const MAX_THROTTLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Requests that arrive closer together than this are a burst: the thread
/// is under load and reads many connections per turn of its event loop.
const BURST_GAP: std::time::Duration = std::time::Duration::from_micros(50);

/// A cached isolate and when a request last used it.
struct Cached {
    iso: Rc<RefCell<JsIsolate>>,
    stats: Rc<ScriptStats>,
    last_used: Instant,
}

impl Worker {
    /// Worker thread `index`, with an empty isolate cache; cold starts take
    /// spare isolates from `stock`.
    pub fn new(
        registry: Arc<Registry>,
        options: IsolateOptions,
        observe: Arc<Observability>,
        index: usize,
        stock: Stock,
    ) -> Worker {
        Worker {
            thread_stats: observe.metrics.thread(index),
            kv_counters: Rc::new(KvCounterCache::new(observe.metrics.clone())),
            script_stats: RefCell::new(HashMap::new()),
            observe,
            index,
            registry,
            isolates: RefCell::new(rustc_hash::FxHashMap::default()),
            retiring: RefCell::new(Vec::new()),
            penalties: RefCell::new(HashMap::new()),
            stock,
            options,
            last_arrival: Cell::new(None),
        }
    }

    /// Whether a request that arrived at `arrived` follows this thread's
    /// previous one closely ([`BURST_GAP`]): the thread is under load.
    pub fn in_burst(&self, arrived: Instant) -> bool {
        let previous = self.last_arrival.replace(Some(arrived));
        previous.is_some_and(|p| arrived.saturating_duration_since(p) < BURST_GAP)
    }

    /// This thread's isolate for `script`, created from the snapshot when
    /// there is none, when it runs an older version, or when a limit
    /// stopped it. `now` is when the request arrived, which the cache
    /// keeps as the isolate's last use (for idle disposal).
    pub fn isolate_for(&self, script: &SharedScript, now: Instant) -> Result<Serving, RuntimeError> {
        if let Some(cached) = self.isolates.borrow_mut().get_mut(&script.name) {
            let current = {
                let iso = cached.iso.borrow();
                Arc::ptr_eq(&iso.script, script) && iso.failed().is_none()
            };
            if current {
                cached.last_used = now;
                return Ok(Serving {
                    iso: cached.iso.clone(),
                    stats: cached.stats.clone(),
                    cold_start: false,
                });
            }
        }
        let started = Instant::now();
        let stats = self.script_stats(&script.name);
        stats.record_cold_start();
        let observer = Rc::new(IsolateObserver::new(stats.series().clone(), self.kv_counters.clone()));
        let limits = self.options.limits.with_overrides(&script.limits);
        // Without a spare (the factory has not caught up, or the script
        // wants another heap limit) this thread makes the isolate itself
        // rather than wait.
        let (spare, from_stock) = match self.stock.take(limits.heap_bytes) {
            Some(s) => (s, true),
            None => (SpareIsolate::new(limits.heap_bytes)?, false),
        };
        let iso = JsIsolate::from_spare(spare, script.clone(), self.options.limits, observer)?;
        let iso = Rc::new(RefCell::new(iso));
        event_loop::spawn(&iso);
        self.thread_stats.record_isolate_startup(started.elapsed(), from_stock);
        tracing::debug!(
            script = %script.name,
            micros = started.elapsed().as_micros() as u64,
            from_stock,
            "cold start"
        );
        let replaced = self.isolates.borrow_mut().insert(
            script.name.clone(),
            Cached {
                iso: iso.clone(),
                stats: stats.clone(),
                last_used: Instant::now(),
            },
        );
        if let Some(old) = replaced {
            self.retire(old.iso);
        }
        self.evict_over_cap();
        self.update_isolate_gauge();
        Ok(Serving {
            iso,
            stats,
            cold_start: true,
        })
    }

    /// This thread's metric handles for script `name` (taken once per
    /// script and thread; again after the script was deleted and made anew).
    pub fn script_stats(&self, name: &str) -> Rc<ScriptStats> {
        if let Some(s) = self.script_stats.borrow().get(name) {
            if !s.series().is_deleted() {
                return s.clone();
            }
        }
        let stats = Rc::new(self.observe.metrics.script_stats(name, self.index));
        self.script_stats.borrow_mut().insert(name.to_string(), stats.clone());
        stats
    }

    /// The node's observability settings.
    pub fn observability(&self) -> &Observability {
        &self.observe
    }

    /// This thread's isolate and routing figures.
    pub fn thread_stats(&self) -> &ThreadStats {
        &self.thread_stats
    }

    fn update_isolate_gauge(&self) {
        self.thread_stats
            .set_isolates(self.isolates.borrow().len() + self.retiring.borrow().len());
    }

    /// How long `script` is still refused on this thread, if it is.
    pub fn throttled(&self, script: &str) -> Option<std::time::Duration> {
        let penalties = self.penalties.borrow();
        if penalties.is_empty() {
            return None;
        }
        let until = penalties.get(script)?.until?;
        until.checked_duration_since(Instant::now())
    }

    /// Records that a request of `script` broke its CPU or memory limit;
    /// after a few in a row the script is refused for a growing period.
    pub fn record_breach(&self, script: &str) {
        let mut penalties = self.penalties.borrow_mut();
        let p = penalties.entry(script.to_string()).or_default();
        p.consecutive += 1;
        if p.consecutive > FREE_BREACHES {
            let exponent = (p.consecutive - FREE_BREACHES - 1).min(8);
            let period = FIRST_THROTTLE.saturating_mul(4u32.pow(exponent)).min(MAX_THROTTLE);
            p.until = Some(Instant::now() + period);
            tracing::warn!(
                script,
                seconds = period.as_secs(),
                "script throttled after repeated limit breaches"
            );
        }
    }

    /// Records a request of `script` that completed within its limits.
    pub fn record_success(&self, script: &str) {
        let mut penalties = self.penalties.borrow_mut();
        if !penalties.is_empty() {
            penalties.remove(script);
        }
    }

    /// Keeps `iso` alive until its requests and work are over.
    fn retire(&self, iso: Rc<RefCell<JsIsolate>>) {
        if iso.borrow().is_busy() {
            self.retiring.borrow_mut().push(iso);
        }
    }

    /// Evicts least recently used isolates beyond the per-thread cap.
    fn evict_over_cap(&self) {
        loop {
            let victim = {
                let isolates = self.isolates.borrow();
                if isolates.len() <= self.options.max_isolates {
                    return;
                }
                isolates
                    .iter()
                    .min_by_key(|(_, c)| c.last_used)
                    .map(|(name, _)| name.clone())
            };
            let Some(name) = victim else { return };
            let removed = self.isolates.borrow_mut().remove(&name);
            if let Some(c) = removed {
                tracing::debug!(script = %name, "isolate evicted (per-thread cap)");
                self.retire(c.iso);
            }
        }
    }

    /// Disposes isolates idle longer than the idle timeout, and retired
    /// ones whose work is over.
    pub fn sweep(&self) {
        let timeout = self.options.idle_timeout;
        let idle: Vec<String> = self
            .isolates
            .borrow()
            .iter()
            .filter(|(_, c)| c.last_used.elapsed() >= timeout && !c.iso.borrow().is_busy())
            .map(|(name, _)| name.clone())
            .collect();
        for name in idle {
            tracing::debug!(script = %name, "isolate disposed after idling");
            self.isolates.borrow_mut().remove(&name);
        }
        self.retiring.borrow_mut().retain(|iso| iso.borrow().is_busy());
        self.script_stats.borrow_mut().retain(|_, s| !s.series().is_deleted());
        self.update_isolate_gauge();
    }

    /// Starts the periodic sweep of idle isolates on this thread.
    pub fn start_sweeper(self: &Rc<Self>) {
        let period = (self.options.idle_timeout / 4)
            .clamp(std::time::Duration::from_millis(20), std::time::Duration::from_secs(10));
        let worker = Rc::downgrade(self);
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(period).await;
                match worker.upgrade() {
                    Some(w) => w.sweep(),
                    None => return,
                }
            }
        });
    }

    /// Number of cached isolates on this thread.
    pub fn isolate_count(&self) -> usize {
        self.isolates.borrow().len()
    }
}
