//! The host-call mechanism: how JavaScript calls Rust.
//!
//! A sync op is a plain V8 function callback that returns a value. An async
//! op returns a promise; its Rust future runs as a task on the worker
//! thread's tokio `LocalSet`, and when it completes its [`OpResult`] is queued
//! in [`HostState`] and the runtime's event loop is woken. The loop then
//! enters the isolate, calls [`resolve_completions`] and runs a microtask
//! checkpoint. Every binding uses [`spawn_async`]; none has plumbing of its
//! own. This module does not run the loop (the runtime does).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::error::BindingError;
use crate::http_types::{FailureKind, HeadResult, RequestSlot, Responder, ScriptFailure};
use crate::resources::{IdTable, ResourceTable};
use crate::timers::TimerQueue;
use crate::v8_util;

/// One op: its JS-visible name and its native callback.
#[derive(Clone, Copy)]
pub struct OpDecl {
    /// Name under which the op appears on the `ops` object (`op_kv_get`).
    pub name: &'static str,
    /// The native callback (also registered as a snapshot external reference).
    pub callback: v8::FunctionCallback,
    /// A V8 fast-API version of the callback, which optimised JS calls
    /// directly (no `FunctionCallbackInfo`, arguments already converted)
    /// when the arguments fit; `callback` handles every other call. Its
    /// `CFunction`, address and type info are snapshot external references
    /// too (`crate::external_references`).
    pub fast: Option<&'static FastCall>,
}

/// A fast-API overload, kept in a `static`: its type info then has one
/// address, the one registered as an external reference. (A `const` may be
/// copied wherever it is used, and V8 then meets an address the snapshot's
/// reference table does not know.)
pub struct FastCall(pub v8::fast_api::CFunction);

// SAFETY: a function address and a pointer to static, never-written type
// information: nothing in it is mutable.
unsafe impl Sync for FastCall {}

/// Declares an op from a `fn(&mut PinScope, FunctionCallbackArguments, ReturnValue)`,
/// optionally with a fast-API overload (`op!(f, fast = STATIC_FAST_CALL)`).
#[macro_export]
macro_rules! op {
    ($f:ident) => {
        $crate::host::OpDecl {
            name: stringify!($f),
            callback: v8::MapFnTo::<v8::FunctionCallback>::map_fn_to($f),
            fast: None,
        }
    };
    ($f:ident, fast = $fast:path) => {
        $crate::host::OpDecl {
            name: stringify!($f),
            callback: v8::MapFnTo::<v8::FunctionCallback>::map_fn_to($f),
            fast: Some(&$fast),
        }
    };
}

/// Converts a completed async op's output into a JS value inside the isolate.
pub type ToJs = Box<dyn for<'s, 'i> FnOnce(&mut v8::PinScope<'s, 'i>) -> v8::Local<'s, v8::Value>>;

/// What an async op resolves with.
pub enum OpValue {
    /// `undefined`
    Undefined,
    /// `null`
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// A new `Uint8Array` owning these bytes (no copy).
    Bytes(Vec<u8>),
    /// Anything else, built by a closure once inside the isolate.
    Custom(ToJs),
}

/// The outcome of an async op.
pub type OpResult = Result<OpValue, BindingError>;

impl OpValue {
    /// Builds the JS value.
    pub fn into_js<'s>(self, scope: &mut v8::PinScope<'s, '_>) -> v8::Local<'s, v8::Value> {
        match self {
            OpValue::Undefined => v8::undefined(scope).into(),
            OpValue::Null => v8::null(scope).into(),
            OpValue::Bool(b) => v8::Boolean::new(scope, b).into(),
            OpValue::Number(n) => v8::Number::new(scope, n).into(),
            OpValue::String(s) => v8_util::new_string(scope, &s).into(),
            OpValue::Bytes(b) => match v8_util::new_uint8_array(scope, b) {
                Some(arr) => arr.into(),
                None => v8::undefined(scope).into(),
            },
            OpValue::Custom(f) => f(scope),
        }
    }
}

/// Completions shared between op tasks and the event loop.
#[derive(Default)]
pub struct CompletionQueue {
    ready: RefCell<Vec<(u32, OpResult)>>,
    woken: std::cell::Cell<bool>,
    waker: RefCell<Option<std::task::Waker>>,
}

impl CompletionQueue {
    /// Queues a result and wakes the loop.
    pub fn push(&self, id: u32, result: OpResult) {
        self.ready.borrow_mut().push((id, result));
        self.wake();
    }

    /// Wakes the event loop (new timer, new completion).
    pub fn wake(&self) {
        self.woken.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Registers the loop's waker; returns Ready when completions wait or
    /// something (a new timer) asked the loop to look again.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ready.borrow().is_empty() && !self.woken.replace(false) {
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    fn drain(&self) -> Vec<(u32, OpResult)> {
        std::mem::take(&mut *self.ready.borrow_mut())
    }
}

/// Per-isolate state that ops reach through the isolate slot.
pub struct HostState {
    /// Name of the script this isolate runs (for logs).
    pub script_name: Rc<str>,
    /// Time origin for `performance.now()`.
    pub time_origin: Instant,
    /// Resource table: bodies, decoders, response channels.
    pub resources: ResourceTable,
    /// The requests handed to JS and not yet done, by request id (an id
    /// space of its own, apart from `resources`).
    pub requests: IdTable<RequestSlot>,
    /// Timers armed by `setTimeout`/`setInterval`.
    pub timers: TimerQueue,
    /// Completed async ops waiting to be delivered to JS.
    pub completions: Rc<CompletionQueue>,
    /// Requests handed to JS whose response head has not been produced.
    pub awaiting_response: usize,
    /// Requests handed to JS and not yet done (body and waitUntil included).
    pub live_requests: usize,
    /// Where console output and binding calls are reported.
    pub observer: Rc<dyn ScriptObserver>,
    /// Pending promises of async ops, with the request that started each.
    promises: HashMap<u32, (v8::Global<v8::PromiseResolver>, u32)>,
    next_promise_id: u32,
    /// Number of async ops started and not yet delivered.
    pub pending_ops: usize,
    /// The request on whose behalf JS is running now (0: none).
    pub current_request: u32,
    /// Budgets of each request of this isolate's script.
    pub limits: crate::limits::RequestLimits,
    /// Response header names and values seen before (`op_respond`).
    pub(crate) header_cache: crate::body::HeaderCache,
    /// The head of the request being dispatched, when the script produced
    /// it during the dispatch (see [`Responder::Dispatching`]).
    pub immediate: Option<HeadResult>,
}

/// What bindings report about one script's activity: its console output
/// and its binding calls. The runtime implements it (log, live tail,
/// metrics); bindings never spell a metric name or a log format.
pub trait ScriptObserver {
    /// One `console.*` call, made while handling request `request_id`
    /// (`None`: at the script's top level, or after its request ended).
    fn console(&self, request_id: Option<u64>, level: crate::console::Level, message: &str);
    /// One call of a KV binding on `namespace`.
    fn kv_operation(&self, namespace: &str, op: crate::kv::KvOp);
}

/// An observer that drops everything: for isolates that serve no request
/// (the snapshot build, the compile check of an upload, spare isolates).
pub struct Unobserved;

impl ScriptObserver for Unobserved {
    fn console(&self, _request_id: Option<u64>, _level: crate::console::Level, _message: &str) {}
    fn kv_operation(&self, _namespace: &str, _op: crate::kv::KvOp) {}
}

impl HostState {
    /// State for a new isolate running `script_name`.
    pub fn new(script_name: Rc<str>, observer: Rc<dyn ScriptObserver>) -> Self {
        HostState {
            script_name,
            time_origin: Instant::now(),
            resources: ResourceTable::default(),
            requests: IdTable::default(),
            timers: TimerQueue::default(),
            completions: Rc::new(CompletionQueue::default()),
            awaiting_response: 0,
            live_requests: 0,
            observer,
            promises: HashMap::new(),
            next_promise_id: 1,
            pending_ops: 0,
            current_request: 0,
            limits: crate::limits::RequestLimits::default(),
            header_cache: crate::body::HeaderCache::default(),
            immediate: None,
        }
    }

    /// Whether anything could still call back into JS.
    pub fn has_pending_work(&self) -> bool {
        self.pending_ops > 0 || !self.timers.is_empty() || self.live_requests > 0
    }

    /// Fails every request still waiting for its response head (the
    /// isolate is being discarded).
    pub fn fail_all(&mut self, kind: FailureKind, message: &str) {
        let mut waiting = Vec::new();
        self.requests.for_each_mut(|_, slot| {
            if let Some(r) = slot.responder.take() {
                waiting.push(r);
            }
        });
        self.awaiting_response = 0;
        for r in waiting {
            self.deliver(
                r,
                Err(ScriptFailure {
                    kind,
                    message: message.to_string(),
                }),
            );
        }
    }

    /// Hands a head to whoever waits for it.
    fn deliver(&mut self, responder: Responder, head: HeadResult) {
        match responder {
            Responder::Dispatching => self.immediate = Some(head),
            Responder::Channel(tx) => {
                let _ = tx.send(head);
            }
        }
    }

    /// The id (for logs) of the request JS is running for now, if any.
    pub fn current_request_id(&self) -> Option<u64> {
        self.requests.get(self.current_request).map(|slot| slot.request_id)
    }

    /// Delivers a response head for request `id` and frees the request:
    /// `respond` and `request_done` in one. The head is made from the
    /// request's headers, which are of no more use to the request: their
    /// map can carry the response's headers without a new allocation.
    pub fn respond_and_finish(&mut self, id: u32, head: impl FnOnce(http::HeaderMap) -> HeadResult) {
        if let Some(slot) = self.requests.take(id) {
            self.live_requests = self.live_requests.saturating_sub(1);
            if let Some(responder) = slot.responder {
                self.awaiting_response = self.awaiting_response.saturating_sub(1);
                let head = head(slot.headers);
                self.deliver(responder, head);
            }
        }
    }

    /// Request `id` and its `waitUntil` work are over: frees it.
    pub fn request_done(&mut self, id: u32) {
        if let Some(slot) = self.requests.take(id) {
            self.live_requests = self.live_requests.saturating_sub(1);
            if slot.responder.is_some() {
                self.awaiting_response = self.awaiting_response.saturating_sub(1);
            }
        }
    }

    /// Delivers a response head for request `id` to its waiting responder.
    pub fn respond(&mut self, id: u32, head: HeadResult) {
        let responder = self.requests.get_mut(id).and_then(|slot| slot.responder.take());
        if let Some(responder) = responder {
            self.awaiting_response = self.awaiting_response.saturating_sub(1);
            self.deliver(responder, head);
        }
    }
}

/// The isolate's host state. Panics only if the runtime forgot to install it,
/// which is a bug, not an input error.
pub fn state<'a>(scope: &'a mut v8::PinScope) -> &'a mut HostState {
    #[allow(clippy::expect_used)]
    scope
        .get_slot_mut::<HostState>()
        .expect("HostState is installed before any JS runs")
}

/// Starts an async op: returns a promise settled with `fut`'s output.
///
/// The future is polled once right away; if it is already done (a channel
/// with room, a cached value) the promise is settled without a task.
pub fn spawn_async<'s, F>(scope: &mut v8::PinScope<'s, '_>, fut: F) -> Option<v8::Local<'s, v8::Promise>>
where
    F: Future<Output = OpResult> + 'static,
{
    let resolver = v8::PromiseResolver::new(scope)?;
    let promise = resolver.get_promise(scope);
    let mut fut = Box::pin(fut);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    if let Poll::Ready(result) = fut.as_mut().poll(&mut cx) {
        settle(scope, resolver, result);
        return Some(promise);
    }
    let st = state(scope);
    let id = st.next_promise_id;
    st.next_promise_id = st.next_promise_id.wrapping_add(1).max(1);
    st.pending_ops += 1;
    let queue = st.completions.clone();
    let global = v8::Global::new(scope, resolver);
    let st = state(scope);
    let request = st.current_request;
    st.promises.insert(id, (global, request));
    tokio::task::spawn_local(async move {
        let result = fut.await;
        queue.push(id, result);
    });
    Some(promise)
}

fn settle(scope: &mut v8::PinScope, resolver: v8::Local<v8::PromiseResolver>, result: OpResult) {
    match result {
        Ok(value) => {
            let value = value.into_js(scope);
            resolver.resolve(scope, value);
        }
        Err(err) => {
            let exception = v8_util::to_exception(scope, &err);
            resolver.reject(scope, exception);
        }
    }
}

/// A completed async op, ready to be delivered to JS.
pub struct Completion {
    /// The request that started the op (0: none).
    pub request: u32,
    promise: u32,
    result: OpResult,
}

impl HostState {
    /// Takes the completed async ops, in completion order.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        let done = self.completions.drain();
        let mut out = Vec::with_capacity(done.len());
        for (promise, result) in done {
            self.pending_ops = self.pending_ops.saturating_sub(1);
            let request = self.promises.get(&promise).map_or(0, |(_, r)| *r);
            out.push(Completion {
                request,
                promise,
                result,
            });
        }
        out
    }
}

/// Settles one completed op's promise; the caller runs a microtask
/// checkpoint afterwards, on behalf of `completion.request`.
pub fn settle_completion(scope: &mut v8::PinScope, completion: Completion) {
    let Some((global, _)) = state(scope).promises.remove(&completion.promise) else {
        return;
    };
    let resolver = v8::Local::new(scope, global);
    settle(scope, resolver, completion.result);
}

/// Boxed future type used by ops that store futures.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Installs every op as a function on `target` (the `ops` object).
pub fn install_ops(scope: &mut v8::PinScope, target: v8::Local<v8::Object>, ops: &[OpDecl]) {
    for op in ops {
        let builder = v8::FunctionTemplate::builder_raw(op.callback);
        let template = match op.fast {
            Some(fast) => builder.build_fast(scope, std::slice::from_ref(&fast.0)),
            None => builder.build(scope),
        };
        let Some(function) = template.get_function(scope) else {
            continue;
        };
        let name = v8_util::new_string(scope, op.name);
        function.set_name(name);
        target.set(scope, name.into(), function.into());
    }
}
