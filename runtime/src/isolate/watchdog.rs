//! The CPU-time watchdog of a thread that runs JavaScript.
//!
//! Every entry into JS arms it with a deadline on the thread's CPU clock
//! (the time already spent by the entry's request subtracted from the
//! budget); leaving JS disarms it. A watchdog thread sleeps until the
//! deadline could have been reached (CPU time never runs faster than wall
//! time), reads the worker thread's CPU clock, and calls
//! `terminate_execution` on the isolate when the budget is spent. Arming
//! and disarming take an uncontended lock; an arm makes a system call (to
//! wake the watchdog) only when its deadline is earlier than the one the
//! watchdog is waiting for, which steady traffic with equal budgets never does.
//! Not for wall time (the edge's timer) nor memory (the heap callback).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Duration;

/// CPU time consumed by the calling thread, in nanoseconds.
pub fn thread_cpu_now() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
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

#[derive(Default)]
struct Armed {
    /// CPU-clock time (ns) at which to terminate; 0 when disarmed.
    deadline: u64,
    /// Bumped on every arm, so a late decision cannot hit a later entry.
    generation: u64,
    /// The isolate to stop, kept between entries (a stale handle of a
    /// disposed isolate is harmless: terminating it does nothing).
    handle: Option<v8::IsolateHandle>,
    /// Identifies the isolate `handle` belongs to.
    handle_key: u64,
    fired: bool,
}

struct Shared {
    armed: Mutex<Armed>,
    /// The CPU-clock deadline the watchdog is waiting for (`u64::MAX` when
    /// it is idle): an arm with an earlier deadline must wake it.
    waiting_until: AtomicU64,
    /// CPU clock of the watched thread.
    clock: libc::clockid_t,
}

/// A watchdog for the thread that created it.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Thread,
}

/// How long an idle watchdog parks before looking again.
const IDLE_PARK: Duration = Duration::from_millis(200);

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
            armed: Mutex::new(Armed::default()),
            waiting_until: AtomicU64::new(u64::MAX),
            clock,
        });
        let watched = shared.clone();
        let name = std::thread::current().name().unwrap_or("worker").to_string();
        let handle = std::thread::Builder::new()
            .name(format!("{name}-watchdog"))
            .spawn(move || watch(watched))?;
        Ok(Watchdog {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Arms the watchdog: terminate `isolate` (identified by `key`) when
    /// this thread's CPU clock reaches `deadline_ns`.
    pub fn arm(&self, deadline_ns: u64, key: u64, isolate: &v8::IsolateHandle) {
        if let Ok(mut a) = self.shared.armed.lock() {
            a.deadline = deadline_ns.max(1);
            a.generation = a.generation.wrapping_add(1);
            if a.handle_key != key || a.handle.is_none() {
                a.handle = Some(isolate.clone());
                a.handle_key = key;
            }
            a.fired = false;
        }
        if deadline_ns < self.shared.waiting_until.load(Ordering::Acquire) {
            self.thread.unpark();
        }
    }

    /// Disarms it; returns whether it fired during the entry (the isolate
    /// then has a pending termination and must not run JS again).
    pub fn disarm(&self) -> bool {
        match self.shared.armed.lock() {
            Ok(mut a) => {
                a.deadline = 0;
                std::mem::take(&mut a.fired)
            }
            Err(_) => false,
        }
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

fn watch(shared: Arc<Shared>) {
    raise_priority();
    let mut waited_for = u64::MAX;
    loop {
        if Arc::strong_count(&shared) == 1 {
            return;
        }
        let Ok((deadline, generation)) = shared.armed.lock().map(|a| (a.deadline, a.generation)) else {
            return;
        };
        let target = if deadline == 0 { u64::MAX } else { deadline };
        if target != waited_for {
            // Publish what we wait for, then look again: an arm racing with
            // us is either seen by the second look or sees the published
            // value and wakes us.
            shared.waiting_until.store(target, Ordering::Release);
            waited_for = target;
            continue;
        }
        if deadline == 0 {
            std::thread::park_timeout(IDLE_PARK);
            continue;
        }
        let now = clock_ns(shared.clock);
        if now >= deadline {
            if let Ok(mut a) = shared.armed.lock() {
                if a.generation == generation && a.deadline != 0 {
                    if let Some(h) = &a.handle {
                        h.terminate_execution();
                    }
                    a.fired = true;
                    a.deadline = 0;
                }
            }
            continue;
        }
        // CPU time cannot run faster than wall time: the deadline is at
        // least this far away.
        std::thread::park_timeout(Duration::from_nanos(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::thread_cpu_now;

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
