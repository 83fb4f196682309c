// https://fetch.spec.whatwg.org/#response-class
//
// Response, with the statics json(), redirect() and error().

const {
  JSONStringify, ObjectDefineProperty, RegExpPrototypeTest, String, SymbolToStringTag,
  TypeError, RangeError,
} = primordials;

// Runtime pieces from earlier files, captured once (a lookup on the large
// `internals` object would cost more on every request).
const { Headers, URL, InnerBody, headersSetGuard, headersAppendTrusted } = internals;

const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
function isNullBodyStatus(status) {
  return status === 101 || status === 103 || status === 204 || status === 205 || status === 304;
}
const REDIRECT_STATUS = { 301: true, 302: true, 303: true, 307: true, 308: true };

class Response {
  #status = 200;
  #statusText = "";
  // Made on first use: most responses are sent without a script ever
  // reading their headers, and then only the body's content type is sent.
  #headers = null;
  #contentType = null; // the body's content type while #headers is null
  #body;
  #type = "default";
  #url = "";
  #redirected = false;

  // Kept small, with the work in #init and #setBody, so that V8's
  // optimising compiler inlines it into the handler that makes the
  // response (a constructor over its bytecode limit is called through a
  // generic construct stub instead).
  constructor(body = null, init = undefined) {
    if (init !== undefined && init !== null) this.#init(init);
    if (body !== null && body !== undefined) this.#setBody(body);
    else this.#body = InnerBody.none();
  }

  #init(init) {
    if (typeof init !== "object") throw new TypeError("Failed to construct 'Response': cannot convert init to a dictionary.");
    if (init.status !== undefined) {
      const status = +init.status;
      if (!(status >= 200 && status <= 599) || (status | 0) !== status) {
        throw new RangeError("Failed to construct 'Response': The status provided (" + init.status + ") is outside the range [200, 599].");
      }
      this.#status = status;
    }
    if (init.statusText !== undefined) {
      const text = String(init.statusText);
      if (!RegExpPrototypeTest(REASON, text)) throw new TypeError("Failed to construct 'Response': Invalid statusText");
      this.#statusText = text;
    }
    if (init.headers !== undefined) {
      this.#headers = new Headers(init.headers);
      headersSetGuard(this.#headers, "response");
    }
  }

  #setBody(body) {
    if (isNullBodyStatus(this.#status)) {
      throw new TypeError("Failed to construct 'Response': Response with null body status cannot have body");
    }
    const inner = InnerBody.extract(body);
    const type = inner.contentType;
    this.#body = inner;
    if (type !== null) {
      if (this.#headers === null) this.#contentType = type;
      else if (!this.#headers.has("content-type")) headersAppendTrusted(this.#headers, "content-type", type);
    }
  }

  static json(data, init = undefined) {
    const text = JSONStringify(data);
    if (text === undefined) throw new TypeError("Failed to execute 'json' on 'Response': The data is not JSON serializable");
    const res = new Response(text, init);
    if (res.#headers === null) res.#contentType = "application/json";
    else res.#headers.set("content-type", "application/json");
    return res;
  }

  static redirect(url, status = 302) {
    let parsed;
    try {
      parsed = new URL(String(url));
    } catch {
      throw new TypeError("Failed to execute 'redirect' on 'Response': Invalid URL: " + String(url));
    }
    if (REDIRECT_STATUS[status] !== true) {
      throw new RangeError("Failed to execute 'redirect' on 'Response': Invalid status code " + status);
    }
    const res = new Response(null, { status });
    const headers = res.#materialize();
    headers.set("location", parsed.href);
    headersSetGuard(headers, "immutable");
    return res;
  }

  static error() {
    const res = new Response(null);
    res.#type = "error";
    res.#status = 0;
    headersSetGuard(res.#materialize(), "immutable");
    return res;
  }

  static _inner(r) { return r.#body; }
  static _headers(r) { return r.#materialize(); }
  // For sending: the content type alone (a string or null) while no
  // Headers object was made, else undefined (send the Headers).
  static _pendingContentType(r) { return r.#headers === null ? r.#contentType : undefined; }

  #materialize() {
    if (this.#headers === null) {
      const headers = new Headers();
      headersSetGuard(headers, "response");
      if (this.#contentType !== null) headersAppendTrusted(headers, "content-type", this.#contentType);
      this.#headers = headers;
    }
    return this.#headers;
  }
  // For fetch(): the final URL, and whether redirects led there.
  static _setUrl(r, url, redirected = false) {
    r.#url = url;
    r.#redirected = redirected;
  }

  get type() { return this.#type; }
  get url() { return this.#url; }
  get redirected() { return this.#redirected; }
  get status() { return this.#status; }
  get ok() { return this.#status >= 200 && this.#status <= 299; }
  get statusText() { return this.#statusText; }
  get headers() { return this.#materialize(); }
  get webSocket() { return null; }
  get cf() { return undefined; }

  clone() {
    if (this.#body.disturbed()) throw new TypeError("Failed to execute 'clone' on 'Response': Response body is already used");
    const res = new Response(null, { status: this.#status === 0 ? 200 : this.#status, statusText: this.#statusText, headers: this.#materialize() });
    res.#status = this.#status;
    res.#type = this.#type;
    res.#url = this.#url;
    res.#redirected = this.#redirected;
    res.#body = this.#body.clone();
    return res;
  }
}
ObjectDefineProperty(Response.prototype, SymbolToStringTag, { value: "Response", configurable: true });
const responseInner = Response._inner;
const responseHeaders = Response._headers;
internals.mixBody(Response, responseInner, responseHeaders);
internals.responseInner = responseInner;
internals.responseHeaders = responseHeaders;
internals.responsePendingContentType = Response._pendingContentType;
internals.responseSetUrl = Response._setUrl;
delete Response._inner;
delete Response._headers;
delete Response._pendingContentType;
delete Response._setUrl;
internals.Response = Response;
internals.defineGlobals({ Response });
