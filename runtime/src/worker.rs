//! A worker thread's view of the scripts: its own isolate per script (a
//! cold start creates one from the snapshot), and the dispatch of one
//! request to it. Nothing here is shared between threads except the
//! registry, read without locks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use islet_bindings::host::ConsoleSink;

use crate::error::RuntimeError;
use crate::isolate::{event_loop, IsolateOptions, JsIsolate, SpareIsolate};
use crate::observe::ConsoleToLog;
use crate::registry::Registry;
use crate::script::SharedScript;

/// Per-thread state: the isolate cache and the shared registry.
pub struct Worker {
    /// Scripts and routes.
    pub registry: Arc<Registry>,
    isolates: RefCell<HashMap<String, Rc<RefCell<JsIsolate>>>>,
    /// Isolates with a context but no script yet: a cold start takes one.
    spares: RefCell<Vec<SpareIsolate>>,
    refilling: std::cell::Cell<bool>,
    /// Requests being handled on this thread, and when the last one ended:
    /// spares are made only in quiet moments, never in a request's way.
    in_flight: std::cell::Cell<usize>,
    last_activity: std::cell::Cell<Instant>,
    console: Rc<dyn ConsoleSink>,
    options: IsolateOptions,
}

/// How many spare isolates each worker thread keeps ready.
const SPARES: usize = 2;

/// How long a thread must be idle before it makes a spare isolate.
const QUIET: std::time::Duration = std::time::Duration::from_millis(5);

/// A request in flight on a worker thread (see [`Worker::request_started`]).
pub struct InFlight(Rc<Worker>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get().saturating_sub(1));
        self.0.last_activity.set(Instant::now());
    }
}

impl Worker {
    /// A worker with an empty isolate cache.
    pub fn new(registry: Arc<Registry>, options: IsolateOptions) -> Worker {
        Worker {
            registry,
            isolates: RefCell::new(HashMap::new()),
            spares: RefCell::new(Vec::new()),
            refilling: std::cell::Cell::new(false),
            in_flight: std::cell::Cell::new(0),
            last_activity: std::cell::Cell::new(Instant::now()),
            console: Rc::new(ConsoleToLog),
            options,
        }
    }

    /// This thread's isolate for `script`, created from the snapshot when
    /// there is none or when it runs an older version.
    pub fn isolate_for(&self, script: &SharedScript) -> Result<Rc<RefCell<JsIsolate>>, RuntimeError> {
        if let Some(iso) = self.isolates.borrow().get(&script.name) {
            if Arc::ptr_eq(&iso.borrow().script, script) {
                return Ok(iso.clone());
            }
        }
        let started = Instant::now();
        let spare = self.spares.borrow_mut().pop();
        let spare = match spare {
            Some(s) => s,
            None => SpareIsolate::new(self.console.clone(), self.options)?,
        };
        let iso = JsIsolate::from_spare(spare, script.clone())?;
        let iso = Rc::new(RefCell::new(iso));
        event_loop::spawn(&iso);
        tracing::debug!(script = %script.name, micros = started.elapsed().as_micros() as u64, "cold start");
        self.isolates.borrow_mut().insert(script.name.clone(), iso.clone());
        Ok(iso)
    }

    /// Creates spare isolates until there are enough (at thread start).
    pub fn fill_spares(&self) {
        while self.spares.borrow().len() < SPARES {
            match SpareIsolate::new(self.console.clone(), self.options) {
                Ok(s) => self.spares.borrow_mut().push(s),
                Err(e) => {
                    tracing::warn!("cannot create a spare isolate: {e}");
                    return;
                }
            }
        }
    }

    /// Marks a request as started; the returned guard marks it ended.
    pub fn request_started(self: &Rc<Self>) -> InFlight {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight(self.clone())
    }

    /// After a cold start used a spare, makes another one when the thread
    /// has been without requests for a moment, one isolate per quiet
    /// moment, so steady traffic never waits behind an isolate being made.
    pub fn schedule_refill(self: &Rc<Self>) {
        if self.refilling.get() || self.spares.borrow().len() >= SPARES {
            return;
        }
        self.refilling.set(true);
        let worker = self.clone();
        tokio::task::spawn_local(async move {
            while worker.spares.borrow().len() < SPARES {
                tokio::time::sleep(QUIET).await;
                let quiet = worker.in_flight.get() == 0 && worker.last_activity.get().elapsed() >= QUIET;
                if !quiet {
                    continue;
                }
                match SpareIsolate::new(worker.console.clone(), worker.options) {
                    Ok(s) => worker.spares.borrow_mut().push(s),
                    Err(e) => {
                        tracing::warn!("cannot create a spare isolate: {e}");
                        break;
                    }
                }
            }
            worker.refilling.set(false);
        });
    }

    /// Number of live isolates on this thread.
    pub fn isolate_count(&self) -> usize {
        self.isolates.borrow().len()
    }
}
