// https://fetch.spec.whatwg.org/#request-class
//
// Request, plus the Workers extras (`cf`). Incoming requests are built by
// internals.newIncomingRequest with lazy headers and a body still in Rust.

const {
  ObjectDefineProperty, ObjectFreeze, RegExpPrototypeTest, String, StringPrototypeToUpperCase,
  SymbolToStringTag, TypeError,
} = primordials;

// Runtime pieces from earlier files, captured once (a lookup on the large
// `internals` object would cost more on every request).
const { Headers, URL, InnerBody, isAbortSignal, createAbortSignal, headersFromRid, headersAppendTrusted } = internals;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NORMALIZED = { DELETE: "DELETE", GET: "GET", HEAD: "HEAD", OPTIONS: "OPTIONS", POST: "POST", PUT: "PUT", PATCH: "PATCH" };
const FORBIDDEN = { CONNECT: true, TRACE: true, TRACK: true };
const REDIRECTS = { follow: true, error: true, manual: true };

function normalizeMethod(m) {
  const s = String(m);
  if (!RegExpPrototypeTest(TOKEN, s)) throw new TypeError("'" + s + "' is not a valid HTTP method.");
  const upper = StringPrototypeToUpperCase(s);
  if (FORBIDDEN[upper] === true) throw new TypeError("'" + s + "' HTTP method is unsupported.");
  return NORMALIZED[upper] || s;
}

const incoming = Symbol("incoming");

class Request {
  #method = "GET";
  #url = "";
  #headers = null;
  #body = null;
  #redirect = "follow";
  #signal = null;
  #cf = undefined;
  #rid = 0; // incoming request whose Headers object is not built yet

  // Kept small, with the work in #init, so that V8's optimising compiler
  // inlines it where requests are made (a constructor over its bytecode
  // limit is called through a generic construct stub instead).
  constructor(input, init = undefined) {
    if (input === incoming) return;
    if (arguments.length === 0) throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 present.");
    this.#init(input, init);
  }

  #init(input, init) {
    let source = null;
    if (input instanceof Request) {
      source = input;
      this.#url = input.#url;
      this.#method = input.#method;
      this.#redirect = input.#redirect;
      this.#signal = input.#signal;
      this.#cf = input.#cf;
    } else {
      let parsed;
      try {
        parsed = new URL(String(input));
      } catch {
        throw new TypeError("Failed to construct 'Request': Invalid URL: " + String(input));
      }
      if (parsed.username || parsed.password) {
        throw new TypeError("Failed to construct 'Request': Request cannot be constructed from a URL that includes credentials.");
      }
      this.#url = parsed.href;
    }
    init = init === undefined || init === null ? {} : init;
    if (init.method !== undefined) this.#method = normalizeMethod(init.method);
    if (init.redirect !== undefined) {
      const r = String(init.redirect);
      if (REDIRECTS[r] !== true) throw new TypeError("Failed to construct 'Request': Invalid redirect mode: " + r);
      this.#redirect = r;
    }
    if (init.signal !== undefined) {
      if (init.signal !== null && !isAbortSignal(init.signal)) {
        throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
      }
      this.#signal = init.signal;
    }
    if (init.cf !== undefined) this.#cf = init.cf;
    this.#headers = new Headers(init.headers !== undefined ? init.headers : source !== null ? source.headers : undefined);
    let body;
    if (init.body !== undefined && init.body !== null) {
      if (this.#method === "GET" || this.#method === "HEAD") {
        throw new TypeError("Failed to construct 'Request': Request with GET/HEAD method cannot have body.");
      }
      const inner = InnerBody.extract(init.body);
      const type = inner.contentType;
      body = inner;
      if (type !== null && !this.#headers.has("content-type")) headersAppendTrusted(this.#headers, "content-type", type);
    } else if (source !== null && !source.#body.isNone()) {
      if (source.#body.disturbed()) throw new TypeError("Failed to construct 'Request': Cannot construct a Request with a Request object that has already been used.");
      // The new request takes over the source's body, as the standard says.
      body = new InnerBody();
      body.kind = source.#body.kind;
      body.value = source.#body.value;
      source.#body.used = true;
      if (body.kind === 4 /* stream */ || body.kind === 3 /* rid */) {
        // keep as is
      }
    } else {
      body = InnerBody.none();
    }
    this.#body = body;
    if (this.#signal === null) this.#signal = createAbortSignal();
  }

  static _incoming(rid, method, url, hasBody) {
    const r = new Request(incoming);
    r.#method = method;
    r.#url = url;
    r.#rid = rid;
    r.#body = hasBody ? InnerBody.fromRid(rid) : InnerBody.none();
    return r;
  }
  static _inner(r) { return r.#body; }
  static _headers(r) { return r.headers; }

  get method() { return this.#method; }
  get url() { return this.#url; }
  get headers() {
    if (this.#headers === null) this.#headers = headersFromRid(this.#rid, "immutable");
    return this.#headers;
  }
  get redirect() { return this.#redirect; }
  get signal() {
    if (this.#signal === null) this.#signal = createAbortSignal();
    return this.#signal;
  }
  get cf() {
    if (this.#cf === undefined && this.#rid !== 0) this.#cf = {};
    return this.#cf;
  }
  get cache() { return undefined; }
  get credentials() { return "same-origin"; }
  get destination() { return ""; }
  get integrity() { return ""; }
  get keepalive() { return false; }
  get mode() { return "cors"; }
  get referrer() { return "about:client"; }
  get referrerPolicy() { return ""; }
  get fetcher() { return null; }

  clone() {
    if (this.#body.disturbed()) throw new TypeError("Failed to execute 'clone' on 'Request': Request body is already used");
    const r = new Request(incoming);
    r.#method = this.#method;
    r.#url = this.#url;
    r.#headers = new Headers(this.headers);
    r.#body = this.#body.clone();
    r.#redirect = this.#redirect;
    r.#signal = this.#signal;
    r.#cf = this.#cf;
    return r;
  }
}
ObjectDefineProperty(Request.prototype, SymbolToStringTag, { value: "Request", configurable: true });
const requestInner = Request._inner;
const requestHeaders = Request._headers;
internals.mixBody(Request, requestInner, requestHeaders);
internals.newIncomingRequest = Request._incoming;
internals.requestInner = requestInner;
delete Request._incoming;
delete Request._inner;
delete Request._headers;
internals.Request = Request;
internals.defineGlobals({ Request });
