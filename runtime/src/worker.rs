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
use crate::isolate::{event_loop, IsolateOptions, JsIsolate};
use crate::observe::ConsoleToLog;
use crate::registry::Registry;
use crate::script::SharedScript;

/// Per-thread state: the isolate cache and the shared registry.
pub struct Worker {
    /// Scripts and routes.
    pub registry: Arc<Registry>,
    isolates: RefCell<HashMap<String, Rc<RefCell<JsIsolate>>>>,
    console: Rc<dyn ConsoleSink>,
    options: IsolateOptions,
}

impl Worker {
    /// A worker with an empty isolate cache.
    pub fn new(registry: Arc<Registry>, options: IsolateOptions) -> Worker {
        Worker {
            registry,
            isolates: RefCell::new(HashMap::new()),
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
        let iso = JsIsolate::new(script.clone(), self.console.clone(), self.options)?;
        let iso = Rc::new(RefCell::new(iso));
        event_loop::spawn(&iso);
        tracing::debug!(script = %script.name, micros = started.elapsed().as_micros() as u64, "cold start");
        self.isolates.borrow_mut().insert(script.name.clone(), iso.clone());
        Ok(iso)
    }

    /// Number of live isolates on this thread.
    pub fn isolate_count(&self) -> usize {
        self.isolates.borrow().len()
    }
}
