// https://encoding.spec.whatwg.org/ and https://html.spec.whatwg.org/multipage/webappapis.html#atob
//
// TextEncoder/TextDecoder (+Stream variants) over encoding_rs ops, and
// forgiving-base64 atob/btoa.

const {
  ArrayBufferIsView, ObjectPrototypeToString, StringPrototypeCharCodeAt,
  StringFromCharCode, StringPrototypeReplace, TypeError, RangeError, Uint8Array,
  SymbolToStringTag, ObjectDefineProperty, ArrayPrototypeJoin, ArrayPrototypePush,
  String,
} = primordials;

function isBufferSource(input) {
  if (ArrayBufferIsView(input)) return true;
  const tag = ObjectPrototypeToString(input);
  return tag === "[object ArrayBuffer]" || tag === "[object SharedArrayBuffer]";
}

class TextEncoder {
  get encoding() { return "utf-8"; }
  encode(input = "") {
    return ops.op_encoding_encode_utf8(String(input));
  }
  encodeInto(source, destination) {
    if (!(destination instanceof Uint8Array)) {
      throw new TypeError("Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.");
    }
    const r = ops.op_encoding_encode_into(String(source), destination);
    return { read: r[0], written: r[1] };
  }
}
ObjectDefineProperty(TextEncoder.prototype, SymbolToStringTag, { value: "TextEncoder", configurable: true });

class TextDecoder {
  #encoding;
  #fatal;
  #ignoreBOM;
  #rid = 0;

  constructor(label = "utf-8", options = {}) {
    const name = ops.op_encoding_normalize_label(String(label));
    if (name === null) {
      throw new RangeError("Failed to construct 'TextDecoder': The encoding label provided ('" + label + "') is invalid.");
    }
    this.#encoding = name;
    this.#fatal = !!(options && options.fatal);
    this.#ignoreBOM = !!(options && options.ignoreBOM);
  }
  get encoding() { return this.#encoding; }
  get fatal() { return this.#fatal; }
  get ignoreBOM() { return this.#ignoreBOM; }

  decode(input = undefined, options = undefined) {
    const stream = !!(options && options.stream);
    if (input !== undefined && !isBufferSource(input)) {
      throw new TypeError("Failed to execute 'decode' on 'TextDecoder': The provided value is not of type '(ArrayBuffer or ArrayBufferView)'");
    }
    if (!stream && this.#rid === 0) {
      if (input === undefined) return "";
      return ops.op_encoding_decode(this.#encoding, input, this.#fatal, this.#ignoreBOM);
    }
    if (this.#rid === 0) {
      this.#rid = ops.op_encoding_decoder_new(this.#encoding, this.#fatal, this.#ignoreBOM);
    }
    const rid = this.#rid;
    if (!stream) this.#rid = 0;
    try {
      return ops.op_encoding_decoder_decode(rid, input, stream);
    } catch (err) {
      this.#rid = 0;
      throw err;
    }
  }
}
ObjectDefineProperty(TextDecoder.prototype, SymbolToStringTag, { value: "TextDecoder", configurable: true });

class TextEncoderStream {
  #transform;
  constructor() {
    let pending = "";
    this.#transform = new internals.TransformStream({
      transform(chunk, controller) {
        let text = pending + String(chunk);
        pending = "";
        if (text.length === 0) return;
        const last = StringPrototypeCharCodeAt(text, text.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) {
          pending = text[text.length - 1];
          text = text.slice(0, -1);
        }
        if (text.length) controller.enqueue(ops.op_encoding_encode_utf8(text));
      },
      flush(controller) {
        if (pending) controller.enqueue(new Uint8Array([0xef, 0xbf, 0xbd]));
      },
    });
  }
  get encoding() { return "utf-8"; }
  get readable() { return this.#transform.readable; }
  get writable() { return this.#transform.writable; }
}

class TextDecoderStream {
  #decoder;
  #transform;
  constructor(label = "utf-8", options = {}) {
    const decoder = new TextDecoder(label, options);
    this.#decoder = decoder;
    this.#transform = new internals.TransformStream({
      transform(chunk, controller) {
        const text = decoder.decode(chunk, { stream: true });
        if (text) controller.enqueue(text);
      },
      flush(controller) {
        const text = decoder.decode();
        if (text) controller.enqueue(text);
      },
    });
  }
  get encoding() { return this.#decoder.encoding; }
  get fatal() { return this.#decoder.fatal; }
  get ignoreBOM() { return this.#decoder.ignoreBOM; }
  get readable() { return this.#transform.readable; }
  get writable() { return this.#transform.writable; }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Uint8Array(128).fill(255);
for (let i = 0; i < 64; i++) B64_INDEX[StringPrototypeCharCodeAt(B64, i)] = i;

function invalidCharacter(message) {
  const DOMException = internals.DOMException;
  return new DOMException(message, "InvalidCharacterError");
}

function btoa(data) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'btoa': 1 argument required, but only 0 present.");
  const s = String(data);
  const out = [];
  let i = 0;
  for (; i + 2 < s.length; i += 3) {
    const a = StringPrototypeCharCodeAt(s, i), b = StringPrototypeCharCodeAt(s, i + 1), c = StringPrototypeCharCodeAt(s, i + 2);
    if (a > 255 || b > 255 || c > 255) throw invalidCharacter("The string to be encoded contains characters outside of the Latin1 range.");
    ArrayPrototypePush(out, B64[a >> 2] + B64[((a & 3) << 4) | (b >> 4)] + B64[((b & 15) << 2) | (c >> 6)] + B64[c & 63]);
  }
  const rest = s.length - i;
  if (rest > 0) {
    const a = StringPrototypeCharCodeAt(s, i);
    const b = rest > 1 ? StringPrototypeCharCodeAt(s, i + 1) : 0;
    if (a > 255 || b > 255) throw invalidCharacter("The string to be encoded contains characters outside of the Latin1 range.");
    ArrayPrototypePush(out, B64[a >> 2] + B64[((a & 3) << 4) | (b >> 4)] + (rest > 1 ? B64[(b & 15) << 2] : "=") + "=");
  }
  return ArrayPrototypeJoin(out, "");
}

function atob(data) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'atob': 1 argument required, but only 0 present.");
  let s = StringPrototypeReplace(String(data), /[\t\n\f\r ]/g, "");
  if (s.length % 4 === 0) s = StringPrototypeReplace(s, /={1,2}$/, "");
  if (s.length % 4 === 1) throw invalidCharacter("The string to be decoded is not correctly encoded.");
  const out = [];
  let buffer = 0, bits = 0;
  for (let i = 0; i < s.length; i++) {
    const code = StringPrototypeCharCodeAt(s, i);
    const v = code < 128 ? B64_INDEX[code] : 255;
    if (v === 255) throw invalidCharacter("The string to be decoded is not correctly encoded.");
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      ArrayPrototypePush(out, StringFromCharCode((buffer >> bits) & 0xff));
    }
  }
  return ArrayPrototypeJoin(out, "");
}

internals.utf8Encode = (s) => ops.op_encoding_encode_utf8(s);
internals.utf8Decode = (bytes) => ops.op_encoding_decode("utf-8", bytes, false, false);
internals.isBufferSource = isBufferSource;
internals.defineGlobals({ TextEncoder, TextDecoder, TextEncoderStream, TextDecoderStream, atob, btoa });
