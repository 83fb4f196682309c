// https://developers.cloudflare.com/kv/api/
//
// Workers KV: the object on `env` for each KV binding, with get,
// getWithMetadata, put, delete and list. Such an object holds only the
// index of its binding; Rust maps the index to the namespace bound to the
// script (bindings/src/kv/mod.rs), so a script reaches no other
// namespace. Rust also checks keys, value and metadata sizes, expirations
// and list limits, for scripts and the admin API alike; the messages are
// Workers KV's. Rust calls internals.kvNamespace(index) once per binding
// when the script is loaded.

const {
  ArrayBufferIsView, ArrayIsArray, ArrayPrototypePush, DataViewPrototypeGetBuffer, DataViewPrototypeGetByteLength,
  DataViewPrototypeGetByteOffset, JSONParse, JSONStringify, Map, MapPrototypeSet, Number, ObjectDefineProperty,
  ObjectPrototypeToString, PromiseAll, PromisePrototypeThen, String, Symbol, SymbolToStringTag, TypeError, TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteLength, TypedArrayPrototypeGetByteOffset, TypedArrayPrototypeGetSymbolToStringTag,
  TypedArrayPrototypeSet, Uint8Array,
} = primordials;

const MAX_VALUE_BYTES = 25 * 1024 * 1024;
const MAX_BULK_KEYS = 100;
const MIN_CACHE_TTL = 60;

// op_kv_get mode bits.
const GET_BYTES = 1;
const GET_METADATA = 2;

const illegalConstructor = Symbol("KvNamespace");

function isArrayBuffer(value) {
  const tag = ObjectPrototypeToString(value);
  return tag === "[object ArrayBuffer]" || tag === "[object SharedArrayBuffer]";
}

// get(key, "text") or get(key, { type, cacheTtl }): the type, checked.
function readType(options) {
  let type = "text";
  if (typeof options === "string") {
    type = options;
  } else if (options !== undefined && options !== null) {
    if (typeof options !== "object") {
      throw new TypeError("KV get() options must be a type string or an object like { type, cacheTtl }.");
    }
    if (options.type !== undefined) type = String(options.type);
    const cacheTtl = options.cacheTtl;
    if (cacheTtl !== undefined) {
      const ttl = Number(cacheTtl);
      // islet has no edge cache in front of KV: a valid cacheTtl is accepted and has no effect.
      if (!(ttl >= MIN_CACHE_TTL)) {
        throw new TypeError(`Invalid cacheTtl of ${cacheTtl}. Cache TTL must be at least ${MIN_CACHE_TTL}.`);
      }
    }
  }
  if (type !== "text" && type !== "json" && type !== "arrayBuffer" && type !== "stream") {
    throw new TypeError('Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".');
  }
  return type;
}

// What op_kv_get returned, as the caller's type asked.
function convert(value, type) {
  if (value === null) return null;
  switch (type) {
    case "text":
      return value;
    case "json":
      return JSONParse(value);
    case "arrayBuffer":
      return TypedArrayPrototypeGetBuffer(value);
    default:
      return internals.readableStreamFromBytes(value);
  }
}

function getMode(type) {
  return type === "text" || type === "json" ? 0 : GET_BYTES;
}

function parseMetadata(json) {
  return json === null ? null : JSONParse(json);
}

// A Uint8Array over the bytes of a TypedArray or DataView (no copy).
function viewBytes(view) {
  if (TypedArrayPrototypeGetSymbolToStringTag(view) !== undefined) {
    return new Uint8Array(
      TypedArrayPrototypeGetBuffer(view),
      TypedArrayPrototypeGetByteOffset(view),
      TypedArrayPrototypeGetByteLength(view),
    );
  }
  return new Uint8Array(
    DataViewPrototypeGetBuffer(view),
    DataViewPrototypeGetByteOffset(view),
    DataViewPrototypeGetByteLength(view),
  );
}

// Cancels a value stream that put() gives up on; returns the reason.
function stop(stream, reason) {
  PromisePrototypeThen(internals.readableStreamCancel(stream, reason), undefined, () => {});
  return reason;
}

// Reads a ReadableStream of bytes to its end, at most 25 MiB.
async function collectValue(stream) {
  const reader = internals.readableStreamGetReader(stream);
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { value, done } = await internals.readableStreamRead(reader);
      if (done) break;
      let bytes;
      if (ArrayBufferIsView(value)) {
        bytes = viewBytes(value);
      } else if (isArrayBuffer(value)) {
        bytes = new Uint8Array(value);
      } else {
        throw stop(stream, new TypeError("KV put() needs a ReadableStream of bytes: its chunks must be ArrayBuffers or ArrayBufferViews."));
      }
      total += TypedArrayPrototypeGetByteLength(bytes);
      if (total > MAX_VALUE_BYTES) {
        throw stop(stream, new TypeError(`KV PUT failed: 413 Value length of at least ${total} exceeds limit of ${MAX_VALUE_BYTES}.`));
      }
      ArrayPrototypePush(chunks, bytes);
    }
  } finally {
    internals.readableStreamReleaseReader(reader);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    TypedArrayPrototypeSet(out, chunks[i], at);
    at += TypedArrayPrototypeGetByteLength(chunks[i]);
  }
  return out;
}

function optionalNumber(value) {
  return value === undefined || value === null ? undefined : Number(value);
}

class KvNamespace {
  #binding;

  constructor(key, binding) {
    if (key !== illegalConstructor) throw new TypeError("Illegal constructor");
    this.#binding = binding;
  }

  // get(key, type | { type, cacheTtl }); get([keys], ...) returns a Map.
  async get(key, options) {
    const type = readType(options);
    if (ArrayIsArray(key)) return this.#getMany(key, type, false);
    const value = await ops.op_kv_get(this.#binding, String(key), getMode(type));
    return convert(value, type);
  }

  async getWithMetadata(key, options) {
    const type = readType(options);
    if (ArrayIsArray(key)) return this.#getMany(key, type, true);
    const found = await ops.op_kv_get(this.#binding, String(key), getMode(type) | GET_METADATA);
    if (found === null) return { value: null, metadata: null, cacheStatus: null };
    return { value: convert(found[0], type), metadata: parseMetadata(found[1]), cacheStatus: null };
  }

  async #getMany(keys, type, withMetadata) {
    if (keys.length === 0 || keys.length > MAX_BULK_KEYS) {
      throw new TypeError(`KV get() takes 1 to ${MAX_BULK_KEYS} keys, not ${keys.length}.`);
    }
    if (type !== "text" && type !== "json") {
      throw new TypeError(`KV get() of several keys returns "text" or "json", not "${type}".`);
    }
    const names = [];
    const pending = [];
    for (let i = 0; i < keys.length; i++) {
      const name = String(keys[i]);
      ArrayPrototypePush(names, name);
      ArrayPrototypePush(pending, ops.op_kv_get(this.#binding, name, GET_METADATA));
    }
    const results = await PromiseAll(pending);
    const out = new Map();
    for (let i = 0; i < names.length; i++) {
      const found = results[i];
      let entry;
      if (withMetadata) {
        entry = found === null ? null : { value: convert(found[0], type), metadata: parseMetadata(found[1]) };
      } else {
        entry = found === null ? null : convert(found[0], type);
      }
      MapPrototypeSet(out, names[i], entry);
    }
    return out;
  }

  // put(key, value, { expiration, expirationTtl, metadata })
  async put(key, value, options) {
    const name = String(key);
    let body;
    if (typeof value === "string" || ArrayBufferIsView(value) || isArrayBuffer(value)) {
      body = value;
    } else if (internals.isReadableStream(value)) {
      body = await collectValue(value);
    } else {
      throw new TypeError("KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.");
    }
    let expiration;
    let expirationTtl;
    let metadata;
    if (options !== undefined && options !== null) {
      if (typeof options !== "object") throw new TypeError("KV put() options must be an object like { expiration, expirationTtl, metadata }.");
      expiration = optionalNumber(options.expiration);
      expirationTtl = optionalNumber(options.expirationTtl);
      if (options.metadata !== undefined && options.metadata !== null) {
        metadata = JSONStringify(options.metadata);
        if (metadata === undefined) throw new TypeError("KV put() metadata must be serializable to JSON.");
      }
    }
    await ops.op_kv_put(this.#binding, name, body, expiration, expirationTtl, metadata);
  }

  async delete(key) {
    await ops.op_kv_delete(this.#binding, String(key));
  }

  // list({ prefix, limit, cursor }) -> { keys: [{ name, expiration?, metadata? }], list_complete, cursor? }
  async list(options) {
    let prefix;
    let limit;
    let cursor;
    if (options !== undefined && options !== null) {
      if (typeof options !== "object") throw new TypeError("KV list() options must be an object like { prefix, limit, cursor }.");
      if (options.prefix !== undefined && options.prefix !== null) prefix = String(options.prefix);
      if (options.limit !== undefined && options.limit !== null) limit = Number(options.limit);
      if (options.cursor !== undefined && options.cursor !== null) cursor = String(options.cursor);
    }
    const flat = await ops.op_kv_list(this.#binding, prefix, limit, cursor);
    const keys = [];
    for (let i = 1; i < flat.length; i += 3) {
      const key = { name: flat[i] };
      if (flat[i + 1] !== null) key.expiration = flat[i + 1];
      if (flat[i + 2] !== null) key.metadata = JSONParse(flat[i + 2]);
      ArrayPrototypePush(keys, key);
    }
    const result = { keys, list_complete: flat[0] === null, cacheStatus: null };
    if (flat[0] !== null) result.cursor = flat[0];
    return result;
  }
}
ObjectDefineProperty(KvNamespace.prototype, SymbolToStringTag, { value: "KvNamespace", configurable: true });

internals.kvNamespace = (binding) => new KvNamespace(illegalConstructor, binding);
