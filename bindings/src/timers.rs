//! Host side of timers (`js/05_timers.js`): a min-heap of deadlines per
//! isolate. JavaScript keeps the callbacks; Rust only says which timer ids
//! are due. The runtime's event loop sleeps until [`TimerQueue::next_deadline`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::host::{self, OpDecl};
use crate::op;
use crate::v8_util;

/// Armed timers of one isolate.
#[derive(Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Armed timers and the request that set each (0: none).
    active: std::collections::HashMap<u32, u32>,
}

impl TimerQueue {
    /// Arms timer `id`, set on behalf of `request`, to fire after `delay`.
    pub fn start(&mut self, id: u32, delay: Duration, request: u32) {
        self.active.insert(id, request);
        self.heap.push(Reverse((Instant::now() + delay, id)));
    }

    /// Disarms timer `id` (a no-op when it already fired).
    pub fn cancel(&mut self, id: u32) {
        self.active.remove(&id);
    }

    /// The earliest deadline of an armed timer.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if self.active.contains_key(&id) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns armed timers due at `now`, earliest first, as
    /// `(timer id, request that set it)`.
    pub fn take_due(&mut self, now: Instant) -> Vec<(u32, u32)> {
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(request) = self.active.remove(&id) {
                due.push((id, request));
            }
        }
        due
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

/// The timer ops.
pub fn ops() -> Vec<OpDecl> {
    vec![op!(op_timer_start), op!(op_timer_cancel), op!(op_time_now)]
}

fn op_timer_start(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let id = match v8_util::arg_u32(&args, 0) {
        Ok(id) => id,
        Err(e) => return v8_util::throw(scope, &e),
    };
    let delay = v8_util::arg_f64(&args, 1).unwrap_or(0.0);
    let delay = if delay.is_finite() && delay > 0.0 { delay } else { 0.0 };
    let st = host::state(scope);
    let request = st.current_request;
    st.timers.start(id, Duration::from_secs_f64(delay / 1000.0), request);
    st.completions.wake();
}

fn op_timer_cancel(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    if let Ok(id) = v8_util::arg_u32(&args, 0) {
        host::state(scope).timers.cancel(id);
    }
}

/// Milliseconds since the isolate's time origin, for `performance.now()`.
fn op_time_now(scope: &mut v8::PinScope, _args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let elapsed = host::state(scope).time_origin.elapsed().as_secs_f64() * 1000.0;
    rv.set_double(elapsed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_come_out_in_order_and_cancelled_ones_never() {
        let mut q = TimerQueue::default();
        q.start(1, Duration::from_millis(20), 7);
        q.start(2, Duration::from_millis(0), 0);
        q.start(3, Duration::from_millis(10), 7);
        q.cancel(3);
        let later = Instant::now() + Duration::from_millis(30);
        assert_eq!(q.take_due(later), vec![(2, 0), (1, 7)]);
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
    }
}
