//! The isolate factory: one background thread per server, `islet-factory`,
//! that makes spare isolates (isolate and context from the snapshot, 2 to
//! 3 ms of CPU) ahead of demand and keeps each worker thread's stock full,
//! so a cold start on a worker only loads its script and the worker's other
//! requests do not wait behind V8 deserialising a snapshot. A worker whose
//! stock is empty makes its isolate itself rather than wait.
//!
//! One thread, not one per worker: making isolates is CPU and memory work,
//! and on a small machine a second factory thread would only compete with
//! the workers and with the first. Making an isolate also slows whatever
//! else the process does meanwhile (it maps and faults in megabytes of
//! memory), so the factory starts on a replacement [`REFILL_AFTER`] after
//! a spare was taken, once the cold start that took it is mostly done;
//! then it goes on until the stock is full, which in a burst of cold
//! starts is without pause. It makes nothing while the stocks are full,
//! and stops when the last worker thread holding a stock has gone.
//!
//! Not for loading scripts (`JsIsolate::from_spare`) nor for how an isolate
//! moves between threads (`locked.rs`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::RuntimeError;
use crate::isolate::SpareIsolate;
use crate::observe::ThreadStats;

/// Spares kept ready per worker thread.
pub const STOCK: usize = 2;

/// How long after a spare is taken the factory starts on its replacement:
/// about what loading a small script and answering its first request take
/// (`islet-bench cold-start`: starting at once made the cold starts of a
/// quiet server slower, in the 90th percentile 2.8 ms instead of 0.9 ms).
pub const REFILL_AFTER: Duration = Duration::from_millis(1);

/// The state the factory and the workers share.
struct Shared {
    stocks: Mutex<Vec<Slot>>,
    /// Wakes the factory: a stock was taken from, or a worker went.
    wake: Condvar,
    /// The heap limit spares are made with (the node's default).
    heap_bytes: usize,
    /// Spares per stock.
    target: usize,
}

/// One worker thread's stock.
struct Slot {
    spares: Vec<SpareIsolate>,
    /// The worker's `islet_spare_isolates` gauge.
    stats: Arc<ThreadStats>,
    /// The worker still holds its `Stock`.
    held: bool,
    /// When the stock went below its target, if it is.
    short_since: Option<Instant>,
}

impl Slot {
    fn set_gauge(&self) {
        self.stats.set_spares(self.spares.len());
    }

    /// When the factory should refill this stock: [`REFILL_AFTER`] after it
    /// went short; never if it is full.
    fn due(&self, target: usize, now: Instant) -> Option<Instant> {
        if !self.held || self.spares.len() >= target {
            return None;
        }
        Some(self.short_since.map_or(now, |since| since + REFILL_AFTER))
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Vec<Slot>> {
    // A panic while holding this lock leaves only whole vectors behind.
    shared.stocks.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the factory thread with one stock per entry of `stats` (one per
/// worker thread, in index order), each kept at `target` spares with a
/// heap limit of `heap_bytes`.
pub fn start(stats: Vec<Arc<ThreadStats>>, target: usize, heap_bytes: usize) -> Result<Vec<Stock>, RuntimeError> {
    let workers = stats.len();
    let shared = Arc::new(Shared {
        stocks: Mutex::new(
            stats
                .into_iter()
                .map(|stats| Slot {
                    spares: Vec::with_capacity(target),
                    stats,
                    held: true,
                    short_since: None,
                })
                .collect(),
        ),
        wake: Condvar::new(),
        heap_bytes,
        target,
    });
    let factory = shared.clone();
    std::thread::Builder::new()
        .name("islet-factory".to_string())
        .spawn(move || run(&factory))
        .map_err(|e| RuntimeError::V8(format!("cannot start the isolate factory thread: {e}")))?;
    Ok((0..workers)
        .map(|index| Stock {
            shared: shared.clone(),
            index,
        })
        .collect())
}

/// What the factory does next.
enum Next {
    /// Make a spare for this stock.
    Make(usize),
    /// Dispose of the spares of workers that went.
    Dispose(Vec<SpareIsolate>),
    /// No worker is left.
    Stop(Vec<SpareIsolate>),
}

/// Waits until there is something to do.
fn next(shared: &Shared) -> Next {
    let mut stocks = lock(shared);
    loop {
        let orphans: Vec<SpareIsolate> = stocks
            .iter_mut()
            .filter(|s| !s.held)
            .flat_map(|s| std::mem::take(&mut s.spares))
            .collect();
        if stocks.iter().all(|s| !s.held) {
            return Next::Stop(orphans);
        }
        if !orphans.is_empty() {
            return Next::Dispose(orphans);
        }
        let now = Instant::now();
        // The emptiest of the stocks that are due, else the next due time.
        let due = stocks
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.due(shared.target, now).map(|at| (i, at, s.spares.len())));
        let ready = due.clone().filter(|(_, at, _)| *at <= now).min_by_key(|(_, _, n)| *n);
        if let Some((i, _, _)) = ready {
            return Next::Make(i);
        }
        stocks = match due.map(|(_, at, _)| at).min() {
            Some(at) => shared
                .wake
                .wait_timeout(stocks, at.saturating_duration_since(now))
                .map_or_else(|e| e.into_inner().0, |(guard, _)| guard),
            None => shared
                .wake
                .wait(stocks)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        };
    }
}

/// Fills the stocks, emptiest first, until no worker holds one. Spares
/// nobody will take are disposed of here, not on a worker thread.
fn run(shared: &Shared) {
    loop {
        let index = match next(shared) {
            Next::Make(i) => i,
            Next::Dispose(spares) => {
                drop(spares);
                continue;
            }
            Next::Stop(spares) => {
                drop(spares);
                return;
            }
        };
        match SpareIsolate::new(shared.heap_bytes) {
            Ok(spare) => {
                if let Some(slot) = lock(shared).get_mut(index) {
                    slot.spares.push(spare);
                    if slot.spares.len() >= shared.target {
                        slot.short_since = None;
                    }
                    slot.set_gauge();
                }
            }
            Err(e) => {
                // Not expected (only a broken snapshot fails); the workers
                // make their own isolates meanwhile.
                tracing::error!("the isolate factory cannot make an isolate: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// One worker thread's stock of spare isolates, which the factory refills.
pub struct Stock {
    shared: Arc<Shared>,
    index: usize,
}

impl Stock {
    /// A spare with a heap limit of `heap_bytes`, if one is ready; the
    /// factory starts on its replacement [`REFILL_AFTER`] later.
    pub fn take(&self, heap_bytes: usize) -> Option<SpareIsolate> {
        if heap_bytes != self.shared.heap_bytes {
            return None;
        }
        let spare = {
            let mut stocks = lock(&self.shared);
            let slot = stocks.get_mut(self.index)?;
            let spare = slot.spares.pop()?;
            slot.short_since.get_or_insert_with(Instant::now);
            slot.set_gauge();
            spare
        };
        // For the factory to note when the refill is due.
        self.shared.wake.notify_one();
        Some(spare)
    }

    /// Makes a spare on the calling worker thread, at its start, and puts
    /// it in stock. Besides giving the worker a spare before the factory
    /// gets to it, this makes the thread fit to run isolates made on other
    /// threads: with memory protection keys (x86-64 `pku`), V8 guards its
    /// code and dispatch tables with a key whose access rights live in each
    /// thread's `PKRU` register. A thread gets them by inheritance, when
    /// created by a thread that has them (so `v8::V8::initialize` comes
    /// before the worker threads start), or when it writes to those tables
    /// itself, which making an isolate does (`RwxMemoryWriteScope` in V8's
    /// `src/common/code-memory-access-inl.h` leaves the thread with read
    /// access). A worker started by a thread that predates V8's
    /// initialisation (a test harness's thread) would otherwise fault on
    /// its first read of those tables in an isolate it did not make.
    pub fn prime(&self) -> Result<(), RuntimeError> {
        let spare = SpareIsolate::new(self.shared.heap_bytes)?;
        if let Some(slot) = lock(&self.shared).get_mut(self.index) {
            slot.spares.push(spare);
            slot.set_gauge();
        }
        Ok(())
    }

    /// Spares ready in this stock.
    pub fn len(&self) -> usize {
        lock(&self.shared).get(self.index).map_or(0, |s| s.spares.len())
    }

    /// Whether no spare is ready.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Stock {
    fn drop(&mut self) {
        if let Some(slot) = lock(&self.shared).get_mut(self.index) {
            slot.held = false;
        }
        // The factory disposes of this stock's spares, and stops if it was
        // the last.
        self.shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use islet_bindings::host::Unobserved;

    use super::{start, STOCK};
    use crate::isolate::{JsIsolate, SpareIsolate};
    use crate::limits::Limits;
    use crate::observe::Observability;
    use crate::script::ScriptVersion;

    const HEAP: usize = 64 << 20;

    /// Waits until `ready` holds, for at most ten seconds.
    fn eventually(what: &str, ready: impl Fn() -> bool) {
        let start = Instant::now();
        while !ready() {
            assert!(start.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn the_factory_fills_a_stock_and_refills_it_after_a_take() {
        let observe = Observability::default();
        let stats = observe.metrics.thread(0);
        let mut stocks = start(vec![stats], STOCK, HEAP).expect("factory starts");
        let stock = stocks.pop().expect("one stock");
        eventually("a full stock", || stock.len() == STOCK);
        assert!(
            stock.take(HEAP / 2).is_none(),
            "spares have the default heap limit only"
        );
        let spare = stock.take(HEAP).expect("a spare");
        assert_eq!(spare.heap_bytes(), HEAP);
        eventually("the stock refilled", || stock.len() == STOCK);
        drop(spare);
    }

    /// Loads `source` into a spare made by a factory (none made by the
    /// worker: `prime` is not called) on a thread of its own, as a worker
    /// does; the load's error, if any.
    fn load_on_factory_spare(source: &str, limits: Limits) -> Option<String> {
        let observe = Observability::default();
        let mut stocks = start(vec![observe.metrics.thread(0)], 1, limits.heap_bytes).expect("factory starts");
        let stock = stocks.pop().expect("one stock");
        eventually("a spare", || !stock.is_empty());
        let spare = stock.take(limits.heap_bytes).expect("a spare");
        let script = Arc::new(ScriptVersion::single("test", 1, source.into()));
        let worker = std::thread::spawn(move || {
            // As `Stock::prime` does (this test's thread may predate V8's
            // initialisation).
            drop(SpareIsolate::new(limits.heap_bytes).expect("own isolate"));
            crate::platform::block_on_local("test", async move {
                JsIsolate::from_spare(spare, script, limits, Rc::new(Unobserved))
                    .err()
                    .map(|e| e.to_string())
            })
            .expect("runtime")
        });
        worker.join().expect("worker thread")
    }

    #[test]
    fn an_isolate_made_by_the_factory_has_its_workers_stack_limit() {
        // The top level recurses deep (no false overflow at the maker's
        // limit) and past the stack (a RangeError, not a crash).
        const SCRIPT: &str = r#"
function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1); }
function forever(n) { return forever(n + 1) + 1; }
if (depth(5000) !== 5000) throw new Error("wrong depth");
let caught = null;
try { forever(0); } catch (e) { caught = e; }
if (!(caught instanceof RangeError)) throw new Error("no RangeError: " + caught);
export default { fetch() { return new Response("ok"); } };
"#;
        let limits = Limits {
            heap_bytes: HEAP,
            ..Limits::default()
        };
        assert_eq!(load_on_factory_spare(SCRIPT, limits), None);
    }

    #[test]
    fn the_watchdog_stops_a_loop_in_an_isolate_made_by_the_factory() {
        let limits = Limits {
            heap_bytes: HEAP,
            startup_cpu: Duration::from_millis(50),
            ..Limits::default()
        };
        let failure = load_on_factory_spare("while (true) {}", limits).expect("the load fails");
        assert!(failure.contains("CPU time limit"), "{failure}");
    }

    #[test]
    fn the_heap_limit_stops_a_memory_bomb_in_an_isolate_made_by_the_factory() {
        const BOMB: &str = "const keep = []; while (true) keep.push(new Array(100000).fill(keep.length));";
        let limits = Limits {
            heap_bytes: 32 << 20,
            ..Limits::default()
        };
        let failure = load_on_factory_spare(BOMB, limits).expect("the load fails");
        assert!(failure.contains("memory limit"), "{failure}");
    }
}
