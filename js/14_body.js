// https://fetch.spec.whatwg.org/#body-mixin
//
// The body of a Request or Response. It stays in its cheapest form (none,
// a string, bytes, an incoming request body still in Rust, or a
// ReadableStream) until the script asks for something else, so the common
// cases never build a stream: `new Response("hi")` goes to Rust as a string
// and `await request.text()` reads the request body in one loop.

const {
  ArrayBufferIsView, ArrayBufferPrototypeSlice, ArrayPrototypePush, JSONParse,
  ObjectPrototypeToString, PromiseReject, PromiseResolve, PromisePrototypeThen,
  String, TypeError, Uint8Array, TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteOffset, TypedArrayPrototypeGetByteLength,
  DataViewPrototypeGetBuffer, DataViewPrototypeGetByteOffset, DataViewPrototypeGetByteLength,
  ArrayBufferPrototypeGetByteLength, TypedArrayPrototypeSet, TypedArrayPrototypeSubarray,
  ObjectFreeze, Promise,
} = primordials;

// Runtime pieces from earlier files, captured once (a lookup on the large
// `internals` object would cost more on every request).
const { isBufferSource, isReadableStream, isReadableStreamLocked, isReadableStreamDisturbed, isBlob, blobBytes, isFormData, formDataSerialize, URLSearchParams, readableStreamFromBytes, utf8Encode, utf8Decode, readableStreamCollect, ReadableStream, Blob, FormData, formDataParseMultipart } = internals;

// Copies any BufferSource into a fresh Uint8Array (the body must not change
// when the caller later writes into their buffer).
function copyBytes(source) {
  if (ArrayBufferIsView(source)) {
    let buffer, offset, length;
    if (ObjectPrototypeToString(source) === "[object DataView]") {
      buffer = DataViewPrototypeGetBuffer(source);
      offset = DataViewPrototypeGetByteOffset(source);
      length = DataViewPrototypeGetByteLength(source);
    } else {
      buffer = TypedArrayPrototypeGetBuffer(source);
      offset = TypedArrayPrototypeGetByteOffset(source);
      length = TypedArrayPrototypeGetByteLength(source);
    }
    return new Uint8Array(ArrayBufferPrototypeSlice(buffer, offset, offset + length));
  }
  return new Uint8Array(ArrayBufferPrototypeSlice(source, 0, ArrayBufferPrototypeGetByteLength(source)));
}

function concat(chunks, total) {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    TypedArrayPrototypeSet(out, chunks[i], offset);
    offset += chunks[i].length;
  }
  return out;
}

// Reads an incoming request body (still in Rust) to its end.
async function readRidToEnd(rid) {
  const chunks = [];
  let total = 0;
  for (;;) {
    const chunk = await ops.op_body_read(rid);
    if (chunk === null) break;
    ArrayPrototypePush(chunks, chunk);
    total += chunk.length;
  }
  return total === 0 ? new Uint8Array(0) : concat(chunks, total);
}

function streamFromRid(rid) {
  return new ReadableStream({
    type: "bytes",
    async pull(controller) {
      const chunk = await ops.op_body_read(rid);
      if (chunk === null) {
        controller.close();
        const req = controller.byobRequest;
        if (req) req.respond(0);
      } else {
        controller.enqueue(chunk);
      }
    },
  });
}

// Body kinds.
const NONE = 0, STRING = 1, BYTES = 2, RID = 3, STREAM = 4;

class InnerBody {
  kind = NONE;
  value = null; // string | Uint8Array | rid | ReadableStream
  used = false;
  contentType = null; // the Content-Type the body implies, from extract()

  // The null body: one frozen instance, as it never changes (consuming it
  // yields nothing and, as the standard says, leaves bodyUsed false).
  static none() { return NULL_BODY; }

  static fromRid(rid) {
    const b = new InnerBody();
    b.kind = RID;
    b.value = rid;
    return b;
  }

  // BodyInit -> InnerBody, with `contentType` set when the body implies one.
  // Strings, the usual body, take a path short enough for V8 to inline
  // into the constructors that call this; every other type goes to
  // extractOther.
  static extract(init) {
    if (typeof init === "string") {
      const b = new InnerBody();
      b.kind = STRING;
      b.value = init;
      b.contentType = "text/plain;charset=UTF-8";
      return b;
    }
    return extractOther(init);
  }

  isNone() { return this.kind === NONE; }

  // The body as a ReadableStream (created on first use), or null.
  stream() {
    switch (this.kind) {
      case NONE:
        return null;
      case STREAM:
        return this.value;
      case STRING:
        this.value = readableStreamFromBytes(utf8Encode(this.value));
        break;
      case BYTES:
        this.value = readableStreamFromBytes(this.value);
        break;
      case RID:
        this.value = streamFromRid(this.value);
        break;
    }
    this.kind = STREAM;
    return this.value;
  }

  // No body, or a request body still unread in Rust (it could be sent on).
  untouched() {
    return this.kind === NONE || (this.kind === RID && !this.used);
  }

  disturbed() {
    if (this.used) return true;
    return this.kind === STREAM && isReadableStreamDisturbed(this.value);
  }

  #checkUsable() {
    if (this.used || (this.kind === STREAM &&
        (isReadableStreamLocked(this.value) || isReadableStreamDisturbed(this.value)))) {
      return PromiseReject(new TypeError("Body has already been used. It can only be read once."));
    }
    return null;
  }

  // -> Promise<Uint8Array>
  bytes() {
    if (this.kind === NONE) return PromiseResolve(new Uint8Array(0));
    const unusable = this.#checkUsable();
    if (unusable) return unusable;
    this.used = true;
    switch (this.kind) {
      case NONE: return PromiseResolve(new Uint8Array(0));
      case STRING: return PromiseResolve(utf8Encode(this.value));
      case BYTES: return PromiseResolve(this.value);
      case RID: return readRidToEnd(this.value);
      default: return readableStreamCollect(this.value);
    }
  }

  // -> Promise<string>
  text() {
    if (this.kind === STRING && !this.used) {
      this.used = true;
      return PromiseResolve(this.value);
    }
    return PromisePrototypeThen(this.bytes(), (bytes) => utf8Decode(bytes));
  }

  // A second body with the same content (tee for streams).
  clone() {
    if (this.used || this.disturbed()) throw new TypeError("Body has already been used. It can only be read once.");
    const copy = new InnerBody();
    copy.kind = this.kind;
    copy.value = this.value;
    if (this.kind === RID) {
      this.stream();
      copy.kind = STREAM;
    }
    if (this.kind === STREAM) {
      const [a, b] = this.value.tee();
      this.value = a;
      copy.kind = STREAM;
      copy.value = b;
    }
    return copy;
  }

  // What op_respond takes whole: undefined, a string or bytes; null when
  // the body is a stream that must be pumped (see stream()).
  wholeValue() {
    switch (this.kind) {
      case NONE: return undefined;
      case STRING:
      case BYTES: return this.value;
      default: return null;
    }
  }
}

// InnerBody.extract for every body but a string.
function extractOther(init) {
  const b = new InnerBody();
  if (init === null || init === undefined) return b;
  if (ArrayBufferIsView(init) || isBufferSource(init)) {
    b.kind = BYTES;
    b.value = copyBytes(init);
    return b;
  }
  if (isReadableStream(init)) {
    if (isReadableStreamLocked(init) || isReadableStreamDisturbed(init)) {
      throw new TypeError("The body's ReadableStream is locked or has already been read.");
    }
    b.kind = STREAM;
    b.value = init;
    return b;
  }
  if (isBlob(init)) {
    b.kind = BYTES;
    // blobBytes shares the Blob's storage; the body must own its bytes.
    b.value = new Uint8Array(blobBytes(init));
    b.contentType = init.type || null;
    return b;
  }
  if (isFormData(init)) {
    const { body, contentType } = formDataSerialize(init);
    b.kind = BYTES;
    b.value = body;
    b.contentType = contentType;
    return b;
  }
  if (init instanceof URLSearchParams) {
    b.kind = STRING;
    b.value = init.toString();
    b.contentType = "application/x-www-form-urlencoded;charset=UTF-8";
    return b;
  }
  b.kind = STRING;
  b.value = String(init);
  b.contentType = "text/plain;charset=UTF-8";
  return b;
}

const NULL_BODY = ObjectFreeze(new InnerBody());

// Writes `stream` chunk by chunk into a Rust response channel.
async function pumpStream(stream, writerRid) {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!ArrayBufferIsView(value) && !isBufferSource(value)) {
        throw new TypeError("This ReadableStream did not return bytes.");
      }
      await ops.op_body_write(writerRid, value);
    }
    ops.op_body_close(writerRid);
  } catch (err) {
    ops.op_body_abort(writerRid, String(err));
    PromisePrototypeThen(reader.cancel(err), undefined, () => {});
    throw err;
  }
}

function mixBody(klass, getInner, getHeaders) {
  const proto = klass.prototype;
  const define = (name, fn) => {
    Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true, enumerable: true });
  };
  Object.defineProperty(proto, "body", {
    get() { return getInner(this).stream(); },
    configurable: true,
    enumerable: true,
  });
  Object.defineProperty(proto, "bodyUsed", {
    get() { return getInner(this).disturbed(); },
    configurable: true,
    enumerable: true,
  });
  define("arrayBuffer", function arrayBuffer() {
    return PromisePrototypeThen(getInner(this).bytes(), (b) =>
      b.byteOffset === 0 && b.byteLength === ArrayBufferPrototypeGetByteLength(b.buffer)
        ? b.buffer
        : ArrayBufferPrototypeSlice(b.buffer, b.byteOffset, b.byteOffset + b.byteLength));
  });
  define("bytes", function bytes() { return getInner(this).bytes(); });
  define("text", function text() { return getInner(this).text(); });
  define("json", function json() {
    return PromisePrototypeThen(getInner(this).text(), (t) => JSONParse(t));
  });
  define("blob", function blob() {
    const type = getHeaders(this).get("content-type") || "";
    return PromisePrototypeThen(getInner(this).bytes(), (b) => new Blob([b], { type }));
  });
  define("formData", function formData() {
    const type = getHeaders(this).get("content-type") || "";
    return PromisePrototypeThen(getInner(this).bytes(), (b) => {
      const lower = type.toLowerCase();
      if (lower.startsWith("multipart/form-data")) return formDataParseMultipart(b, type);
      if (lower.startsWith("application/x-www-form-urlencoded")) {
        const fd = new FormData();
        const params = new URLSearchParams(utf8Decode(b));
        for (const [k, v] of params) fd.append(k, v);
        return fd;
      }
      throw new TypeError("Could not parse content as FormData: the content type is " + (type || "missing") + ".");
    });
  });
}

internals.InnerBody = InnerBody;
internals.pumpStream = pumpStream;
internals.mixBody = mixBody;
