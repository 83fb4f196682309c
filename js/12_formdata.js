// https://xhr.spec.whatwg.org/#interface-formdata
//
// FormData, plus the multipart/form-data encoding in both directions:
//   encode: https://html.spec.whatwg.org/multipage/form-control-infrastructure.html#multipart-form-data
//   parse:  https://fetch.spec.whatwg.org/#concept-body-package-data (RFC 7578),
//           following https://andreubotella.github.io/multipart-form-data/
//           with a little leniency (preamble, unquoted parameters, parameter
//           order, transport padding after a delimiter).
//
// Publishes on `internals`:
//   FormData, isFormData(x)
//   formDataSerialize(fd) -> { body: Uint8Array, contentType }
//   formDataParseMultipart(bytes, contentType) -> FormData (TypeError when
//   malformed or when the boundary parameter is missing)

const {
  ArrayPrototypePush,
  ArrayPrototypeSplice,
  DateNow,
  MathFloor,
  MathRandom,
  ObjectDefineProperty,
  ObjectGetOwnPropertyDescriptor,
  ObjectSetPrototypeOf,
  ReflectApply,
  StringFromCharCode,
  StringPrototypeCharCodeAt,
  StringPrototypeIndexOf,
  StringPrototypeSlice,
  StringPrototypeToLowerCase,
  SymbolIterator,
  SymbolToStringTag,
  TypeError,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetSymbolToStringTag,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteOffset,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeIndexOf,
  TypedArrayPrototypeSet,
  TypedArrayPrototypeSubarray,
  Uint8Array,
  IteratorPrototype,
} = primordials;

const { isBlob, isFile, blobBytes, createFile, Blob, File } = internals;
const BlobPrototypeGetType = ObjectGetOwnPropertyDescriptor(Blob.prototype, "type").get;
const FilePrototypeGetName = ObjectGetOwnPropertyDescriptor(File.prototype, "name").get;
const FilePrototypeGetLastModified =
  ObjectGetOwnPropertyDescriptor(File.prototype, "lastModified").get;

function blobType(blob) {
  return ReflectApply(BlobPrototypeGetType, blob, []);
}

function fileName(file) {
  return ReflectApply(FilePrototypeGetName, file, []);
}

function makeEnumerable(proto, keys) {
  for (let i = 0; i < keys.length; i++) {
    ObjectDefineProperty(proto, keys[i], { enumerable: true });
  }
}

function defineToStringTag(proto, tag) {
  ObjectDefineProperty(proto, SymbolToStringTag, {
    value: tag,
    writable: false,
    enumerable: false,
    configurable: true,
  });
}

// Web IDL USVString.
function toUSVString(value) {
  const string = `${value}`;
  const toWellFormed = primordials.StringPrototypeToWellFormed;
  if (toWellFormed !== undefined) return toWellFormed(string);
  let result = "";
  let start = 0;
  for (let i = 0; i < string.length; i++) {
    const c = StringPrototypeCharCodeAt(string, i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < string.length) {
      const d = StringPrototypeCharCodeAt(string, i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    result += StringPrototypeSlice(string, start, i) + "\ufffd";
    start = i + 1;
  }
  return start === 0 ? string : result + StringPrototypeSlice(string, start);
}

// https://xhr.spec.whatwg.org/#create-an-entry
function createEntry(name, value, filename) {
  name = toUSVString(name);
  if (isBlob(value)) {
    const bytes = blobBytes(value);
    const type = blobType(value);
    if (!isFile(value)) {
      value = createFile(bytes, filename === undefined ? "blob" : filename, type, DateNow());
    } else if (filename !== undefined) {
      value = createFile(
        bytes,
        filename,
        type,
        ReflectApply(FilePrototypeGetLastModified, value, []),
      );
    }
  } else {
    value = toUSVString(value);
  }
  return { name, value };
}

// Web IDL overload resolution of append()/set(): with three arguments only
// the Blob overload matches; with two, a Blob picks it too.
function entryFromArguments(method, args) {
  if (args.length < 2) {
    throw new TypeError(
      `Failed to execute '${method}' on 'FormData': 2 arguments required, but only ${args.length} present.`,
    );
  }
  const name = args[0];
  const value = args[1];
  if (args.length > 2) {
    if (!isBlob(value)) {
      throw new TypeError(
        `Failed to execute '${method}' on 'FormData': parameter 2 is not of type 'Blob'.`,
      );
    }
    const filename = args[2];
    return createEntry(name, value, filename === undefined ? undefined : toUSVString(filename));
  }
  return createEntry(name, value, undefined);
}

function requireArguments(method, count, length) {
  if (length < count) {
    throw new TypeError(
      `Failed to execute '${method}' on 'FormData': ${count} argument${count === 1 ? "" : "s"} required, but only ${length} present.`,
    );
  }
}

let getEntries;
let isFormData;

class FormData {
  #entries = [];

  constructor(form = undefined, submitter = undefined) {
    if (form !== undefined) {
      throw new TypeError(
        "Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.",
      );
    }
    void submitter;
  }

  static {
    getEntries = (fd) => {
      if (fd === null || typeof fd !== "object" || !(#entries in fd)) {
        throw new TypeError("Illegal invocation");
      }
      return fd.#entries;
    };
    isFormData = (value) => value !== null && typeof value === "object" && #entries in value;
  }

  append(name, value, filename = undefined) {
    const entries = getEntries(this);
    ArrayPrototypePush(entries, entryFromArguments("append", arguments));
  }

  delete(name) {
    const entries = getEntries(this);
    requireArguments("delete", 1, arguments.length);
    name = toUSVString(name);
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i].name === name) ArrayPrototypeSplice(entries, i, 1);
    }
  }

  get(name) {
    const entries = getEntries(this);
    requireArguments("get", 1, arguments.length);
    name = toUSVString(name);
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].name === name) return entries[i].value;
    }
    return null;
  }

  getAll(name) {
    const entries = getEntries(this);
    requireArguments("getAll", 1, arguments.length);
    name = toUSVString(name);
    const result = [];
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].name === name) ArrayPrototypePush(result, entries[i].value);
    }
    return result;
  }

  has(name) {
    const entries = getEntries(this);
    requireArguments("has", 1, arguments.length);
    name = toUSVString(name);
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].name === name) return true;
    }
    return false;
  }

  set(name, value, filename = undefined) {
    const entries = getEntries(this);
    const entry = entryFromArguments("set", arguments);
    let found = false;
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].name !== entry.name) continue;
      if (!found) {
        entries[i] = entry;
        found = true;
      } else {
        ArrayPrototypeSplice(entries, i, 1);
        i--;
      }
    }
    if (!found) ArrayPrototypePush(entries, entry);
  }

  entries() {
    getEntries(this);
    return createIterator(this, "key+value");
  }

  keys() {
    getEntries(this);
    return createIterator(this, "key");
  }

  values() {
    getEntries(this);
    return createIterator(this, "value");
  }

  forEach(callback, thisArg = undefined) {
    const entries = getEntries(this);
    requireArguments("forEach", 1, arguments.length);
    if (typeof callback !== "function") {
      throw new TypeError(
        "Failed to execute 'forEach' on 'FormData': The callback provided as parameter 1 is not a function.",
      );
    }
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      ReflectApply(callback, thisArg, [entry.value, entry.name, this]);
    }
  }
}

makeEnumerable(FormData.prototype, [
  "append", "delete", "get", "getAll", "has", "set", "entries", "keys",
  "values", "forEach",
]);
ObjectDefineProperty(FormData.prototype, SymbolIterator, {
  value: FormData.prototype.entries,
  writable: true,
  enumerable: false,
  configurable: true,
});
defineToStringTag(FormData.prototype, "FormData");

// https://webidl.spec.whatwg.org/#es-default-iterator-object
class FormDataIterator {
  #target;
  #kind;
  #index = 0;

  constructor(target, kind) {
    this.#target = target;
    this.#kind = kind;
  }

  next() {
    if (!(#target in this)) throw new TypeError("Illegal invocation");
    const entries = getEntries(this.#target);
    const index = this.#index;
    if (index >= entries.length) return { value: undefined, done: true };
    this.#index = index + 1;
    const entry = entries[index];
    let value;
    if (this.#kind === "key") value = entry.name;
    else if (this.#kind === "value") value = entry.value;
    else value = [entry.name, entry.value];
    return { value, done: false };
  }
}

function createIterator(target, kind) {
  return new FormDataIterator(target, kind);
}

ObjectSetPrototypeOf(FormDataIterator.prototype, IteratorPrototype);
delete FormDataIterator.prototype.constructor;
makeEnumerable(FormDataIterator.prototype, ["next"]);
defineToStringTag(FormDataIterator.prototype, "FormData Iterator");

// ------------------------------------------------------------------ encoding

// CR not followed by LF and LF not preceded by CR become CRLF.
function normalizeLineBreaks(string) {
  let result = "";
  let start = 0;
  for (let i = 0; i < string.length; i++) {
    const c = StringPrototypeCharCodeAt(string, i);
    if (c === 13) {
      if (i + 1 < string.length && StringPrototypeCharCodeAt(string, i + 1) === 10) {
        i++;
        continue;
      }
    } else if (c !== 10) {
      continue;
    }
    result += StringPrototypeSlice(string, start, i) + "\r\n";
    start = i + 1;
  }
  return start === 0 ? string : result + StringPrototypeSlice(string, start);
}

// Names and filenames: LF, CR and '"' are percent-escaped, nothing else.
function escapeName(string) {
  let result = "";
  let start = 0;
  for (let i = 0; i < string.length; i++) {
    const c = StringPrototypeCharCodeAt(string, i);
    let escape;
    if (c === 10) escape = "%0A";
    else if (c === 13) escape = "%0D";
    else if (c === 34) escape = "%22";
    else continue;
    result += StringPrototypeSlice(string, start, i) + escape;
    start = i + 1;
  }
  return start === 0 ? string : result + StringPrototypeSlice(string, start);
}

const BOUNDARY_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function generateBoundary() {
  let boundary = "----IsletFormBoundary";
  for (let i = 0; i < 24; i++) {
    boundary += BOUNDARY_CHARS[MathFloor(MathRandom() * BOUNDARY_CHARS.length)];
  }
  return boundary;
}

function concatChunks(chunks, total) {
  const result = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    TypedArrayPrototypeSet(result, chunks[i], offset);
    offset += TypedArrayPrototypeGetLength(chunks[i]);
  }
  return result;
}

// https://html.spec.whatwg.org/multipage/form-control-infrastructure.html#multipart/form-data-encoding-algorithm
function formDataSerialize(fd) {
  const entries = getEntries(fd);
  const boundary = generateBoundary();
  const utf8Encode = internals.utf8Encode;
  const chunks = [];
  let total = 0;
  let text = "";
  function flush() {
    if (text === "") return;
    const bytes = utf8Encode(text);
    ArrayPrototypePush(chunks, bytes);
    total += TypedArrayPrototypeGetLength(bytes);
    text = "";
  }
  for (let i = 0; i < entries.length; i++) {
    const { name, value } = entries[i];
    text += `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(normalizeLineBreaks(name))}"`;
    if (typeof value === "string") {
      text += `\r\n\r\n${normalizeLineBreaks(value)}\r\n`;
    } else {
      const type = blobType(value);
      text += `; filename="${escapeName(fileName(value))}"\r\nContent-Type: ${type === "" ? "application/octet-stream" : type}\r\n\r\n`;
      flush();
      const bytes = blobBytes(value);
      ArrayPrototypePush(chunks, bytes);
      total += TypedArrayPrototypeGetLength(bytes);
      text = "\r\n";
    }
  }
  text += `--${boundary}--\r\n`;
  flush();
  return {
    body: concatChunks(chunks, total),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

// ------------------------------------------------------------------- parsing

function malformed(detail) {
  return new TypeError(`Failed to parse body as FormData: ${detail}`);
}

function isHTTPWhitespace(c) {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isTokenCode(c) {
  // https://mimesniff.spec.whatwg.org/#http-token-code-point
  if (c >= 0x30 && c <= 0x39) return true;
  if (c >= 0x41 && c <= 0x5a) return true;
  if (c >= 0x61 && c <= 0x7a) return true;
  return c === 0x21 || c === 0x23 || c === 0x24 || c === 0x25 || c === 0x26 ||
    c === 0x27 || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e ||
    c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e;
}

function isToken(string) {
  if (string.length === 0) return false;
  for (let i = 0; i < string.length; i++) {
    if (!isTokenCode(StringPrototypeCharCodeAt(string, i))) return false;
  }
  return true;
}

function trimHTTPWhitespace(string) {
  let start = 0;
  let end = string.length;
  while (start < end && isHTTPWhitespace(StringPrototypeCharCodeAt(string, start))) start++;
  while (end > start && isHTTPWhitespace(StringPrototypeCharCodeAt(string, end - 1))) end--;
  return StringPrototypeSlice(string, start, end);
}

// https://mimesniff.spec.whatwg.org/#parse-a-mime-type, returning the essence
// and the parameters (lowercased names, first occurrence wins).
function parseMimeType(input) {
  const string = trimHTTPWhitespace(`${input}`);
  const slash = StringPrototypeIndexOf(string, "/");
  if (slash <= 0) return null;
  const type = StringPrototypeSlice(string, 0, slash);
  let position = slash + 1;
  let semicolon = StringPrototypeIndexOf(string, ";", position);
  if (semicolon === -1) semicolon = string.length;
  const subtype = trimHTTPWhitespace(StringPrototypeSlice(string, position, semicolon));
  if (!isToken(type) || !isToken(subtype)) return null;
  const essence = StringPrototypeToLowerCase(type + "/" + subtype);
  const parameters = { __proto__: null };
  position = semicolon;
  while (position < string.length) {
    position++; // ';'
    while (position < string.length && isHTTPWhitespace(StringPrototypeCharCodeAt(string, position))) {
      position++;
    }
    let end = position;
    while (end < string.length) {
      const c = StringPrototypeCharCodeAt(string, end);
      if (c === 0x3b || c === 0x3d) break;
      end++;
    }
    const name = StringPrototypeToLowerCase(StringPrototypeSlice(string, position, end));
    position = end;
    if (position < string.length && StringPrototypeCharCodeAt(string, position) === 0x3b) continue;
    position++; // '='
    if (position > string.length) break;
    let value;
    if (StringPrototypeCharCodeAt(string, position) === 0x22) {
      // HTTP quoted string with backslash escapes.
      value = "";
      position++;
      while (position < string.length) {
        const c = StringPrototypeCharCodeAt(string, position);
        if (c === 0x22) {
          position++;
          break;
        }
        if (c === 0x5c && position + 1 < string.length) position++;
        value += string[position];
        position++;
      }
      while (position < string.length && StringPrototypeCharCodeAt(string, position) !== 0x3b) {
        position++;
      }
    } else {
      let valueEnd = StringPrototypeIndexOf(string, ";", position);
      if (valueEnd === -1) valueEnd = string.length;
      value = trimHTTPWhitespace(StringPrototypeSlice(string, position, valueEnd));
      position = valueEnd;
      if (value === "") continue;
    }
    if (name !== "" && isToken(name) && parameters[name] === undefined) {
      parameters[name] = value;
    }
  }
  return { essence, parameters };
}

// Byte string (one char per byte) of bytes[start, end).
function isomorphicDecode(bytes, start, end) {
  let result = "";
  for (let i = start; i < end; i += 4096) {
    const stop = end < i + 4096 ? end : i + 4096;
    let chunk = "";
    for (let j = i; j < stop; j++) chunk += StringFromCharCode(bytes[j]);
    result += chunk;
  }
  return result;
}

function byteStringToBytes(string) {
  const bytes = new Uint8Array(string.length);
  for (let i = 0; i < string.length; i++) bytes[i] = StringPrototypeCharCodeAt(string, i) & 0xff;
  return bytes;
}

// "UTF-8 decode without BOM": a leading BOM is kept as U+FEFF.
let decoderSkipsBOM;
function utf8DecodeKeepBOM(bytes) {
  const decode = internals.utf8Decode;
  if (decoderSkipsBOM === undefined) {
    decoderSkipsBOM = decode(new Uint8Array([0xef, 0xbb, 0xbf])) === "";
  }
  if (!decoderSkipsBOM) return decode(bytes);
  let prefix = "";
  while (TypedArrayPrototypeGetLength(bytes) >= 3 && bytes[0] === 0xef &&
         bytes[1] === 0xbb && bytes[2] === 0xbf) {
    prefix += "\ufeff";
    bytes = TypedArrayPrototypeSubarray(bytes, 3);
  }
  return prefix + decode(bytes);
}

// Undo the browser escapes of names: %0A, %0D and %22, then UTF-8 decode.
function decodeName(byteString) {
  let result = "";
  let start = 0;
  for (let i = 0; i + 2 < byteString.length; i++) {
    if (StringPrototypeCharCodeAt(byteString, i) !== 0x25) continue;
    const hex = StringPrototypeToLowerCase(StringPrototypeSlice(byteString, i, i + 3));
    let ch;
    if (hex === "%0a") ch = "\n";
    else if (hex === "%0d") ch = "\r";
    else if (hex === "%22") ch = "\"";
    else continue;
    result += StringPrototypeSlice(byteString, start, i) + ch;
    i += 2;
    start = i + 1;
  }
  result += StringPrototypeSlice(byteString, start);
  return utf8DecodeKeepBOM(byteStringToBytes(result));
}

function hexValue(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

// RFC 5987 ext-value (filename*=UTF-8''%E2%82%AC.txt); null when unusable.
function decodeExtValue(value) {
  const first = StringPrototypeIndexOf(value, "'");
  const second = first === -1 ? -1 : StringPrototypeIndexOf(value, "'", first + 1);
  if (second === -1) return null;
  const charset = StringPrototypeToLowerCase(StringPrototypeSlice(value, 0, first));
  if (charset !== "utf-8") return null;
  const encoded = StringPrototypeSlice(value, second + 1);
  let bytes = "";
  for (let i = 0; i < encoded.length; i++) {
    const c = StringPrototypeCharCodeAt(encoded, i);
    if (c === 0x25 && i + 2 < encoded.length) {
      const hi = hexValue(StringPrototypeCharCodeAt(encoded, i + 1));
      const lo = hexValue(StringPrototypeCharCodeAt(encoded, i + 2));
      if (hi !== -1 && lo !== -1) {
        bytes += StringFromCharCode(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    bytes += encoded[i];
  }
  return utf8DecodeKeepBOM(byteStringToBytes(bytes));
}

// Content-Disposition: form-data; name="..."; filename="..." (a byte string).
function parseContentDisposition(value) {
  let semicolon = StringPrototypeIndexOf(value, ";");
  if (semicolon === -1) semicolon = value.length;
  const type = StringPrototypeToLowerCase(trimHTTPWhitespace(StringPrototypeSlice(value, 0, semicolon)));
  if (type !== "form-data") throw malformed("a part's Content-Disposition is not form-data");
  let name = null;
  let filename = null;
  let extFilename = null;
  let position = semicolon;
  while (position < value.length) {
    position++; // ';'
    while (position < value.length && isHTTPWhitespace(StringPrototypeCharCodeAt(value, position))) {
      position++;
    }
    let end = position;
    while (end < value.length) {
      const c = StringPrototypeCharCodeAt(value, end);
      if (c === 0x3b || c === 0x3d) break;
      end++;
    }
    const key = StringPrototypeToLowerCase(trimHTTPWhitespace(StringPrototypeSlice(value, position, end)));
    position = end;
    if (position >= value.length || StringPrototypeCharCodeAt(value, position) === 0x3b) continue;
    position++; // '='
    while (position < value.length && (StringPrototypeCharCodeAt(value, position) === 0x20 ||
           StringPrototypeCharCodeAt(value, position) === 0x09)) {
      position++;
    }
    let raw;
    if (position < value.length && StringPrototypeCharCodeAt(value, position) === 0x22) {
      const close = StringPrototypeIndexOf(value, "\"", position + 1);
      if (close === -1) throw malformed("unterminated quoted string in Content-Disposition");
      raw = StringPrototypeSlice(value, position + 1, close);
      position = close + 1;
      while (position < value.length && StringPrototypeCharCodeAt(value, position) !== 0x3b) {
        position++;
      }
    } else {
      let valueEnd = StringPrototypeIndexOf(value, ";", position);
      if (valueEnd === -1) valueEnd = value.length;
      raw = trimHTTPWhitespace(StringPrototypeSlice(value, position, valueEnd));
      position = valueEnd;
    }
    if (key === "name" && name === null) name = decodeName(raw);
    else if (key === "filename" && filename === null) filename = decodeName(raw);
    else if (key === "filename*" && extFilename === null) extFilename = decodeExtValue(raw);
  }
  if (filename === null && extFilename !== null) filename = extFilename;
  return { name, filename };
}

function toBytes(input) {
  if (TypedArrayPrototypeGetSymbolToStringTag(input) !== undefined) {
    return new Uint8Array(
      TypedArrayPrototypeGetBuffer(input),
      TypedArrayPrototypeGetByteOffset(input),
      TypedArrayPrototypeGetByteLength(input),
    );
  }
  if (primordials.ArrayBufferIsView(input)) {
    return new Uint8Array(
      primordials.DataViewPrototypeGetBuffer(input),
      primordials.DataViewPrototypeGetByteOffset(input),
      primordials.DataViewPrototypeGetByteLength(input),
    );
  }
  return new Uint8Array(input);
}

// First index >= from where `needle` occurs in `bytes`, or -1.
function indexOfBytes(bytes, needle, from) {
  const length = TypedArrayPrototypeGetLength(bytes);
  const n = TypedArrayPrototypeGetLength(needle);
  const first = needle[0];
  let i = from;
  while (i + n <= length) {
    i = TypedArrayPrototypeIndexOf(bytes, first, i);
    if (i === -1 || i + n > length) return -1;
    let j = 1;
    while (j < n && bytes[i + j] === needle[j]) j++;
    if (j === n) return i;
    i++;
  }
  return -1;
}

function startsWithAt(bytes, needle, at) {
  const n = TypedArrayPrototypeGetLength(needle);
  if (at + n > TypedArrayPrototypeGetLength(bytes)) return false;
  for (let j = 0; j < n; j++) {
    if (bytes[at + j] !== needle[j]) return false;
  }
  return true;
}

function copyRange(bytes, start, end) {
  const copy = new Uint8Array(end - start);
  TypedArrayPrototypeSet(copy, TypedArrayPrototypeSubarray(bytes, start, end));
  return copy;
}

function formDataParseMultipart(input, contentType) {
  const mime = parseMimeType(contentType === undefined || contentType === null ? "" : contentType);
  if (mime === null || mime.essence !== "multipart/form-data") {
    throw malformed("the Content-Type is not multipart/form-data");
  }
  const boundary = mime.parameters.boundary;
  if (boundary === undefined || boundary === "") {
    throw malformed("the Content-Type has no boundary parameter");
  }
  const bytes = toBytes(input);
  const length = TypedArrayPrototypeGetLength(bytes);
  // "\r\n--" + boundary; the very first delimiter may lack the CRLF.
  const delimiter = byteStringToBytes("\r\n--" + boundary);
  const delimiterLength = TypedArrayPrototypeGetLength(delimiter);
  const dashBoundary = TypedArrayPrototypeSubarray(delimiter, 2);

  let position;
  if (startsWithAt(bytes, dashBoundary, 0)) {
    position = delimiterLength - 2;
  } else {
    const found = indexOfBytes(bytes, delimiter, 0);
    if (found === -1) throw malformed("the body does not contain the boundary");
    position = found + delimiterLength;
  }

  const fd = new FormData();
  const entries = getEntries(fd);
  while (true) {
    if (position + 1 < length && bytes[position] === 0x2d && bytes[position + 1] === 0x2d) {
      return fd;
    }
    // Transport padding, then CRLF.
    while (position < length && (bytes[position] === 0x20 || bytes[position] === 0x09)) position++;
    if (position + 1 >= length || bytes[position] !== 0x0d || bytes[position + 1] !== 0x0a) {
      throw malformed("expected CRLF after a boundary delimiter");
    }
    position += 2;

    // Header block, ended by an empty line.
    let bodyStart;
    let headerBlock;
    if (position + 1 < length && bytes[position] === 0x0d && bytes[position + 1] === 0x0a) {
      headerBlock = "";
      bodyStart = position + 2;
    } else {
      const headerEnd = indexOfBytes(bytes, HEADER_END, position);
      if (headerEnd === -1) throw malformed("a part's headers are not terminated");
      headerBlock = isomorphicDecode(bytes, position, headerEnd);
      bodyStart = headerEnd + 4;
    }
    let name = null;
    let filename = null;
    let partType = null;
    let lineStart = 0;
    while (lineStart < headerBlock.length) {
      let lineEnd = StringPrototypeIndexOf(headerBlock, "\r\n", lineStart);
      if (lineEnd === -1) lineEnd = headerBlock.length;
      const line = StringPrototypeSlice(headerBlock, lineStart, lineEnd);
      lineStart = lineEnd + 2;
      const colon = StringPrototypeIndexOf(line, ":");
      if (colon === -1) throw malformed("a part header has no colon");
      const headerName = StringPrototypeToLowerCase(trimHTTPWhitespace(StringPrototypeSlice(line, 0, colon)));
      if (!isToken(headerName)) throw malformed("invalid part header name");
      const headerValue = trimHTTPWhitespace(StringPrototypeSlice(line, colon + 1));
      if (headerName === "content-disposition") {
        const disposition = parseContentDisposition(headerValue);
        name = disposition.name;
        filename = disposition.filename;
      } else if (headerName === "content-type") {
        partType = headerValue;
      }
    }
    if (name === null) throw malformed("a part has no name");

    const bodyEnd = indexOfBytes(bytes, delimiter, bodyStart);
    if (bodyEnd === -1) throw malformed("a part is not terminated by the boundary");
    position = bodyEnd + delimiterLength;

    let value;
    if (filename !== null) {
      value = createFile(
        copyRange(bytes, bodyStart, bodyEnd),
        filename,
        partType === null ? "text/plain" : partType,
        DateNow(),
      );
    } else {
      value = utf8DecodeKeepBOM(TypedArrayPrototypeSubarray(bytes, bodyStart, bodyEnd));
    }
    ArrayPrototypePush(entries, { name, value });
  }
}

const HEADER_END = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a]);

internals.FormData = FormData;
internals.isFormData = isFormData;
internals.formDataSerialize = formDataSerialize;
internals.formDataParseMultipart = formDataParseMultipart;

internals.defineGlobal("FormData", FormData);
