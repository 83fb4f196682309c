// https://developers.cloudflare.com/workers/runtime-apis/handlers/fetch/
//
// The Workers entry points: `export default { fetch(request, env, ctx) }`
// and `addEventListener("fetch", event => event.respondWith(...))`.
// Rust calls internals.initWorker once after loading the script, then
// internals.dispatchFetch(rid, method, url, hasBody) per request; the
// response goes back through ops.op_respond / op_respond_error, and
// ops.op_request_done frees the request once its body and waitUntil work
// are over (op_respond does that itself when nothing is left).

const {
  ArrayPrototypePush, ObjectDefineProperty, ObjectFreeze, PromiseAllSettled,
  PromisePrototypeThen, PromiseResolve, String, SymbolToStringTag, TypeError,
  ReflectApply, ArrayPrototypeIndexOf, ArrayPrototypeSplice, FunctionPrototypeCall,
} = primordials;

// Runtime pieces from earlier files, captured once (a lookup on the large
// `internals` object would cost more on every request).
const { newIncomingRequest, requestInner, Response, responseInner, headersFlat, headersList, responseHeaders, responsePendingContentType, pumpStream, reportError, inspect, URL, Event, DOMException, Request, takeFetchBody } = internals;

// Service-worker listeners by type.
const listeners = { fetch: [], scheduled: [] };

function addEventListener(type, listener) {
  if (typeof listener !== "function" && (listener === null || typeof listener !== "object")) return;
  const list = listeners[type];
  if (list !== undefined && ArrayPrototypeIndexOf(list, listener) === -1) ArrayPrototypePush(list, listener);
}
function removeEventListener(type, listener) {
  const list = listeners[type];
  if (list === undefined) return;
  const i = ArrayPrototypeIndexOf(list, listener);
  if (i !== -1) ArrayPrototypeSplice(list, i, 1);
}

const NO_WORK = primordials.ObjectFreeze([]);

class ExecutionContext {
  #waitUntil = NO_WORK; // an array of its own once waitUntil is called
  #passThrough = false;
  waitUntil(promise) {
    if (this.#waitUntil === NO_WORK) this.#waitUntil = [];
    ArrayPrototypePush(this.#waitUntil, PromiseResolve(promise));
  }
  passThroughOnException() {
    this.#passThrough = true;
  }
  static _pending(ctx) { return ctx.#waitUntil; }
  static _passThrough(ctx) { return ctx.#passThrough; }
}
ObjectDefineProperty(ExecutionContext.prototype, SymbolToStringTag, { value: "ExecutionContext", configurable: true });
const pendingOf = ExecutionContext._pending;
const passThroughOf = ExecutionContext._passThrough;
delete ExecutionContext._pending;
delete ExecutionContext._passThrough;

class FetchEvent extends Event {
  #request;
  #ctx;
  #response = null;
  constructor(type, init) {
    super(type);
    if (!init || !(init.request instanceof Request)) {
      throw new TypeError("Failed to construct 'FetchEvent': required member request is undefined.");
    }
    this.#request = init.request;
    this.#ctx = init.ctx || new ExecutionContext();
  }
  get request() { return this.#request; }
  respondWith(response) {
    if (this.#response !== null) throw new DOMException("respondWith() was already called.", "InvalidStateError");
    this.#response = PromiseResolve(response);
  }
  waitUntil(promise) { this.#ctx.waitUntil(promise); }
  passThroughOnException() { this.#ctx.passThroughOnException(); }
  static _response(e) { return e.#response; }
}
const eventResponse = FetchEvent._response;
delete FetchEvent._response;

let handler = null; // (request, ctx) => Response | Promise<Response>
let env = {};

internals.initWorker = function initWorker(isModule, defaultExport, vars) {
  env = vars;
  if (isModule && defaultExport !== undefined && defaultExport !== null) {
    const fetch = defaultExport.fetch;
    if (typeof fetch !== "function") {
      throw new TypeError("The script's default export has no fetch() handler: export default { async fetch(request, env, ctx) { ... } }");
    }
    handler = (request, ctx) => FunctionPrototypeCall(fetch, defaultExport, request, env, ctx);
    return;
  }
  if (listeners.fetch.length === 0) {
    throw new TypeError(
      isModule
        ? "The module has no default export with a fetch() handler: add export default { async fetch(request, env, ctx) { ... } }"
        : "The script registered no fetch handler: call addEventListener(\"fetch\", event => event.respondWith(...))",
    );
  }
  handler = (request, ctx) => {
    const event = new FetchEvent("fetch", { request, ctx });
    const list = listeners.fetch;
    for (let i = 0; i < list.length; i++) {
      const l = list[i];
      if (typeof l === "function") FunctionPrototypeCall(l, globalThis, event);
      else FunctionPrototypeCall(l.handleEvent, l, event);
    }
    const response = eventResponse(event);
    if (response === null) throw new TypeError("No fetch handler called event.respondWith()");
    return response;
  };
};

function describe(err) {
  if (err !== null && typeof err === "object" && typeof err.stack === "string") return err.stack;
  try {
    return String(err);
  } catch {
    return "(an error that cannot be printed)";
  }
}

// The handler failed: a 500, or after ctx.passThroughOnException() the
// request goes on to the origin instead (with its body if still unread).
function failRequest(rid, ctx, request, err) {
  const message = describe(err);
  if (passThroughOf(ctx)) {
    ops.op_request_pass_through(rid, requestInner(request).untouched(), message);
  }
  ops.op_respond_error(rid, message);
  finish(rid, ctx, null);
}

function finish(rid, ctx, pump) {
  let pending = pendingOf(ctx);
  if (pump !== null) {
    if (pending.length === 0) pending = [pump];
    else ArrayPrototypePush(pending, pump);
  }
  if (pending.length === 0) {
    ops.op_request_done(rid);
    return;
  }
  PromisePrototypeThen(PromiseAllSettled(pending), () => ops.op_request_done(rid));
}

// In op_respond's status argument: the request is over with this call
// (must match RESPOND_DONE in bindings/src/body.rs).
const RESPOND_DONE = 0x10000;

// Content types op_respond_typed knows by number (known_content_type in
// bindings/src/body.rs; 0 is none).
const TEXT_PLAIN = "text/plain;charset=UTF-8";
const APPLICATION_JSON = "application/json";

// op_respond takes up to three headers as arguments (cheap for Rust to
// read), more as one flat array. A response with no header but a content
// type the runtime sets itself goes through op_respond_typed, which
// optimised code calls through V8's fast API when the body is a flat
// one-byte string (most text and JSON responses).
function sendHead(rid, status, body, response) {
  const type = responsePendingContentType(response);
  if (type !== undefined) {
    // No Headers object was made: the body's content type is all there is.
    // The types the runtime itself sets go as a number: no strings to read.
    if (type === null) return ops.op_respond_typed(rid, status, body, 0);
    if (type === TEXT_PLAIN) return ops.op_respond_typed(rid, status, body, 1);
    if (type === APPLICATION_JSON) return ops.op_respond_typed(rid, status, body, 2);
    return ops.op_respond(rid, status, body, "content-type", type);
  }
  const headers = responseHeaders(response);
  const list = headersList(headers);
  switch (list.length) {
    case 0:
      return ops.op_respond(rid, status, body);
    case 1:
      return ops.op_respond(rid, status, body, list[0][0], list[0][1]);
    case 2:
      return ops.op_respond(rid, status, body, list[0][0], list[0][1], list[1][0], list[1][1]);
    case 3:
      return ops.op_respond(rid, status, body, list[0][0], list[0][1], list[1][0], list[1][1], list[2][0], list[2][1]);
    default:
      return ops.op_respond(rid, status, body, headersFlat(headers));
  }
}

function respond(rid, ctx, response) {
  if (!(response instanceof Response)) {
    ops.op_respond_error(rid, "TypeError: the fetch handler did not return a Response (got " + inspect(response) + ")");
    finish(rid, ctx, null);
    return;
  }
  const inner = responseInner(response);
  const value = inner.wholeValue();
  let pump = null;
  if (value !== null) {
    if (pendingOf(ctx).length === 0) {
      // Nothing left to wait for: op_respond frees the request too.
      if (!inner.isNone()) inner.used = true;
      sendHead(rid, response.status | RESPOND_DONE, value, response);
      return;
    }
    sendHead(rid, response.status, value, response);
  } else {
    // A fetched body still unread goes from upstream to the client in Rust.
    const upstream = takeFetchBody(inner.stream());
    if (upstream !== 0) {
      sendHead(rid, response.status, upstream, response);
    } else {
      const pair = ops.op_body_stream_open();
      sendHead(rid, response.status, pair[1], response);
      pump = PromisePrototypeThen(pumpStream(inner.stream(), pair[0]), undefined, (err) => {
        reportError(err);
      });
    }
  }
  if (!inner.isNone()) inner.used = true;
  finish(rid, ctx, pump);
}

// Must match `method_value` in runtime/src/isolate/mod.rs.
const METHOD_NAMES = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

internals.dispatchFetch = function dispatchFetch(rid, methodOrIndex, url, hasBody) {
  const method = typeof methodOrIndex === "number" ? METHOD_NAMES[methodOrIndex] : methodOrIndex;
  const request = newIncomingRequest(rid, method, url, hasBody);
  const ctx = new ExecutionContext();
  let result;
  try {
    result = handler(request, ctx);
  } catch (err) {
    failRequest(rid, ctx, request, err);
    return;
  }
  if (result instanceof Response) {
    respond(rid, ctx, result);
    return;
  }
  PromisePrototypeThen(
    PromiseResolve(result),
    (response) => respond(rid, ctx, response),
    (err) => failRequest(rid, ctx, request, err),
  );
};

// Runs a few requests through the dispatch path while the snapshot is
// built, so the functions on it are compiled into the snapshot instead of
// on every isolate's first request. The fake request id has no resources.
internals.warmUp = function warmUp() {
  const saved = handler;
  handler = (request) => {
    const url = new URL(request.url);
    const q = url.searchParams.get("q");
    request.headers.get("accept");
    if (url.pathname === "/json") return Response.json({ q, method: request.method });
    return new Response("warm " + q, { status: 200, headers: { "x-warm": "1" } });
  };
  const FAKE_RID = 0xfffffff0;
  for (let i = 0; i < 3; i++) {
    internals.dispatchFetch(FAKE_RID, 0, "http://warm.up/?q=" + i, false);
    internals.dispatchFetch(FAKE_RID, 0, "http://warm.up/json?q=" + i, false);
  }
  handler = saved;
};

const performance = {
  now() { return ops.op_time_now(); },
  get timeOrigin() { return 0; },
  toJSON() { return {}; },
};
const navigator = ObjectFreeze({ userAgent: "islet", hardwareConcurrency: 1, language: "en" });

internals.defineGlobals({
  addEventListener, removeEventListener, FetchEvent, ExecutionContext, performance, navigator,
  self: globalThis,
});
