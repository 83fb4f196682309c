//! One V8 isolate running one script version: created from the startup
//! snapshot, the script loaded into its single context, then entered for
//! each request, op completion and timer. Not for choosing which isolate
//! serves a request (that is `worker.rs`) nor for HTTP (that is `server/`).

pub mod event_loop;
pub mod factory;
mod locked;
pub mod modules;
pub mod watchdog;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use islet_bindings::host::{self, CompletionQueue, HostState, ScriptObserver};
use islet_bindings::http_types::{FailureKind, HeadResult, RequestBody, RequestSlot, Responder, ScriptFailure};
use islet_bindings::limits::SharedUsage;
use islet_bindings::v8_util::new_string;
use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

use crate::error::RuntimeError;
use crate::limits::Limits;
use crate::platform;
use crate::script::{ScriptFormat, SharedScript};
use crate::snapshot_builder::INTERNALS_SLOT;
use locked::{Entered, LockedIsolate};

/// Functions of the JS runtime (`js/20_worker.js`) that Rust calls.
struct Hooks {
    dispatch_fetch: v8::Global<v8::Function>,
    fire_timers: v8::Global<v8::Function>,
    init_worker: v8::Global<v8::Function>,
}

/// Settings for isolates: the node's default limits and the lifecycle of
/// each worker thread's isolate cache.
#[derive(Debug, Clone, Copy)]
pub struct IsolateOptions {
    /// Default limits; a script's own limits override them.
    pub limits: Limits,
    /// Isolates kept per worker thread; the least recently used goes first.
    pub max_isolates: usize,
    /// An isolate unused this long is disposed.
    pub idle_timeout: Duration,
}

impl Default for IsolateOptions {
    fn default() -> Self {
        IsolateOptions {
            limits: Limits::default(),
            max_isolates: 1000,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// The response to one dispatched request: its head, or why there is none.
/// Most scripts answer during the dispatch; only the others get a channel.
pub struct PendingResponse(Pending);

enum Pending {
    Ready(Option<HeadResult>),
    Waiting(oneshot::Receiver<HeadResult>),
}

/// The request was dropped without a response (its isolate went away).
#[derive(Debug, Clone, Copy)]
pub struct Discarded;

impl PendingResponse {
    /// The head if it is there already; `Closed` once taken or discarded.
    pub fn try_recv(&mut self) -> Result<HeadResult, TryRecvError> {
        match &mut self.0 {
            Pending::Ready(head) => head.take().ok_or(TryRecvError::Closed),
            Pending::Waiting(rx) => rx.try_recv(),
        }
    }
}

impl std::future::Future for PendingResponse {
    type Output = Result<HeadResult, Discarded>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match &mut self.0 {
            Pending::Ready(head) => std::task::Poll::Ready(head.take().ok_or(Discarded)),
            Pending::Waiting(rx) => std::pin::Pin::new(rx).poll(cx).map_err(|_| Discarded),
        }
    }
}

/// On whose budget an entry into JS runs.
#[derive(Debug, Clone)]
enum Budget {
    /// A request's remaining CPU time (a fresh one if the request is over).
    Request(u32),
    /// A request being dispatched: all of its budget, as it used none yet,
    /// and the usage its CPU time is charged to.
    Dispatch(u32, SharedUsage),
    /// The script's top level while it loads.
    Startup,
}

/// How an entry's CPU time is measured: by the thread's watchdog, or by
/// the CPU clock where the watchdog could not start.
enum Meter {
    Watched(watchdog::Armed),
    Unwatched(u64),
}

/// Source of `Core::id`.
static NEXT_ISOLATE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Shared with V8's near-heap-limit callback.
struct HeapGuard {
    handle: v8::IsolateHandle,
    hit: AtomicBool,
}

/// Called by V8 when the heap nears its limit: stop the script and give
/// V8 room to unwind instead of letting it abort the process.
extern "C" fn near_heap_limit(data: *mut std::ffi::c_void, current: usize, _initial: usize) -> usize {
    // SAFETY: `data` is the `HeapGuard` boxed beside the isolate (in its
    // `SpareIsolate`, then its `Core`), which outlives the isolate's heap:
    // it is dropped after the isolate (field order), and the box does not
    // move when they do.
    let guard = unsafe { &*(data as *const HeapGuard) };
    guard.hit.store(true, Ordering::Release);
    guard.handle.terminate_execution();
    current.saturating_add(current / 2).max(current + (32 << 20))
}

thread_local! {
    /// This thread's CPU watchdog, started on first use.
    static WATCHDOG: Option<watchdog::Watchdog> = match watchdog::Watchdog::for_current_thread() {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!("cannot start the CPU watchdog: {e}; CPU limits are not enforced on this thread");
            None
        }
    };
}

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
    /// The request's id in logs and the tail.
    pub request_id: u64,
    /// Where its CPU time and subrequests are counted.
    pub usage: islet_bindings::limits::SharedUsage,
}

/// An isolate and context created from the snapshot, with no script yet.
/// Made on any thread (mostly the factory's, see `factory`) and sent to
/// the worker thread that loads a script into it and keeps it. Nothing
/// that is tied to a thread hangs off it yet.
pub struct SpareIsolate {
    // Field order: the handles go before the isolate.
    hooks: Hooks,
    context: v8::Global<v8::Context>,
    isolate: v8::SharedIsolate,
    handle: v8::IsolateHandle,
    heap_bytes: usize,
    /// Dropped after `isolate` (field order), as the heap callback needs it.
    heap_guard: Box<HeapGuard>,
}

// A spare crosses from the factory thread to a worker thread.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<SpareIsolate>();
};

impl SpareIsolate {
    /// Creates an isolate and its context from the startup snapshot, with
    /// a heap limit of `heap_bytes`, on the calling thread, which keeps no
    /// hold on it.
    ///
    /// # Panics
    ///
    /// If an isolate islet did not make is entered on this thread (the
    /// `v8::Locker` of the `v8` crate refuses to lock then); the same holds
    /// for [`JsIsolate::from_spare`].
    pub fn new(heap_bytes: usize) -> Result<SpareIsolate, RuntimeError> {
        platform::init_v8();
        let params = v8::CreateParams::default()
            .snapshot_blob(v8::StartupData::from(platform::SNAPSHOT))
            .external_references(platform::external_references())
            .heap_limits(0, heap_bytes);
        // Leaves this thread with no isolate entered, which the `Locker`
        // below wants (the next entry on this thread re-enters its own).
        locked::leave_entered();
        let mut isolate = v8::Isolate::new(params);
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        let handle = isolate.thread_safe_handle();
        let heap_guard = Box::new(HeapGuard {
            handle: handle.clone(),
            hit: AtomicBool::new(false),
        });
        let guard_ptr = &*heap_guard as *const HeapGuard as *mut std::ffi::c_void;
        isolate.add_near_heap_limit_callback(near_heap_limit, guard_ptr);
        // SAFETY: what hangs off the isolate may move between threads with
        // it: the heap callback's data (`HeapGuard`: an `IsolateHandle` and
        // an atomic, both `Send`) and no slot. The one non-`Send` slot,
        // `HostState`, is set by `JsIsolate::from_spare` on the thread that
        // then holds the isolate's lock until it disposes of it there.
        let isolate = unsafe { isolate.try_into_shared() }
            .map_err(|e| RuntimeError::V8(format!("cannot make the isolate shareable: {e}")))?;
        // Everything done with the isolate is done under its lock, as V8
        // wants once more than one thread uses it. Ending the lock here
        // frees this thread's V8 state for the isolate (handle scopes,
        // stack guard): the worker that adopts it sets up its own.
        let (context, hooks) = create_context(&mut isolate.lock())?;
        Ok(SpareIsolate {
            hooks,
            context,
            isolate,
            handle,
            heap_bytes,
            heap_guard,
        })
    }

    /// The heap limit this isolate was created with.
    pub fn heap_bytes(&self) -> usize {
        self.heap_bytes
    }
}

/// The parts every isolate has. Field order matters: the V8 handles must
/// drop before the isolate.
struct Core {
    hooks: Hooks,
    context: v8::Global<v8::Context>,
    completions: Rc<CompletionQueue>,
    /// Locked to this thread until it is dropped here.
    isolate: LockedIsolate,
    handle: v8::IsolateHandle,
    /// Unique per isolate in this process (addresses get reused).
    id: u64,
    limits: Limits,
    /// Set once a limit stopped JS in this isolate: it never runs again.
    failed: Option<FailureKind>,
    /// Dropped after `isolate` (field order), as the heap callback needs it.
    heap_guard: Box<HeapGuard>,
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
    /// Creates an isolate from the snapshot and loads `script` into it;
    /// `observer` receives its console output and binding calls.
    pub fn new(
        script: SharedScript,
        observer: Rc<dyn ScriptObserver>,
        options: IsolateOptions,
    ) -> Result<JsIsolate, RuntimeError> {
        let limits = options.limits.with_overrides(&script.limits);
        JsIsolate::from_spare(SpareIsolate::new(limits.heap_bytes)?, script, options.limits, observer)
    }

    /// Loads `script` into a spare isolate; `defaults` are the node's
    /// limits, which the script's own override. On error the spare is used up.
    pub fn from_spare(
        spare: SpareIsolate,
        script: SharedScript,
        defaults: Limits,
        observer: Rc<dyn ScriptObserver>,
    ) -> Result<JsIsolate, RuntimeError> {
        let SpareIsolate {
            hooks,
            context,
            isolate,
            handle,
            heap_bytes: _,
            heap_guard,
        } = spare;
        let mut isolate = LockedIsolate::adopt(isolate);
        let limits = defaults.with_overrides(&script.limits);
        let mut state = HostState::new(Rc::from(script.name.as_str()), observer);
        state.limits.subrequests = limits.subrequests;
        let completions = state.completions.clone();
        isolate.set_slot(state);
        let mut core = Core {
            hooks,
            context,
            completions,
            isolate,
            handle,
            id: NEXT_ISOLATE_ID.fetch_add(1, Ordering::Relaxed),
            limits,
            failed: None,
            heap_guard,
        };
        match core.enter(Budget::Startup, |scope, hooks| load_script(scope, hooks, &script)) {
            Ok(loaded) => loaded?,
            Err(kind) => {
                return Err(RuntimeError::Script {
                    message: match kind {
                        FailureKind::Memory => "the script's top level exceeded the memory limit".to_string(),
                        _ => format!(
                        "the script's top level exceeded its CPU time limit ({} ms): move long work into the handler",
                        core.limits.startup_cpu.as_millis()
                    ),
                    },
                    location: None,
                })
            }
        }
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
        let has_body = request.body.is_some();
        let rid = {
            let Some(state) = self.core.isolate.get_slot_mut::<HostState>() else {
                return PendingResponse(Pending::Ready(None));
            };
            state.awaiting_response += 1;
            state.live_requests += 1;
            state.immediate = None;
            state.requests.add_with(|| RequestSlot {
                headers: request.headers,
                body: request.body.map(|b| Rc::new(RefCell::new(Some(b)))),
                responder: Some(Responder::Dispatching),
                usage: request.usage.clone(),
                request_id: request.request_id,
            })
        };
        let (method, url) = (request.method, request.url);
        let _ = self.core.enter(Budget::Dispatch(rid, request.usage), |scope, hooks| {
            let f = v8::Local::new(scope, &hooks.dispatch_fetch);
            let args = [
                v8::Integer::new_from_unsigned(scope, rid).into(),
                method_value(scope, method),
                url_value(scope, url),
                v8::Boolean::new(scope, has_body).into(),
            ];
            v8::tc_scope!(let tc, scope);
            let undefined = v8::undefined(tc).into();
            if f.call(tc, undefined, &args).is_none() && !tc.has_terminated() {
                let message = tc.exception().map_or_else(
                    || "the fetch handler failed".to_string(),
                    |e| modules::describe_exception(tc, e),
                );
                host::state(tc).respond(
                    rid,
                    Err(ScriptFailure {
                        kind: FailureKind::Exception,
                        message,
                    }),
                );
            }
        });
        let Some(state) = self.core.isolate.get_slot_mut::<HostState>() else {
            return PendingResponse(Pending::Ready(None));
        };
        if let Some(head) = state.immediate.take() {
            return PendingResponse(Pending::Ready(Some(head)));
        }
        // No answer yet: from now on the head comes through a channel.
        match state.requests.get_mut(rid) {
            Some(slot) if matches!(slot.responder, Some(Responder::Dispatching)) => {
                let (tx, rx) = oneshot::channel();
                slot.responder = Some(Responder::Channel(tx));
                PendingResponse(Pending::Waiting(rx))
            }
            _ => PendingResponse(Pending::Ready(None)),
        }
    }

    /// Delivers completed async ops and due timers to JS, each on the
    /// budget of the request it belongs to.
    pub fn run_pending(&mut self) {
        if self.core.failed.is_some() {
            // A failed isolate runs no JS: drop what is queued so the event
            // loop does not see it as ready again and again.
            if let Some(st) = self.core.isolate.get_slot_mut::<HostState>() {
                drop(st.take_completions());
                drop(
                    st.timers
                        .take_due(Instant::now() + Duration::from_secs(365 * 24 * 3600)),
                );
            }
            return;
        }
        let completions = match self.core.isolate.get_slot_mut::<HostState>() {
            Some(st) => st.take_completions(),
            None => return,
        };
        for completion in completions {
            let request = completion.request;
            if self
                .core
                .enter(Budget::Request(request), |scope, _| {
                    host::settle_completion(scope, completion)
                })
                .is_err()
            {
                return;
            }
        }
        let due = match self.core.isolate.get_slot_mut::<HostState>() {
            Some(st) => st.timers.take_due(Instant::now()),
            None => return,
        };
        for (id, request) in due {
            let fired = self.core.enter(Budget::Request(request), |scope, hooks| {
                let list = v8::Array::new_with_elements(scope, &[v8::Integer::new_from_unsigned(scope, id).into()]);
                let f = v8::Local::new(scope, &hooks.fire_timers);
                let undefined = v8::undefined(scope).into();
                f.call(scope, undefined, &[list.into()]);
            });
            if fired.is_err() {
                return;
            }
        }
    }

    /// Why this isolate was stopped, if a limit stopped it. A stopped
    /// isolate never runs JS again; the worker replaces it.
    pub fn failed(&self) -> Option<FailureKind> {
        self.core.failed
    }

    /// The limits this isolate's script runs under.
    pub fn limits(&self) -> Limits {
        self.core.limits
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
            && self.core.failed.is_none()
    }
}

impl Core {
    /// Runs `f` inside the isolate on `budget`: the single way into JS, so
    /// CPU accounting and the watchdog cover every entry. Returns the
    /// failure when a limit stopped the entry (the isolate is then failed
    /// and every request still waiting in it gets that failure).
    fn enter<R>(&mut self, budget: Budget, f: impl FnOnce(&mut v8::PinScope, &Hooks) -> R) -> Result<R, FailureKind> {
        if let Some(kind) = self.failed {
            return Err(kind);
        }
        let request = match budget {
            Budget::Request(r) | Budget::Dispatch(r, _) => r,
            Budget::Startup => 0,
        };
        let (allowed_ns, usage) = self.allowed_ns(budget);
        if let Some(st) = self.isolate.get_slot_mut::<HostState>() {
            st.current_request = request;
        }
        let armed = WATCHDOG.with(|w| match w {
            Some(w) => Meter::Watched(w.arm(allowed_ns, self.id, &self.handle)),
            None => Meter::Unwatched(watchdog::thread_cpu_now()),
        });
        let result = {
            let hooks = &self.hooks;
            let _entered = Entered::new(&self.isolate);
            let isolate: &mut v8::Isolate = &mut self.isolate;
            v8::scope!(let scope, isolate);
            let context = v8::Local::new(scope, &self.context);
            let scope = &mut v8::ContextScope::new(scope, context);
            let result = f(scope, hooks);
            scope.perform_microtask_checkpoint();
            result
        };
        let (used, fired) = WATCHDOG.with(|w| match (w, armed) {
            (Some(w), Meter::Watched(armed)) => {
                let m = w.disarm(armed);
                (m.used_ns, m.fired)
            }
            (_, Meter::Unwatched(start)) => (watchdog::thread_cpu_now().saturating_sub(start), false),
            (None, Meter::Watched(_)) => (0, false),
        });
        if let Some(st) = self.isolate.get_slot_mut::<HostState>() {
            st.current_request = 0;
        }
        // Counted even when the request ended during this entry (its slot
        // is gone then): the edge reports the total.
        if let Some(usage) = usage {
            let mut u = usage.get();
            u.cpu_ns = u.cpu_ns.saturating_add(used);
            usage.set(u);
        }
        let kind = if self.heap_guard.hit.load(Ordering::Acquire) {
            Some(FailureKind::Memory)
        } else if fired {
            Some(FailureKind::CpuTime)
        } else {
            None
        };
        match kind {
            None => Ok(result),
            Some(kind) => {
                self.fail(kind);
                Err(kind)
            }
        }
    }

    /// CPU time the next entry may use, nanoseconds, and the usage of the
    /// request it runs for (none once the request is over).
    fn allowed_ns(&mut self, budget: Budget) -> (u64, Option<SharedUsage>) {
        let per_request = u64::try_from(self.limits.cpu.as_nanos()).unwrap_or(u64::MAX);
        match budget {
            Budget::Startup => (
                u64::try_from(self.limits.startup_cpu.as_nanos()).unwrap_or(u64::MAX),
                None,
            ),
            Budget::Dispatch(_, usage) => (per_request, Some(usage)),
            Budget::Request(r) => match self.isolate.get_slot_mut::<HostState>() {
                Some(st) => match st.requests.get_mut(r) {
                    Some(slot) => (
                        per_request.saturating_sub(slot.usage.get().cpu_ns).max(1),
                        Some(slot.usage.clone()),
                    ),
                    None => (per_request, None),
                },
                None => (per_request, None),
            },
        }
    }

    /// Marks the isolate failed and fails every request waiting in it.
    fn fail(&mut self, kind: FailureKind) {
        self.failed = Some(kind);
        let message = match kind {
            FailureKind::CpuTime => format!("exceeded the CPU time limit ({} ms)", self.limits.cpu.as_millis()),
            FailureKind::Memory => format!("exceeded the memory limit ({} MiB)", self.limits.heap_bytes >> 20),
            FailureKind::Exception | FailureKind::Discarded => "the isolate was discarded".to_string(),
        };
        if let Some(st) = self.isolate.get_slot_mut::<HostState>() {
            tracing::warn!(script = %st.script_name, "{message}; the isolate is discarded");
            st.fail_all(kind, &message);
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Lets the event-loop task notice the isolate is gone and exit. The
        // handles go next (field order), then the isolate, on this thread.
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
fn create_context(isolate: &mut v8::Isolate) -> Result<(v8::Global<v8::Context>, Hooks), RuntimeError> {
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
    islet_bindings::kv::bind_env(scope, INTERNALS_SLOT, vars, &script.kv);
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
