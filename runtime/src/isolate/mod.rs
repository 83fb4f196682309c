//! One V8 isolate running one script version: created from the startup
//! snapshot, the script loaded into its single context, then entered for
//! each request, op completion and timer. Not for choosing which isolate
//! serves a request (that is `worker.rs`) nor for HTTP (that is `server/`).

pub mod event_loop;
pub mod modules;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use islet_bindings::host::{self, CompletionQueue, ConsoleSink, HostState};
use islet_bindings::http_types::{RequestBody, RequestSlot, ResponseHead};
use islet_bindings::v8_util::new_string;
use tokio::sync::oneshot;

use crate::error::RuntimeError;
use crate::platform;
use crate::script::{ScriptFormat, SharedScript};
use crate::snapshot_builder::INTERNALS_SLOT;

/// Functions of the JS runtime (`js/20_worker.js`) that Rust calls.
struct Hooks {
    dispatch_fetch: v8::Global<v8::Function>,
    fire_timers: v8::Global<v8::Function>,
    init_worker: v8::Global<v8::Function>,
}

/// Settings an isolate is created with.
#[derive(Debug, Clone, Copy)]
pub struct IsolateOptions {
    /// Maximum V8 heap, in bytes.
    pub heap_limit: usize,
}

impl Default for IsolateOptions {
    fn default() -> Self {
        IsolateOptions { heap_limit: 128 << 20 }
    }
}

/// The response to one dispatched request: its head, or the uncaught error
/// (message and stack) that stopped the handler.
pub type PendingResponse = oneshot::Receiver<Result<ResponseHead, String>>;

/// A request as handed to a script.
pub struct IncomingRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Absolute URL (`http://host/path?query`).
    pub url: &'a str,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// Request body, `None` when the request has none.
    pub body: Option<RequestBody>,
}

/// An isolate and context created from the snapshot, with no script yet.
/// Worker threads keep a few ready so a cold start skips this part.
pub struct SpareIsolate {
    core: Core,
}

impl SpareIsolate {
    /// Creates an isolate and its context from the startup snapshot.
    pub fn new(console: Rc<dyn ConsoleSink>, options: IsolateOptions) -> Result<SpareIsolate, RuntimeError> {
        platform::init_v8();
        let params = v8::CreateParams::default()
            .snapshot_blob(v8::StartupData::from(platform::SNAPSHOT))
            .external_references(platform::external_references())
            .heap_limits(0, options.heap_limit);
        let mut isolate = v8::Isolate::new(params);
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        let state = HostState::new(Rc::from(""), console);
        let completions = state.completions.clone();
        isolate.set_slot(state);
        let made = create_context(&mut isolate);
        // Several isolates share this thread; `Entered` switches between
        // them. `Isolate::new` entered this one: leave it as it was.
        // SAFETY: the isolate was entered by `Isolate::new` on this thread.
        unsafe { isolate.exit() };
        let (context, hooks) = made?;
        Ok(SpareIsolate {
            core: Core {
                hooks,
                context,
                completions,
                isolate,
            },
        })
    }
}

/// The parts every isolate has. Field order matters: the V8 handles must
/// drop before the isolate.
struct Core {
    hooks: Hooks,
    context: v8::Global<v8::Context>,
    completions: Rc<CompletionQueue>,
    isolate: v8::OwnedIsolate,
}

/// An isolate with one script loaded.
pub struct JsIsolate {
    core: Core,
    /// The script version this isolate runs.
    pub script: SharedScript,
    /// When the isolate finished loading.
    pub created_at: Instant,
}

impl JsIsolate {
    /// Creates an isolate from the snapshot and loads `script` into it.
    pub fn new(
        script: SharedScript,
        console: Rc<dyn ConsoleSink>,
        options: IsolateOptions,
    ) -> Result<JsIsolate, RuntimeError> {
        JsIsolate::from_spare(SpareIsolate::new(console, options)?, script)
    }

    /// Loads `script` into a spare isolate. On error the spare is used up.
    pub fn from_spare(spare: SpareIsolate, script: SharedScript) -> Result<JsIsolate, RuntimeError> {
        let mut core = spare.core;
        if let Some(state) = core.isolate.get_slot_mut::<HostState>() {
            state.script_name = Rc::from(script.name.as_str());
        }
        core.enter(|scope, hooks| load_script(scope, hooks, &script))?;
        Ok(JsIsolate {
            core,
            script,
            created_at: Instant::now(),
        })
    }

    /// The queue that wakes this isolate's event loop.
    pub fn completions(&self) -> Rc<CompletionQueue> {
        self.core.completions.clone()
    }

    /// Hands a request to the script's fetch handler. The response arrives
    /// on the returned channel, possibly before this returns.
    pub fn dispatch_fetch(&mut self, request: IncomingRequest<'_>) -> PendingResponse {
        let (tx, rx) = oneshot::channel();
        let has_body = request.body.is_some();
        let rid = {
            let Some(state) = self.core.isolate.get_slot_mut::<HostState>() else {
                return rx;
            };
            state.awaiting_response += 1;
            state.resources.add(RequestSlot {
                headers: request.headers,
                body: request.body.map(|b| Rc::new(RefCell::new(Some(b)))),
                responder: Some(tx),
            })
        };
        let (method, url) = (request.method, request.url);
        self.core.enter(|scope, hooks| {
            let f = v8::Local::new(scope, &hooks.dispatch_fetch);
            let args = [
                v8::Integer::new_from_unsigned(scope, rid).into(),
                method_value(scope, method),
                url_value(scope, url),
                v8::Boolean::new(scope, has_body).into(),
            ];
            v8::tc_scope!(let tc, scope);
            let undefined = v8::undefined(tc).into();
            if f.call(tc, undefined, &args).is_none() {
                let message = tc.exception().map_or_else(
                    || "execution terminated".to_string(),
                    |e| modules::describe_exception(tc, e),
                );
                host::state(tc).respond(rid, Err(message));
            }
        });
        rx
    }

    /// Delivers completed async ops and due timers to JS.
    pub fn run_pending(&mut self) {
        self.core.enter(|scope, hooks| {
            host::resolve_completions(scope);
            scope.perform_microtask_checkpoint();
            let due = host::state(scope).timers.take_due(Instant::now());
            if due.is_empty() {
                return;
            }
            let ids: Vec<v8::Local<v8::Value>> = due
                .iter()
                .map(|id| v8::Integer::new_from_unsigned(scope, *id).into())
                .collect();
            let list = v8::Array::new_with_elements(scope, &ids);
            let f = v8::Local::new(scope, &hooks.fire_timers);
            let undefined = v8::undefined(scope).into();
            f.call(scope, undefined, &[list.into()]);
        });
    }

    /// When the earliest armed timer is due.
    pub fn next_timer(&mut self) -> Option<Instant> {
        self.core.isolate.get_slot_mut::<HostState>()?.timers.next_deadline()
    }

    /// Whether ops, timers or requests are still in flight.
    pub fn is_busy(&self) -> bool {
        self.core
            .isolate
            .get_slot::<HostState>()
            .is_some_and(|s| s.has_pending_work() || s.awaiting_response > 0)
    }
}

impl Core {
    fn enter<R>(&mut self, f: impl FnOnce(&mut v8::PinScope, &Hooks) -> R) -> R {
        let hooks = &self.hooks;
        let _entered = Entered::new(&self.isolate);
        let isolate = &mut self.isolate;
        v8::scope!(let scope, isolate);
        let context = v8::Local::new(scope, &self.context);
        let scope = &mut v8::ContextScope::new(scope, context);
        let result = f(scope, hooks);
        scope.perform_microtask_checkpoint();
        result
    }
}

thread_local! {
    /// The V8 isolate this thread last entered and left entered. Switching
    /// happens only when another isolate is needed, which saves an
    /// enter/exit pair on every entry while one script is hot.
    static ENTERED: std::cell::Cell<*mut std::ffi::c_void> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// The address of the C++ isolate (stable, unlike the Rust handle, which
/// moves with its owner).
fn raw_ptr(isolate: &v8::Isolate) -> *mut std::ffi::c_void {
    // SAFETY: `UnsafeRawIsolatePtr` is a `repr(transparent)` wrapper of the
    // isolate's C++ pointer; reading it has no side effect.
    unsafe { std::mem::transmute::<v8::UnsafeRawIsolatePtr, *mut std::ffi::c_void>(isolate.as_raw_isolate_ptr()) }
}

/// Makes `isolate` the one entered on this thread.
struct Entered;

impl Entered {
    fn new(isolate: &v8::OwnedIsolate) -> Entered {
        let ptr = raw_ptr(isolate);
        ENTERED.with(|current| {
            let previous = current.get();
            if previous != ptr {
                if !previous.is_null() {
                    // SAFETY: `previous` is a live isolate entered on this
                    // thread: `Core::drop` clears this slot before an
                    // isolate is disposed.
                    unsafe {
                        let raw = std::mem::transmute::<*mut std::ffi::c_void, v8::UnsafeRawIsolatePtr>(previous);
                        v8::Isolate::from_raw_isolate_ptr(raw).exit();
                    }
                }
                // SAFETY: alive and used only on this thread.
                unsafe { isolate.enter() };
                current.set(ptr);
            }
        });
        Entered
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // `OwnedIsolate`'s own drop exits the isolate and checks that it is
        // the current one, so make it the entered one first; afterwards no
        // isolate is entered.
        let _ = Entered::new(&self.isolate);
        ENTERED.with(|current| current.set(std::ptr::null_mut()));
        // Lets the event-loop task notice the isolate is gone and exit.
        self.completions.wake();
    }
}

/// Common methods go to JS as small integers (`js/20_worker.js` maps them
/// back to its own constant strings): no string is made per request.
fn method_value<'s>(scope: &mut v8::PinScope<'s, '_>, method: &str) -> v8::Local<'s, v8::Value> {
    const COMMON: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
    match COMMON.iter().position(|m| *m == method) {
        Some(i) => v8::Integer::new(scope, i as i32).into(),
        None => new_string(scope, method).into(),
    }
}

/// The request URL as a V8 string; request targets are ASCII, which V8
/// takes without decoding.
fn url_value<'s>(scope: &mut v8::PinScope<'s, '_>, url: &str) -> v8::Local<'s, v8::Value> {
    if url.is_ascii() {
        if let Some(s) = v8::String::new_from_one_byte(scope, url.as_bytes(), v8::NewStringType::Normal) {
            return s.into();
        }
    }
    new_string(scope, url).into()
}

fn get_function<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    internals: v8::Local<'s, v8::Object>,
    name: &str,
) -> Result<v8::Local<'s, v8::Function>, RuntimeError> {
    let key = new_string(scope, name);
    internals
        .get(scope, key.into())
        .and_then(|v| v8::Local::<v8::Function>::try_from(v).ok())
        .ok_or_else(|| RuntimeError::V8(format!("the snapshot lacks internals.{name}")))
}

/// Creates the context from the snapshot and finds the runtime's hooks.
fn create_context(isolate: &mut v8::OwnedIsolate) -> Result<(v8::Global<v8::Context>, Hooks), RuntimeError> {
    v8::scope!(let scope, isolate);
    let context = v8::Context::new(scope, Default::default());
    let scope = &mut v8::ContextScope::new(scope, context);
    let internals = context
        .get_embedder_data(scope, INTERNALS_SLOT)
        .and_then(|v| v8::Local::<v8::Object>::try_from(v).ok())
        .ok_or_else(|| RuntimeError::V8("the snapshot has no internals object".into()))?;
    let dispatch_fetch = get_function(scope, internals, "dispatchFetch")?;
    let fire_timers = get_function(scope, internals, "fireTimers")?;
    let init_worker = get_function(scope, internals, "initWorker")?;
    let hooks = Hooks {
        dispatch_fetch: v8::Global::new(scope, dispatch_fetch),
        fire_timers: v8::Global::new(scope, fire_timers),
        init_worker: v8::Global::new(scope, init_worker),
    };
    Ok((v8::Global::new(scope, context), hooks))
}

/// Runs the script in the context and installs its handler.
fn load_script(scope: &mut v8::PinScope, hooks: &Hooks, script: &SharedScript) -> Result<(), RuntimeError> {
    let default_export: v8::Local<v8::Value> = match script.format {
        ScriptFormat::ServiceWorker => {
            modules::run_classic(scope, script)?;
            v8::undefined(scope).into()
        }
        ScriptFormat::Module => {
            let ns = modules::run_modules(scope, script)?;
            let key = new_string(scope, "default");
            ns.get(scope, key.into()).unwrap_or_else(|| v8::undefined(scope).into())
        }
    };
    let vars = v8::Object::new(scope);
    for (k, v) in &script.vars {
        let key = new_string(scope, k);
        let value = new_string(scope, v);
        vars.set(scope, key.into(), value.into());
    }
    let init_worker = v8::Local::new(scope, &hooks.init_worker);
    v8::tc_scope!(let tc, scope);
    let is_module = v8::Boolean::new(tc, script.format == ScriptFormat::Module).into();
    let undefined = v8::undefined(tc).into();
    if init_worker
        .call(tc, undefined, &[is_module, default_export, vars.into()])
        .is_none()
    {
        let (e, m) = (tc.exception(), tc.message());
        return Err(modules::script_error(tc, e, m, &script.main));
    }
    Ok(())
}
