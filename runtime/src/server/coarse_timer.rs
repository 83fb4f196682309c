//! A hyper timer for the edge's long, imprecise HTTP/1.1 timeout: the time
//! a client has to send a request head. hyper arms that timeout before it
//! reads every head and drops it once the head is in, so with tokio's timer
//! each request on a keep-alive connection would register and cancel a
//! timer-wheel entry (a boxed sleep, the runtime handle, the wheel). Here a
//! sleep is a slot in a per-thread table that one task sweeps every
//! [`TICK`]: arming and disarming are a slot write each, and a timeout
//! fires up to one tick late. hyper asks the timer for the time before it
//! arms each timeout; while the sweep runs, [`CoarseTimer`] answers with
//! the time of the sweep's latest tick instead of reading the clock, so a
//! timeout may also fire up to one tick early. Not for anything that needs
//! precision.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the sweep runs while sleeps are pending: the precision.
const TICK: Duration = Duration::from_millis(100);

/// The timer; sleeps live on the thread that polls them (the edge's
/// connections never change thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct CoarseTimer;

impl hyper::rt::Timer for CoarseTimer {
    fn now(&self) -> Instant {
        TABLE.with(|t| t.borrow().swept_at).unwrap_or_else(Instant::now)
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CoarseSleep { deadline, slot: None })
    }
}

/// One pending sleep; its slot is held from its first poll to its drop.
struct CoarseSleep {
    deadline: Instant,
    slot: Option<usize>,
}

impl hyper::rt::Sleep for CoarseSleep {}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let slot = self.slot;
        let (slot, fired) = TABLE.with(|t| t.borrow_mut().poll(slot, deadline, cx.waker()));
        self.slot = Some(slot);
        if fired {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            // `try_with`: the table may be gone when the thread exits.
            let _ = TABLE.try_with(|t| t.borrow_mut().release(slot));
        }
    }
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

struct Slot {
    deadline: Instant,
    waker: Option<Waker>,
    fired: bool,
}

#[derive(Default)]
struct Table {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    live: usize,
    sweeping: bool,
    /// When the running sweep last ticked; `None` while none runs.
    swept_at: Option<Instant>,
}

impl Table {
    /// Registers (or refreshes) a sleep's waker; returns its slot and
    /// whether it has fired.
    fn poll(&mut self, slot: Option<usize>, deadline: Instant, waker: &Waker) -> (usize, bool) {
        if let Some(i) = slot {
            if let Some(Some(s)) = self.slots.get_mut(i) {
                if s.fired {
                    return (i, true);
                }
                match &s.waker {
                    Some(w) if w.will_wake(waker) => {}
                    _ => s.waker = Some(waker.clone()),
                }
                return (i, false);
            }
        }
        let entry = Some(Slot {
            deadline,
            waker: Some(waker.clone()),
            fired: false,
        });
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = entry;
                i
            }
            None => {
                self.slots.push(entry);
                self.slots.len() - 1
            }
        };
        self.live += 1;
        if !self.sweeping {
            self.sweeping = true;
            tokio::task::spawn_local(sweep());
        }
        (i, false)
    }

    fn release(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(i) {
            if s.take().is_some() {
                self.live -= 1;
                self.free.push(i);
            }
        }
    }

    /// Fires the sleeps that are due; returns whether any are left.
    fn fire_due(&mut self, now: Instant) -> bool {
        for s in self.slots.iter_mut().flatten() {
            if !s.fired && s.deadline <= now {
                s.fired = true;
                if let Some(w) = s.waker.take() {
                    w.wake();
                }
            }
        }
        if self.live == 0 {
            self.sweeping = false;
            self.swept_at = None;
        } else {
            self.swept_at = Some(now);
        }
        self.live > 0
    }
}

/// Sweeps this thread's table every tick while it holds sleeps.
async fn sweep() {
    loop {
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        if !TABLE.with(|t| t.borrow_mut().fire_due(now)) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CoarseTimer;
    use hyper::rt::Timer as _;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn sleeps_fire_about_on_time_and_dropped_ones_free_their_slot() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let started = Instant::now();
                let dropped = CoarseTimer.sleep(Duration::from_millis(50));
                drop(dropped);
                CoarseTimer.sleep(Duration::from_millis(150)).await;
                let waited = started.elapsed();
                assert!(waited >= Duration::from_millis(150), "{waited:?}");
                assert!(waited < Duration::from_secs(2), "{waited:?}");
                // A sleep that is polled once and dropped leaves nothing behind.
                let mut sleep = CoarseTimer.sleep(Duration::from_secs(60));
                let waker = std::task::Waker::noop();
                let mut cx = std::task::Context::from_waker(waker);
                assert!(sleep.as_mut().poll(&mut cx).is_pending());
                drop(sleep);
                assert_eq!(super::TABLE.with(|t| t.borrow().live), 0);
            })
            .await;
    }

    #[tokio::test]
    async fn the_time_hyper_asks_for_lags_the_clock_by_at_most_a_tick_while_sleeps_are_pending() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let mut pending = CoarseTimer.sleep(Duration::from_secs(60));
                let waker = std::task::Waker::noop();
                let mut cx = std::task::Context::from_waker(waker);
                assert!(pending.as_mut().poll(&mut cx).is_pending());
                for _ in 0..3 {
                    tokio::time::sleep(super::TICK / 2).await;
                    let (coarse, now) = (CoarseTimer.now(), Instant::now());
                    assert!(coarse <= now);
                    // A tick, and slack for a late sweep on a busy machine.
                    assert!(now - coarse <= super::TICK * 3, "{:?} behind", now - coarse);
                }
                drop(pending);
                // Once the sweep has stopped, it is the clock again.
                tokio::time::sleep(super::TICK * 2).await;
                assert_eq!(super::TABLE.with(|t| t.borrow().swept_at), None);
                let before = Instant::now();
                assert!(CoarseTimer.now() >= before);
            })
            .await;
    }
}
