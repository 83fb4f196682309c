//! The event loop of one isolate: a task on the worker thread's `LocalSet`
//! that sleeps until an async op completes or a timer is due, then enters
//! the isolate to deliver it. Requests themselves do not go through this
//! loop: they enter the isolate directly on the hot path.

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::{Rc, Weak};

use super::JsIsolate;

/// Starts the loop for `isolate`; it ends when the isolate is dropped.
pub fn spawn(isolate: &Rc<RefCell<JsIsolate>>) {
    let weak: Weak<RefCell<JsIsolate>> = Rc::downgrade(isolate);
    let queue = isolate.borrow().completions();
    tokio::task::spawn_local(async move {
        loop {
            let deadline = match weak.upgrade() {
                Some(iso) => match iso.try_borrow_mut() {
                    Ok(mut iso) => iso.next_timer(),
                    Err(_) => None,
                },
                None => return,
            };
            let ready = poll_fn(|cx| queue.poll_ready(cx));
            match deadline {
                Some(at) => {
                    tokio::select! {
                        () = ready => {}
                        () = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => ready.await,
            }
            let Some(iso) = weak.upgrade() else { return };
            // Only this thread touches the isolate and nothing awaits while
            // holding it, so the borrow cannot fail; skip a turn if it does.
            if let Ok(mut iso) = iso.try_borrow_mut() {
                iso.run_pending();
                if iso.failed().is_some() {
                    // A limit stopped the isolate: nothing will run in it again.
                    return;
                }
            };
        }
    });
}
