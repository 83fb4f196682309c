// https://url.spec.whatwg.org/
//
// URL parsing and setters run in Rust (the `ada-url` crate, ops.op_url_*);
// a URL object keeps the serialized components it got back.
// URLSearchParams keeps its list here and serializes with form encoding.

const {
  ArrayPrototypePush, ArrayPrototypeSplice, ArrayPrototypeSort, ArrayIsArray,
  ObjectDefineProperty, ObjectPrototypeHasOwnProperty, ReflectOwnKeys, String,
  StringPrototypeSlice, SymbolIterator, SymbolToStringTag, TypeError, WeakMap,
  WeakMapPrototypeGet, WeakMapPrototypeSet, ArrayPrototypeMap, ArrayPrototypeJoin,
  ObjectCreate, IteratorPrototype, ObjectGetOwnPropertyDescriptor,
  StringPrototypeIsWellFormed, StringPrototypeToWellFormed, FunctionPrototypeCall,
} = primordials;

const HREF = 0, PROTOCOL = 1, USERNAME = 2, PASSWORD = 3, HOST = 4, HOSTNAME = 5,
  PORT = 6, PATHNAME = 7, SEARCH = 8, HASH = 9, ORIGIN = 10;

// URL -> its URLSearchParams, and back, for the two-way link.
const urlOfParams = new WeakMap();

function toUSVString(v) {
  const s = String(v);
  return StringPrototypeIsWellFormed(s) ? s : StringPrototypeToWellFormed(s);
}

class URL {
  #parts;
  #searchParams = null;

  constructor(url, base = undefined) {
    if (arguments.length === 0) {
      throw new TypeError("Failed to construct 'URL': 1 argument required, but only 0 present.");
    }
    const input = toUSVString(url);
    const parts = base === undefined
      ? ops.op_url_parse(input)
      : ops.op_url_parse(input, toUSVString(base));
    if (parts === null) {
      throw new TypeError("Failed to construct 'URL': Invalid URL" + (base === undefined ? ": " + input : ""));
    }
    this.#parts = parts;
  }

  static canParse(url, base = undefined) {
    const input = toUSVString(url);
    return (base === undefined ? ops.op_url_parse(input) : ops.op_url_parse(input, toUSVString(base))) !== null;
  }

  static parse(url, base = undefined) {
    try {
      return base === undefined ? new URL(url) : new URL(url, base);
    } catch {
      return null;
    }
  }

  #set(which, value) {
    const parts = ops.op_url_set(this.#parts[HREF], which, toUSVString(value));
    if (parts === null) {
      if (which === HREF) throw new TypeError("Failed to set the 'href' property on 'URL': Invalid URL");
      return;
    }
    this.#parts = parts;
    if (this.#searchParams !== null && (which === HREF || which === SEARCH)) {
      internals.urlSearchParamsReplace(this.#searchParams, StringPrototypeSlice(parts[SEARCH], 1));
    }
  }

  // Called by the linked URLSearchParams after it changes.
  static _updateSearch(url, query) {
    // An empty query removes the "?", as the standard says.
    url.#parts = ops.op_url_set(url.#parts[HREF], SEARCH, query) || url.#parts;
  }

  get href() { return this.#parts[HREF]; }
  set href(v) { this.#set(HREF, v); }
  get origin() { return this.#parts[ORIGIN]; }
  get protocol() { return this.#parts[PROTOCOL]; }
  set protocol(v) { this.#set(PROTOCOL, v); }
  get username() { return this.#parts[USERNAME]; }
  set username(v) { this.#set(USERNAME, v); }
  get password() { return this.#parts[PASSWORD]; }
  set password(v) { this.#set(PASSWORD, v); }
  get host() { return this.#parts[HOST]; }
  set host(v) { this.#set(HOST, v); }
  get hostname() { return this.#parts[HOSTNAME]; }
  set hostname(v) { this.#set(HOSTNAME, v); }
  get port() { return this.#parts[PORT]; }
  set port(v) { this.#set(PORT, v); }
  get pathname() { return this.#parts[PATHNAME]; }
  set pathname(v) { this.#set(PATHNAME, v); }
  get search() { return this.#parts[SEARCH]; }
  set search(v) { this.#set(SEARCH, v); }
  get hash() { return this.#parts[HASH]; }
  set hash(v) { this.#set(HASH, v); }
  get searchParams() {
    if (this.#searchParams === null) {
      // Initialized with the query as is: only the constructor strips a
      // leading "?", and a query can itself start with one ("??a=b").
      this.#searchParams = new URLSearchParams();
      internals.urlSearchParamsReplace(this.#searchParams, StringPrototypeSlice(this.#parts[SEARCH], 1));
      WeakMapPrototypeSet(urlOfParams, this.#searchParams, this);
    }
    return this.#searchParams;
  }
  toString() { return this.#parts[HREF]; }
  toJSON() { return this.#parts[HREF]; }
}
const updateSearch = URL._updateSearch;
delete URL._updateSearch;
ObjectDefineProperty(URL.prototype, SymbolToStringTag, { value: "URL", configurable: true });

function makeIterator(list, kind) {
  let index = 0;
  const it = ObjectCreate(URLSearchParamsIteratorPrototype);
  it.next = function next() {
    if (index >= list.length) return { value: undefined, done: true };
    const pair = list[index++];
    if (kind === "key") return { value: pair[0], done: false };
    if (kind === "value") return { value: pair[1], done: false };
    return { value: [pair[0], pair[1]], done: false };
  };
  return it;
}
const URLSearchParamsIteratorPrototype = ObjectCreate(IteratorPrototype);
ObjectDefineProperty(URLSearchParamsIteratorPrototype, SymbolToStringTag, {
  value: "URLSearchParams Iterator", configurable: true,
});

class URLSearchParams {
  #list = [];

  constructor(init = undefined) {
    if (init === undefined || init === null) return;
    if (typeof init === "object" || typeof init === "function") {
      if (typeof init[SymbolIterator] === "function") {
        for (const pair of init) {
          const p = [...pair];
          if (p.length !== 2) {
            throw new TypeError("Failed to construct 'URLSearchParams': Each query pair must be an iterable [name, value] tuple");
          }
          ArrayPrototypePush(this.#list, [toUSVString(p[0]), toUSVString(p[1])]);
        }
      } else {
        const keys = ReflectOwnKeys(init);
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i];
          if (typeof key !== "string") continue;
          const desc = ObjectGetOwnPropertyDescriptor(init, key);
          if (desc && desc.enumerable) ArrayPrototypePush(this.#list, [toUSVString(key), toUSVString(init[key])]);
        }
      }
      return;
    }
    let s = toUSVString(init);
    if (s[0] === "?") s = StringPrototypeSlice(s, 1);
    this.#parse(s);
  }

  #parse(s) {
    this.#list = [];
    const flat = ops.op_url_search_params_parse(s);
    for (let i = 0; i + 1 < flat.length; i += 2) ArrayPrototypePush(this.#list, [flat[i], flat[i + 1]]);
  }

  static _replace(params, query) { params.#parse(query); }

  #update() {
    const url = WeakMapPrototypeGet(urlOfParams, this);
    if (url !== undefined) updateSearch(url, this.toString());
  }

  get size() { return this.#list.length; }

  append(name, value) {
    ArrayPrototypePush(this.#list, [toUSVString(name), toUSVString(value)]);
    this.#update();
  }
  delete(name, value = undefined) {
    name = toUSVString(name);
    if (value !== undefined) value = toUSVString(value);
    const list = this.#list;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i][0] === name && (value === undefined || list[i][1] === value)) ArrayPrototypeSplice(list, i, 1);
    }
    this.#update();
  }
  get(name) {
    name = toUSVString(name);
    const list = this.#list;
    for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
    return null;
  }
  getAll(name) {
    name = toUSVString(name);
    const out = [];
    const list = this.#list;
    for (let i = 0; i < list.length; i++) if (list[i][0] === name) ArrayPrototypePush(out, list[i][1]);
    return out;
  }
  has(name, value = undefined) {
    name = toUSVString(name);
    if (value !== undefined) value = toUSVString(value);
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === name && (value === undefined || list[i][1] === value)) return true;
    }
    return false;
  }
  set(name, value) {
    name = toUSVString(name);
    value = toUSVString(value);
    const list = this.#list;
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
    this.#update();
  }
  sort() {
    // Stable sort by UTF-16 code units, as the standard says.
    const indexed = ArrayPrototypeMap(this.#list, (p, i) => [p, i]);
    ArrayPrototypeSort(indexed, (a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1]));
    this.#list = ArrayPrototypeMap(indexed, (x) => x[0]);
    this.#update();
  }
  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") throw new TypeError("Failed to execute 'forEach' on 'URLSearchParams': parameter 1 is not of type 'Function'.");
    for (let i = 0; i < this.#list.length; i++) {
      const pair = this.#list[i];
      FunctionPrototypeCall(callback, thisArg, pair[1], pair[0], this);
    }
  }
  entries() { return makeIterator(this.#list, "key+value"); }
  keys() { return makeIterator(this.#list, "key"); }
  values() { return makeIterator(this.#list, "value"); }
  [SymbolIterator]() { return makeIterator(this.#list, "key+value"); }
  toString() {
    const flat = [];
    for (let i = 0; i < this.#list.length; i++) ArrayPrototypePush(flat, this.#list[i][0], this.#list[i][1]);
    return ops.op_url_search_params_serialize(flat);
  }
}
internals.urlSearchParamsReplace = URLSearchParams._replace;
delete URLSearchParams._replace;
ObjectDefineProperty(URLSearchParams.prototype, SymbolToStringTag, { value: "URLSearchParams", configurable: true });

internals.URL = URL;
internals.URLSearchParams = URLSearchParams;
internals.defineGlobals({ URL, URLSearchParams });
