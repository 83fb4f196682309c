// https://fetch.spec.whatwg.org/#headers-class
//
// Headers keeps a list of [lowercased name, value]. Headers of an incoming
// request are read from Rust only when the script first touches them
// (internals.headersFromRid). Guards: "none", "request", "immutable",
// "response".

const {
  ArrayPrototypePush, ArrayPrototypeSplice, ArrayPrototypeSort, ArrayPrototypeJoin,
  ObjectDefineProperty, ReflectOwnKeys, RegExpPrototypeTest, String, StringPrototypeToLowerCase,
  StringPrototypeReplace, SymbolIterator, SymbolToStringTag, TypeError, ObjectCreate,
  IteratorPrototype, ObjectGetOwnPropertyDescriptor, ArrayIsArray, StringPrototypeCharCodeAt,
  FunctionPrototypeCall,
} = primordials;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// Lowercase token names seen before skip validation (most names repeat).
const knownNames = new primordials.Map();

function normalizeName(name) {
  const s = typeof name === "string" ? name : String(name);
  const known = primordials.MapPrototypeGet(knownNames, s);
  if (known !== undefined) return known;
  if (!RegExpPrototypeTest(TOKEN, s)) throw new TypeError("Invalid header name: " + s);
  const lower = StringPrototypeToLowerCase(s);
  if (primordials.MapPrototypeGetSize(knownNames) < 512) primordials.MapPrototypeSet(knownNames, s, lower);
  return lower;
}

function isHttpWhitespace(c) {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

// Strips leading and trailing HTTP whitespace; rejects NUL, CR, LF and
// characters beyond U+00FF, in one pass.
function normalizeValue(value) {
  let s = typeof value === "string" ? value : String(value);
  let start = 0;
  let end = s.length;
  while (start < end && isHttpWhitespace(StringPrototypeCharCodeAt(s, start))) start++;
  while (end > start && isHttpWhitespace(StringPrototypeCharCodeAt(s, end - 1))) end--;
  if (start !== 0 || end !== s.length) s = primordials.StringPrototypeSlice(s, start, end);
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) throw new TypeError("Invalid header value: " + s);
  }
  return s;
}

const IteratorProto = ObjectCreate(IteratorPrototype);
ObjectDefineProperty(IteratorProto, SymbolToStringTag, { value: "Headers Iterator", configurable: true });

class Headers {
  #list = null; // [[name, value], ...] with lowercased names
  #rid = 0; // incoming request whose headers are not read yet
  #guard = "none";

  constructor(init = undefined) {
    this.#list = [];
    if (init !== undefined && init !== null) fill(this, init);
  }

  static _fromRid(rid, guard) {
    const h = new Headers();
    h.#list = null;
    h.#rid = rid;
    h.#guard = guard;
    return h;
  }
  static _setGuard(h, guard) { h.#guard = guard; }
  static _list(h) { return h.#materialize(); }
  // For names and values the runtime itself produces (already valid).
  static _appendTrusted(h, name, value) {
    const list = h.#materialize();
    list[list.length] = [name, value];
  }

  #materialize() {
    if (this.#list === null) {
      const flat = ops.op_request_headers(this.#rid);
      const list = [];
      for (let i = 0; i + 1 < flat.length; i += 2) ArrayPrototypePush(list, [flat[i], flat[i + 1]]);
      this.#list = list;
    }
    return this.#list;
  }

  #checkMutable() {
    if (this.#guard === "immutable") throw new TypeError("Can't modify immutable headers.");
  }

  append(name, value) {
    name = normalizeName(name);
    value = normalizeValue(value);
    this.#checkMutable();
    const list = this.#materialize();
    list[list.length] = [name, value];
  }
  delete(name) {
    name = normalizeName(name);
    this.#checkMutable();
    const list = this.#materialize();
    for (let i = list.length - 1; i >= 0; i--) if (list[i][0] === name) ArrayPrototypeSplice(list, i, 1);
  }
  get(name) {
    name = normalizeName(name);
    const list = this.#materialize();
    let out = null;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === name) out = out === null ? list[i][1] : out + ", " + list[i][1];
    }
    return out;
  }
  getSetCookie() {
    const list = this.#materialize();
    const out = [];
    for (let i = 0; i < list.length; i++) if (list[i][0] === "set-cookie") ArrayPrototypePush(out, list[i][1]);
    return out;
  }
  getAll(name) {
    // Cloudflare extension, only for Set-Cookie.
    if (normalizeName(name) !== "set-cookie") throw new TypeError("getAll() can only be used with the header name \"Set-Cookie\".");
    return this.getSetCookie();
  }
  has(name) {
    name = normalizeName(name);
    const list = this.#materialize();
    for (let i = 0; i < list.length; i++) if (list[i][0] === name) return true;
    return false;
  }
  set(name, value) {
    name = normalizeName(name);
    value = normalizeValue(value);
    this.#checkMutable();
    const list = this.#materialize();
    let found = false;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === name) {
        if (!found) {
          list[i][1] = value;
          found = true;
        } else {
          ArrayPrototypeSplice(list, i, 1);
          i--;
        }
      }
    }
    if (!found) ArrayPrototypePush(list, [name, value]);
  }
  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") throw new TypeError("Failed to execute 'forEach' on 'Headers': parameter 1 is not of type 'Function'.");
    const pairs = sortedPairs(this.#materialize());
    for (let i = 0; i < pairs.length; i++) FunctionPrototypeCall(callback, thisArg, pairs[i][1], pairs[i][0], this);
  }
  entries() { return iterate(sortedPairs(this.#materialize()), "key+value"); }
  keys() { return iterate(sortedPairs(this.#materialize()), "key"); }
  values() { return iterate(sortedPairs(this.#materialize()), "value"); }
  [SymbolIterator]() { return iterate(sortedPairs(this.#materialize()), "key+value"); }
}
ObjectDefineProperty(Headers.prototype, SymbolToStringTag, { value: "Headers", configurable: true });

// The "sort and combine" view: names sorted, values joined with ", ",
// except Set-Cookie which stays one entry per value.
function sortedPairs(list) {
  const names = [];
  const byName = ObjectCreate(null);
  for (let i = 0; i < list.length; i++) {
    const [name, value] = list[i];
    if (name === "set-cookie") continue;
    if (byName[name] === undefined) {
      byName[name] = value;
      ArrayPrototypePush(names, name);
    } else {
      byName[name] = byName[name] + ", " + value;
    }
  }
  let hasCookie = false;
  for (let i = 0; i < list.length; i++) if (list[i][0] === "set-cookie") hasCookie = true;
  if (hasCookie) ArrayPrototypePush(names, "set-cookie");
  ArrayPrototypeSort(names);
  const out = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (name === "set-cookie") {
      for (let j = 0; j < list.length; j++) if (list[j][0] === name) ArrayPrototypePush(out, [name, list[j][1]]);
    } else {
      ArrayPrototypePush(out, [name, byName[name]]);
    }
  }
  return out;
}

function iterate(pairs, kind) {
  let index = 0;
  const it = ObjectCreate(IteratorProto);
  it.next = function next() {
    if (index >= pairs.length) return { value: undefined, done: true };
    const p = pairs[index++];
    return { value: kind === "key" ? p[0] : kind === "value" ? p[1] : p, done: false };
  };
  return it;
}

function fill(headers, init) {
  if (init instanceof Headers) {
    const list = headersList(init);
    for (let i = 0; i < list.length; i++) headers.append(list[i][0], list[i][1]);
    return;
  }
  if (typeof init !== "object" && typeof init !== "function") {
    throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
  }
  if (typeof init[SymbolIterator] === "function") {
    for (const pair of init) {
      const p = typeof pair === "string" ? null : [...pair];
      if (p === null || p.length !== 2) throw new TypeError("Failed to construct 'Headers': Invalid value: each header must be a [name, value] pair.");
      headers.append(p[0], p[1]);
    }
    return;
  }
  const keys = ReflectOwnKeys(init);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (typeof key !== "string") continue;
    const desc = ObjectGetOwnPropertyDescriptor(init, key);
    if (desc && desc.enumerable) headers.append(key, init[key]);
  }
}

const headersList = Headers._list;
internals.headersFromRid = Headers._fromRid;
internals.headersSetGuard = Headers._setGuard;
internals.headersList = headersList;
// Flat [name, value, ...] for op_respond, in insertion order.
internals.headersFlat = function headersFlat(headers) {
  const list = headersList(headers);
  const flat = new primordials.Array(list.length * 2);
  for (let i = 0; i < list.length; i++) {
    flat[2 * i] = list[i][0];
    flat[2 * i + 1] = list[i][1];
  }
  return flat;
};
internals.headersFill = fill;
internals.headersAppendTrusted = Headers._appendTrusted;
delete Headers._appendTrusted;
delete Headers._fromRid;
delete Headers._setGuard;
delete Headers._list;
internals.Headers = Headers;
internals.defineGlobals({ Headers });
