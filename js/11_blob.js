// https://w3c.github.io/FileAPI/#blob-section
//
// Blob and File. A blob's bytes live in one Uint8Array that is never written
// after construction, so slices and clones share it instead of copying.
//
// Publishes on `internals`:
//   Blob, File, isBlob(x), isFile(x)
//   blobBytes(blob) -> Uint8Array   the blob's contents, synchronously and
//                                   WITHOUT copying: the array shares the
//                                   blob's storage, so copy it before giving
//                                   it to user code that could write to it
//   createBlob(bytes, type)         a Blob owning `bytes` (not copied)
//   createFile(bytes, name, type, lastModified)
//                                   a File owning `bytes` (not copied)
//   cloneBlob(blob)                 a new Blob/File with the same contents
//                                   and attributes (for structuredClone)

const {
  ArrayBuffer,
  ArrayBufferIsView,
  ArrayBufferPrototypeGetByteLength,
  ArrayPrototypePush,
  DataViewPrototypeGetBuffer,
  DataViewPrototypeGetByteLength,
  DataViewPrototypeGetByteOffset,
  DateNow,
  MathFloor,
  MathMax,
  MathMin,
  MathTrunc,
  NumberIsFinite,
  NumberIsNaN,
  ObjectDefineProperty,
  PromiseReject,
  PromiseResolve,
  StringPrototypeCharCodeAt,
  StringPrototypeSlice,
  StringPrototypeToLowerCase,
  SymbolToStringTag,
  TypeError,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetByteOffset,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetSymbolToStringTag,
  TypedArrayPrototypeSet,
  TypedArrayPrototypeSubarray,
  Uint8Array,
  globalThis,
} = primordials;

const StringPrototypeToWellFormed = primordials.StringPrototypeToWellFormed;

const STREAM_CHUNK_SIZE = 65536;

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

function toDOMString(value) {
  return `${value}`;
}

// Web IDL USVString: lone surrogates become U+FFFD.
function toUSVString(value) {
  const string = `${value}`;
  if (StringPrototypeToWellFormed !== undefined) return StringPrototypeToWellFormed(string);
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

// https://w3c.github.io/FileAPI/#dfn-type: printable ASCII, lowercased, or "".
function normalizeType(type) {
  for (let i = 0; i < type.length; i++) {
    const c = StringPrototypeCharCodeAt(type, i);
    if (c < 0x20 || c > 0x7e) return "";
  }
  return StringPrototypeToLowerCase(type);
}

// https://w3c.github.io/FileAPI/#convert-line-endings-to-native (LF here).
function convertLineEndingsToNative(string) {
  let result = "";
  let start = 0;
  for (let i = 0; i < string.length; i++) {
    if (StringPrototypeCharCodeAt(string, i) !== 13) continue;
    result += StringPrototypeSlice(string, start, i) + "\n";
    if (i + 1 < string.length && StringPrototypeCharCodeAt(string, i + 1) === 10) i++;
    start = i + 1;
  }
  return start === 0 ? string : result + StringPrototypeSlice(string, start);
}

function isArrayBuffer(value) {
  try {
    ArrayBufferPrototypeGetByteLength(value);
    return true;
  } catch {
    return false;
  }
}

// A Uint8Array over the bytes of a BufferSource (no copy).
function bufferSourceBytes(source) {
  if (TypedArrayPrototypeGetSymbolToStringTag(source) !== undefined) {
    return new Uint8Array(
      TypedArrayPrototypeGetBuffer(source),
      TypedArrayPrototypeGetByteOffset(source),
      TypedArrayPrototypeGetByteLength(source),
    );
  }
  if (ArrayBufferIsView(source)) {
    return new Uint8Array(
      DataViewPrototypeGetBuffer(source),
      DataViewPrototypeGetByteOffset(source),
      DataViewPrototypeGetByteLength(source),
    );
  }
  return new Uint8Array(source, 0, ArrayBufferPrototypeGetByteLength(source));
}

let getBlobBytes;
let getBlobType;
let isBlob;
let internalInit = null;

// Web IDL conversion of sequence<BlobPart>: Blobs and buffers are kept,
// everything else becomes a USVString now.
function convertBlobParts(blobParts, interfaceName) {
  const parts = [];
  if (blobParts === undefined) return parts;
  if (blobParts === null || (typeof blobParts !== "object" && typeof blobParts !== "function")) {
    throw new TypeError(
      `Failed to construct '${interfaceName}': The provided value cannot be converted to a sequence.`,
    );
  }
  if (typeof blobParts[primordials.SymbolIterator] !== "function") {
    throw new TypeError(
      `Failed to construct '${interfaceName}': The object must have a callable @@iterator property.`,
    );
  }
  for (const element of blobParts) {
    if (isBlob(element) || isArrayBuffer(element) || ArrayBufferIsView(element)) {
      ArrayPrototypePush(parts, element);
    } else {
      ArrayPrototypePush(parts, toUSVString(element));
    }
  }
  return parts;
}

// BlobPropertyBag (endings, type) and, for File, FilePropertyBag's
// lastModified, read in Web IDL order.
function convertPropertyBag(options, interfaceName, isFile) {
  const bag = { endings: "transparent", type: "", lastModified: 0 };
  if (options !== undefined && options !== null) {
    if (typeof options !== "object" && typeof options !== "function") {
      throw new TypeError(
        `Failed to construct '${interfaceName}': The provided value is not of type '${isFile ? "FilePropertyBag" : "BlobPropertyBag"}'.`,
      );
    }
    const endings = options.endings;
    if (endings !== undefined) {
      const value = toDOMString(endings);
      if (value !== "transparent" && value !== "native") {
        throw new TypeError(
          `Failed to construct '${interfaceName}': Failed to read the 'endings' property from '${isFile ? "FilePropertyBag" : "BlobPropertyBag"}': The provided value '${value}' is not a valid enum value of type EndingType.`,
        );
      }
      bag.endings = value;
    }
    const type = options.type;
    if (type !== undefined) bag.type = normalizeType(toDOMString(type));
    if (isFile) {
      const lastModified = options.lastModified;
      bag.lastModified = lastModified === undefined ? DateNow() : toLongLong(lastModified);
    }
  } else if (isFile) {
    bag.lastModified = DateNow();
  }
  return bag;
}

// Web IDL long long (no [Clamp]/[EnforceRange]).
function toLongLong(value) {
  const n = +value;
  if (!NumberIsFinite(n)) return 0;
  const t = MathTrunc(n);
  return t === 0 ? 0 : t;
}

// Web IDL [Clamp] long long: round half to even, clamp.
function toClampedLongLong(value) {
  let n = +value;
  if (NumberIsNaN(n)) return 0;
  if (n > 9223372036854775807) return 9223372036854775807;
  if (n < -9223372036854775808) return -9223372036854775808;
  const f = MathFloor(n);
  const diff = n - f;
  if (diff > 0.5 || (diff === 0.5 && f % 2 !== 0)) n = f + 1;
  else n = f;
  return n === 0 ? 0 : n;
}

// https://w3c.github.io/FileAPI/#process-blob-parts
function processBlobParts(parts, endings) {
  if (parts.length === 1 && typeof parts[0] !== "string" && isBlob(parts[0])) {
    // Blob contents never change: share them.
    return getBlobBytes(parts[0]);
  }
  const chunks = [];
  let total = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    let bytes;
    if (typeof part === "string") {
      bytes = internals.utf8Encode(endings === "native" ? convertLineEndingsToNative(part) : part);
    } else if (isBlob(part)) {
      bytes = getBlobBytes(part);
    } else {
      bytes = bufferSourceBytes(part);
    }
    total += TypedArrayPrototypeGetLength(bytes);
    ArrayPrototypePush(chunks, bytes);
  }
  const result = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    TypedArrayPrototypeSet(result, chunks[i], offset);
    offset += TypedArrayPrototypeGetLength(chunks[i]);
  }
  return result;
}

function copyBytes(bytes) {
  const copy = new Uint8Array(TypedArrayPrototypeGetLength(bytes));
  TypedArrayPrototypeSet(copy, bytes);
  return copy;
}

// "UTF-8 decode" (https://encoding.spec.whatwg.org/#utf-8-decode): a leading
// BOM is skipped. Works whether or not internals.utf8Decode skips it itself.
let decoderSkipsBOM;
function utf8DecodeSkipBOM(bytes) {
  const decode = internals.utf8Decode;
  if (decoderSkipsBOM === undefined) {
    decoderSkipsBOM = decode(new Uint8Array([0xef, 0xbb, 0xbf])) === "";
  }
  if (decoderSkipsBOM) return decode(bytes);
  if (TypedArrayPrototypeGetLength(bytes) >= 3 && bytes[0] === 0xef &&
      bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return decode(TypedArrayPrototypeSubarray(bytes, 3));
  }
  return decode(bytes);
}

function createBlob(bytes, type) {
  internalInit = { bytes, type: normalizeType(toDOMString(type)) };
  return new Blob();
}

class Blob {
  #bytes;
  #type;

  constructor(blobParts = undefined, options = undefined) {
    if (internalInit !== null) {
      const init = internalInit;
      internalInit = null;
      this.#bytes = init.bytes;
      this.#type = init.type;
      return;
    }
    const parts = convertBlobParts(blobParts, "Blob");
    const bag = convertPropertyBag(options, "Blob", false);
    this.#bytes = processBlobParts(parts, bag.endings);
    this.#type = bag.type;
  }

  static {
    getBlobBytes = (blob) => {
      if (blob === null || typeof blob !== "object" || !(#bytes in blob)) {
        throw new TypeError("Illegal invocation");
      }
      return blob.#bytes;
    };
    isBlob = (value) => value !== null && typeof value === "object" && #bytes in value;
    getBlobType = (blob) => blob.#type;
  }

  get size() {
    return TypedArrayPrototypeGetLength(getBlobBytes(this));
  }

  get type() {
    getBlobBytes(this);
    return this.#type;
  }

  // https://w3c.github.io/FileAPI/#dfn-slice
  slice(start = undefined, end = undefined, contentType = undefined) {
    const bytes = getBlobBytes(this);
    const size = TypedArrayPrototypeGetLength(bytes);
    let relativeStart = 0;
    if (start !== undefined) {
      const s = toClampedLongLong(start);
      relativeStart = s < 0 ? MathMax(size + s, 0) : MathMin(s, size);
    }
    let relativeEnd = size;
    if (end !== undefined) {
      const e = toClampedLongLong(end);
      relativeEnd = e < 0 ? MathMax(size + e, 0) : MathMin(e, size);
    }
    const type = contentType === undefined ? "" : toDOMString(contentType);
    const span = MathMax(relativeEnd - relativeStart, 0);
    return createBlob(
      TypedArrayPrototypeSubarray(bytes, relativeStart, relativeStart + span),
      type,
    );
  }

  // https://w3c.github.io/FileAPI/#stream-method-algo
  stream() {
    const bytes = getBlobBytes(this);
    const length = TypedArrayPrototypeGetLength(bytes);
    let ReadableStream = internals.ReadableStream;
    if (typeof ReadableStream !== "function") {
      if (typeof internals.readableStreamFromBytes === "function") {
        return internals.readableStreamFromBytes(copyBytes(bytes));
      }
      ReadableStream = globalThis.ReadableStream;
      if (typeof ReadableStream !== "function") {
        throw new TypeError("ReadableStream is not available");
      }
    }
    let offset = 0;
    return new ReadableStream({
      type: "bytes",
      start(controller) {
        if (length === 0) controller.close();
      },
      pull(controller) {
        const n = MathMin(length - offset, STREAM_CHUNK_SIZE);
        const chunk = copyBytes(TypedArrayPrototypeSubarray(bytes, offset, offset + n));
        offset += n;
        controller.enqueue(chunk);
        if (offset >= length) controller.close();
      },
    });
  }

  text() {
    let bytes;
    try {
      bytes = getBlobBytes(this);
    } catch (error) {
      return PromiseReject(error);
    }
    return PromiseResolve(utf8DecodeSkipBOM(bytes));
  }

  arrayBuffer() {
    let bytes;
    try {
      bytes = getBlobBytes(this);
    } catch (error) {
      return PromiseReject(error);
    }
    const buffer = new ArrayBuffer(TypedArrayPrototypeGetLength(bytes));
    TypedArrayPrototypeSet(new Uint8Array(buffer), bytes);
    return PromiseResolve(buffer);
  }

  bytes() {
    let bytes;
    try {
      bytes = getBlobBytes(this);
    } catch (error) {
      return PromiseReject(error);
    }
    return PromiseResolve(copyBytes(bytes));
  }
}
makeEnumerable(Blob.prototype, [
  "size", "type", "slice", "stream", "text", "arrayBuffer", "bytes",
]);
defineToStringTag(Blob.prototype, "Blob");

let isFile;
let getFileName;
let getFileLastModified;
let fileInit = null;

function createFile(bytes, name, type, lastModified) {
  fileInit = { name: toUSVString(name), lastModified: toLongLong(lastModified) };
  internalInit = { bytes, type: normalizeType(toDOMString(type)) };
  return new File();
}

// https://w3c.github.io/FileAPI/#file-section
class File extends Blob {
  #name;
  #lastModified;

  constructor(fileBits, fileName, options = undefined) {
    if (fileInit !== null) {
      const init = fileInit;
      fileInit = null;
      super();
      this.#name = init.name;
      this.#lastModified = init.lastModified;
      return;
    }
    if (arguments.length < 2) {
      throw new TypeError(
        `Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`,
      );
    }
    const parts = convertBlobParts(fileBits, "File");
    const name = toUSVString(fileName);
    const bag = convertPropertyBag(options, "File", true);
    internalInit = { bytes: processBlobParts(parts, bag.endings), type: bag.type };
    super();
    this.#name = name;
    this.#lastModified = bag.lastModified;
  }

  static {
    isFile = (value) => value !== null && typeof value === "object" && #name in value;
    getFileName = (file) => file.#name;
    getFileLastModified = (file) => file.#lastModified;
  }

  get name() {
    if (!isFile(this)) throw new TypeError("Illegal invocation");
    return this.#name;
  }

  get lastModified() {
    if (!isFile(this)) throw new TypeError("Illegal invocation");
    return this.#lastModified;
  }
}
makeEnumerable(File.prototype, ["name", "lastModified"]);
defineToStringTag(File.prototype, "File");

function cloneBlob(blob) {
  const bytes = getBlobBytes(blob);
  const type = getBlobType(blob);
  if (isFile(blob)) {
    return createFile(bytes, getFileName(blob), type, getFileLastModified(blob));
  }
  return createBlob(bytes, type);
}

internals.Blob = Blob;
internals.File = File;
internals.isBlob = isBlob;
internals.isFile = isFile;
internals.blobBytes = getBlobBytes;
internals.createBlob = createBlob;
internals.createFile = createFile;
internals.cloneBlob = cloneBlob;
internals.utf8DecodeSkipBOM = utf8DecodeSkipBOM;

internals.defineGlobals({ Blob, File });
