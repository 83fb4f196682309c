//! The CPU-time watchdog of a thread that runs JavaScript, and the meter
//! that charges each entry into JS to its request.
//!
//! Reading a thread's CPU clock is a system call (about 0.7 us here), too
//! dear for every entry, so the hot path reads only the monotonic clock
//! (vDSO, no system call). Arming and disarming are a few atomic stores:
//! the entry's generation and phase in one word, its start and its budget.
//! The watchdog thread polls while the thread is busy and parks while it
//! is idle (an arm wakes it, which costs a system call only on the first
//! entry after a quiet spell). While the thread keeps running short
//! entries, the pause between looks grows from [`TICK`] to [`LONG_TICK`]:
//! on a core the watchdog shares with its thread, every look costs that
//! thread two context switches. An entry whose budget ends before the
//! watchdog's next look wakes it (a system call, only for such entries).
//! An entry still running [`SAMPLE_AFTER`] after it started (or at the
//! first look after that) gets a sample: the watchdog reads the worker's
//! CPU clock and the wall clock together. From then on the entry's
//! CPU time is exact: wall time up to the sample (CPU time never runs
//! faster than wall time, so this can only overcharge by the time the
//! thread was preempted in those first milliseconds) plus CPU time since. The
//! watchdog sleeps until the budget could be spent and calls
//! `terminate_execution` when it is. An entry shorter than [`SAMPLE_AFTER`]
//! is charged its wall time, which is its CPU time unless the thread was
//! preempted during it.
//!
//! Not for wall time (the edge's timer) nor memory (the heap callback).

use std::cell::Cell;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Duration;

/// CPU time consumed by the calling thread, in nanoseconds (a system call).
pub fn thread_cpu_now() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The monotonic clock in nanoseconds (no system call on Linux).
fn wall_now() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; the clock id is either a
    // constant or one returned by pthread_getcpuclockid for a live thread.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// How often the watchdog looks at a thread that has just become busy.
const TICK: Duration = Duration::from_millis(1);
/// The longest pause between looks at a thread busy with short entries.
const LONG_TICK: Duration = Duration::from_millis(4);
/// An entry running this long (ns) gets a CPU-clock sample.
const SAMPLE_AFTER: u64 = 1_000_000;
/// How long an idle watchdog parks before checking that its thread lives.
const IDLE_PARK: Duration = Duration::from_millis(200);

/// Phases in the low bits of [`Shared::state`]; the generation is above.
const IDLE: u64 = 0;
const ARMED: u64 = 1;
const FIRED: u64 = 2;
const PHASE: u64 = 3;

/// A CPU-clock reading the watchdog took during an entry.
#[derive(Default, Clone, Copy)]
struct Sample {
    /// `state` of the entry it belongs to.
    state: u64,
    wall: u64,
    cpu: u64,
}

struct Shared {
    /// `generation << 2 | phase`: written by the worker (arm, disarm) and
    /// by the watchdog (armed -> fired, by compare-and-swap, so a late
    /// decision cannot hit a later entry).
    state: AtomicU64,
    /// Monotonic-clock time the current entry started.
    started: AtomicU64,
    /// CPU time the current entry may use, ns.
    allowed: AtomicU64,
    /// The watchdog is parked until the next arm.
    parked: AtomicBool,
    /// Monotonic-clock time of the watchdog's next look while the thread
    /// is busy: an entry whose budget ends sooner wakes it.
    wake_at: AtomicU64,
    /// The isolate to stop, kept between entries (a stale handle of a
    /// disposed isolate is harmless: terminating it does nothing).
    handle: Mutex<Option<v8::IsolateHandle>>,
    /// The latest sample, for the worker to charge a long entry exactly.
    sample: Mutex<Sample>,
    /// CPU clock of the watched thread.
    clock: libc::clockid_t,
}

/// A watchdog for the thread that created it.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Thread,
    generation: Cell<u64>,
    /// Identifies the isolate `shared.handle` belongs to.
    handle_key: Cell<u64>,
}

/// An armed entry; hand it back to [`Watchdog::disarm`].
#[must_use]
pub struct Armed {
    state: u64,
    started: u64,
}

/// What an entry cost, as [`Watchdog::disarm`] measured it.
pub struct Metered {
    /// CPU time charged to the entry, ns.
    pub used_ns: u64,
    /// The watchdog stopped the entry (the isolate then has a pending
    /// termination and must not run JS again).
    pub fired: bool,
}

impl Watchdog {
    /// Starts a watchdog thread for the calling thread.
    pub fn for_current_thread() -> std::io::Result<Watchdog> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: pthread_self is always valid for the calling thread, and
        // `clock` is a valid out-pointer.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        let shared = Arc::new(Shared {
            state: AtomicU64::new(IDLE),
            started: AtomicU64::new(0),
            allowed: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            wake_at: AtomicU64::new(0),
            handle: Mutex::new(None),
            sample: Mutex::new(Sample::default()),
            clock,
        });
        let watched = shared.clone();
        let name = std::thread::current().name().unwrap_or("worker").to_string();
        let handle = std::thread::Builder::new()
            .name(format!("{name}-watchdog"))
            .spawn(move || watch(&watched))?;
        Ok(Watchdog {
            shared,
            thread: handle.thread().clone(),
            generation: Cell::new(0),
            handle_key: Cell::new(0),
        })
    }

    /// Arms the watchdog for an entry that may use `allowed_ns` of CPU
    /// time: terminate `isolate` (identified by `key`) when it is spent.
    pub fn arm(&self, allowed_ns: u64, key: u64, isolate: &v8::IsolateHandle) -> Armed {
        if self.handle_key.get() != key {
            if let Ok(mut h) = self.shared.handle.lock() {
                *h = Some(isolate.clone());
                self.handle_key.set(key);
            }
        }
        let generation = self.generation.get().wrapping_add(1) & (u64::MAX >> 2);
        self.generation.set(generation);
        let state = generation << 2 | ARMED;
        let started = wall_now();
        self.shared.started.store(started, Ordering::Relaxed);
        self.shared.allowed.store(allowed_ns.max(1), Ordering::Relaxed);
        // SeqCst with the loads of `parked` and `wake_at`: either the
        // watchdog sees this entry before it parks, or this sees it parked
        // (or pausing past this entry's budget) and wakes it.
        self.shared.state.store(state, Ordering::SeqCst);
        let deadline = started.saturating_add(allowed_ns);
        if self.shared.parked.load(Ordering::SeqCst) || deadline < self.shared.wake_at.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        Armed { state, started }
    }

    /// Disarms it and measures the entry.
    pub fn disarm(&self, armed: Armed) -> Metered {
        // AcqRel: the next arm's stores cannot move before this.
        let previous = self.shared.state.swap(armed.state & !PHASE | IDLE, Ordering::AcqRel);
        let fired = previous & PHASE == FIRED;
        let now = wall_now();
        let wall = now.saturating_sub(armed.started);
        let mut used_ns = wall;
        if wall >= SAMPLE_AFTER {
            let sample = self.shared.sample.lock().map(|s| *s).unwrap_or_default();
            if sample.state == armed.state {
                let cpu = thread_cpu_now().saturating_sub(sample.cpu);
                used_ns = sample.wall.saturating_sub(armed.started).saturating_add(cpu).min(wall);
            }
        }
        Metered { used_ns, fired }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // The watchdog thread sees it is the last owner and exits.
        self.thread.unpark();
    }
}

/// Asks the scheduler to run the watchdog ahead of busy threads, so a
/// termination is not late on a loaded machine. Best effort: without the
/// privilege (CAP_SYS_NICE) the thread keeps the default priority.
fn raise_priority() {
    // SAFETY: gettid and setpriority have no memory effects; a failure
    // only leaves the priority as it was.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, u32::try_from(tid).unwrap_or(0), -10);
    }
}

fn watch(shared: &Arc<Shared>) {
    raise_priority();
    let mut last_seen = u64::MAX;
    let mut sample = Sample::default();
    // Pause between looks while entries come and go; grows while they do.
    let mut pause = TICK;
    loop {
        if Arc::strong_count(shared) == 1 {
            return;
        }
        let state = shared.state.load(Ordering::Acquire);
        if state & PHASE != ARMED {
            if state == last_seen {
                // Nothing ran for a whole pause: park until the next arm.
                shared.parked.store(true, Ordering::SeqCst);
                if shared.state.load(Ordering::SeqCst) == state {
                    std::thread::park_timeout(IDLE_PARK);
                }
                shared.parked.store(false, Ordering::SeqCst);
                pause = TICK;
            } else {
                last_seen = state;
                pause_until(shared, state, wall_now().saturating_add(nanos(pause)));
                pause = (pause * 2).min(LONG_TICK);
            }
            continue;
        }
        // Values of this entry, or of a later one if the worker moved on
        // (then the state check or the compare-and-swap below fails).
        let started = shared.started.load(Ordering::Acquire);
        let allowed = shared.allowed.load(Ordering::Acquire);
        if sample.state != state {
            let now = wall_now();
            let due = started.saturating_add(SAMPLE_AFTER);
            let new_entry = state != last_seen;
            last_seen = state;
            if now < due {
                // Look again when the entry is due for a sample. When it is
                // new and entries keep coming and going (each look finds
                // another), after the pause instead, unless its budget ends
                // sooner: a long entry is then sampled a little late.
                let mut wake = due;
                if new_entry {
                    wake = now
                        .saturating_add(nanos(pause))
                        .min(started.saturating_add(allowed))
                        .max(due);
                    pause = (pause * 2).min(LONG_TICK);
                }
                pause_until(shared, state, wake);
                continue;
            }
            let cpu = clock_ns(shared.clock);
            let wall = wall_now();
            fence(Ordering::Acquire);
            if shared.state.load(Ordering::Acquire) != state {
                continue;
            }
            // The entry ran before and after the reading: it is its own.
            sample = Sample { state, wall, cpu };
            if let Ok(mut s) = shared.sample.lock() {
                *s = sample;
            }
            // A long entry: once it ends, look at the next ones closely.
            pause = TICK;
        }
        let cpu_since = clock_ns(shared.clock).saturating_sub(sample.cpu);
        let used = sample.wall.saturating_sub(started).saturating_add(cpu_since);
        if used >= allowed {
            fire(shared, state);
            continue;
        }
        // CPU time cannot run faster than wall time: the budget is at
        // least this far away. Look sooner anyway, for the next entries.
        let now = wall_now();
        pause_until(shared, state, now.saturating_add((allowed - used).min(nanos(TICK))));
    }
}

/// Parks the watchdog until `wake` (monotonic-clock ns), published so that
/// an entry armed meanwhile with an earlier end of budget wakes it. `seen`
/// is the entry the watchdog just looked at.
fn pause_until(shared: &Shared, seen: u64, wake: u64) {
    shared.wake_at.store(wake, Ordering::SeqCst);
    // An entry armed before the store above did not see it: check its
    // budget here (SeqCst pairs with the worker's store of `state`).
    let state = shared.state.load(Ordering::SeqCst);
    if state != seen && state & PHASE == ARMED {
        let deadline = shared
            .started
            .load(Ordering::Acquire)
            .saturating_add(shared.allowed.load(Ordering::Acquire));
        if deadline < wake {
            shared.wake_at.store(0, Ordering::SeqCst);
            return;
        }
    }
    let now = wall_now();
    if wake > now {
        std::thread::park_timeout(Duration::from_nanos(wake - now));
    }
    shared.wake_at.store(0, Ordering::SeqCst);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Stops the entry `state` if it is still running.
fn fire(shared: &Shared, state: u64) {
    // The handle is read first: it changes only after this entry is
    // disarmed, and then the compare-and-swap fails.
    let handle = shared.handle.lock().ok().and_then(|h| h.clone());
    let claimed = shared
        .state
        .compare_exchange(state, state & !PHASE | FIRED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if claimed {
        if let Some(h) = handle {
            h.terminate_execution();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{thread_cpu_now, Watchdog};

    /// Spins for `d` of wall time.
    fn spin(d: Duration) {
        let start = Instant::now();
        while start.elapsed() < d {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn after_many_short_entries_a_long_one_is_still_stopped_at_its_budget() {
        // From the snapshot, as every isolate in the process must be.
        let spare = crate::isolate::SpareIsolate::new(64 << 20).expect("an isolate");
        let handle = spare.handle.clone();
        let watchdog = Watchdog::for_current_thread().expect("watchdog");
        // Short entries for a while: the watchdog's pause grows to its longest.
        let busy = Instant::now();
        while busy.elapsed() < Duration::from_millis(50) {
            let armed = watchdog.arm(50_000_000, 1, &handle);
            spin(Duration::from_micros(5));
            assert!(!watchdog.disarm(armed).fired, "a 5 us entry was stopped");
        }
        // Then entries that overrun budgets shorter and longer than the pause.
        for budget_ms in [2u64, 12] {
            let armed = watchdog.arm(budget_ms * 1_000_000, 1, &handle);
            spin(Duration::from_millis(budget_ms + 30));
            let metered = watchdog.disarm(armed);
            assert!(metered.fired, "an entry over its {budget_ms} ms budget was not stopped");
            assert!(
                metered.used_ns >= budget_ms * 1_000_000,
                "charged {} ns",
                metered.used_ns
            );
        }
        drop(spare);
    }

    #[test]
    fn the_thread_cpu_clock_advances_with_work_not_with_sleep() {
        let a = thread_cpu_now();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = thread_cpu_now();
        assert!(b - a < 10_000_000, "sleeping counted as CPU time: {} ns", b - a);
        // Busy work advances it (on a loaded machine, more slowly than the wall clock).
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while thread_cpu_now() - b < 20_000_000 {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "the CPU clock did not advance"
            );
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(
            start.elapsed() >= std::time::Duration::from_millis(19),
            "CPU time ran faster than wall time"
        );
    }
}
