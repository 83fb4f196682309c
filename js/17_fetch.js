// https://fetch.spec.whatwg.org/#fetch-method
//
// The global fetch(). The request goes to Rust whole (method, URL, headers,
// and the body as a string or bytes, as the incoming request's body still
// in Rust when a request is forwarded, or as a stream pumped chunk by
// chunk); Rust applies the outbound policy, follows redirects and sends it
// on this thread's pooled client (bindings/src/fetch). The response body
// stays in Rust until the script reads it, then streams chunk by chunk.
// An AbortSignal cancels the request and the reading of its body.

const {
  PromiseReject, PromisePrototypeThen, PromiseWithResolvers, TypeError, WeakMap, WeakMapPrototypeDelete,
  WeakMapPrototypeGet, WeakMapPrototypeSet,
} = primordials;

// Runtime pieces from earlier files, captured once.
const {
  Request, Response, requestInner, responseHeaders, responseSetUrl, headersFlat, headersSetGuard,
  headersAppendTrusted, abortSignalAddAlgorithm, abortSignalRemoveAlgorithm, pumpStream, ReadableStream,
  isReadableStreamLocked, isReadableStreamDisturbed,
} = internals;

// Response bodies nobody has read yet, by stream: { rid, handOff }. A
// script that returns a fetched response as it came (or `new Response(
// res.body, res)`) lets the edge stream the body straight from the
// upstream connection, without a round trip through JS per chunk.
const unreadBodies = new WeakMap();

const REDIRECT_MODES = { follow: 0, error: 1, manual: 2 };

// InnerBody kinds (js/14_body.js).
const STRING = 1, BYTES = 2, RID = 3, STREAM = 4;

// Body kinds of op_fetch_send.
const SEND_NONE = 0, SEND_WHOLE = 1, SEND_REQUEST = 2, SEND_STREAM = 3;

function ignore() {}

function fetch(input, init = undefined) {
  let request;
  try {
    request = new Request(input, init);
  } catch (err) {
    return PromiseReject(err);
  }
  const signal = request.signal;
  if (signal.aborted) return PromiseReject(signal.reason);
  const inner = requestInner(request);
  if (inner.disturbed()) {
    return PromiseReject(new TypeError("fetch(): the request body has already been used."));
  }
  const { promise, resolve, reject } = PromiseWithResolvers();
  const cancelRid = ops.op_fetch_cancel_handle();
  let settled = false;
  let finished = false;
  let controller = null; // the response body's, once the head arrived

  function finish() {
    if (finished) return;
    finished = true;
    abortSignalRemoveAlgorithm(signal, onAbort);
    ops.op_fetch_close(cancelRid);
  }
  function onAbort() {
    const reason = signal.reason;
    ops.op_fetch_abort(cancelRid);
    if (!settled) {
      settled = true;
      reject(reason);
    } else if (controller !== null) {
      try {
        controller.error(reason);
      } catch {
        // already closed or errored
      }
    }
    finish();
  }
  abortSignalAddAlgorithm(signal, onAbort);

  let kind = SEND_NONE;
  let body;
  let pair = null;
  switch (inner.kind) {
    case STRING:
    case BYTES:
      kind = SEND_WHOLE;
      body = inner.value;
      break;
    case RID:
      kind = SEND_REQUEST;
      body = inner.value;
      break;
    case STREAM:
      pair = ops.op_body_stream_open();
      kind = SEND_STREAM;
      body = pair[1];
      break;
  }
  if (kind !== SEND_NONE) inner.used = true;

  let sent;
  try {
    sent = ops.op_fetch_send(
      cancelRid, request.method, request.url, headersFlat(request.headers), kind, body,
      REDIRECT_MODES[request.redirect],
    );
  } catch (err) {
    settled = true;
    finish();
    if (pair !== null) {
      ops.op_body_close(pair[0]);
      ops.op_body_close(pair[1]);
    }
    return PromiseReject(err);
  }
  if (pair !== null) PromisePrototypeThen(pumpStream(inner.value, pair[0]), undefined, ignore);

  PromisePrototypeThen(sent, (head) => {
    if (settled) {
      if (head[3] !== 0) ops.op_fetch_close(head[3]);
      return;
    }
    settled = true;
    let response;
    try {
      response = makeResponse(head);
    } catch (err) {
      if (head[3] !== 0) ops.op_fetch_close(head[3]);
      finish();
      reject(err);
      return;
    }
    resolve(response);
  }, (err) => {
    // The upload never started: drop the channel so the pump stops.
    if (pair !== null) ops.op_body_close(pair[1]);
    if (!settled) {
      settled = true;
      finish();
      reject(err);
    }
  });
  return promise;

  // head: [status, statusText, [name, value, ...], bodyRid, url, redirected]
  function makeResponse(head) {
    const bodyRid = head[3];
    let stream = null;
    if (bodyRid !== 0) {
      stream = new ReadableStream({
        type: "bytes",
        start(c) {
          controller = c;
        },
        async pull(c) {
          let chunk;
          try {
            chunk = await ops.op_fetch_read(bodyRid);
          } catch (err) {
            ops.op_fetch_close(bodyRid);
            finish();
            throw err;
          }
          if (chunk === null) {
            ops.op_fetch_close(bodyRid);
            finish();
            c.close();
            const req = c.byobRequest;
            if (req) req.respond(0);
          } else {
            c.enqueue(chunk);
          }
        },
        cancel() {
          ops.op_fetch_close(bodyRid);
          finish();
        },
      });
      WeakMapPrototypeSet(unreadBodies, stream, { rid: bodyRid, handOff: finish });
    } else {
      finish();
    }
    const response = new Response(stream, { status: head[0], statusText: head[1] });
    const headers = responseHeaders(response);
    const flat = head[2];
    for (let i = 0; i + 1 < flat.length; i += 2) headersAppendTrusted(headers, flat[i], flat[i + 1]);
    headersSetGuard(headers, "immutable");
    responseSetUrl(response, head[4], head[5]);
    return response;
  }
}

// For js/20_worker.js: the rid of a fetched body still unread in Rust
// (op_respond takes it whole), or 0; the stream must not be used after.
internals.takeFetchBody = function takeFetchBody(stream) {
  const entry = WeakMapPrototypeGet(unreadBodies, stream);
  if (entry === undefined || isReadableStreamLocked(stream) || isReadableStreamDisturbed(stream)) return 0;
  WeakMapPrototypeDelete(unreadBodies, stream);
  entry.handOff();
  return entry.rid;
};

internals.fetch = fetch;
internals.defineGlobals({ fetch });
