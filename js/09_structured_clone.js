// https://html.spec.whatwg.org/multipage/structured-data.html#structured-cloning
//
// structuredClone(value, { transfer }) in plain JavaScript, following
// StructuredSerializeWithTransfer / StructuredDeserializeWithTransfer: the
// value is first serialized into records (running getters, copying buffer
// bytes and throwing DataCloneError before anything is detached), then the
// transfer list is detached, then the records are turned into new objects.
// Shared references and cycles are kept through the `memory` maps.
//
// Supported: primitives, Boolean/Number/BigInt/String wrappers, Date, RegExp,
// ArrayBuffer (also resizable), every typed array, DataView, Map, Set, Error
// types (name, message, stack, cause), Array (sparse, extra properties),
// plain objects, DOMException, Blob and File. Everything else with internal
// state (functions, symbols, WeakMap, WeakSet, WeakRef, Promise, the
// runtime's platform objects...) throws a "DataCloneError" DOMException.
// Only ArrayBuffers can be transferred.

const {
  ArrayBuffer,
  ArrayBufferPrototypeGetByteLength,
  ArrayBufferPrototypeSlice,
  ArrayBufferIsView,
  ArrayIsArray,
  ArrayPrototypePush,
  BigInt64Array,
  BigIntPrototypeValueOf,
  BigUint64Array,
  BooleanPrototypeValueOf,
  DataView,
  DataViewPrototypeGetBuffer,
  DataViewPrototypeGetByteLength,
  DataViewPrototypeGetByteOffset,
  Date,
  DatePrototypeGetTime,
  Error,
  EvalError,
  Float32Array,
  Float64Array,
  Int16Array,
  Int32Array,
  Int8Array,
  Map,
  MapPrototypeForEach,
  MapPrototypeGet,
  MapPrototypeGetSize,
  MapPrototypeHas,
  MapPrototypeSet,
  NumberPrototypeValueOf,
  Object,
  ObjectDefineProperty,
  ObjectGetOwnPropertyDescriptor,
  ObjectKeys,
  ObjectPrototypeHasOwnProperty,
  ObjectPrototypeIsPrototypeOf,
  ObjectPrototypeToString,
  ReflectGetPrototypeOf,
  RangeError,
  ReferenceError,
  RegExp,
  RegExpPrototypeGetSource,
  Set,
  SetPrototypeAdd,
  SetPrototypeForEach,
  SetPrototypeGetSize,
  StringPrototypeSlice,
  StringPrototypeValueOf,
  SymbolPrototypeToString,
  SymbolPrototypeValueOf,
  SyntaxError,
  TypeError,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteOffset,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetSymbolToStringTag,
  TypedArrayPrototypeSet,
  URIError,
  Uint16Array,
  Uint32Array,
  Uint8Array,
  Uint8ClampedArray,
  WeakMapPrototypeHas,
  WeakRefPrototypeDeref,
  WeakSetPrototypeHas,
  globalThis,
} = primordials;

const DOMException = internals.DOMException;
const ObjectPrototype = Object.prototype;
// Newer builtins that 00_primordials.js may or may not have captured.
const ArrayBufferPrototypeTransfer = primordials.ArrayBufferPrototypeTransfer;
const ArrayBufferPrototypeGetDetached = primordials.ArrayBufferPrototypeGetDetached;
const ArrayBufferPrototypeGetResizable = primordials.ArrayBufferPrototypeGetResizable;
const ArrayBufferPrototypeGetMaxByteLength = primordials.ArrayBufferPrototypeGetMaxByteLength;
const ErrorIsError = primordials.ErrorIsError;
const FinalizationRegistryPrototypeUnregister = primordials.FinalizationRegistryPrototypeUnregister;
const Float16Array = globalThis.Float16Array;
// SharedArrayBuffer is not among the captured constructors (the global may
// be absent); take its brand-checking getter directly when it exists.
const SharedArrayBufferPrototypeGetByteLength = (() => {
  const SAB = globalThis.SharedArrayBuffer;
  if (typeof SAB !== "function") return undefined;
  const desc = ObjectGetOwnPropertyDescriptor(SAB.prototype, "byteLength");
  return desc && desc.get ? primordials.uncurryThis(desc.get) : undefined;
})();

const TYPED_ARRAYS = {
  __proto__: null,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};
if (typeof Float16Array === "function") TYPED_ARRAYS.Float16Array = Float16Array;

const ERROR_TYPES = {
  __proto__: null,
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

// Flags in the order RegExp.prototype.flags reports them.
const REGEXP_FLAGS = [];
// Whole names: 00_primordials.js keeps only primordials some file names.
for (const [flag, name] of [
  ["d", "RegExpPrototypeGetHasIndices"], ["g", "RegExpPrototypeGetGlobal"],
  ["i", "RegExpPrototypeGetIgnoreCase"], ["m", "RegExpPrototypeGetMultiline"],
  ["s", "RegExpPrototypeGetDotAll"], ["u", "RegExpPrototypeGetUnicode"],
  ["v", "RegExpPrototypeGetUnicodeSets"], ["y", "RegExpPrototypeGetSticky"],
]) {
  const getter = primordials[name];
  if (typeof getter === "function") ArrayPrototypePush(REGEXP_FLAGS, [flag, getter]);
}

// toStringTags of builtins with internal state that cannot be detected by a
// side-effect-free brand check. Cloning them would silently give `{}`.
const UNCLONEABLE_TAGS = {
  __proto__: null,
  "[object Promise]": true,
  "[object Generator]": true,
  "[object AsyncGenerator]": true,
  "[object Map Iterator]": true,
  "[object Set Iterator]": true,
  "[object Array Iterator]": true,
  "[object String Iterator]": true,
  "[object RegExp String Iterator]": true,
  "[object Iterator Helper]": true,
  "[object Module]": true,
  "[object WebAssembly.Module]": true,
  "[object WebAssembly.Instance]": true,
  "[object WebAssembly.Memory]": true,
  "[object WebAssembly.Table]": true,
  "[object WebAssembly.Global]": true,
};

// Brand checks other runtime files may publish; instances are platform
// objects that are not [Serializable].
const PLATFORM_CHECKS = [
  "isEvent", "isEventTarget", "isAbortController", "isReadableStream",
  "isWritableStream", "isTransformStream", "isFormData", "isHeaders",
  "isRequest", "isResponse", "isURL", "isURLSearchParams",
];

function brand(check, value) {
  try {
    check(value);
    return true;
  } catch {
    return false;
  }
}

function describe(value) {
  if (typeof value === "symbol") return SymbolPrototypeToString(value);
  if (typeof value === "function") {
    let name = "";
    try {
      const desc = ObjectGetOwnPropertyDescriptor(value, "name");
      if (desc && typeof desc.value === "string") name = desc.value;
    } catch {
      // A proxy may throw; the message is all we need.
    }
    return name === "" ? "function" : `function ${name}`;
  }
  let tag = "Object";
  try {
    const str = ObjectPrototypeToString(value);
    tag = StringPrototypeSlice(str, 8, -1);
  } catch {
    // Same as above.
  }
  return `#<${tag}>`;
}

function dataCloneError(message) {
  return new DOMException(message, "DataCloneError");
}

function uncloneable(value) {
  return dataCloneError(`${describe(value)} could not be cloned.`);
}

function isArrayBuffer(value) {
  return brand(ArrayBufferPrototypeGetByteLength, value);
}

function isDetached(buffer) {
  if (ArrayBufferPrototypeGetDetached !== undefined) {
    return ArrayBufferPrototypeGetDetached(buffer);
  }
  if (ArrayBufferPrototypeGetByteLength(buffer) !== 0) return false;
  try {
    ArrayBufferPrototypeSlice(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

function isErrorObject(value) {
  if (ErrorIsError !== undefined) return ErrorIsError(value);
  return ObjectPrototypeToString(value) === "[object Error]";
}

function regExpFlags(value) {
  let flags = "";
  for (let i = 0; i < REGEXP_FLAGS.length; i++) {
    if (REGEXP_FLAGS[i][1](value)) flags += REGEXP_FLAGS[i][0];
  }
  return flags;
}

function copyArrayBuffer(buffer) {
  const length = ArrayBufferPrototypeGetByteLength(buffer);
  let copy;
  if (ArrayBufferPrototypeGetResizable !== undefined && ArrayBufferPrototypeGetResizable(buffer)) {
    copy = new ArrayBuffer(length, {
      maxByteLength: ArrayBufferPrototypeGetMaxByteLength(buffer),
    });
  } else {
    copy = new ArrayBuffer(length);
  }
  if (length > 0) {
    TypedArrayPrototypeSet(new Uint8Array(copy), new Uint8Array(buffer, 0, length));
  }
  return copy;
}

// Runtime classes (published on `internals` by their files) whose instances
// are platform objects; checked through the prototype chain when the file
// publishes no brand check.
const PLATFORM_CLASSES = [
  "Request", "Response", "Headers", "URL", "URLSearchParams", "ReadableStream",
  "WritableStream", "TransformStream", "TextEncoder", "TextDecoder",
];

function isPlatformObject(value) {
  for (let i = 0; i < PLATFORM_CHECKS.length; i++) {
    const check = internals[PLATFORM_CHECKS[i]];
    if (typeof check === "function" && check(value)) return true;
  }
  for (let i = 0; i < PLATFORM_CLASSES.length; i++) {
    const ctor = internals[PLATFORM_CLASSES[i]];
    if (typeof ctor === "function" && ctor.prototype !== undefined &&
        ObjectPrototypeIsPrototypeOf(ctor.prototype, value)) {
      return true;
    }
  }
  return false;
}

// Serialized records. Primitives stand for themselves; everything else is a
// record object with a `t` tag.
const T_BOOLEAN = 1;
const T_NUMBER = 2;
const T_BIGINT = 3;
const T_STRING = 4;
const T_DATE = 5;
const T_REGEXP = 6;
const T_ARRAY_BUFFER = 7;
const T_TRANSFERRED = 8;
const T_VIEW = 9;
const T_MAP = 10;
const T_SET = 11;
const T_ERROR = 12;
const T_DOM_EXCEPTION = 13;
const T_BLOB = 14;
const T_ARRAY = 15;
const T_OBJECT = 16;

// https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal
// Kinds of objects with internal slots, found through the prototype chain so
// that ordinary objects (the common case) cost no failed brand check: a
// failed check throws, and exceptions are slow. Each candidate is then
// confirmed with a real brand check. (An object whose prototype was swapped
// to an unrelated one is classified by that prototype.)
const K_BOOLEAN = 1;
const K_NUMBER = 2;
const K_BIGINT = 3;
const K_STRING = 4;
const K_SYMBOL = 5;
const K_DATE = 6;
const K_REGEXP = 7;
const K_ARRAY_BUFFER = 8;
const K_SHARED_ARRAY_BUFFER = 9;
const K_MAP = 10;
const K_SET = 11;
const K_UNCLONEABLE = 12;

const BUILTIN_PROTOTYPES = new Map();
MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.Boolean.prototype, [K_BOOLEAN, BooleanPrototypeValueOf]);
MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.Number.prototype, [K_NUMBER, NumberPrototypeValueOf]);
MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.BigInt.prototype, [K_BIGINT, BigIntPrototypeValueOf]);
MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.String.prototype, [K_STRING, StringPrototypeValueOf]);
MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.Symbol.prototype, [K_SYMBOL, SymbolPrototypeValueOf]);
MapPrototypeSet(BUILTIN_PROTOTYPES, Date.prototype, [K_DATE, DatePrototypeGetTime]);
MapPrototypeSet(BUILTIN_PROTOTYPES, RegExp.prototype, [K_REGEXP, isRegExpOrThrow]);
MapPrototypeSet(BUILTIN_PROTOTYPES, ArrayBuffer.prototype, [K_ARRAY_BUFFER, ArrayBufferPrototypeGetByteLength]);
if (SharedArrayBufferPrototypeGetByteLength !== undefined) {
  MapPrototypeSet(BUILTIN_PROTOTYPES, globalThis.SharedArrayBuffer.prototype,
    [K_SHARED_ARRAY_BUFFER, SharedArrayBufferPrototypeGetByteLength]);
}
MapPrototypeSet(BUILTIN_PROTOTYPES, Map.prototype, [K_MAP, MapPrototypeGetSize]);
MapPrototypeSet(BUILTIN_PROTOTYPES, Set.prototype, [K_SET, SetPrototypeGetSize]);
MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.WeakMap.prototype,
  [K_UNCLONEABLE, (v) => WeakMapPrototypeHas(v, v)]);
MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.WeakSet.prototype,
  [K_UNCLONEABLE, (v) => WeakSetPrototypeHas(v, v)]);
MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.WeakRef.prototype, [K_UNCLONEABLE, WeakRefPrototypeDeref]);
if (FinalizationRegistryPrototypeUnregister !== undefined) {
  MapPrototypeSet(BUILTIN_PROTOTYPES, primordials.FinalizationRegistry.prototype,
    [K_UNCLONEABLE, (v) => FinalizationRegistryPrototypeUnregister(v, {})]);
}

function isRegExpOrThrow(value) {
  if (value === RegExp.prototype) throw new TypeError("not a RegExp");
  return RegExpPrototypeGetSource(value);
}

// The slotted builtin kind of a non-array, non-view object, or 0.
function builtinKind(value) {
  let proto = ReflectGetPrototypeOf(value);
  while (proto !== null && proto !== ObjectPrototype) {
    const entry = MapPrototypeGet(BUILTIN_PROTOTYPES, proto);
    if (entry !== undefined) return brand(entry[1], value) ? entry[0] : 0;
    proto = ReflectGetPrototypeOf(proto);
  }
  return 0;
}

// https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal
function serialize(value, memory) {
  const type = typeof value;
  if (type === "symbol") throw uncloneable(value);
  if (value === null || (type !== "object" && type !== "function")) return value;
  const seen = MapPrototypeGet(memory, value);
  if (seen !== undefined) return seen;
  if (type === "function") throw uncloneable(value);

  let record;
  let deep = false;

  if (ArrayIsArray(value)) {
    record = { t: T_ARRAY, length: value.length, props: [] };
    deep = true;
  } else if (ArrayBufferIsView(value)) {
    const typedArrayName = TypedArrayPrototypeGetSymbolToStringTag(value);
    const buffer = typedArrayName !== undefined
      ? TypedArrayPrototypeGetBuffer(value)
      : DataViewPrototypeGetBuffer(value);
    if (isArrayBuffer(buffer) && isDetached(buffer)) {
      throw dataCloneError("An ArrayBuffer is detached and could not be cloned.");
    }
    if (typedArrayName !== undefined) {
      record = {
        t: T_VIEW,
        ctor: typedArrayName,
        buffer: serialize(buffer, memory),
        byteOffset: TypedArrayPrototypeGetByteOffset(value),
        length: TypedArrayPrototypeGetLength(value),
      };
    } else {
      record = {
        t: T_VIEW,
        ctor: "DataView",
        buffer: serialize(buffer, memory),
        byteOffset: DataViewPrototypeGetByteOffset(value),
        length: DataViewPrototypeGetByteLength(value),
      };
    }
  } else {
    const proto = ReflectGetPrototypeOf(value);
    const kind = proto === ObjectPrototype ? 0 : builtinKind(value);
    switch (kind) {
      case K_BOOLEAN:
        record = { t: T_BOOLEAN, v: BooleanPrototypeValueOf(value) };
        break;
      case K_NUMBER:
        record = { t: T_NUMBER, v: NumberPrototypeValueOf(value) };
        break;
      case K_BIGINT:
        record = { t: T_BIGINT, v: BigIntPrototypeValueOf(value) };
        break;
      case K_STRING:
        record = { t: T_STRING, v: StringPrototypeValueOf(value) };
        break;
      case K_DATE:
        record = { t: T_DATE, v: DatePrototypeGetTime(value) };
        break;
      case K_REGEXP:
        record = {
          t: T_REGEXP,
          source: RegExpPrototypeGetSource(value),
          flags: regExpFlags(value),
        };
        break;
      case K_ARRAY_BUFFER:
        if (isDetached(value)) {
          throw dataCloneError("An ArrayBuffer is detached and could not be cloned.");
        }
        record = { t: T_ARRAY_BUFFER, buffer: copyArrayBuffer(value) };
        break;
      case K_SHARED_ARRAY_BUFFER:
        throw dataCloneError("SharedArrayBuffer cannot be cloned in this context.");
      case K_MAP:
        record = { t: T_MAP, entries: [] };
        deep = true;
        break;
      case K_SET:
        record = { t: T_SET, items: [] };
        deep = true;
        break;
      case K_SYMBOL:
      case K_UNCLONEABLE:
        throw uncloneable(value);
      default:
        if (proto === ObjectPrototype) {
          // An ordinary object: nothing to look up.
        } else if (internals.isDOMException(value)) {
          record = {
            t: T_DOM_EXCEPTION,
            name: value.name,
            message: value.message,
            stack: undefined,
          };
          const stack = value.stack;
          if (typeof stack === "string") record.stack = stack;
        } else if (isErrorObject(value)) {
          return serializeError(value, memory);
        } else if (typeof internals.isBlob === "function" && internals.isBlob(value)) {
          record = { t: T_BLOB, blob: value };
        } else if (isPlatformObject(value) ||
                   UNCLONEABLE_TAGS[ObjectPrototypeToString(value)] === true) {
          throw uncloneable(value);
        }
        if (record === undefined) {
          record = { t: T_OBJECT, props: [] };
          deep = true;
        }
    }
  }

  MapPrototypeSet(memory, value, record);
  if (!deep) return record;

  if (record.t === T_MAP) {
    const copied = [];
    MapPrototypeForEach(value, (v, k) => {
      ArrayPrototypePush(copied, k, v);
    });
    for (let i = 0; i < copied.length; i++) {
      ArrayPrototypePush(record.entries, serialize(copied[i], memory));
    }
  } else if (record.t === T_SET) {
    const copied = [];
    SetPrototypeForEach(value, (v) => {
      ArrayPrototypePush(copied, v);
    });
    for (let i = 0; i < copied.length; i++) {
      ArrayPrototypePush(record.items, serialize(copied[i], memory));
    }
  } else {
    const keys = ObjectKeys(value);
    const props = record.props;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (ObjectPrototypeHasOwnProperty(value, key)) {
        const inputValue = value[key];
        ArrayPrototypePush(props, key, serialize(inputValue, memory));
      }
    }
  }
  return record;
}

function serializeError(value, memory) {
  let name = value.name;
  if (typeof name !== "string" || ERROR_TYPES[name] === undefined) name = "Error";
  const messageDesc = ObjectGetOwnPropertyDescriptor(value, "message");
  const message = messageDesc !== undefined && "value" in messageDesc
    ? `${messageDesc.value}`
    : undefined;
  const record = {
    t: T_ERROR,
    name,
    message,
    stack: undefined,
    hasCause: false,
    cause: undefined,
  };
  MapPrototypeSet(memory, value, record);
  const causeDesc = ObjectGetOwnPropertyDescriptor(value, "cause");
  if (causeDesc !== undefined && "value" in causeDesc) {
    record.hasCause = true;
    record.cause = serialize(causeDesc.value, memory);
  }
  const stack = value.stack;
  if (typeof stack === "string") record.stack = stack;
  return record;
}

function defineData(object, key, value, enumerable) {
  ObjectDefineProperty(object, key, {
    value,
    writable: true,
    enumerable,
    configurable: true,
  });
}

function setStack(object, stack) {
  if (stack === undefined) return;
  try {
    defineData(object, "stack", stack, false);
  } catch {
    // A non-configurable stack stays as it is.
  }
}

// https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserialize
function deserialize(record, memory) {
  if (record === null || typeof record !== "object") return record;
  const seen = MapPrototypeGet(memory, record);
  if (seen !== undefined) return seen;
  let value;
  switch (record.t) {
    case T_BOOLEAN:
    case T_NUMBER:
    case T_BIGINT:
    case T_STRING:
      value = Object(record.v);
      break;
    case T_DATE:
      value = new Date(record.v);
      break;
    case T_REGEXP:
      value = new RegExp(record.source, record.flags);
      break;
    case T_ARRAY_BUFFER:
    case T_TRANSFERRED:
      value = record.buffer;
      break;
    case T_VIEW: {
      const buffer = deserialize(record.buffer, memory);
      if (record.ctor === "DataView") {
        value = new DataView(buffer, record.byteOffset, record.length);
      } else {
        value = new TYPED_ARRAYS[record.ctor](buffer, record.byteOffset, record.length);
      }
      break;
    }
    case T_MAP: {
      value = new Map();
      MapPrototypeSet(memory, record, value);
      const entries = record.entries;
      for (let i = 0; i < entries.length; i += 2) {
        const k = deserialize(entries[i], memory);
        const v = deserialize(entries[i + 1], memory);
        MapPrototypeSet(value, k, v);
      }
      return value;
    }
    case T_SET: {
      value = new Set();
      MapPrototypeSet(memory, record, value);
      const items = record.items;
      for (let i = 0; i < items.length; i++) {
        SetPrototypeAdd(value, deserialize(items[i], memory));
      }
      return value;
    }
    case T_ERROR: {
      value = new ERROR_TYPES[record.name]();
      MapPrototypeSet(memory, record, value);
      if (record.message !== undefined) defineData(value, "message", record.message, false);
      setStack(value, record.stack);
      if (record.hasCause) defineData(value, "cause", deserialize(record.cause, memory), false);
      return value;
    }
    case T_DOM_EXCEPTION:
      value = new DOMException(record.message, record.name);
      setStack(value, record.stack);
      break;
    case T_BLOB:
      value = internals.cloneBlob(record.blob);
      break;
    case T_ARRAY:
    case T_OBJECT: {
      value = record.t === T_ARRAY ? new primordials.Array(record.length) : {};
      MapPrototypeSet(memory, record, value);
      const props = record.props;
      for (let i = 0; i < props.length; i += 2) {
        defineData(value, props[i], deserialize(props[i + 1], memory), true);
      }
      return value;
    }
    default:
      throw new TypeError("structuredClone: unknown record");
  }
  MapPrototypeSet(memory, record, value);
  return value;
}

function toSequence(value, what) {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    throw new TypeError(
      `Failed to execute 'structuredClone': ${what} cannot be converted to a sequence.`,
    );
  }
  const list = [];
  for (const item of value) ArrayPrototypePush(list, item);
  return list;
}

function structuredClone(value, options = undefined) {
  if (arguments.length < 1) {
    throw new TypeError(
      "Failed to execute 'structuredClone': 1 argument required, but only 0 present.",
    );
  }
  let transferList = [];
  if (options !== undefined && options !== null) {
    if (typeof options !== "object" && typeof options !== "function") {
      throw new TypeError(
        "Failed to execute 'structuredClone': The provided value is not of type 'StructuredSerializeOptions'.",
      );
    }
    const transfer = options.transfer;
    if (transfer !== undefined) {
      transferList = toSequence(transfer, "transfer");
      for (let i = 0; i < transferList.length; i++) {
        const item = transferList[i];
        if (item === null || (typeof item !== "object" && typeof item !== "function")) {
          throw new TypeError(
            "Failed to execute 'structuredClone': Failed to convert value to 'object'.",
          );
        }
      }
    }
  }

  // https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializewithtransfer
  const memory = new Map();
  const transferRecords = [];
  for (let i = 0; i < transferList.length; i++) {
    const transferable = transferList[i];
    if (!isArrayBuffer(transferable)) {
      throw dataCloneError(`Value at index ${i} does not have a transferable type.`);
    }
    if (MapPrototypeHas(memory, transferable)) {
      throw dataCloneError(
        `ArrayBuffer at index ${i} is a duplicate of an earlier ArrayBuffer. Duplicates are not allowed.`,
      );
    }
    const record = { t: T_TRANSFERRED, buffer: null };
    MapPrototypeSet(memory, transferable, record);
    ArrayPrototypePush(transferRecords, record);
  }

  const serialized = serialize(value, memory);

  for (let i = 0; i < transferList.length; i++) {
    if (isDetached(transferList[i])) {
      throw dataCloneError(`ArrayBuffer at index ${i} is already detached.`);
    }
  }
  for (let i = 0; i < transferList.length; i++) {
    const buffer = transferList[i];
    try {
      transferRecords[i].buffer = ArrayBufferPrototypeTransfer(buffer);
    } catch (error) {
      throw dataCloneError(`ArrayBuffer at index ${i} could not be transferred: ${error && error.message}`);
    }
  }

  return deserialize(serialized, new Map());
}

internals.structuredClone = structuredClone;
internals.defineGlobal("structuredClone", structuredClone);
