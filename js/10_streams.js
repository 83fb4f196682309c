// https://streams.spec.whatwg.org/
//
// ReadableStream (default and byte streams, default and BYOB readers),
// WritableStream, TransformStream, the queuing strategies, pipeTo,
// pipeThrough, tee, async iteration and ReadableStream.from.
//
// Layout: every public object (stream, reader, controller, BYOB request,
// writer) holds one private field `#impl` pointing at a plain internal record
// whose properties are the spec's internal slots ([[state]] -> .state, ...).
// The abstract operations below are written against those records, with the
// spec's names, so they can be checked step by step against the standard.
// Records link back to their public object through `.wrapper`, which is what
// user code (underlying sources, sinks, transformers) receives.

const {
  ArrayBuffer,
  ArrayBufferIsView,
  ArrayBufferPrototypeGetByteLength,
  ArrayPrototypePush,
  ArrayPrototypeSlice,
  DataView,
  DataViewPrototypeGetBuffer,
  DataViewPrototypeGetByteLength,
  DataViewPrototypeGetByteOffset,
  FunctionPrototypeCall,
  MathMin,
  MathTrunc,
  NumberIsFinite,
  NumberIsNaN,
  NumberMAX_SAFE_INTEGER,
  ObjectDefineProperty,
  ObjectGetOwnPropertyDescriptor,
  ObjectSetPrototypeOf,
  Promise,
  PromisePrototypeThen,
  PromiseReject,
  PromiseResolve,
  RangeError,
  ReflectOwnKeys,
  SymbolAsyncIterator,
  SymbolIterator,
  SymbolToStringTag,
  TypeError,
  TypedArrayPrototypeGetBuffer,
  TypedArrayPrototypeGetByteLength,
  TypedArrayPrototypeGetByteOffset,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetSymbolToStringTag,
  TypedArrayPrototypeSet,
  Uint8Array,
  AsyncIteratorPrototype,
} = primordials;

// Present on every engine the runtime ships with (V8 >= 11.4); the fallbacks
// only keep the file usable on older engines (copy instead of detach).
const ArrayBufferPrototypeTransfer = primordials.ArrayBufferPrototypeTransfer;
const ArrayBufferPrototypeGetDetached = primordials.ArrayBufferPrototypeGetDetached;
const ArrayBufferPrototypeGetResizable = primordials.ArrayBufferPrototypeGetResizable;
const SharedArrayBufferPrototypeGetByteLength =
  primordials.SharedArrayBufferPrototypeGetByteLength;

// Typed array kinds, by [[TypedArrayName]]: intrinsic constructor and size.
const typedArrayKinds = { __proto__: null };
{
  const names = [
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
    "Uint16Array", "Int32Array", "Uint32Array", "Float32Array",
    "Float64Array", "BigInt64Array", "BigUint64Array", "Float16Array",
  ];
  for (let i = 0; i < names.length; i++) {
    // Read at snapshot time, before any user script can run.
    const ctor = primordials[names[i]] || primordials.globalThis[names[i]];
    if (typeof ctor === "function") {
      typedArrayKinds[names[i]] = { ctor, size: ctor.BYTES_PER_ELEMENT };
    }
  }
}

const kInternal = { __proto__: null, internal: true };
const noop = () => {};

// ---------------------------------------------------------------------------
// Small utilities

function isObject(v) {
  return (typeof v === "object" && v !== null) || typeof v === "function";
}

// A FIFO list with O(1) shift; the spec's lists of requests, queue entries and
// pull-into descriptors.
class List {
  constructor() {
    this.items = [];
    this.head = 0;
  }
  get length() {
    return this.items.length - this.head;
  }
  push(v) {
    ArrayPrototypePush(this.items, v);
  }
  shift() {
    const items = this.items;
    const v = items[this.head];
    items[this.head] = undefined;
    this.head++;
    if (this.head === items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = ArrayPrototypeSlice(items, this.head);
      this.head = 0;
    }
    return v;
  }
  peek() {
    return this.items[this.head];
  }
  at(i) {
    return this.items[this.head + i];
  }
}

// "a new promise" together with its resolve/reject and whether it settled.
class Deferred {
  constructor() {
    this.state = "pending";
    this.resolveFn = undefined;
    this.rejectFn = undefined;
    this.promise = new Promise((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
  }
}

function resolveDeferred(d, value) {
  if (d.state !== "pending") return;
  d.state = "fulfilled";
  const fn = d.resolveFn;
  d.resolveFn = d.rejectFn = undefined;
  fn(value);
}

function rejectDeferred(d, reason) {
  if (d.state !== "pending") return;
  d.state = "rejected";
  const fn = d.rejectFn;
  d.resolveFn = d.rejectFn = undefined;
  fn(reason);
}

function resolvedDeferred(value) {
  const d = new Deferred();
  resolveDeferred(d, value);
  return d;
}

function rejectedDeferred(reason) {
  const d = new Deferred();
  rejectDeferred(d, reason);
  setPromiseIsHandledToTrue(d.promise);
  return d;
}

function promiseResolvedWith(v) {
  return PromiseResolve(v);
}

function promiseRejectedWith(e) {
  return PromiseReject(e);
}

function setPromiseIsHandledToTrue(p) {
  PromisePrototypeThen(p, undefined, noop);
}

// "upon fulfillment / rejection": reactions whose own result is discarded.
function uponPromise(p, onFulfilled, onRejected) {
  setPromiseIsHandledToTrue(PromisePrototypeThen(p, onFulfilled, onRejected));
}

function uponFulfillment(p, onFulfilled) {
  uponPromise(p, onFulfilled, undefined);
}

function uponRejection(p, onRejected) {
  uponPromise(p, undefined, onRejected);
}

// "the result of reacting to p": the derived promise is returned.
function transformPromiseWith(p, onFulfilled, onRejected) {
  return PromisePrototypeThen(p, onFulfilled, onRejected);
}

const resolvedUndefined = PromiseResolve(undefined);

// "queue a microtask", without the replaceable global.
function queueMicrotaskInternal(fn) {
  setPromiseIsHandledToTrue(PromisePrototypeThen(resolvedUndefined, fn));
}

// Invoking Web IDL callbacks. Fixed arities: no spread (that would go through
// the replaceable Array.prototype[Symbol.iterator]).
function promiseCall0(fn, thisArg) {
  try {
    return PromiseResolve(FunctionPrototypeCall(fn, thisArg));
  } catch (e) {
    return PromiseReject(e);
  }
}

function promiseCall1(fn, thisArg, a) {
  try {
    return PromiseResolve(FunctionPrototypeCall(fn, thisArg, a));
  } catch (e) {
    return PromiseReject(e);
  }
}

function promiseCall2(fn, thisArg, a, b) {
  try {
    return PromiseResolve(FunctionPrototypeCall(fn, thisArg, a, b));
  } catch (e) {
    return PromiseReject(e);
  }
}

// ---------------------------------------------------------------------------
// Web IDL conversions

function dictionaryBase(value, context) {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) {
    throw new TypeError(`${context} can not be converted to a dictionary`);
  }
  return value;
}

function convertCallback(value, context) {
  if (typeof value !== "function") {
    throw new TypeError(`${context} is not a function`);
  }
  return value;
}

function convertUnrestrictedDouble(value) {
  return +value;
}

function convertEnforceRangeULL(value, context) {
  let x = +value;
  if (!NumberIsFinite(x)) {
    throw new TypeError(`${context} is not a finite number`);
  }
  x = MathTrunc(x);
  if (x < 0 || x > NumberMAX_SAFE_INTEGER) {
    throw new TypeError(`${context} is outside the accepted range`);
  }
  return x === 0 ? 0 : x;
}

function convertQueuingStrategy(value, context) {
  const obj = dictionaryBase(value, context);
  const out = { highWaterMark: undefined, size: undefined };
  if (obj === null) return out;
  const hwm = obj.highWaterMark;
  if (hwm !== undefined) out.highWaterMark = convertUnrestrictedDouble(hwm);
  const size = obj.size;
  if (size !== undefined) out.size = convertCallback(size, `${context}.size`);
  return out;
}

function convertUnderlyingSource(value) {
  const obj = dictionaryBase(value, "underlyingSource");
  const out = {
    autoAllocateChunkSize: undefined,
    cancel: undefined,
    pull: undefined,
    start: undefined,
    type: undefined,
  };
  if (obj === null) return out;
  const autoAllocateChunkSize = obj.autoAllocateChunkSize;
  if (autoAllocateChunkSize !== undefined) {
    out.autoAllocateChunkSize = convertEnforceRangeULL(
      autoAllocateChunkSize,
      "underlyingSource.autoAllocateChunkSize",
    );
  }
  const cancel = obj.cancel;
  if (cancel !== undefined) out.cancel = convertCallback(cancel, "underlyingSource.cancel");
  const pull = obj.pull;
  if (pull !== undefined) out.pull = convertCallback(pull, "underlyingSource.pull");
  const start = obj.start;
  if (start !== undefined) out.start = convertCallback(start, "underlyingSource.start");
  const type = obj.type;
  if (type !== undefined) {
    const t = `${type}`;
    if (t !== "bytes") {
      throw new TypeError(`'${t}' is not a valid ReadableStreamType`);
    }
    out.type = t;
  }
  return out;
}

function convertUnderlyingSink(value) {
  const obj = dictionaryBase(value, "underlyingSink");
  const out = {
    abort: undefined,
    close: undefined,
    start: undefined,
    type: undefined,
    write: undefined,
  };
  if (obj === null) return out;
  const abort = obj.abort;
  if (abort !== undefined) out.abort = convertCallback(abort, "underlyingSink.abort");
  const close = obj.close;
  if (close !== undefined) out.close = convertCallback(close, "underlyingSink.close");
  const start = obj.start;
  if (start !== undefined) out.start = convertCallback(start, "underlyingSink.start");
  out.type = obj.type;
  const write = obj.write;
  if (write !== undefined) out.write = convertCallback(write, "underlyingSink.write");
  return out;
}

function convertTransformer(value) {
  const obj = dictionaryBase(value, "transformer");
  const out = {
    cancel: undefined,
    flush: undefined,
    readableType: undefined,
    start: undefined,
    transform: undefined,
    writableType: undefined,
  };
  if (obj === null) return out;
  const cancel = obj.cancel;
  if (cancel !== undefined) out.cancel = convertCallback(cancel, "transformer.cancel");
  const flush = obj.flush;
  if (flush !== undefined) out.flush = convertCallback(flush, "transformer.flush");
  out.readableType = obj.readableType;
  const start = obj.start;
  if (start !== undefined) out.start = convertCallback(start, "transformer.start");
  const transform = obj.transform;
  if (transform !== undefined) {
    out.transform = convertCallback(transform, "transformer.transform");
  }
  out.writableType = obj.writableType;
  return out;
}

function convertPipeOptions(value) {
  const obj = dictionaryBase(value, "options");
  const out = {
    preventAbort: false,
    preventCancel: false,
    preventClose: false,
    signal: undefined,
  };
  if (obj === null) return out;
  out.preventAbort = !!obj.preventAbort;
  out.preventCancel = !!obj.preventCancel;
  out.preventClose = !!obj.preventClose;
  const signal = obj.signal;
  if (signal !== undefined) {
    if (!internals.isAbortSignal(signal)) {
      throw new TypeError("options.signal is not an AbortSignal");
    }
    out.signal = signal;
  }
  return out;
}

// ---------------------------------------------------------------------------
// ArrayBuffer / ArrayBufferView helpers

function isTypedArray(v) {
  return TypedArrayPrototypeGetSymbolToStringTag(v) !== undefined;
}

function isArrayBuffer(v) {
  if (!isObject(v)) return false;
  try {
    ArrayBufferPrototypeGetByteLength(v);
    return true;
  } catch {
    return false;
  }
}

function isSharedArrayBuffer(v) {
  if (SharedArrayBufferPrototypeGetByteLength === undefined || !isObject(v)) return false;
  try {
    SharedArrayBufferPrototypeGetByteLength(v);
    return true;
  } catch {
    return false;
  }
}

function IsDetachedBuffer(buffer) {
  if (ArrayBufferPrototypeGetDetached === undefined) return false;
  return ArrayBufferPrototypeGetDetached(buffer);
}

function viewBuffer(view) {
  return isTypedArray(view) ? TypedArrayPrototypeGetBuffer(view) : DataViewPrototypeGetBuffer(view);
}

function viewByteOffset(view) {
  if (isTypedArray(view)) return TypedArrayPrototypeGetByteOffset(view);
  if (IsDetachedBuffer(DataViewPrototypeGetBuffer(view))) return 0;
  return DataViewPrototypeGetByteOffset(view);
}

function viewByteLength(view) {
  if (isTypedArray(view)) return TypedArrayPrototypeGetByteLength(view);
  if (IsDetachedBuffer(DataViewPrototypeGetBuffer(view))) return 0;
  return DataViewPrototypeGetByteLength(view);
}

function bufferByteLength(buffer) {
  return ArrayBufferPrototypeGetByteLength(buffer);
}

// Web IDL ArrayBufferView conversion (no [AllowShared], no [AllowResizable]).
function convertArrayBufferView(value, context) {
  if (!ArrayBufferIsView(value)) {
    throw new TypeError(`${context} is not an ArrayBufferView`);
  }
  const buffer = viewBuffer(value);
  if (isSharedArrayBuffer(buffer)) {
    throw new TypeError(`${context} is backed by a SharedArrayBuffer`);
  }
  if (ArrayBufferPrototypeGetResizable !== undefined && ArrayBufferPrototypeGetResizable(buffer)) {
    throw new TypeError(`${context} is backed by a resizable ArrayBuffer`);
  }
  return value;
}

function CanTransferArrayBuffer(buffer) {
  return !IsDetachedBuffer(buffer);
}

function TransferArrayBuffer(buffer) {
  if (IsDetachedBuffer(buffer)) {
    throw new TypeError("The ArrayBuffer is detached");
  }
  if (ArrayBufferPrototypeTransfer !== undefined) {
    return ArrayBufferPrototypeTransfer(buffer);
  }
  return CloneArrayBuffer(buffer, 0, bufferByteLength(buffer));
}

function CloneArrayBuffer(buffer, byteOffset, byteLength) {
  const out = new Uint8Array(byteLength);
  TypedArrayPrototypeSet(out, new Uint8Array(buffer, byteOffset, byteLength));
  return TypedArrayPrototypeGetBuffer(out);
}

function CopyDataBlockBytes(toBuffer, toIndex, fromBuffer, fromIndex, count) {
  TypedArrayPrototypeSet(
    new Uint8Array(toBuffer, toIndex, count),
    new Uint8Array(fromBuffer, fromIndex, count),
  );
}

function CloneAsUint8Array(view) {
  const buffer = CloneArrayBuffer(viewBuffer(view), viewByteOffset(view), viewByteLength(view));
  return new Uint8Array(buffer);
}

// ---------------------------------------------------------------------------
// Queue-with-sizes (https://streams.spec.whatwg.org/#queue-with-sizes)

function IsNonNegativeNumber(v) {
  if (typeof v !== "number") return false;
  if (NumberIsNaN(v)) return false;
  return v >= 0;
}

function DequeueValue(container) {
  const pair = container.queue.shift();
  container.queueTotalSize -= pair.size;
  if (container.queueTotalSize < 0) container.queueTotalSize = 0;
  return pair.value;
}

function EnqueueValueWithSize(container, value, size) {
  if (!IsNonNegativeNumber(size)) {
    throw new RangeError("The chunk size must be a non-negative number");
  }
  if (size === Infinity) {
    throw new RangeError("The chunk size must be finite");
  }
  container.queue.push({ value, size });
  container.queueTotalSize += size;
}

function PeekQueueValue(container) {
  return container.queue.peek().value;
}

function ResetQueue(container) {
  container.queue = new List();
  container.queueTotalSize = 0;
}

// ---------------------------------------------------------------------------
// Queuing strategy helpers

function ExtractHighWaterMark(strategy, defaultHWM) {
  if (strategy.highWaterMark === undefined) return defaultHWM;
  const highWaterMark = strategy.highWaterMark;
  if (NumberIsNaN(highWaterMark) || highWaterMark < 0) {
    throw new RangeError("highWaterMark must be a non-negative number");
  }
  return highWaterMark;
}

const sizeOne = () => 1;

function ExtractSizeAlgorithm(strategy) {
  const size = strategy.size;
  if (size === undefined) return sizeOne;
  return (chunk) => convertUnrestrictedDouble(FunctionPrototypeCall(size, undefined, chunk));
}

// Web IDL: interface members are enumerable, @@toStringTag is not writable.
function webidlClass(klass, tag) {
  const proto = klass.prototype;
  const keys = ReflectOwnKeys(proto);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key === "constructor" || typeof key !== "string") continue;
    const desc = ObjectGetOwnPropertyDescriptor(proto, key);
    desc.enumerable = true;
    ObjectDefineProperty(proto, key, desc);
  }
  const statics = ReflectOwnKeys(klass);
  for (let i = 0; i < statics.length; i++) {
    const key = statics[i];
    if (key === "prototype" || key === "length" || key === "name" || typeof key !== "string") continue;
    const desc = ObjectGetOwnPropertyDescriptor(klass, key);
    desc.enumerable = true;
    ObjectDefineProperty(klass, key, desc);
  }
  ObjectDefineProperty(proto, SymbolToStringTag, {
    value: tag,
    writable: false,
    enumerable: false,
    configurable: true,
  });
}

// ===========================================================================
// Readable streams: internal records
// https://streams.spec.whatwg.org/#rs-model

class ReadableStreamRecord {
  constructor() {
    // InitializeReadableStream
    this.state = "readable";
    this.reader = undefined;
    this.storedError = undefined;
    this.disturbed = false;
    this.controller = undefined;
    this.wrapper = undefined;
  }
}

class ReaderRecord {
  constructor(isBYOB) {
    this.isBYOB = isBYOB;
    this.stream = undefined;
    this.closedPromise = undefined; // a Deferred
    this.readRequests = isBYOB ? undefined : new List();
    this.readIntoRequests = isBYOB ? new List() : undefined;
    this.wrapper = undefined;
  }
}

class DefaultControllerRecord {
  constructor() {
    this.isByte = false;
    this.stream = undefined;
    this.queue = undefined;
    this.queueTotalSize = 0;
    this.started = false;
    this.closeRequested = false;
    this.pullAgain = false;
    this.pulling = false;
    this.strategySizeAlgorithm = undefined;
    this.strategyHWM = 0;
    this.pullAlgorithm = undefined;
    this.cancelAlgorithm = undefined;
    this.wrapper = undefined;
  }
}

class ByteControllerRecord {
  constructor() {
    this.isByte = true;
    this.stream = undefined;
    this.queue = undefined;
    this.queueTotalSize = 0;
    this.started = false;
    this.closeRequested = false;
    this.pullAgain = false;
    this.pulling = false;
    this.byobRequest = null;
    this.autoAllocateChunkSize = undefined;
    this.pendingPullIntos = undefined;
    this.strategyHWM = 0;
    this.pullAlgorithm = undefined;
    this.cancelAlgorithm = undefined;
    this.wrapper = undefined;
  }
}

class BYOBRequestRecord {
  constructor(controller, view) {
    this.controller = controller;
    this.view = view;
    this.wrapper = undefined;
  }
}

// Read requests used by reader.read(): resolve a promise with a read result.
class PromiseReadRequest {
  constructor() {
    this.deferred = new Deferred();
  }
  chunkSteps(chunk) {
    resolveDeferred(this.deferred, { value: chunk, done: false });
  }
  closeSteps(chunk) {
    resolveDeferred(this.deferred, { value: chunk, done: true });
  }
  errorSteps(e) {
    rejectDeferred(this.deferred, e);
  }
}

// Wrapper construction (the public classes are defined further down).
function newReadableStreamRecord() {
  const stream = new ReadableStreamRecord();
  stream.wrapper = new ReadableStream(kInternal, stream);
  return stream;
}

function newReaderRecord(isBYOB) {
  const reader = new ReaderRecord(isBYOB);
  reader.wrapper = isBYOB
    ? new ReadableStreamBYOBReader(kInternal, reader)
    : new ReadableStreamDefaultReader(kInternal, reader);
  return reader;
}

function newDefaultControllerRecord() {
  const c = new DefaultControllerRecord();
  c.wrapper = new ReadableStreamDefaultController(kInternal, c);
  return c;
}

function newByteControllerRecord() {
  const c = new ByteControllerRecord();
  c.wrapper = new ReadableByteStreamController(kInternal, c);
  return c;
}

// ---------------------------------------------------------------------------
// Readable stream abstract operations
// https://streams.spec.whatwg.org/#rs-abstract-ops

function AcquireReadableStreamBYOBReader(stream) {
  const reader = newReaderRecord(true);
  SetUpReadableStreamBYOBReader(reader, stream);
  return reader;
}

function AcquireReadableStreamDefaultReader(stream) {
  const reader = newReaderRecord(false);
  SetUpReadableStreamDefaultReader(reader, stream);
  return reader;
}

function CreateReadableStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm) {
  if (highWaterMark === undefined) highWaterMark = 1;
  if (sizeAlgorithm === undefined) sizeAlgorithm = sizeOne;
  const stream = newReadableStreamRecord();
  const controller = newDefaultControllerRecord();
  SetUpReadableStreamDefaultController(
    stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm,
  );
  return stream;
}

function CreateReadableByteStream(startAlgorithm, pullAlgorithm, cancelAlgorithm) {
  const stream = newReadableStreamRecord();
  const controller = newByteControllerRecord();
  SetUpReadableByteStreamController(
    stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, 0, undefined,
  );
  return stream;
}

function IsReadableStreamLocked(stream) {
  return stream.reader !== undefined;
}

// GetIterator(obj, async), including CreateAsyncFromSyncIterator.
function GetAsyncIterator(obj) {
  const method = obj == null ? undefined : obj[SymbolAsyncIterator];
  if (method === undefined || method === null) {
    const syncMethod = obj == null ? undefined : obj[SymbolIterator];
    if (syncMethod === undefined || syncMethod === null) {
      throw new TypeError("The value is not async iterable");
    }
    const syncIterator = FunctionPrototypeCall(syncMethod, obj);
    if (!isObject(syncIterator)) {
      throw new TypeError("The iterator is not an object");
    }
    const syncNext = syncIterator.next;
    return { iterator: CreateAsyncFromSyncIterator(syncIterator, syncNext), next: undefined, isSync: true };
  }
  if (typeof method !== "function") {
    throw new TypeError("Symbol.asyncIterator is not a function");
  }
  const iterator = FunctionPrototypeCall(method, obj);
  if (!isObject(iterator)) {
    throw new TypeError("The async iterator is not an object");
  }
  return { iterator, next: iterator.next, isSync: false };
}

function CreateAsyncFromSyncIterator(syncIterator, syncNext) {
  function continuation(result) {
    const done = !!result.done;
    const value = result.value;
    let valueWrapper;
    try {
      valueWrapper = PromiseResolve(value);
    } catch (e) {
      if (!done) closeSync();
      return PromiseReject(e);
    }
    return transformPromiseWith(
      valueWrapper,
      (v) => ({ value: v, done }),
      (e) => {
        if (!done) closeSync();
        throw e;
      },
    );
  }
  function closeSync() {
    try {
      const ret = syncIterator.return;
      if (ret !== undefined && ret !== null) FunctionPrototypeCall(ret, syncIterator);
    } catch {
      // The original error wins.
    }
  }
  return {
    next() {
      let result;
      try {
        result = FunctionPrototypeCall(syncNext, syncIterator);
        if (!isObject(result)) throw new TypeError("The iterator result is not an object");
      } catch (e) {
        return PromiseReject(e);
      }
      return continuation(result);
    },
    return(value) {
      let result;
      try {
        const ret = syncIterator.return;
        if (ret === undefined || ret === null) {
          return PromiseResolve({ value, done: true });
        }
        result = FunctionPrototypeCall(ret, syncIterator, value);
        if (!isObject(result)) throw new TypeError("The iterator result is not an object");
      } catch (e) {
        return PromiseReject(e);
      }
      return continuation(result);
    },
  };
}

function ReadableStreamFromIterable(asyncIterable) {
  let stream;
  const iteratorRecord = GetAsyncIterator(asyncIterable);
  const startAlgorithm = () => undefined;
  const pullAlgorithm = () => {
    let nextResult;
    try {
      const iterator = iteratorRecord.iterator;
      nextResult = iteratorRecord.isSync
        ? iterator.next()
        : FunctionPrototypeCall(iteratorRecord.next, iterator);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    const nextPromise = promiseResolvedWith(nextResult);
    return transformPromiseWith(nextPromise, (iterResult) => {
      if (!isObject(iterResult)) {
        throw new TypeError("The promise returned by the iterator.next() method must fulfill with an object");
      }
      const done = !!iterResult.done;
      if (done) {
        ReadableStreamDefaultControllerClose(stream.controller);
      } else {
        const value = iterResult.value;
        ReadableStreamDefaultControllerEnqueue(stream.controller, value);
      }
    });
  };
  const cancelAlgorithm = (reason) => {
    const iterator = iteratorRecord.iterator;
    let returnResult;
    try {
      const returnMethod = iterator.return;
      if (returnMethod === undefined || returnMethod === null) {
        return promiseResolvedWith(undefined);
      }
      if (typeof returnMethod !== "function") {
        throw new TypeError("iterator.return is not a function");
      }
      returnResult = FunctionPrototypeCall(returnMethod, iterator, reason);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    const returnPromise = promiseResolvedWith(returnResult);
    return transformPromiseWith(returnPromise, (iterResult) => {
      if (!isObject(iterResult)) {
        throw new TypeError("The promise returned by the iterator.return() method must fulfill with an object");
      }
      return undefined;
    });
  };
  stream = CreateReadableStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, 0);
  return stream;
}

function ReadableStreamPipeTo(source, dest, preventClose, preventAbort, preventCancel, signal) {
  const reader = AcquireReadableStreamDefaultReader(source);
  const writer = AcquireWritableStreamDefaultWriter(dest);
  source.disturbed = true;
  let shuttingDown = false;
  let currentWrite = promiseResolvedWith(undefined);
  const promise = new Deferred();
  let abortAlgorithm;
  let abortAlgorithmAdded = false;

  function finalize(isError, error) {
    WritableStreamDefaultWriterRelease(writer);
    ReadableStreamDefaultReaderRelease(reader);
    if (abortAlgorithmAdded) internals.abortSignalRemoveAlgorithm(signal, abortAlgorithm);
    if (isError) rejectDeferred(promise, error);
    else resolveDeferred(promise, undefined);
  }

  function waitForWritesToFinish() {
    const oldCurrentWrite = currentWrite;
    return transformPromiseWith(currentWrite, () =>
      oldCurrentWrite !== currentWrite ? waitForWritesToFinish() : undefined);
  }

  function shutdownWithAnAction(action, originalIsError, originalError) {
    if (shuttingDown) return;
    shuttingDown = true;
    const doTheRest = () => {
      let p;
      try {
        p = action();
      } catch (e) {
        p = promiseRejectedWith(e);
      }
      uponPromise(
        p,
        () => finalize(originalIsError, originalError),
        (newError) => finalize(true, newError),
      );
    };
    if (dest.state === "writable" && !WritableStreamCloseQueuedOrInFlight(dest)) {
      uponFulfillment(waitForWritesToFinish(), doTheRest);
    } else {
      doTheRest();
    }
  }

  function shutdown(isError, error) {
    if (shuttingDown) return;
    shuttingDown = true;
    if (dest.state === "writable" && !WritableStreamCloseQueuedOrInFlight(dest)) {
      uponFulfillment(waitForWritesToFinish(), () => finalize(isError, error));
    } else {
      finalize(isError, error);
    }
  }

  if (signal !== undefined) {
    abortAlgorithm = () => {
      const error = signal.reason;
      const actions = [];
      if (!preventAbort) {
        ArrayPrototypePush(actions, () => {
          if (dest.state === "writable") return WritableStreamAbort(dest, error);
          return promiseResolvedWith(undefined);
        });
      }
      if (!preventCancel) {
        ArrayPrototypePush(actions, () => {
          if (source.state === "readable") return ReadableStreamCancel(source, error);
          return promiseResolvedWith(undefined);
        });
      }
      shutdownWithAnAction(() => waitForAll(actions), true, error);
    };
    if (signal.aborted) {
      abortAlgorithm();
      return promise.promise;
    }
    internals.abortSignalAddAlgorithm(signal, abortAlgorithm);
    abortAlgorithmAdded = true;
  }

  function pipeStep() {
    if (shuttingDown) return promiseResolvedWith(true);
    return transformPromiseWith(writer.readyPromise.promise, () => {
      const read = new Deferred();
      ReadableStreamDefaultReaderRead(reader, {
        chunkSteps(chunk) {
          currentWrite = transformPromiseWith(
            WritableStreamDefaultWriterWrite(writer, chunk), undefined, noop,
          );
          resolveDeferred(read, false);
        },
        closeSteps() {
          resolveDeferred(read, true);
        },
        errorSteps(e) {
          rejectDeferred(read, e);
        },
      });
      return read.promise;
    });
  }

  function pipeLoop() {
    const loop = new Deferred();
    const next = (done) => {
      if (done) resolveDeferred(loop, undefined);
      else PromisePrototypeThen(pipeStep(), next, (e) => rejectDeferred(loop, e));
    };
    next(false);
    return loop.promise;
  }

  // Errors must be propagated forward.
  if (source.state === "errored") {
    sourceErrored(source.storedError);
  } else {
    uponRejection(reader.closedPromise.promise, sourceErrored);
  }
  function sourceErrored(storedError) {
    if (!preventAbort) {
      shutdownWithAnAction(() => WritableStreamAbort(dest, storedError), true, storedError);
    } else {
      shutdown(true, storedError);
    }
  }

  // Errors must be propagated backward.
  if (dest.state === "errored") {
    destErrored(dest.storedError);
  } else {
    uponRejection(writer.closedPromise.promise, destErrored);
  }
  function destErrored(storedError) {
    if (!preventCancel) {
      shutdownWithAnAction(() => ReadableStreamCancel(source, storedError), true, storedError);
    } else {
      shutdown(true, storedError);
    }
  }

  // Closing must be propagated forward.
  if (source.state === "closed") {
    sourceClosed();
  } else {
    uponFulfillment(reader.closedPromise.promise, sourceClosed);
  }
  function sourceClosed() {
    if (!preventClose) {
      shutdownWithAnAction(() => WritableStreamDefaultWriterCloseWithErrorPropagation(writer), false, undefined);
    } else {
      shutdown(false, undefined);
    }
  }

  // Closing must be propagated backward.
  if (WritableStreamCloseQueuedOrInFlight(dest) || dest.state === "closed") {
    const destClosed = new TypeError(
      "The destination writable stream closed before all data could be piped to it",
    );
    if (!preventCancel) {
      shutdownWithAnAction(() => ReadableStreamCancel(source, destClosed), true, destClosed);
    } else {
      shutdown(true, destClosed);
    }
  }

  setPromiseIsHandledToTrue(pipeLoop());
  return promise.promise;
}

// "getting a promise to wait for all": fulfills with undefined once all the
// actions' promises fulfilled, rejects with the first rejection.
function waitForAll(actions) {
  const result = new Deferred();
  let remaining = actions.length;
  if (remaining === 0) {
    resolveDeferred(result, undefined);
    return result.promise;
  }
  for (let i = 0; i < actions.length; i++) {
    let p;
    try {
      p = actions[i]();
    } catch (e) {
      p = promiseRejectedWith(e);
    }
    uponPromise(
      p,
      () => {
        remaining--;
        if (remaining === 0) resolveDeferred(result, undefined);
      },
      (e) => rejectDeferred(result, e),
    );
  }
  return result.promise;
}

// cloneForBranch2 is only true for transferable streams, which this runtime
// does not have, so the structured-clone branch is left out.
function ReadableStreamTee(stream) {
  if (stream.controller.isByte) {
    return ReadableByteStreamTee(stream);
  }
  return ReadableStreamDefaultTee(stream);
}

function ReadableStreamDefaultTee(stream) {
  const reader = AcquireReadableStreamDefaultReader(stream);
  let reading = false;
  let readAgain = false;
  let canceled1 = false;
  let canceled2 = false;
  let reason1;
  let reason2;
  let branch1;
  let branch2;
  const cancelPromise = new Deferred();

  const pullAlgorithm = () => {
    if (reading) {
      readAgain = true;
      return promiseResolvedWith(undefined);
    }
    reading = true;
    ReadableStreamDefaultReaderRead(reader, {
      chunkSteps(chunk) {
        queueMicrotaskInternal(() => {
          readAgain = false;
          const chunk1 = chunk;
          const chunk2 = chunk;
          if (!canceled1) ReadableStreamDefaultControllerEnqueue(branch1.controller, chunk1);
          if (!canceled2) ReadableStreamDefaultControllerEnqueue(branch2.controller, chunk2);
          reading = false;
          if (readAgain) pullAlgorithm();
        });
      },
      closeSteps() {
        reading = false;
        if (!canceled1) ReadableStreamDefaultControllerClose(branch1.controller);
        if (!canceled2) ReadableStreamDefaultControllerClose(branch2.controller);
        if (!canceled1 || !canceled2) resolveDeferred(cancelPromise, undefined);
      },
      errorSteps() {
        reading = false;
      },
    });
    return promiseResolvedWith(undefined);
  };

  const cancel1Algorithm = (reason) => {
    canceled1 = true;
    reason1 = reason;
    if (canceled2) {
      const compositeReason = [reason1, reason2];
      const cancelResult = ReadableStreamCancel(stream, compositeReason);
      resolveDeferred(cancelPromise, cancelResult);
    }
    return cancelPromise.promise;
  };

  const cancel2Algorithm = (reason) => {
    canceled2 = true;
    reason2 = reason;
    if (canceled1) {
      const compositeReason = [reason1, reason2];
      const cancelResult = ReadableStreamCancel(stream, compositeReason);
      resolveDeferred(cancelPromise, cancelResult);
    }
    return cancelPromise.promise;
  };

  const startAlgorithm = () => undefined;
  branch1 = CreateReadableStream(startAlgorithm, pullAlgorithm, cancel1Algorithm);
  branch2 = CreateReadableStream(startAlgorithm, pullAlgorithm, cancel2Algorithm);

  uponRejection(reader.closedPromise.promise, (r) => {
    ReadableStreamDefaultControllerError(branch1.controller, r);
    ReadableStreamDefaultControllerError(branch2.controller, r);
    if (!canceled1 || !canceled2) resolveDeferred(cancelPromise, undefined);
  });

  return [branch1, branch2];
}

function ReadableByteStreamTee(stream) {
  let reader = AcquireReadableStreamDefaultReader(stream);
  let reading = false;
  let readAgainForBranch1 = false;
  let readAgainForBranch2 = false;
  let canceled1 = false;
  let canceled2 = false;
  let reason1;
  let reason2;
  let branch1;
  let branch2;
  const cancelPromise = new Deferred();

  function forwardReaderError(thisReader) {
    uponRejection(thisReader.closedPromise.promise, (r) => {
      if (thisReader !== reader) return;
      ReadableByteStreamControllerError(branch1.controller, r);
      ReadableByteStreamControllerError(branch2.controller, r);
      if (!canceled1 || !canceled2) resolveDeferred(cancelPromise, undefined);
    });
  }

  function pullWithDefaultReader() {
    if (reader.isBYOB) {
      ReadableStreamBYOBReaderRelease(reader);
      reader = AcquireReadableStreamDefaultReader(stream);
      forwardReaderError(reader);
    }
    ReadableStreamDefaultReaderRead(reader, {
      chunkSteps(chunk) {
        queueMicrotaskInternal(() => {
          readAgainForBranch1 = false;
          readAgainForBranch2 = false;
          const chunk1 = chunk;
          let chunk2 = chunk;
          if (!canceled1 && !canceled2) {
            try {
              chunk2 = CloneAsUint8Array(chunk);
            } catch (e) {
              ReadableByteStreamControllerError(branch1.controller, e);
              ReadableByteStreamControllerError(branch2.controller, e);
              resolveDeferred(cancelPromise, ReadableStreamCancel(stream, e));
              return;
            }
          }
          if (!canceled1) ReadableByteStreamControllerEnqueue(branch1.controller, chunk1);
          if (!canceled2) ReadableByteStreamControllerEnqueue(branch2.controller, chunk2);
          reading = false;
          if (readAgainForBranch1) pull1Algorithm();
          else if (readAgainForBranch2) pull2Algorithm();
        });
      },
      closeSteps() {
        reading = false;
        if (!canceled1) ReadableByteStreamControllerClose(branch1.controller);
        if (!canceled2) ReadableByteStreamControllerClose(branch2.controller);
        if (branch1.controller.pendingPullIntos.length > 0) {
          ReadableByteStreamControllerRespond(branch1.controller, 0);
        }
        if (branch2.controller.pendingPullIntos.length > 0) {
          ReadableByteStreamControllerRespond(branch2.controller, 0);
        }
        if (!canceled1 || !canceled2) resolveDeferred(cancelPromise, undefined);
      },
      errorSteps() {
        reading = false;
      },
    });
  }

  function pullWithBYOBReader(view, forBranch2) {
    if (!reader.isBYOB) {
      ReadableStreamDefaultReaderRelease(reader);
      reader = AcquireReadableStreamBYOBReader(stream);
      forwardReaderError(reader);
    }
    const byobBranch = forBranch2 ? branch2 : branch1;
    const otherBranch = forBranch2 ? branch1 : branch2;
    ReadableStreamBYOBReaderRead(reader, view, 1, {
      chunkSteps(chunk) {
        queueMicrotaskInternal(() => {
          readAgainForBranch1 = false;
          readAgainForBranch2 = false;
          const byobCanceled = forBranch2 ? canceled2 : canceled1;
          const otherCanceled = forBranch2 ? canceled1 : canceled2;
          if (!otherCanceled) {
            let clonedChunk;
            try {
              clonedChunk = CloneAsUint8Array(chunk);
            } catch (e) {
              ReadableByteStreamControllerError(byobBranch.controller, e);
              ReadableByteStreamControllerError(otherBranch.controller, e);
              resolveDeferred(cancelPromise, ReadableStreamCancel(stream, e));
              return;
            }
            if (!byobCanceled) {
              ReadableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
            }
            ReadableByteStreamControllerEnqueue(otherBranch.controller, clonedChunk);
          } else if (!byobCanceled) {
            ReadableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
          }
          reading = false;
          if (readAgainForBranch1) pull1Algorithm();
          else if (readAgainForBranch2) pull2Algorithm();
        });
      },
      closeSteps(chunk) {
        reading = false;
        const byobCanceled = forBranch2 ? canceled2 : canceled1;
        const otherCanceled = forBranch2 ? canceled1 : canceled2;
        if (!byobCanceled) ReadableByteStreamControllerClose(byobBranch.controller);
        if (!otherCanceled) ReadableByteStreamControllerClose(otherBranch.controller);
        if (chunk !== undefined) {
          if (!byobCanceled) {
            ReadableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
          }
          if (!otherCanceled && otherBranch.controller.pendingPullIntos.length > 0) {
            ReadableByteStreamControllerRespond(otherBranch.controller, 0);
          }
        }
        if (!byobCanceled || !otherCanceled) resolveDeferred(cancelPromise, undefined);
      },
      errorSteps() {
        reading = false;
      },
    });
  }

  function pull1Algorithm() {
    if (reading) {
      readAgainForBranch1 = true;
      return promiseResolvedWith(undefined);
    }
    reading = true;
    const byobRequest = ReadableByteStreamControllerGetBYOBRequest(branch1.controller);
    if (byobRequest === null) pullWithDefaultReader();
    else pullWithBYOBReader(byobRequest.view, false);
    return promiseResolvedWith(undefined);
  }

  function pull2Algorithm() {
    if (reading) {
      readAgainForBranch2 = true;
      return promiseResolvedWith(undefined);
    }
    reading = true;
    const byobRequest = ReadableByteStreamControllerGetBYOBRequest(branch2.controller);
    if (byobRequest === null) pullWithDefaultReader();
    else pullWithBYOBReader(byobRequest.view, true);
    return promiseResolvedWith(undefined);
  }

  const cancel1Algorithm = (reason) => {
    canceled1 = true;
    reason1 = reason;
    if (canceled2) {
      const compositeReason = [reason1, reason2];
      const cancelResult = ReadableStreamCancel(stream, compositeReason);
      resolveDeferred(cancelPromise, cancelResult);
    }
    return cancelPromise.promise;
  };

  const cancel2Algorithm = (reason) => {
    canceled2 = true;
    reason2 = reason;
    if (canceled1) {
      const compositeReason = [reason1, reason2];
      const cancelResult = ReadableStreamCancel(stream, compositeReason);
      resolveDeferred(cancelPromise, cancelResult);
    }
    return cancelPromise.promise;
  };

  const startAlgorithm = () => undefined;
  branch1 = CreateReadableByteStream(startAlgorithm, pull1Algorithm, cancel1Algorithm);
  branch2 = CreateReadableByteStream(startAlgorithm, pull2Algorithm, cancel2Algorithm);
  forwardReaderError(reader);
  return [branch1, branch2];
}

// ---------------------------------------------------------------------------
// Interfacing with controllers
// https://streams.spec.whatwg.org/#rs-abstract-ops-used-by-controllers

function ReadableStreamAddReadIntoRequest(stream, readIntoRequest) {
  stream.reader.readIntoRequests.push(readIntoRequest);
}

function ReadableStreamAddReadRequest(stream, readRequest) {
  stream.reader.readRequests.push(readRequest);
}

function ReadableStreamCancel(stream, reason) {
  stream.disturbed = true;
  if (stream.state === "closed") return promiseResolvedWith(undefined);
  if (stream.state === "errored") return promiseRejectedWith(stream.storedError);
  ReadableStreamClose(stream);
  const reader = stream.reader;
  if (reader !== undefined && reader.isBYOB) {
    const readIntoRequests = reader.readIntoRequests;
    reader.readIntoRequests = new List();
    while (readIntoRequests.length > 0) readIntoRequests.shift().closeSteps(undefined);
  }
  const controller = stream.controller;
  const sourceCancelPromise = controller.isByte
    ? ReadableByteStreamControllerCancelSteps(controller, reason)
    : ReadableStreamDefaultControllerCancelSteps(controller, reason);
  return transformPromiseWith(sourceCancelPromise, noop);
}

function ReadableStreamClose(stream) {
  stream.state = "closed";
  const reader = stream.reader;
  if (reader === undefined) return;
  resolveDeferred(reader.closedPromise, undefined);
  if (!reader.isBYOB) {
    const readRequests = reader.readRequests;
    reader.readRequests = new List();
    while (readRequests.length > 0) readRequests.shift().closeSteps(undefined);
  }
}

function ReadableStreamError(stream, e) {
  stream.state = "errored";
  stream.storedError = e;
  const reader = stream.reader;
  if (reader === undefined) return;
  rejectDeferred(reader.closedPromise, e);
  setPromiseIsHandledToTrue(reader.closedPromise.promise);
  if (!reader.isBYOB) ReadableStreamDefaultReaderErrorReadRequests(reader, e);
  else ReadableStreamBYOBReaderErrorReadIntoRequests(reader, e);
}

function ReadableStreamFulfillReadIntoRequest(stream, chunk, done) {
  const reader = stream.reader;
  const readIntoRequest = reader.readIntoRequests.shift();
  if (done) readIntoRequest.closeSteps(chunk);
  else readIntoRequest.chunkSteps(chunk);
}

function ReadableStreamFulfillReadRequest(stream, chunk, done) {
  const reader = stream.reader;
  const readRequest = reader.readRequests.shift();
  if (done) readRequest.closeSteps(undefined);
  else readRequest.chunkSteps(chunk);
}

function ReadableStreamGetNumReadIntoRequests(stream) {
  return stream.reader.readIntoRequests.length;
}

function ReadableStreamGetNumReadRequests(stream) {
  return stream.reader.readRequests.length;
}

function ReadableStreamHasBYOBReader(stream) {
  const reader = stream.reader;
  return reader !== undefined && reader.isBYOB;
}

function ReadableStreamHasDefaultReader(stream) {
  const reader = stream.reader;
  return reader !== undefined && !reader.isBYOB;
}

// ---------------------------------------------------------------------------
// Readers
// https://streams.spec.whatwg.org/#rs-reader-abstract-ops

function ReadableStreamReaderGenericCancel(reader, reason) {
  return ReadableStreamCancel(reader.stream, reason);
}

function ReadableStreamReaderGenericInitialize(reader, stream) {
  reader.stream = stream;
  stream.reader = reader;
  if (stream.state === "readable") {
    reader.closedPromise = new Deferred();
  } else if (stream.state === "closed") {
    reader.closedPromise = resolvedDeferred(undefined);
  } else {
    reader.closedPromise = rejectedDeferred(stream.storedError);
  }
}

function ReadableStreamReaderGenericRelease(reader) {
  const stream = reader.stream;
  const error = new TypeError("The reader's lock on the stream was released");
  if (stream.state === "readable") {
    rejectDeferred(reader.closedPromise, error);
  } else {
    reader.closedPromise = rejectedDeferred(error);
  }
  setPromiseIsHandledToTrue(reader.closedPromise.promise);
  const controller = stream.controller;
  if (controller.isByte) ReadableByteStreamControllerReleaseSteps(controller);
  stream.reader = undefined;
  reader.stream = undefined;
}

function ReadableStreamBYOBReaderErrorReadIntoRequests(reader, e) {
  const readIntoRequests = reader.readIntoRequests;
  reader.readIntoRequests = new List();
  while (readIntoRequests.length > 0) readIntoRequests.shift().errorSteps(e);
}

function ReadableStreamBYOBReaderRead(reader, view, min, readIntoRequest) {
  const stream = reader.stream;
  stream.disturbed = true;
  if (stream.state === "errored") {
    readIntoRequest.errorSteps(stream.storedError);
  } else {
    ReadableByteStreamControllerPullInto(stream.controller, view, min, readIntoRequest);
  }
}

function ReadableStreamBYOBReaderRelease(reader) {
  ReadableStreamReaderGenericRelease(reader);
  const e = new TypeError("The reader's lock on the stream was released");
  ReadableStreamBYOBReaderErrorReadIntoRequests(reader, e);
}

function ReadableStreamDefaultReaderErrorReadRequests(reader, e) {
  const readRequests = reader.readRequests;
  reader.readRequests = new List();
  while (readRequests.length > 0) readRequests.shift().errorSteps(e);
}

function ReadableStreamDefaultReaderRead(reader, readRequest) {
  const stream = reader.stream;
  stream.disturbed = true;
  if (stream.state === "closed") {
    readRequest.closeSteps(undefined);
  } else if (stream.state === "errored") {
    readRequest.errorSteps(stream.storedError);
  } else {
    const controller = stream.controller;
    if (controller.isByte) ReadableByteStreamControllerPullSteps(controller, readRequest);
    else ReadableStreamDefaultControllerPullSteps(controller, readRequest);
  }
}

function ReadableStreamDefaultReaderRelease(reader) {
  ReadableStreamReaderGenericRelease(reader);
  const e = new TypeError("The reader's lock on the stream was released");
  ReadableStreamDefaultReaderErrorReadRequests(reader, e);
}

function SetUpReadableStreamBYOBReader(reader, stream) {
  if (IsReadableStreamLocked(stream)) {
    throw new TypeError("The stream is locked to a reader");
  }
  if (!stream.controller.isByte) {
    throw new TypeError("A BYOB reader can only be acquired for a readable byte stream");
  }
  ReadableStreamReaderGenericInitialize(reader, stream);
  reader.readIntoRequests = new List();
}

function SetUpReadableStreamDefaultReader(reader, stream) {
  if (IsReadableStreamLocked(stream)) {
    throw new TypeError("The stream is locked to a reader");
  }
  ReadableStreamReaderGenericInitialize(reader, stream);
  reader.readRequests = new List();
}

// ---------------------------------------------------------------------------
// Default controllers
// https://streams.spec.whatwg.org/#rs-default-controller-abstract-ops

function ReadableStreamDefaultControllerCancelSteps(controller, reason) {
  ResetQueue(controller);
  const result = controller.cancelAlgorithm(reason);
  ReadableStreamDefaultControllerClearAlgorithms(controller);
  return result;
}

function ReadableStreamDefaultControllerPullSteps(controller, readRequest) {
  const stream = controller.stream;
  if (controller.queue.length > 0) {
    const chunk = DequeueValue(controller);
    if (controller.closeRequested && controller.queue.length === 0) {
      ReadableStreamDefaultControllerClearAlgorithms(controller);
      ReadableStreamClose(stream);
    } else {
      ReadableStreamDefaultControllerCallPullIfNeeded(controller);
    }
    readRequest.chunkSteps(chunk);
  } else {
    ReadableStreamAddReadRequest(stream, readRequest);
    ReadableStreamDefaultControllerCallPullIfNeeded(controller);
  }
}

function ReadableStreamDefaultControllerCallPullIfNeeded(controller) {
  const shouldPull = ReadableStreamDefaultControllerShouldCallPull(controller);
  if (!shouldPull) return;
  if (controller.pulling) {
    controller.pullAgain = true;
    return;
  }
  controller.pulling = true;
  const pullPromise = controller.pullAlgorithm();
  uponPromise(
    pullPromise,
    () => {
      controller.pulling = false;
      if (controller.pullAgain) {
        controller.pullAgain = false;
        ReadableStreamDefaultControllerCallPullIfNeeded(controller);
      }
    },
    (e) => {
      ReadableStreamDefaultControllerError(controller, e);
    },
  );
}

function ReadableStreamDefaultControllerShouldCallPull(controller) {
  const stream = controller.stream;
  if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(controller)) return false;
  if (!controller.started) return false;
  if (IsReadableStreamLocked(stream) && ReadableStreamGetNumReadRequests(stream) > 0) {
    return true;
  }
  const desiredSize = ReadableStreamDefaultControllerGetDesiredSize(controller);
  return desiredSize > 0;
}

function ReadableStreamDefaultControllerClearAlgorithms(controller) {
  controller.pullAlgorithm = undefined;
  controller.cancelAlgorithm = undefined;
  controller.strategySizeAlgorithm = undefined;
}

function ReadableStreamDefaultControllerClose(controller) {
  if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(controller)) return;
  const stream = controller.stream;
  controller.closeRequested = true;
  if (controller.queue.length === 0) {
    ReadableStreamDefaultControllerClearAlgorithms(controller);
    ReadableStreamClose(stream);
  }
}

function ReadableStreamDefaultControllerEnqueue(controller, chunk) {
  if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(controller)) return;
  const stream = controller.stream;
  if (IsReadableStreamLocked(stream) && ReadableStreamGetNumReadRequests(stream) > 0) {
    ReadableStreamFulfillReadRequest(stream, chunk, false);
  } else {
    let chunkSize;
    try {
      chunkSize = controller.strategySizeAlgorithm(chunk);
    } catch (e) {
      ReadableStreamDefaultControllerError(controller, e);
      throw e;
    }
    try {
      EnqueueValueWithSize(controller, chunk, chunkSize);
    } catch (e) {
      ReadableStreamDefaultControllerError(controller, e);
      throw e;
    }
  }
  ReadableStreamDefaultControllerCallPullIfNeeded(controller);
}

function ReadableStreamDefaultControllerError(controller, e) {
  const stream = controller.stream;
  if (stream.state !== "readable") return;
  ResetQueue(controller);
  ReadableStreamDefaultControllerClearAlgorithms(controller);
  ReadableStreamError(stream, e);
}

function ReadableStreamDefaultControllerGetDesiredSize(controller) {
  const state = controller.stream.state;
  if (state === "errored") return null;
  if (state === "closed") return 0;
  return controller.strategyHWM - controller.queueTotalSize;
}

function ReadableStreamDefaultControllerHasBackpressure(controller) {
  return !ReadableStreamDefaultControllerShouldCallPull(controller);
}

function ReadableStreamDefaultControllerCanCloseOrEnqueue(controller) {
  return !controller.closeRequested && controller.stream.state === "readable";
}

function SetUpReadableStreamDefaultController(
  stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm,
) {
  controller.stream = stream;
  ResetQueue(controller);
  controller.started = false;
  controller.closeRequested = false;
  controller.pullAgain = false;
  controller.pulling = false;
  controller.strategySizeAlgorithm = sizeAlgorithm;
  controller.strategyHWM = highWaterMark;
  controller.pullAlgorithm = pullAlgorithm;
  controller.cancelAlgorithm = cancelAlgorithm;
  stream.controller = controller;
  const startResult = startAlgorithm();
  const startPromise = promiseResolvedWith(startResult);
  uponPromise(
    startPromise,
    () => {
      controller.started = true;
      ReadableStreamDefaultControllerCallPullIfNeeded(controller);
    },
    (r) => {
      ReadableStreamDefaultControllerError(controller, r);
    },
  );
}

function SetUpReadableStreamDefaultControllerFromUnderlyingSource(
  stream, underlyingSource, underlyingSourceDict, highWaterMark, sizeAlgorithm,
) {
  const controller = newDefaultControllerRecord();
  let startAlgorithm = () => undefined;
  let pullAlgorithm = () => promiseResolvedWith(undefined);
  let cancelAlgorithm = () => promiseResolvedWith(undefined);
  const start = underlyingSourceDict.start;
  const pull = underlyingSourceDict.pull;
  const cancel = underlyingSourceDict.cancel;
  if (start !== undefined) {
    startAlgorithm = () => FunctionPrototypeCall(start, underlyingSource, controller.wrapper);
  }
  if (pull !== undefined) {
    pullAlgorithm = () => promiseCall1(pull, underlyingSource, controller.wrapper);
  }
  if (cancel !== undefined) {
    cancelAlgorithm = (reason) => promiseCall1(cancel, underlyingSource, reason);
  }
  SetUpReadableStreamDefaultController(
    stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm,
  );
}

// ---------------------------------------------------------------------------
// Byte stream controllers
// https://streams.spec.whatwg.org/#rbs-controller-abstract-ops

function ReadableByteStreamControllerCancelSteps(controller, reason) {
  ReadableByteStreamControllerClearPendingPullIntos(controller);
  ResetQueue(controller);
  const result = controller.cancelAlgorithm(reason);
  ReadableByteStreamControllerClearAlgorithms(controller);
  return result;
}

function ReadableByteStreamControllerPullSteps(controller, readRequest) {
  const stream = controller.stream;
  if (controller.queueTotalSize > 0) {
    ReadableByteStreamControllerFillReadRequestFromQueue(controller, readRequest);
    return;
  }
  const autoAllocateChunkSize = controller.autoAllocateChunkSize;
  if (autoAllocateChunkSize !== undefined) {
    let buffer;
    try {
      buffer = new ArrayBuffer(autoAllocateChunkSize);
    } catch (e) {
      readRequest.errorSteps(e);
      return;
    }
    controller.pendingPullIntos.push({
      buffer,
      bufferByteLength: autoAllocateChunkSize,
      byteOffset: 0,
      byteLength: autoAllocateChunkSize,
      bytesFilled: 0,
      minimumFill: 1,
      elementSize: 1,
      viewConstructor: Uint8Array,
      readerType: "default",
    });
  }
  ReadableStreamAddReadRequest(stream, readRequest);
  ReadableByteStreamControllerCallPullIfNeeded(controller);
}

function ReadableByteStreamControllerReleaseSteps(controller) {
  if (controller.pendingPullIntos.length > 0) {
    const firstPendingPullInto = controller.pendingPullIntos.peek();
    firstPendingPullInto.readerType = "none";
    controller.pendingPullIntos = new List();
    controller.pendingPullIntos.push(firstPendingPullInto);
  }
}

function ReadableByteStreamControllerCallPullIfNeeded(controller) {
  const shouldPull = ReadableByteStreamControllerShouldCallPull(controller);
  if (!shouldPull) return;
  if (controller.pulling) {
    controller.pullAgain = true;
    return;
  }
  controller.pulling = true;
  const pullPromise = controller.pullAlgorithm();
  uponPromise(
    pullPromise,
    () => {
      controller.pulling = false;
      if (controller.pullAgain) {
        controller.pullAgain = false;
        ReadableByteStreamControllerCallPullIfNeeded(controller);
      }
    },
    (e) => {
      ReadableByteStreamControllerError(controller, e);
    },
  );
}

function ReadableByteStreamControllerClearAlgorithms(controller) {
  controller.pullAlgorithm = undefined;
  controller.cancelAlgorithm = undefined;
}

function ReadableByteStreamControllerClearPendingPullIntos(controller) {
  ReadableByteStreamControllerInvalidateBYOBRequest(controller);
  controller.pendingPullIntos = new List();
}

function ReadableByteStreamControllerClose(controller) {
  const stream = controller.stream;
  if (controller.closeRequested || stream.state !== "readable") return;
  if (controller.queueTotalSize > 0) {
    controller.closeRequested = true;
    return;
  }
  if (controller.pendingPullIntos.length > 0) {
    const firstPendingPullInto = controller.pendingPullIntos.peek();
    if (firstPendingPullInto.bytesFilled % firstPendingPullInto.elementSize !== 0) {
      const e = new TypeError("Insufficient bytes to fill elements in the given buffer");
      ReadableByteStreamControllerError(controller, e);
      throw e;
    }
  }
  ReadableByteStreamControllerClearAlgorithms(controller);
  ReadableStreamClose(stream);
}

function ReadableByteStreamControllerCommitPullIntoDescriptor(stream, pullIntoDescriptor) {
  let done = false;
  if (stream.state === "closed") done = true;
  const filledView = ReadableByteStreamControllerConvertPullIntoDescriptor(pullIntoDescriptor);
  if (pullIntoDescriptor.readerType === "default") {
    ReadableStreamFulfillReadRequest(stream, filledView, done);
  } else {
    ReadableStreamFulfillReadIntoRequest(stream, filledView, done);
  }
}

function ReadableByteStreamControllerConvertPullIntoDescriptor(pullIntoDescriptor) {
  const bytesFilled = pullIntoDescriptor.bytesFilled;
  const elementSize = pullIntoDescriptor.elementSize;
  const buffer = TransferArrayBuffer(pullIntoDescriptor.buffer);
  return new pullIntoDescriptor.viewConstructor(
    buffer, pullIntoDescriptor.byteOffset, bytesFilled / elementSize,
  );
}

function ReadableByteStreamControllerEnqueue(controller, chunk) {
  const stream = controller.stream;
  if (controller.closeRequested || stream.state !== "readable") return;
  const buffer = viewBuffer(chunk);
  const byteOffset = viewByteOffset(chunk);
  const byteLength = viewByteLength(chunk);
  if (IsDetachedBuffer(buffer)) {
    throw new TypeError("The chunk's buffer is detached");
  }
  const transferredBuffer = TransferArrayBuffer(buffer);
  if (controller.pendingPullIntos.length > 0) {
    const firstPendingPullInto = controller.pendingPullIntos.peek();
    if (IsDetachedBuffer(firstPendingPullInto.buffer)) {
      throw new TypeError("The BYOB request's buffer has been detached");
    }
    ReadableByteStreamControllerInvalidateBYOBRequest(controller);
    firstPendingPullInto.buffer = TransferArrayBuffer(firstPendingPullInto.buffer);
    if (firstPendingPullInto.readerType === "none") {
      ReadableByteStreamControllerEnqueueDetachedPullIntoToQueue(controller, firstPendingPullInto);
    }
  }
  if (ReadableStreamHasDefaultReader(stream)) {
    ReadableByteStreamControllerProcessReadRequestsUsingQueue(controller);
    if (ReadableStreamGetNumReadRequests(stream) === 0) {
      ReadableByteStreamControllerEnqueueChunkToQueue(controller, transferredBuffer, byteOffset, byteLength);
    } else {
      if (controller.pendingPullIntos.length > 0) {
        ReadableByteStreamControllerShiftPendingPullInto(controller);
      }
      const transferredView = new Uint8Array(transferredBuffer, byteOffset, byteLength);
      ReadableStreamFulfillReadRequest(stream, transferredView, false);
    }
  } else if (ReadableStreamHasBYOBReader(stream)) {
    ReadableByteStreamControllerEnqueueChunkToQueue(controller, transferredBuffer, byteOffset, byteLength);
    const filledPullIntos = ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(controller);
    for (let i = 0; i < filledPullIntos.length; i++) {
      ReadableByteStreamControllerCommitPullIntoDescriptor(stream, filledPullIntos[i]);
    }
  } else {
    ReadableByteStreamControllerEnqueueChunkToQueue(controller, transferredBuffer, byteOffset, byteLength);
  }
  ReadableByteStreamControllerCallPullIfNeeded(controller);
}

function ReadableByteStreamControllerEnqueueChunkToQueue(controller, buffer, byteOffset, byteLength) {
  controller.queue.push({ buffer, byteOffset, byteLength });
  controller.queueTotalSize += byteLength;
}

function ReadableByteStreamControllerEnqueueClonedChunkToQueue(controller, buffer, byteOffset, byteLength) {
  let cloneResult;
  try {
    cloneResult = CloneArrayBuffer(buffer, byteOffset, byteLength);
  } catch (e) {
    ReadableByteStreamControllerError(controller, e);
    throw e;
  }
  ReadableByteStreamControllerEnqueueChunkToQueue(controller, cloneResult, 0, byteLength);
}

function ReadableByteStreamControllerEnqueueDetachedPullIntoToQueue(controller, pullIntoDescriptor) {
  if (pullIntoDescriptor.bytesFilled > 0) {
    ReadableByteStreamControllerEnqueueClonedChunkToQueue(
      controller, pullIntoDescriptor.buffer, pullIntoDescriptor.byteOffset, pullIntoDescriptor.bytesFilled,
    );
  }
  ReadableByteStreamControllerShiftPendingPullInto(controller);
}

function ReadableByteStreamControllerError(controller, e) {
  const stream = controller.stream;
  if (stream.state !== "readable") return;
  ReadableByteStreamControllerClearPendingPullIntos(controller);
  ResetQueue(controller);
  ReadableByteStreamControllerClearAlgorithms(controller);
  ReadableStreamError(stream, e);
}

function ReadableByteStreamControllerFillHeadPullIntoDescriptor(controller, size, pullIntoDescriptor) {
  pullIntoDescriptor.bytesFilled += size;
}

function ReadableByteStreamControllerFillPullIntoDescriptorFromQueue(controller, pullIntoDescriptor) {
  const maxBytesToCopy = MathMin(
    controller.queueTotalSize,
    pullIntoDescriptor.byteLength - pullIntoDescriptor.bytesFilled,
  );
  const maxBytesFilled = pullIntoDescriptor.bytesFilled + maxBytesToCopy;
  let totalBytesToCopyRemaining = maxBytesToCopy;
  let ready = false;
  const remainderBytes = maxBytesFilled % pullIntoDescriptor.elementSize;
  const maxAlignedBytes = maxBytesFilled - remainderBytes;
  if (maxAlignedBytes >= pullIntoDescriptor.minimumFill) {
    totalBytesToCopyRemaining = maxAlignedBytes - pullIntoDescriptor.bytesFilled;
    ready = true;
  }
  const queue = controller.queue;
  while (totalBytesToCopyRemaining > 0) {
    const headOfQueue = queue.peek();
    const bytesToCopy = MathMin(totalBytesToCopyRemaining, headOfQueue.byteLength);
    const destStart = pullIntoDescriptor.byteOffset + pullIntoDescriptor.bytesFilled;
    CopyDataBlockBytes(
      pullIntoDescriptor.buffer, destStart, headOfQueue.buffer, headOfQueue.byteOffset, bytesToCopy,
    );
    if (headOfQueue.byteLength === bytesToCopy) {
      queue.shift();
    } else {
      headOfQueue.byteOffset += bytesToCopy;
      headOfQueue.byteLength -= bytesToCopy;
    }
    controller.queueTotalSize -= bytesToCopy;
    ReadableByteStreamControllerFillHeadPullIntoDescriptor(controller, bytesToCopy, pullIntoDescriptor);
    totalBytesToCopyRemaining -= bytesToCopy;
  }
  return ready;
}

function ReadableByteStreamControllerFillReadRequestFromQueue(controller, readRequest) {
  const entry = controller.queue.shift();
  controller.queueTotalSize -= entry.byteLength;
  ReadableByteStreamControllerHandleQueueDrain(controller);
  const view = new Uint8Array(entry.buffer, entry.byteOffset, entry.byteLength);
  readRequest.chunkSteps(view);
}

function ReadableByteStreamControllerGetBYOBRequest(controller) {
  if (controller.byobRequest === null && controller.pendingPullIntos.length > 0) {
    const firstDescriptor = controller.pendingPullIntos.peek();
    const view = new Uint8Array(
      firstDescriptor.buffer,
      firstDescriptor.byteOffset + firstDescriptor.bytesFilled,
      firstDescriptor.byteLength - firstDescriptor.bytesFilled,
    );
    const byobRequest = new BYOBRequestRecord(controller, view);
    byobRequest.wrapper = new ReadableStreamBYOBRequest(kInternal, byobRequest);
    controller.byobRequest = byobRequest;
  }
  return controller.byobRequest;
}

function ReadableByteStreamControllerGetDesiredSize(controller) {
  const state = controller.stream.state;
  if (state === "errored") return null;
  if (state === "closed") return 0;
  return controller.strategyHWM - controller.queueTotalSize;
}

function ReadableByteStreamControllerHandleQueueDrain(controller) {
  if (controller.queueTotalSize === 0 && controller.closeRequested) {
    ReadableByteStreamControllerClearAlgorithms(controller);
    ReadableStreamClose(controller.stream);
  } else {
    ReadableByteStreamControllerCallPullIfNeeded(controller);
  }
}

function ReadableByteStreamControllerInvalidateBYOBRequest(controller) {
  const byobRequest = controller.byobRequest;
  if (byobRequest === null) return;
  byobRequest.controller = undefined;
  byobRequest.view = null;
  controller.byobRequest = null;
}

function ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(controller) {
  const filledPullIntos = [];
  while (controller.pendingPullIntos.length > 0) {
    if (controller.queueTotalSize === 0) break;
    const pullIntoDescriptor = controller.pendingPullIntos.peek();
    if (ReadableByteStreamControllerFillPullIntoDescriptorFromQueue(controller, pullIntoDescriptor)) {
      ReadableByteStreamControllerShiftPendingPullInto(controller);
      ArrayPrototypePush(filledPullIntos, pullIntoDescriptor);
    }
  }
  return filledPullIntos;
}

function ReadableByteStreamControllerProcessReadRequestsUsingQueue(controller) {
  const reader = controller.stream.reader;
  while (reader.readRequests.length > 0) {
    if (controller.queueTotalSize === 0) return;
    const readRequest = reader.readRequests.shift();
    ReadableByteStreamControllerFillReadRequestFromQueue(controller, readRequest);
  }
}

function ReadableByteStreamControllerPullInto(controller, view, min, readIntoRequest) {
  const stream = controller.stream;
  let elementSize = 1;
  let ctor = DataView;
  const name = TypedArrayPrototypeGetSymbolToStringTag(view);
  if (name !== undefined) {
    const kind = typedArrayKinds[name];
    elementSize = kind.size;
    ctor = kind.ctor;
  }
  const minimumFill = min * elementSize;
  const byteOffset = viewByteOffset(view);
  const byteLength = viewByteLength(view);
  let buffer;
  try {
    buffer = TransferArrayBuffer(viewBuffer(view));
  } catch (e) {
    readIntoRequest.errorSteps(e);
    return;
  }
  const pullIntoDescriptor = {
    buffer,
    bufferByteLength: bufferByteLength(buffer),
    byteOffset,
    byteLength,
    bytesFilled: 0,
    minimumFill,
    elementSize,
    viewConstructor: ctor,
    readerType: "byob",
  };
  if (controller.pendingPullIntos.length > 0) {
    controller.pendingPullIntos.push(pullIntoDescriptor);
    ReadableStreamAddReadIntoRequest(stream, readIntoRequest);
    return;
  }
  if (stream.state === "closed") {
    const emptyView = new ctor(pullIntoDescriptor.buffer, pullIntoDescriptor.byteOffset, 0);
    readIntoRequest.closeSteps(emptyView);
    return;
  }
  if (controller.queueTotalSize > 0) {
    if (ReadableByteStreamControllerFillPullIntoDescriptorFromQueue(controller, pullIntoDescriptor)) {
      const filledView = ReadableByteStreamControllerConvertPullIntoDescriptor(pullIntoDescriptor);
      ReadableByteStreamControllerHandleQueueDrain(controller);
      readIntoRequest.chunkSteps(filledView);
      return;
    }
    if (controller.closeRequested) {
      const e = new TypeError("Insufficient bytes to fill elements in the given buffer");
      ReadableByteStreamControllerError(controller, e);
      readIntoRequest.errorSteps(e);
      return;
    }
  }
  controller.pendingPullIntos.push(pullIntoDescriptor);
  ReadableStreamAddReadIntoRequest(stream, readIntoRequest);
  ReadableByteStreamControllerCallPullIfNeeded(controller);
}

function ReadableByteStreamControllerRespond(controller, bytesWritten) {
  const firstDescriptor = controller.pendingPullIntos.peek();
  const state = controller.stream.state;
  if (state === "closed") {
    if (bytesWritten !== 0) {
      throw new TypeError("bytesWritten must be 0 when calling respond() on a closed stream");
    }
  } else {
    if (bytesWritten === 0) {
      throw new TypeError("bytesWritten must be greater than 0 when calling respond() on a readable stream");
    }
    if (firstDescriptor.bytesFilled + bytesWritten > firstDescriptor.byteLength) {
      throw new RangeError("bytesWritten out of range");
    }
  }
  firstDescriptor.buffer = TransferArrayBuffer(firstDescriptor.buffer);
  ReadableByteStreamControllerRespondInternal(controller, bytesWritten);
}

function ReadableByteStreamControllerRespondInClosedState(controller, firstDescriptor) {
  if (firstDescriptor.readerType === "none") {
    ReadableByteStreamControllerShiftPendingPullInto(controller);
  }
  const stream = controller.stream;
  if (ReadableStreamHasBYOBReader(stream)) {
    const filledPullIntos = [];
    while (filledPullIntos.length < ReadableStreamGetNumReadIntoRequests(stream)) {
      ArrayPrototypePush(filledPullIntos, ReadableByteStreamControllerShiftPendingPullInto(controller));
    }
    for (let i = 0; i < filledPullIntos.length; i++) {
      ReadableByteStreamControllerCommitPullIntoDescriptor(stream, filledPullIntos[i]);
    }
  }
}

function ReadableByteStreamControllerRespondInReadableState(controller, bytesWritten, pullIntoDescriptor) {
  ReadableByteStreamControllerFillHeadPullIntoDescriptor(controller, bytesWritten, pullIntoDescriptor);
  if (pullIntoDescriptor.readerType === "none") {
    ReadableByteStreamControllerEnqueueDetachedPullIntoToQueue(controller, pullIntoDescriptor);
    const filledPullIntos = ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(controller);
    for (let i = 0; i < filledPullIntos.length; i++) {
      ReadableByteStreamControllerCommitPullIntoDescriptor(controller.stream, filledPullIntos[i]);
    }
    return;
  }
  if (pullIntoDescriptor.bytesFilled < pullIntoDescriptor.minimumFill) return;
  ReadableByteStreamControllerShiftPendingPullInto(controller);
  const remainderSize = pullIntoDescriptor.bytesFilled % pullIntoDescriptor.elementSize;
  if (remainderSize > 0) {
    const end = pullIntoDescriptor.byteOffset + pullIntoDescriptor.bytesFilled;
    ReadableByteStreamControllerEnqueueClonedChunkToQueue(
      controller, pullIntoDescriptor.buffer, end - remainderSize, remainderSize,
    );
  }
  pullIntoDescriptor.bytesFilled -= remainderSize;
  const filledPullIntos = ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(controller);
  ReadableByteStreamControllerCommitPullIntoDescriptor(controller.stream, pullIntoDescriptor);
  for (let i = 0; i < filledPullIntos.length; i++) {
    ReadableByteStreamControllerCommitPullIntoDescriptor(controller.stream, filledPullIntos[i]);
  }
}

function ReadableByteStreamControllerRespondInternal(controller, bytesWritten) {
  const firstDescriptor = controller.pendingPullIntos.peek();
  ReadableByteStreamControllerInvalidateBYOBRequest(controller);
  const state = controller.stream.state;
  if (state === "closed") {
    ReadableByteStreamControllerRespondInClosedState(controller, firstDescriptor);
  } else {
    ReadableByteStreamControllerRespondInReadableState(controller, bytesWritten, firstDescriptor);
  }
  ReadableByteStreamControllerCallPullIfNeeded(controller);
}

function ReadableByteStreamControllerRespondWithNewView(controller, view) {
  const firstDescriptor = controller.pendingPullIntos.peek();
  const state = controller.stream.state;
  const viewLength = viewByteLength(view);
  if (state === "closed") {
    if (viewLength !== 0) {
      throw new TypeError("The view's length must be 0 when calling respondWithNewView() on a closed stream");
    }
  } else if (viewLength === 0) {
    throw new TypeError("The view's length must be greater than 0 when calling respondWithNewView() on a readable stream");
  }
  if (firstDescriptor.byteOffset + firstDescriptor.bytesFilled !== viewByteOffset(view)) {
    throw new RangeError("The region specified by view does not match byobRequest");
  }
  if (firstDescriptor.bufferByteLength !== bufferByteLength(viewBuffer(view))) {
    throw new RangeError("The buffer of view has different capacity than byobRequest");
  }
  if (firstDescriptor.bytesFilled + viewLength > firstDescriptor.byteLength) {
    throw new RangeError("The region specified by view is larger than byobRequest");
  }
  firstDescriptor.buffer = TransferArrayBuffer(viewBuffer(view));
  ReadableByteStreamControllerRespondInternal(controller, viewLength);
}

function ReadableByteStreamControllerShiftPendingPullInto(controller) {
  return controller.pendingPullIntos.shift();
}

function ReadableByteStreamControllerShouldCallPull(controller) {
  const stream = controller.stream;
  if (stream.state !== "readable") return false;
  if (controller.closeRequested) return false;
  if (!controller.started) return false;
  if (ReadableStreamHasDefaultReader(stream) && ReadableStreamGetNumReadRequests(stream) > 0) return true;
  if (ReadableStreamHasBYOBReader(stream) && ReadableStreamGetNumReadIntoRequests(stream) > 0) return true;
  const desiredSize = ReadableByteStreamControllerGetDesiredSize(controller);
  return desiredSize > 0;
}

function SetUpReadableByteStreamController(
  stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, autoAllocateChunkSize,
) {
  controller.stream = stream;
  controller.pullAgain = false;
  controller.pulling = false;
  controller.byobRequest = null;
  ResetQueue(controller);
  controller.closeRequested = false;
  controller.started = false;
  controller.strategyHWM = highWaterMark;
  controller.pullAlgorithm = pullAlgorithm;
  controller.cancelAlgorithm = cancelAlgorithm;
  controller.autoAllocateChunkSize = autoAllocateChunkSize;
  controller.pendingPullIntos = new List();
  stream.controller = controller;
  const startResult = startAlgorithm();
  uponPromise(
    promiseResolvedWith(startResult),
    () => {
      controller.started = true;
      ReadableByteStreamControllerCallPullIfNeeded(controller);
    },
    (r) => {
      ReadableByteStreamControllerError(controller, r);
    },
  );
}

function SetUpReadableByteStreamControllerFromUnderlyingSource(
  stream, underlyingSource, underlyingSourceDict, highWaterMark,
) {
  const controller = newByteControllerRecord();
  let startAlgorithm = () => undefined;
  let pullAlgorithm = () => promiseResolvedWith(undefined);
  let cancelAlgorithm = () => promiseResolvedWith(undefined);
  const start = underlyingSourceDict.start;
  const pull = underlyingSourceDict.pull;
  const cancel = underlyingSourceDict.cancel;
  if (start !== undefined) {
    startAlgorithm = () => FunctionPrototypeCall(start, underlyingSource, controller.wrapper);
  }
  if (pull !== undefined) {
    pullAlgorithm = () => promiseCall1(pull, underlyingSource, controller.wrapper);
  }
  if (cancel !== undefined) {
    cancelAlgorithm = (reason) => promiseCall1(cancel, underlyingSource, reason);
  }
  const autoAllocateChunkSize = underlyingSourceDict.autoAllocateChunkSize;
  if (autoAllocateChunkSize === 0) {
    throw new TypeError("autoAllocateChunkSize must be greater than 0");
  }
  SetUpReadableByteStreamController(
    stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, autoAllocateChunkSize,
  );
}

// ===========================================================================
// Public readable stream classes

let rsImpl; // (value) -> ReadableStreamRecord | undefined

function requireRS(self, method) {
  const s = rsImpl(self);
  if (s === undefined) {
    throw new TypeError(`ReadableStream.prototype.${method} called on an object that is not a ReadableStream`);
  }
  return s;
}

// https://streams.spec.whatwg.org/#rs-class
class ReadableStream {
  #impl;

  constructor(underlyingSource = undefined, strategy = undefined) {
    if (underlyingSource === kInternal) {
      this.#impl = strategy;
      return;
    }
    if (underlyingSource !== undefined && !isObject(underlyingSource)) {
      throw new TypeError("The underlyingSource argument must be an object");
    }
    const strategyDict = convertQueuingStrategy(strategy, "strategy");
    if (underlyingSource === undefined) underlyingSource = null;
    const underlyingSourceDict = convertUnderlyingSource(underlyingSource);
    const stream = new ReadableStreamRecord();
    stream.wrapper = this;
    this.#impl = stream;
    if (underlyingSourceDict.type === "bytes") {
      if (strategyDict.size !== undefined) {
        throw new RangeError("The strategy for a byte stream cannot have a size function");
      }
      const highWaterMark = ExtractHighWaterMark(strategyDict, 0);
      SetUpReadableByteStreamControllerFromUnderlyingSource(
        stream, underlyingSource, underlyingSourceDict, highWaterMark,
      );
    } else {
      const sizeAlgorithm = ExtractSizeAlgorithm(strategyDict);
      const highWaterMark = ExtractHighWaterMark(strategyDict, 1);
      SetUpReadableStreamDefaultControllerFromUnderlyingSource(
        stream, underlyingSource, underlyingSourceDict, highWaterMark, sizeAlgorithm,
      );
    }
  }

  static from(asyncIterable) {
    return ReadableStreamFromIterable(asyncIterable).wrapper;
  }

  get locked() {
    return IsReadableStreamLocked(requireRS(this, "locked"));
  }

  cancel(reason = undefined) {
    let stream;
    try {
      stream = requireRS(this, "cancel");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (IsReadableStreamLocked(stream)) {
      return promiseRejectedWith(new TypeError("Cannot cancel a stream that is locked to a reader"));
    }
    return ReadableStreamCancel(stream, reason);
  }

  getReader(options = undefined) {
    const stream = requireRS(this, "getReader");
    const opts = dictionaryBase(options, "options");
    let mode;
    if (opts !== null) {
      const m = opts.mode;
      if (m !== undefined) {
        mode = `${m}`;
        if (mode !== "byob") {
          throw new TypeError(`'${mode}' is not a valid ReadableStreamReaderMode`);
        }
      }
    }
    if (mode === undefined) return AcquireReadableStreamDefaultReader(stream).wrapper;
    return AcquireReadableStreamBYOBReader(stream).wrapper;
  }

  pipeThrough(transform, options = undefined) {
    const stream = requireRS(this, "pipeThrough");
    const pair = dictionaryBase(transform, "transform");
    const readable = pair === null ? undefined : pair.readable;
    if (readable === undefined) {
      throw new TypeError("transform.readable is required");
    }
    const readableImpl = rsImpl(readable);
    if (readableImpl === undefined) {
      throw new TypeError("transform.readable is not a ReadableStream");
    }
    const writable = pair.writable;
    if (writable === undefined) {
      throw new TypeError("transform.writable is required");
    }
    const writableImpl = wsImpl(writable);
    if (writableImpl === undefined) {
      throw new TypeError("transform.writable is not a WritableStream");
    }
    const opts = convertPipeOptions(options);
    if (IsReadableStreamLocked(stream)) {
      throw new TypeError("Cannot pipe a stream that is locked to a reader");
    }
    if (IsWritableStreamLocked(writableImpl)) {
      throw new TypeError("Cannot pipe to a writable stream that is locked to a writer");
    }
    const promise = ReadableStreamPipeTo(
      stream, writableImpl, opts.preventClose, opts.preventAbort, opts.preventCancel, opts.signal,
    );
    setPromiseIsHandledToTrue(promise);
    return readable;
  }

  pipeTo(destination, options = undefined) {
    let stream;
    let dest;
    let opts;
    try {
      stream = requireRS(this, "pipeTo");
      dest = wsImpl(destination);
      if (dest === undefined) {
        throw new TypeError("The destination argument is not a WritableStream");
      }
      opts = convertPipeOptions(options);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (IsReadableStreamLocked(stream)) {
      return promiseRejectedWith(new TypeError("Cannot pipe a stream that is locked to a reader"));
    }
    if (IsWritableStreamLocked(dest)) {
      return promiseRejectedWith(
        new TypeError("Cannot pipe to a writable stream that is locked to a writer"),
      );
    }
    return ReadableStreamPipeTo(
      stream, dest, opts.preventClose, opts.preventAbort, opts.preventCancel, opts.signal,
    );
  }

  tee() {
    const stream = requireRS(this, "tee");
    const branches = ReadableStreamTee(stream);
    return [branches[0].wrapper, branches[1].wrapper];
  }

  values(options = undefined) {
    const stream = requireRS(this, "values");
    const opts = dictionaryBase(options, "options");
    const preventCancel = opts === null ? false : !!opts.preventCancel;
    const reader = AcquireReadableStreamDefaultReader(stream);
    return new ReadableStreamAsyncIterator(kInternal, reader, preventCancel);
  }

  static {
    rsImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

ObjectDefineProperty(ReadableStream.prototype, SymbolAsyncIterator, {
  value: ReadableStream.prototype.values,
  writable: true,
  enumerable: false,
  configurable: true,
});

// https://webidl.spec.whatwg.org/#es-asynchronous-iterator-prototype-object
const kEndOfIteration = { __proto__: null, end: true };

class IteratorReadRequest {
  constructor(reader) {
    this.reader = reader;
    this.deferred = new Deferred();
  }
  chunkSteps(chunk) {
    resolveDeferred(this.deferred, chunk);
  }
  closeSteps() {
    ReadableStreamDefaultReaderRelease(this.reader);
    resolveDeferred(this.deferred, kEndOfIteration);
  }
  errorSteps(e) {
    ReadableStreamDefaultReaderRelease(this.reader);
    rejectDeferred(this.deferred, e);
  }
}

class ReadableStreamAsyncIterator {
  #reader;
  #preventCancel;
  #ongoingPromise = null;
  #isFinished = false;

  constructor(key, reader, preventCancel) {
    if (key !== kInternal) throw new TypeError("Illegal constructor");
    this.#reader = reader;
    this.#preventCancel = preventCancel;
  }

  next() {
    if (!isObject(this) || !(#reader in this)) {
      return promiseRejectedWith(
        new TypeError("next() called on an object that is not a ReadableStream async iterator"),
      );
    }
    const nextSteps = () => {
      if (this.#isFinished) {
        return promiseResolvedWith({ value: undefined, done: true });
      }
      const readRequest = new IteratorReadRequest(this.#reader);
      ReadableStreamDefaultReaderRead(this.#reader, readRequest);
      return transformPromiseWith(
        readRequest.deferred.promise,
        (next) => {
          this.#ongoingPromise = null;
          if (next === kEndOfIteration) {
            this.#isFinished = true;
            return { value: undefined, done: true };
          }
          return { value: next, done: false };
        },
        (reason) => {
          this.#ongoingPromise = null;
          this.#isFinished = true;
          throw reason;
        },
      );
    };
    const ongoing = this.#ongoingPromise;
    this.#ongoingPromise = ongoing !== null
      ? transformPromiseWith(ongoing, nextSteps, nextSteps)
      : nextSteps();
    return this.#ongoingPromise;
  }

  return(value) {
    if (!isObject(this) || !(#reader in this)) {
      return promiseRejectedWith(
        new TypeError("return() called on an object that is not a ReadableStream async iterator"),
      );
    }
    const returnSteps = () => {
      if (this.#isFinished) {
        return promiseResolvedWith({ value, done: true });
      }
      this.#isFinished = true;
      const reader = this.#reader;
      if (reader.stream === undefined) return promiseResolvedWith(undefined);
      if (!this.#preventCancel) {
        const result = ReadableStreamReaderGenericCancel(reader, value);
        ReadableStreamDefaultReaderRelease(reader);
        return result;
      }
      ReadableStreamDefaultReaderRelease(reader);
      return promiseResolvedWith(undefined);
    };
    const ongoing = this.#ongoingPromise;
    this.#ongoingPromise = ongoing !== null
      ? transformPromiseWith(ongoing, returnSteps, returnSteps)
      : returnSteps();
    return transformPromiseWith(this.#ongoingPromise, () => ({ value, done: true }));
  }
}

{
  const proto = ReadableStreamAsyncIterator.prototype;
  delete proto.constructor;
  ObjectSetPrototypeOf(proto, AsyncIteratorPrototype);
  const keys = ["next", "return"];
  for (let i = 0; i < keys.length; i++) {
    const desc = ObjectGetOwnPropertyDescriptor(proto, keys[i]);
    desc.enumerable = true;
    ObjectDefineProperty(proto, keys[i], desc);
  }
  ObjectDefineProperty(proto, SymbolToStringTag, {
    value: "ReadableStream AsyncIterator",
    writable: false,
    enumerable: false,
    configurable: true,
  });
}

function unwrapThis(getImpl, self, className, member) {
  const r = getImpl(self);
  if (r === undefined) {
    throw new TypeError(`${className}.prototype.${member} called on an object that is not a ${className}`);
  }
  return r;
}

// https://streams.spec.whatwg.org/#default-reader-class
let defaultReaderImpl;

class ReadableStreamDefaultReader {
  #impl;

  constructor(stream) {
    if (stream === kInternal) {
      this.#impl = arguments[1];
      return;
    }
    const s = rsImpl(stream);
    if (s === undefined) {
      throw new TypeError("The stream argument is not a ReadableStream");
    }
    const reader = new ReaderRecord(false);
    reader.wrapper = this;
    this.#impl = reader;
    SetUpReadableStreamDefaultReader(reader, s);
  }

  get closed() {
    let reader;
    try {
      reader = unwrapThis(defaultReaderImpl, this, "ReadableStreamDefaultReader", "closed");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return reader.closedPromise.promise;
  }

  cancel(reason = undefined) {
    let reader;
    try {
      reader = unwrapThis(defaultReaderImpl, this, "ReadableStreamDefaultReader", "cancel");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (reader.stream === undefined) {
      return promiseRejectedWith(new TypeError("The reader is not attached to a stream"));
    }
    return ReadableStreamReaderGenericCancel(reader, reason);
  }

  read() {
    let reader;
    try {
      reader = unwrapThis(defaultReaderImpl, this, "ReadableStreamDefaultReader", "read");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (reader.stream === undefined) {
      return promiseRejectedWith(new TypeError("The reader is not attached to a stream"));
    }
    const readRequest = new PromiseReadRequest();
    ReadableStreamDefaultReaderRead(reader, readRequest);
    return readRequest.deferred.promise;
  }

  releaseLock() {
    const reader = unwrapThis(defaultReaderImpl, this, "ReadableStreamDefaultReader", "releaseLock");
    if (reader.stream === undefined) return;
    ReadableStreamDefaultReaderRelease(reader);
  }

  static {
    defaultReaderImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// https://streams.spec.whatwg.org/#byob-reader-class
let byobReaderImpl;

class ReadableStreamBYOBReader {
  #impl;

  constructor(stream) {
    if (stream === kInternal) {
      this.#impl = arguments[1];
      return;
    }
    const s = rsImpl(stream);
    if (s === undefined) {
      throw new TypeError("The stream argument is not a ReadableStream");
    }
    const reader = new ReaderRecord(true);
    reader.wrapper = this;
    this.#impl = reader;
    SetUpReadableStreamBYOBReader(reader, s);
  }

  get closed() {
    let reader;
    try {
      reader = unwrapThis(byobReaderImpl, this, "ReadableStreamBYOBReader", "closed");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return reader.closedPromise.promise;
  }

  cancel(reason = undefined) {
    let reader;
    try {
      reader = unwrapThis(byobReaderImpl, this, "ReadableStreamBYOBReader", "cancel");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (reader.stream === undefined) {
      return promiseRejectedWith(new TypeError("The reader is not attached to a stream"));
    }
    return ReadableStreamReaderGenericCancel(reader, reason);
  }

  read(view, options = undefined) {
    let reader;
    let min = 1;
    try {
      reader = unwrapThis(byobReaderImpl, this, "ReadableStreamBYOBReader", "read");
      view = convertArrayBufferView(view, "view");
      const opts = dictionaryBase(options, "options");
      if (opts !== null) {
        const m = opts.min;
        if (m !== undefined) min = convertEnforceRangeULL(m, "options.min");
      }
    } catch (e) {
      return promiseRejectedWith(e);
    }
    const buffer = viewBuffer(view);
    if (viewByteLength(view) === 0) {
      return promiseRejectedWith(new TypeError("view must have non-zero byteLength"));
    }
    if (bufferByteLength(buffer) === 0) {
      return promiseRejectedWith(new TypeError("view's buffer must have non-zero byteLength"));
    }
    if (IsDetachedBuffer(buffer)) {
      return promiseRejectedWith(new TypeError("view's buffer has been detached"));
    }
    if (min === 0) {
      return promiseRejectedWith(new TypeError("options.min must be greater than 0"));
    }
    if (isTypedArray(view)) {
      if (min > TypedArrayPrototypeGetLength(view)) {
        return promiseRejectedWith(new RangeError("options.min must be less than or equal to view's length"));
      }
    } else if (min > viewByteLength(view)) {
      return promiseRejectedWith(new RangeError("options.min must be less than or equal to view's byteLength"));
    }
    if (reader.stream === undefined) {
      return promiseRejectedWith(new TypeError("The reader is not attached to a stream"));
    }
    const readIntoRequest = new PromiseReadRequest();
    ReadableStreamBYOBReaderRead(reader, view, min, readIntoRequest);
    return readIntoRequest.deferred.promise;
  }

  releaseLock() {
    const reader = unwrapThis(byobReaderImpl, this, "ReadableStreamBYOBReader", "releaseLock");
    if (reader.stream === undefined) return;
    ReadableStreamBYOBReaderRelease(reader);
  }

  static {
    byobReaderImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// https://streams.spec.whatwg.org/#rs-default-controller-class
let defaultControllerImpl;

class ReadableStreamDefaultController {
  #impl;

  constructor() {
    if (arguments[0] !== kInternal) throw new TypeError("Illegal constructor");
    this.#impl = arguments[1];
  }

  get desiredSize() {
    const c = unwrapThis(defaultControllerImpl, this, "ReadableStreamDefaultController", "desiredSize");
    return ReadableStreamDefaultControllerGetDesiredSize(c);
  }

  close() {
    const c = unwrapThis(defaultControllerImpl, this, "ReadableStreamDefaultController", "close");
    if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(c)) {
      throw new TypeError("The stream is not in a state that permits close");
    }
    ReadableStreamDefaultControllerClose(c);
  }

  enqueue(chunk = undefined) {
    const c = unwrapThis(defaultControllerImpl, this, "ReadableStreamDefaultController", "enqueue");
    if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(c)) {
      throw new TypeError("The stream is not in a state that permits enqueue");
    }
    ReadableStreamDefaultControllerEnqueue(c, chunk);
  }

  error(e = undefined) {
    const c = unwrapThis(defaultControllerImpl, this, "ReadableStreamDefaultController", "error");
    ReadableStreamDefaultControllerError(c, e);
  }

  static {
    defaultControllerImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// https://streams.spec.whatwg.org/#rbs-controller-class
let byteControllerImpl;

class ReadableByteStreamController {
  #impl;

  constructor() {
    if (arguments[0] !== kInternal) throw new TypeError("Illegal constructor");
    this.#impl = arguments[1];
  }

  get byobRequest() {
    const c = unwrapThis(byteControllerImpl, this, "ReadableByteStreamController", "byobRequest");
    const request = ReadableByteStreamControllerGetBYOBRequest(c);
    return request === null ? null : request.wrapper;
  }

  get desiredSize() {
    const c = unwrapThis(byteControllerImpl, this, "ReadableByteStreamController", "desiredSize");
    return ReadableByteStreamControllerGetDesiredSize(c);
  }

  close() {
    const c = unwrapThis(byteControllerImpl, this, "ReadableByteStreamController", "close");
    if (c.closeRequested) {
      throw new TypeError("The stream has already been closed");
    }
    if (c.stream.state !== "readable") {
      throw new TypeError("The stream is not in the readable state and cannot be closed");
    }
    ReadableByteStreamControllerClose(c);
  }

  enqueue(chunk) {
    const c = unwrapThis(byteControllerImpl, this, "ReadableByteStreamController", "enqueue");
    chunk = convertArrayBufferView(chunk, "chunk");
    if (viewByteLength(chunk) === 0) {
      throw new TypeError("chunk must have non-zero byteLength");
    }
    if (bufferByteLength(viewBuffer(chunk)) === 0) {
      throw new TypeError("chunk's buffer must have non-zero byteLength");
    }
    if (c.closeRequested) {
      throw new TypeError("The stream has already been closed");
    }
    if (c.stream.state !== "readable") {
      throw new TypeError("The stream is not in the readable state and cannot be enqueued to");
    }
    ReadableByteStreamControllerEnqueue(c, chunk);
  }

  error(e = undefined) {
    const c = unwrapThis(byteControllerImpl, this, "ReadableByteStreamController", "error");
    ReadableByteStreamControllerError(c, e);
  }

  static {
    byteControllerImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// https://streams.spec.whatwg.org/#rs-byob-request-class
let byobRequestImpl;

class ReadableStreamBYOBRequest {
  #impl;

  constructor() {
    if (arguments[0] !== kInternal) throw new TypeError("Illegal constructor");
    this.#impl = arguments[1];
  }

  get view() {
    return unwrapThis(byobRequestImpl, this, "ReadableStreamBYOBRequest", "view").view;
  }

  respond(bytesWritten) {
    const r = unwrapThis(byobRequestImpl, this, "ReadableStreamBYOBRequest", "respond");
    bytesWritten = convertEnforceRangeULL(bytesWritten, "bytesWritten");
    if (r.controller === undefined) {
      throw new TypeError("This BYOB request has been invalidated");
    }
    if (IsDetachedBuffer(viewBuffer(r.view))) {
      throw new TypeError("The BYOB request's buffer has been detached and so cannot be used as a response");
    }
    ReadableByteStreamControllerRespond(r.controller, bytesWritten);
  }

  respondWithNewView(view) {
    const r = unwrapThis(byobRequestImpl, this, "ReadableStreamBYOBRequest", "respondWithNewView");
    view = convertArrayBufferView(view, "view");
    if (r.controller === undefined) {
      throw new TypeError("This BYOB request has been invalidated");
    }
    if (IsDetachedBuffer(viewBuffer(view))) {
      throw new TypeError("The given view's buffer has been detached and so cannot be used as a response");
    }
    ReadableByteStreamControllerRespondWithNewView(r.controller, view);
  }

  static {
    byobRequestImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// ===========================================================================
// Writable streams
// https://streams.spec.whatwg.org/#ws-model

class WritableStreamRecord {
  constructor() {
    // InitializeWritableStream
    this.state = "writable";
    this.storedError = undefined;
    this.writer = undefined;
    this.controller = undefined;
    this.inFlightWriteRequest = undefined; // Deferred
    this.closeRequest = undefined; // Deferred
    this.inFlightCloseRequest = undefined; // Deferred
    this.pendingAbortRequest = undefined;
    this.writeRequests = new List(); // of Deferred
    this.backpressure = false;
    this.wrapper = undefined;
  }
}

class WriterRecord {
  constructor() {
    this.stream = undefined;
    this.closedPromise = undefined; // Deferred
    this.readyPromise = undefined; // Deferred
    this.wrapper = undefined;
  }
}

class WritableControllerRecord {
  constructor() {
    this.stream = undefined;
    this.queue = undefined;
    this.queueTotalSize = 0;
    this.started = false;
    this.strategySizeAlgorithm = undefined;
    this.strategyHWM = 0;
    this.writeAlgorithm = undefined;
    this.closeAlgorithm = undefined;
    this.abortAlgorithm = undefined;
    // [[abortController]], created on first use of `signal` (nobody can
    // observe it before that); abortReason remembers an earlier abort.
    this.signal = undefined;
    this.aborted = false;
    this.abortReason = undefined;
    this.wrapper = undefined;
  }
}

const kCloseSentinel = { __proto__: null, close: true };

function newWritableStreamRecord() {
  const stream = new WritableStreamRecord();
  stream.wrapper = new WritableStream(kInternal, stream);
  return stream;
}

function newWriterRecord() {
  const writer = new WriterRecord();
  writer.wrapper = new WritableStreamDefaultWriter(kInternal, writer);
  return writer;
}

function newWritableControllerRecord() {
  const c = new WritableControllerRecord();
  c.wrapper = new WritableStreamDefaultController(kInternal, c);
  return c;
}

function controllerSignal(controller) {
  if (controller.signal === undefined) {
    controller.signal = internals.createAbortSignal();
    if (controller.aborted) internals.signalAbort(controller.signal, controller.abortReason);
  }
  return controller.signal;
}

function controllerSignalAbort(controller, reason) {
  if (controller.aborted) return;
  controller.aborted = true;
  controller.abortReason = reason;
  if (controller.signal !== undefined) internals.signalAbort(controller.signal, reason);
}

// https://streams.spec.whatwg.org/#ws-abstract-ops

function AcquireWritableStreamDefaultWriter(stream) {
  const writer = newWriterRecord();
  SetUpWritableStreamDefaultWriter(writer, stream);
  return writer;
}

function CreateWritableStream(
  startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm,
) {
  const stream = newWritableStreamRecord();
  const controller = newWritableControllerRecord();
  SetUpWritableStreamDefaultController(
    stream, controller, startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm,
    highWaterMark, sizeAlgorithm,
  );
  return stream;
}

function IsWritableStreamLocked(stream) {
  return stream.writer !== undefined;
}

function SetUpWritableStreamDefaultWriter(writer, stream) {
  if (IsWritableStreamLocked(stream)) {
    throw new TypeError("The stream is locked to a writer");
  }
  writer.stream = stream;
  stream.writer = writer;
  const state = stream.state;
  if (state === "writable") {
    if (!WritableStreamCloseQueuedOrInFlight(stream) && stream.backpressure) {
      writer.readyPromise = new Deferred();
    } else {
      writer.readyPromise = resolvedDeferred(undefined);
    }
    writer.closedPromise = new Deferred();
  } else if (state === "erroring") {
    writer.readyPromise = rejectedDeferred(stream.storedError);
    writer.closedPromise = new Deferred();
  } else if (state === "closed") {
    writer.readyPromise = resolvedDeferred(undefined);
    writer.closedPromise = resolvedDeferred(undefined);
  } else {
    const storedError = stream.storedError;
    writer.readyPromise = rejectedDeferred(storedError);
    writer.closedPromise = rejectedDeferred(storedError);
  }
}

function WritableStreamAbort(stream, reason) {
  if (stream.state === "closed" || stream.state === "errored") {
    return promiseResolvedWith(undefined);
  }
  controllerSignalAbort(stream.controller, reason);
  const state = stream.state;
  if (state === "closed" || state === "errored") {
    return promiseResolvedWith(undefined);
  }
  if (stream.pendingAbortRequest !== undefined) {
    return stream.pendingAbortRequest.promise.promise;
  }
  let wasAlreadyErroring = false;
  if (state === "erroring") {
    wasAlreadyErroring = true;
    reason = undefined;
  }
  const promise = new Deferred();
  stream.pendingAbortRequest = { promise, reason, wasAlreadyErroring };
  if (!wasAlreadyErroring) WritableStreamStartErroring(stream, reason);
  return promise.promise;
}

function WritableStreamClose(stream) {
  const state = stream.state;
  if (state === "closed" || state === "errored") {
    return promiseRejectedWith(new TypeError("The stream is not in the writable state and cannot be closed"));
  }
  const promise = new Deferred();
  stream.closeRequest = promise;
  const writer = stream.writer;
  if (writer !== undefined && stream.backpressure && state === "writable") {
    resolveDeferred(writer.readyPromise, undefined);
  }
  WritableStreamDefaultControllerClose(stream.controller);
  return promise.promise;
}

// https://streams.spec.whatwg.org/#ws-abstract-ops-used-by-controllers

function WritableStreamAddWriteRequest(stream) {
  const promise = new Deferred();
  stream.writeRequests.push(promise);
  return promise.promise;
}

function WritableStreamCloseQueuedOrInFlight(stream) {
  return stream.closeRequest !== undefined || stream.inFlightCloseRequest !== undefined;
}

function WritableStreamDealWithRejection(stream, error) {
  if (stream.state === "writable") {
    WritableStreamStartErroring(stream, error);
    return;
  }
  WritableStreamFinishErroring(stream);
}

function WritableStreamFinishErroring(stream) {
  stream.state = "errored";
  ResetQueue(stream.controller); // [[ErrorSteps]]
  const storedError = stream.storedError;
  const writeRequests = stream.writeRequests;
  stream.writeRequests = new List();
  while (writeRequests.length > 0) rejectDeferred(writeRequests.shift(), storedError);
  if (stream.pendingAbortRequest === undefined) {
    WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    return;
  }
  const abortRequest = stream.pendingAbortRequest;
  stream.pendingAbortRequest = undefined;
  if (abortRequest.wasAlreadyErroring) {
    rejectDeferred(abortRequest.promise, storedError);
    WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    return;
  }
  const promise = WritableStreamDefaultControllerAbortSteps(stream.controller, abortRequest.reason);
  uponPromise(
    promise,
    () => {
      resolveDeferred(abortRequest.promise, undefined);
      WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    },
    (reason) => {
      rejectDeferred(abortRequest.promise, reason);
      WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    },
  );
}

function WritableStreamFinishInFlightClose(stream) {
  resolveDeferred(stream.inFlightCloseRequest, undefined);
  stream.inFlightCloseRequest = undefined;
  const state = stream.state;
  if (state === "erroring") {
    stream.storedError = undefined;
    if (stream.pendingAbortRequest !== undefined) {
      resolveDeferred(stream.pendingAbortRequest.promise, undefined);
      stream.pendingAbortRequest = undefined;
    }
  }
  stream.state = "closed";
  const writer = stream.writer;
  if (writer !== undefined) resolveDeferred(writer.closedPromise, undefined);
}

function WritableStreamFinishInFlightCloseWithError(stream, error) {
  rejectDeferred(stream.inFlightCloseRequest, error);
  stream.inFlightCloseRequest = undefined;
  if (stream.pendingAbortRequest !== undefined) {
    rejectDeferred(stream.pendingAbortRequest.promise, error);
    stream.pendingAbortRequest = undefined;
  }
  WritableStreamDealWithRejection(stream, error);
}

function WritableStreamFinishInFlightWrite(stream) {
  resolveDeferred(stream.inFlightWriteRequest, undefined);
  stream.inFlightWriteRequest = undefined;
}

function WritableStreamFinishInFlightWriteWithError(stream, error) {
  rejectDeferred(stream.inFlightWriteRequest, error);
  stream.inFlightWriteRequest = undefined;
  WritableStreamDealWithRejection(stream, error);
}

function WritableStreamHasOperationMarkedInFlight(stream) {
  return stream.inFlightWriteRequest !== undefined || stream.inFlightCloseRequest !== undefined;
}

function WritableStreamMarkCloseRequestInFlight(stream) {
  stream.inFlightCloseRequest = stream.closeRequest;
  stream.closeRequest = undefined;
}

function WritableStreamMarkFirstWriteRequestInFlight(stream) {
  stream.inFlightWriteRequest = stream.writeRequests.shift();
}

function WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream) {
  if (stream.closeRequest !== undefined) {
    rejectDeferred(stream.closeRequest, stream.storedError);
    stream.closeRequest = undefined;
  }
  const writer = stream.writer;
  if (writer !== undefined) {
    rejectDeferred(writer.closedPromise, stream.storedError);
    setPromiseIsHandledToTrue(writer.closedPromise.promise);
  }
}

function WritableStreamStartErroring(stream, reason) {
  const controller = stream.controller;
  stream.state = "erroring";
  stream.storedError = reason;
  const writer = stream.writer;
  if (writer !== undefined) WritableStreamDefaultWriterEnsureReadyPromiseRejected(writer, reason);
  if (!WritableStreamHasOperationMarkedInFlight(stream) && controller.started) {
    WritableStreamFinishErroring(stream);
  }
}

function WritableStreamUpdateBackpressure(stream, backpressure) {
  const writer = stream.writer;
  if (writer !== undefined && backpressure !== stream.backpressure) {
    if (backpressure) writer.readyPromise = new Deferred();
    else resolveDeferred(writer.readyPromise, undefined);
  }
  stream.backpressure = backpressure;
}

// https://streams.spec.whatwg.org/#ws-writer-abstract-ops

function WritableStreamDefaultWriterAbort(writer, reason) {
  return WritableStreamAbort(writer.stream, reason);
}

function WritableStreamDefaultWriterClose(writer) {
  return WritableStreamClose(writer.stream);
}

function WritableStreamDefaultWriterCloseWithErrorPropagation(writer) {
  const stream = writer.stream;
  const state = stream.state;
  if (WritableStreamCloseQueuedOrInFlight(stream) || state === "closed") {
    return promiseResolvedWith(undefined);
  }
  if (state === "errored") return promiseRejectedWith(stream.storedError);
  return WritableStreamDefaultWriterClose(writer);
}

function WritableStreamDefaultWriterEnsureClosedPromiseRejected(writer, error) {
  if (writer.closedPromise.state === "pending") {
    rejectDeferred(writer.closedPromise, error);
  } else {
    writer.closedPromise = rejectedDeferred(error);
  }
  setPromiseIsHandledToTrue(writer.closedPromise.promise);
}

function WritableStreamDefaultWriterEnsureReadyPromiseRejected(writer, error) {
  if (writer.readyPromise.state === "pending") {
    rejectDeferred(writer.readyPromise, error);
  } else {
    writer.readyPromise = rejectedDeferred(error);
  }
  setPromiseIsHandledToTrue(writer.readyPromise.promise);
}

function WritableStreamDefaultWriterGetDesiredSize(writer) {
  const stream = writer.stream;
  const state = stream.state;
  if (state === "errored" || state === "erroring") return null;
  if (state === "closed") return 0;
  return WritableStreamDefaultControllerGetDesiredSize(stream.controller);
}

function WritableStreamDefaultWriterRelease(writer) {
  const stream = writer.stream;
  const releasedError = new TypeError("The writer's lock on the stream was released");
  WritableStreamDefaultWriterEnsureReadyPromiseRejected(writer, releasedError);
  WritableStreamDefaultWriterEnsureClosedPromiseRejected(writer, releasedError);
  stream.writer = undefined;
  writer.stream = undefined;
}

function WritableStreamDefaultWriterWrite(writer, chunk) {
  const stream = writer.stream;
  const controller = stream.controller;
  const chunkSize = WritableStreamDefaultControllerGetChunkSize(controller, chunk);
  if (stream !== writer.stream) {
    return promiseRejectedWith(new TypeError("The writer's lock was released while computing the chunk size"));
  }
  const state = stream.state;
  if (state === "errored") return promiseRejectedWith(stream.storedError);
  if (WritableStreamCloseQueuedOrInFlight(stream) || state === "closed") {
    return promiseRejectedWith(new TypeError("The stream is closing or closed and cannot be written to"));
  }
  if (state === "erroring") return promiseRejectedWith(stream.storedError);
  const promise = WritableStreamAddWriteRequest(stream);
  WritableStreamDefaultControllerWrite(controller, chunk, chunkSize);
  return promise;
}

// https://streams.spec.whatwg.org/#ws-default-controller-abstract-ops

function WritableStreamDefaultControllerAbortSteps(controller, reason) {
  const result = controller.abortAlgorithm(reason);
  WritableStreamDefaultControllerClearAlgorithms(controller);
  return result;
}

function SetUpWritableStreamDefaultController(
  stream, controller, startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm,
  highWaterMark, sizeAlgorithm,
) {
  controller.stream = stream;
  stream.controller = controller;
  ResetQueue(controller);
  controller.started = false;
  controller.strategySizeAlgorithm = sizeAlgorithm;
  controller.strategyHWM = highWaterMark;
  controller.writeAlgorithm = writeAlgorithm;
  controller.closeAlgorithm = closeAlgorithm;
  controller.abortAlgorithm = abortAlgorithm;
  const backpressure = WritableStreamDefaultControllerGetBackpressure(controller);
  WritableStreamUpdateBackpressure(stream, backpressure);
  const startResult = startAlgorithm();
  uponPromise(
    promiseResolvedWith(startResult),
    () => {
      controller.started = true;
      WritableStreamDefaultControllerAdvanceQueueIfNeeded(controller);
    },
    (r) => {
      controller.started = true;
      WritableStreamDealWithRejection(stream, r);
    },
  );
}

function SetUpWritableStreamDefaultControllerFromUnderlyingSink(
  stream, underlyingSink, underlyingSinkDict, highWaterMark, sizeAlgorithm,
) {
  const controller = newWritableControllerRecord();
  let startAlgorithm = () => undefined;
  let writeAlgorithm = () => promiseResolvedWith(undefined);
  let closeAlgorithm = () => promiseResolvedWith(undefined);
  let abortAlgorithm = () => promiseResolvedWith(undefined);
  const start = underlyingSinkDict.start;
  const write = underlyingSinkDict.write;
  const close = underlyingSinkDict.close;
  const abort = underlyingSinkDict.abort;
  if (start !== undefined) {
    startAlgorithm = () => FunctionPrototypeCall(start, underlyingSink, controller.wrapper);
  }
  if (write !== undefined) {
    writeAlgorithm = (chunk) => promiseCall2(write, underlyingSink, chunk, controller.wrapper);
  }
  if (close !== undefined) {
    closeAlgorithm = () => promiseCall0(close, underlyingSink);
  }
  if (abort !== undefined) {
    abortAlgorithm = (reason) => promiseCall1(abort, underlyingSink, reason);
  }
  SetUpWritableStreamDefaultController(
    stream, controller, startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm,
    highWaterMark, sizeAlgorithm,
  );
}

function WritableStreamDefaultControllerAdvanceQueueIfNeeded(controller) {
  const stream = controller.stream;
  if (!controller.started) return;
  if (stream.inFlightWriteRequest !== undefined) return;
  const state = stream.state;
  if (state === "erroring") {
    WritableStreamFinishErroring(stream);
    return;
  }
  if (controller.queue.length === 0) return;
  const value = PeekQueueValue(controller);
  if (value === kCloseSentinel) {
    WritableStreamDefaultControllerProcessClose(controller);
  } else {
    WritableStreamDefaultControllerProcessWrite(controller, value);
  }
}

function WritableStreamDefaultControllerClearAlgorithms(controller) {
  controller.writeAlgorithm = undefined;
  controller.closeAlgorithm = undefined;
  controller.abortAlgorithm = undefined;
  controller.strategySizeAlgorithm = undefined;
}

function WritableStreamDefaultControllerClose(controller) {
  EnqueueValueWithSize(controller, kCloseSentinel, 0);
  WritableStreamDefaultControllerAdvanceQueueIfNeeded(controller);
}

function WritableStreamDefaultControllerError(controller, error) {
  const stream = controller.stream;
  WritableStreamDefaultControllerClearAlgorithms(controller);
  WritableStreamStartErroring(stream, error);
}

function WritableStreamDefaultControllerErrorIfNeeded(controller, error) {
  if (controller.stream.state === "writable") {
    WritableStreamDefaultControllerError(controller, error);
  }
}

function WritableStreamDefaultControllerGetBackpressure(controller) {
  return WritableStreamDefaultControllerGetDesiredSize(controller) <= 0;
}

function WritableStreamDefaultControllerGetChunkSize(controller, chunk) {
  if (controller.strategySizeAlgorithm === undefined) return 1;
  try {
    return controller.strategySizeAlgorithm(chunk);
  } catch (e) {
    WritableStreamDefaultControllerErrorIfNeeded(controller, e);
    return 1;
  }
}

function WritableStreamDefaultControllerGetDesiredSize(controller) {
  return controller.strategyHWM - controller.queueTotalSize;
}

function WritableStreamDefaultControllerProcessClose(controller) {
  const stream = controller.stream;
  WritableStreamMarkCloseRequestInFlight(stream);
  DequeueValue(controller);
  const sinkClosePromise = controller.closeAlgorithm();
  WritableStreamDefaultControllerClearAlgorithms(controller);
  uponPromise(
    sinkClosePromise,
    () => WritableStreamFinishInFlightClose(stream),
    (reason) => WritableStreamFinishInFlightCloseWithError(stream, reason),
  );
}

function WritableStreamDefaultControllerProcessWrite(controller, chunk) {
  const stream = controller.stream;
  WritableStreamMarkFirstWriteRequestInFlight(stream);
  const sinkWritePromise = controller.writeAlgorithm(chunk);
  uponPromise(
    sinkWritePromise,
    () => {
      WritableStreamFinishInFlightWrite(stream);
      const state = stream.state;
      DequeueValue(controller);
      if (!WritableStreamCloseQueuedOrInFlight(stream) && state === "writable") {
        const backpressure = WritableStreamDefaultControllerGetBackpressure(controller);
        WritableStreamUpdateBackpressure(stream, backpressure);
      }
      WritableStreamDefaultControllerAdvanceQueueIfNeeded(controller);
    },
    (reason) => {
      if (stream.state === "writable") WritableStreamDefaultControllerClearAlgorithms(controller);
      WritableStreamFinishInFlightWriteWithError(stream, reason);
    },
  );
}

function WritableStreamDefaultControllerWrite(controller, chunk, chunkSize) {
  try {
    EnqueueValueWithSize(controller, chunk, chunkSize);
  } catch (e) {
    WritableStreamDefaultControllerErrorIfNeeded(controller, e);
    return;
  }
  const stream = controller.stream;
  if (!WritableStreamCloseQueuedOrInFlight(stream) && stream.state === "writable") {
    const backpressure = WritableStreamDefaultControllerGetBackpressure(controller);
    WritableStreamUpdateBackpressure(stream, backpressure);
  }
  WritableStreamDefaultControllerAdvanceQueueIfNeeded(controller);
}

// ---------------------------------------------------------------------------
// Public writable stream classes

let wsImpl;

// https://streams.spec.whatwg.org/#ws-class
class WritableStream {
  #impl;

  constructor(underlyingSink = undefined, strategy = undefined) {
    if (underlyingSink === kInternal) {
      this.#impl = strategy;
      return;
    }
    if (underlyingSink !== undefined && !isObject(underlyingSink)) {
      throw new TypeError("The underlyingSink argument must be an object");
    }
    const strategyDict = convertQueuingStrategy(strategy, "strategy");
    if (underlyingSink === undefined) underlyingSink = null;
    const underlyingSinkDict = convertUnderlyingSink(underlyingSink);
    if (underlyingSinkDict.type !== undefined) {
      throw new RangeError("Invalid type is specified");
    }
    const stream = new WritableStreamRecord();
    stream.wrapper = this;
    this.#impl = stream;
    const sizeAlgorithm = ExtractSizeAlgorithm(strategyDict);
    const highWaterMark = ExtractHighWaterMark(strategyDict, 1);
    SetUpWritableStreamDefaultControllerFromUnderlyingSink(
      stream, underlyingSink, underlyingSinkDict, highWaterMark, sizeAlgorithm,
    );
  }

  get locked() {
    return IsWritableStreamLocked(unwrapThis(wsImpl, this, "WritableStream", "locked"));
  }

  abort(reason = undefined) {
    let stream;
    try {
      stream = unwrapThis(wsImpl, this, "WritableStream", "abort");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (IsWritableStreamLocked(stream)) {
      return promiseRejectedWith(new TypeError("Cannot abort a stream that is locked to a writer"));
    }
    return WritableStreamAbort(stream, reason);
  }

  close() {
    let stream;
    try {
      stream = unwrapThis(wsImpl, this, "WritableStream", "close");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (IsWritableStreamLocked(stream)) {
      return promiseRejectedWith(new TypeError("Cannot close a stream that is locked to a writer"));
    }
    if (WritableStreamCloseQueuedOrInFlight(stream)) {
      return promiseRejectedWith(new TypeError("Cannot close a stream that is already closing"));
    }
    return WritableStreamClose(stream);
  }

  getWriter() {
    const stream = unwrapThis(wsImpl, this, "WritableStream", "getWriter");
    return AcquireWritableStreamDefaultWriter(stream).wrapper;
  }

  static {
    wsImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// https://streams.spec.whatwg.org/#default-writer-class
let writerImpl;

class WritableStreamDefaultWriter {
  #impl;

  constructor(stream) {
    if (stream === kInternal) {
      this.#impl = arguments[1];
      return;
    }
    const s = wsImpl(stream);
    if (s === undefined) {
      throw new TypeError("The stream argument is not a WritableStream");
    }
    const writer = new WriterRecord();
    writer.wrapper = this;
    this.#impl = writer;
    SetUpWritableStreamDefaultWriter(writer, s);
  }

  get closed() {
    let writer;
    try {
      writer = unwrapThis(writerImpl, this, "WritableStreamDefaultWriter", "closed");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return writer.closedPromise.promise;
  }

  get desiredSize() {
    const writer = unwrapThis(writerImpl, this, "WritableStreamDefaultWriter", "desiredSize");
    if (writer.stream === undefined) {
      throw new TypeError("The writer is not attached to a stream");
    }
    return WritableStreamDefaultWriterGetDesiredSize(writer);
  }

  get ready() {
    let writer;
    try {
      writer = unwrapThis(writerImpl, this, "WritableStreamDefaultWriter", "ready");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return writer.readyPromise.promise;
  }

  abort(reason = undefined) {
    let writer;
    try {
      writer = unwrapThis(writerImpl, this, "WritableStreamDefaultWriter", "abort");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (writer.stream === undefined) {
      return promiseRejectedWith(new TypeError("The writer is not attached to a stream"));
    }
    return WritableStreamDefaultWriterAbort(writer, reason);
  }

  close() {
    let writer;
    try {
      writer = unwrapThis(writerImpl, this, "WritableStreamDefaultWriter", "close");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    const stream = writer.stream;
    if (stream === undefined) {
      return promiseRejectedWith(new TypeError("The writer is not attached to a stream"));
    }
    if (WritableStreamCloseQueuedOrInFlight(stream)) {
      return promiseRejectedWith(new TypeError("Cannot close a stream that is already closing"));
    }
    return WritableStreamDefaultWriterClose(writer);
  }

  releaseLock() {
    const writer = unwrapThis(writerImpl, this, "WritableStreamDefaultWriter", "releaseLock");
    if (writer.stream === undefined) return;
    WritableStreamDefaultWriterRelease(writer);
  }

  write(chunk = undefined) {
    let writer;
    try {
      writer = unwrapThis(writerImpl, this, "WritableStreamDefaultWriter", "write");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (writer.stream === undefined) {
      return promiseRejectedWith(new TypeError("The writer is not attached to a stream"));
    }
    return WritableStreamDefaultWriterWrite(writer, chunk);
  }

  static {
    writerImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// https://streams.spec.whatwg.org/#ws-default-controller-class
let writableControllerImpl;

class WritableStreamDefaultController {
  #impl;

  constructor() {
    if (arguments[0] !== kInternal) throw new TypeError("Illegal constructor");
    this.#impl = arguments[1];
  }

  get signal() {
    const c = unwrapThis(writableControllerImpl, this, "WritableStreamDefaultController", "signal");
    return controllerSignal(c);
  }

  error(e = undefined) {
    const c = unwrapThis(writableControllerImpl, this, "WritableStreamDefaultController", "error");
    const state = c.stream.state;
    if (state !== "writable") return;
    WritableStreamDefaultControllerError(c, e);
  }

  static {
    writableControllerImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// ===========================================================================
// Transform streams
// https://streams.spec.whatwg.org/#ts-model

class TransformStreamRecord {
  constructor() {
    this.backpressure = undefined;
    this.backpressureChangePromise = undefined; // Deferred
    this.controller = undefined;
    this.readable = undefined; // ReadableStreamRecord
    this.writable = undefined; // WritableStreamRecord
    this.wrapper = undefined;
  }
}

class TransformControllerRecord {
  constructor() {
    this.stream = undefined;
    this.transformAlgorithm = undefined;
    this.flushAlgorithm = undefined;
    this.cancelAlgorithm = undefined;
    this.finishPromise = undefined; // Deferred
    this.wrapper = undefined;
  }
}

// https://streams.spec.whatwg.org/#ts-abstract-ops

function InitializeTransformStream(
  stream, startPromise, writableHighWaterMark, writableSizeAlgorithm,
  readableHighWaterMark, readableSizeAlgorithm,
) {
  const startAlgorithm = () => startPromise;
  const writeAlgorithm = (chunk) => TransformStreamDefaultSinkWriteAlgorithm(stream, chunk);
  const abortAlgorithm = (reason) => TransformStreamDefaultSinkAbortAlgorithm(stream, reason);
  const closeAlgorithm = () => TransformStreamDefaultSinkCloseAlgorithm(stream);
  stream.writable = CreateWritableStream(
    startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm,
    writableHighWaterMark, writableSizeAlgorithm,
  );
  const pullAlgorithm = () => TransformStreamDefaultSourcePullAlgorithm(stream);
  const cancelAlgorithm = (reason) => TransformStreamDefaultSourceCancelAlgorithm(stream, reason);
  stream.readable = CreateReadableStream(
    startAlgorithm, pullAlgorithm, cancelAlgorithm, readableHighWaterMark, readableSizeAlgorithm,
  );
  stream.backpressure = undefined;
  stream.backpressureChangePromise = undefined;
  TransformStreamSetBackpressure(stream, true);
  stream.controller = undefined;
}

function TransformStreamError(stream, e) {
  ReadableStreamDefaultControllerError(stream.readable.controller, e);
  TransformStreamErrorWritableAndUnblockWrite(stream, e);
}

function TransformStreamErrorWritableAndUnblockWrite(stream, e) {
  TransformStreamDefaultControllerClearAlgorithms(stream.controller);
  WritableStreamDefaultControllerErrorIfNeeded(stream.writable.controller, e);
  TransformStreamUnblockWrite(stream);
}

function TransformStreamSetBackpressure(stream, backpressure) {
  if (stream.backpressureChangePromise !== undefined) {
    resolveDeferred(stream.backpressureChangePromise, undefined);
  }
  stream.backpressureChangePromise = new Deferred();
  stream.backpressure = backpressure;
}

function TransformStreamUnblockWrite(stream) {
  if (stream.backpressure) TransformStreamSetBackpressure(stream, false);
}

// https://streams.spec.whatwg.org/#ts-default-controller-abstract-ops

function SetUpTransformStreamDefaultController(
  stream, controller, transformAlgorithm, flushAlgorithm, cancelAlgorithm,
) {
  controller.stream = stream;
  stream.controller = controller;
  controller.transformAlgorithm = transformAlgorithm;
  controller.flushAlgorithm = flushAlgorithm;
  controller.cancelAlgorithm = cancelAlgorithm;
}

function SetUpTransformStreamDefaultControllerFromTransformer(stream, transformer, transformerDict) {
  const controller = new TransformControllerRecord();
  controller.wrapper = new TransformStreamDefaultController(kInternal, controller);
  let transformAlgorithm = (chunk) => {
    try {
      TransformStreamDefaultControllerEnqueue(controller, chunk);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return promiseResolvedWith(undefined);
  };
  let flushAlgorithm = () => promiseResolvedWith(undefined);
  let cancelAlgorithm = () => promiseResolvedWith(undefined);
  const transform = transformerDict.transform;
  const flush = transformerDict.flush;
  const cancel = transformerDict.cancel;
  if (transform !== undefined) {
    transformAlgorithm = (chunk) => promiseCall2(transform, transformer, chunk, controller.wrapper);
  }
  if (flush !== undefined) {
    flushAlgorithm = () => promiseCall1(flush, transformer, controller.wrapper);
  }
  if (cancel !== undefined) {
    cancelAlgorithm = (reason) => promiseCall1(cancel, transformer, reason);
  }
  SetUpTransformStreamDefaultController(
    stream, controller, transformAlgorithm, flushAlgorithm, cancelAlgorithm,
  );
}

function TransformStreamDefaultControllerClearAlgorithms(controller) {
  controller.transformAlgorithm = undefined;
  controller.flushAlgorithm = undefined;
  controller.cancelAlgorithm = undefined;
}

function TransformStreamDefaultControllerEnqueue(controller, chunk) {
  const stream = controller.stream;
  const readableController = stream.readable.controller;
  if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(readableController)) {
    throw new TypeError("Readable side is not in a state that permits enqueue");
  }
  try {
    ReadableStreamDefaultControllerEnqueue(readableController, chunk);
  } catch (e) {
    TransformStreamErrorWritableAndUnblockWrite(stream, e);
    throw stream.readable.storedError;
  }
  const backpressure = ReadableStreamDefaultControllerHasBackpressure(readableController);
  if (backpressure !== stream.backpressure) {
    TransformStreamSetBackpressure(stream, true);
  }
}

function TransformStreamDefaultControllerError(controller, e) {
  TransformStreamError(controller.stream, e);
}

function TransformStreamDefaultControllerPerformTransform(controller, chunk) {
  const transformPromise = controller.transformAlgorithm(chunk);
  return transformPromiseWith(transformPromise, undefined, (r) => {
    TransformStreamError(controller.stream, r);
    throw r;
  });
}

function TransformStreamDefaultControllerTerminate(controller) {
  const stream = controller.stream;
  const readableController = stream.readable.controller;
  ReadableStreamDefaultControllerClose(readableController);
  const error = new TypeError("TransformStream terminated");
  TransformStreamErrorWritableAndUnblockWrite(stream, error);
}

// https://streams.spec.whatwg.org/#ts-default-sink-abstract-ops

function TransformStreamDefaultSinkWriteAlgorithm(stream, chunk) {
  const controller = stream.controller;
  if (stream.backpressure) {
    const backpressureChangePromise = stream.backpressureChangePromise;
    return transformPromiseWith(backpressureChangePromise.promise, () => {
      const writable = stream.writable;
      const state = writable.state;
      if (state === "erroring") throw writable.storedError;
      return TransformStreamDefaultControllerPerformTransform(controller, chunk);
    });
  }
  return TransformStreamDefaultControllerPerformTransform(controller, chunk);
}

function TransformStreamDefaultSinkAbortAlgorithm(stream, reason) {
  const controller = stream.controller;
  if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
  const readable = stream.readable;
  controller.finishPromise = new Deferred();
  const finish = controller.finishPromise;
  const cancelPromise = controller.cancelAlgorithm(reason);
  TransformStreamDefaultControllerClearAlgorithms(controller);
  uponPromise(
    cancelPromise,
    () => {
      if (readable.state === "errored") {
        rejectDeferred(finish, readable.storedError);
      } else {
        ReadableStreamDefaultControllerError(readable.controller, reason);
        resolveDeferred(finish, undefined);
      }
    },
    (r) => {
      ReadableStreamDefaultControllerError(readable.controller, r);
      rejectDeferred(finish, r);
    },
  );
  return finish.promise;
}

function TransformStreamDefaultSinkCloseAlgorithm(stream) {
  const controller = stream.controller;
  if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
  const readable = stream.readable;
  controller.finishPromise = new Deferred();
  const finish = controller.finishPromise;
  const flushPromise = controller.flushAlgorithm();
  TransformStreamDefaultControllerClearAlgorithms(controller);
  uponPromise(
    flushPromise,
    () => {
      if (readable.state === "errored") {
        rejectDeferred(finish, readable.storedError);
      } else {
        ReadableStreamDefaultControllerClose(readable.controller);
        resolveDeferred(finish, undefined);
      }
    },
    (r) => {
      ReadableStreamDefaultControllerError(readable.controller, r);
      rejectDeferred(finish, r);
    },
  );
  return finish.promise;
}

// https://streams.spec.whatwg.org/#ts-default-source-abstract-ops

function TransformStreamDefaultSourceCancelAlgorithm(stream, reason) {
  const controller = stream.controller;
  if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
  const writable = stream.writable;
  controller.finishPromise = new Deferred();
  const finish = controller.finishPromise;
  const cancelPromise = controller.cancelAlgorithm(reason);
  TransformStreamDefaultControllerClearAlgorithms(controller);
  uponPromise(
    cancelPromise,
    () => {
      if (writable.state === "errored") {
        rejectDeferred(finish, writable.storedError);
      } else {
        WritableStreamDefaultControllerErrorIfNeeded(writable.controller, reason);
        TransformStreamUnblockWrite(stream);
        resolveDeferred(finish, undefined);
      }
    },
    (r) => {
      WritableStreamDefaultControllerErrorIfNeeded(writable.controller, r);
      TransformStreamUnblockWrite(stream);
      rejectDeferred(finish, r);
    },
  );
  return finish.promise;
}

function TransformStreamDefaultSourcePullAlgorithm(stream) {
  TransformStreamSetBackpressure(stream, false);
  return stream.backpressureChangePromise.promise;
}

// ---------------------------------------------------------------------------
// Public transform stream classes

let tsImpl;

// https://streams.spec.whatwg.org/#ts-class
class TransformStream {
  #impl;

  constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
    if (transformer !== undefined && !isObject(transformer)) {
      throw new TypeError("The transformer argument must be an object");
    }
    const writableStrategyDict = convertQueuingStrategy(writableStrategy, "writableStrategy");
    const readableStrategyDict = convertQueuingStrategy(readableStrategy, "readableStrategy");
    if (transformer === undefined) transformer = null;
    const transformerDict = convertTransformer(transformer);
    if (transformerDict.readableType !== undefined) {
      throw new RangeError("Invalid readableType specified");
    }
    if (transformerDict.writableType !== undefined) {
      throw new RangeError("Invalid writableType specified");
    }
    const readableHighWaterMark = ExtractHighWaterMark(readableStrategyDict, 0);
    const readableSizeAlgorithm = ExtractSizeAlgorithm(readableStrategyDict);
    const writableHighWaterMark = ExtractHighWaterMark(writableStrategyDict, 1);
    const writableSizeAlgorithm = ExtractSizeAlgorithm(writableStrategyDict);
    const stream = new TransformStreamRecord();
    stream.wrapper = this;
    this.#impl = stream;
    const startPromise = new Deferred();
    InitializeTransformStream(
      stream, startPromise.promise, writableHighWaterMark, writableSizeAlgorithm,
      readableHighWaterMark, readableSizeAlgorithm,
    );
    SetUpTransformStreamDefaultControllerFromTransformer(stream, transformer, transformerDict);
    const start = transformerDict.start;
    if (start !== undefined) {
      resolveDeferred(
        startPromise,
        FunctionPrototypeCall(start, transformer, stream.controller.wrapper),
      );
    } else {
      resolveDeferred(startPromise, undefined);
    }
  }

  get readable() {
    return unwrapThis(tsImpl, this, "TransformStream", "readable").readable.wrapper;
  }

  get writable() {
    return unwrapThis(tsImpl, this, "TransformStream", "writable").writable.wrapper;
  }

  static {
    tsImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// https://streams.spec.whatwg.org/#ts-default-controller-class
let transformControllerImpl;

class TransformStreamDefaultController {
  #impl;

  constructor() {
    if (arguments[0] !== kInternal) throw new TypeError("Illegal constructor");
    this.#impl = arguments[1];
  }

  get desiredSize() {
    const c = unwrapThis(transformControllerImpl, this, "TransformStreamDefaultController", "desiredSize");
    return ReadableStreamDefaultControllerGetDesiredSize(c.stream.readable.controller);
  }

  enqueue(chunk = undefined) {
    const c = unwrapThis(transformControllerImpl, this, "TransformStreamDefaultController", "enqueue");
    TransformStreamDefaultControllerEnqueue(c, chunk);
  }

  error(reason = undefined) {
    const c = unwrapThis(transformControllerImpl, this, "TransformStreamDefaultController", "error");
    TransformStreamDefaultControllerError(c, reason);
  }

  terminate() {
    const c = unwrapThis(transformControllerImpl, this, "TransformStreamDefaultController", "terminate");
    TransformStreamDefaultControllerTerminate(c);
  }

  static {
    transformControllerImpl = (o) => (isObject(o) && #impl in o ? o.#impl : undefined);
  }
}

// ===========================================================================
// Queuing strategies
// https://streams.spec.whatwg.org/#qs

function convertQueuingStrategyInit(init, className) {
  const obj = dictionaryBase(init, "init");
  const hwm = obj === null ? undefined : obj.highWaterMark;
  if (hwm === undefined) {
    throw new TypeError(`Failed to construct '${className}': highWaterMark is required`);
  }
  return convertUnrestrictedDouble(hwm);
}

const byteLengthSizeFunction = {
  size(chunk) {
    return chunk.byteLength;
  },
}.size;

const countSizeFunction = {
  size() {
    return 1;
  },
}.size;

let blqsHWM;

// https://streams.spec.whatwg.org/#blqs-class
class ByteLengthQueuingStrategy {
  #highWaterMark;

  constructor(init) {
    this.#highWaterMark = convertQueuingStrategyInit(init, "ByteLengthQueuingStrategy");
  }

  get highWaterMark() {
    return blqsHWM(this);
  }

  get size() {
    blqsHWM(this);
    return byteLengthSizeFunction;
  }

  static {
    blqsHWM = (o) => {
      if (!isObject(o) || !(#highWaterMark in o)) {
        throw new TypeError("The object is not a ByteLengthQueuingStrategy");
      }
      return o.#highWaterMark;
    };
  }
}

let cqsHWM;

// https://streams.spec.whatwg.org/#cqs-class
class CountQueuingStrategy {
  #highWaterMark;

  constructor(init) {
    this.#highWaterMark = convertQueuingStrategyInit(init, "CountQueuingStrategy");
  }

  get highWaterMark() {
    return cqsHWM(this);
  }

  get size() {
    cqsHWM(this);
    return countSizeFunction;
  }

  static {
    cqsHWM = (o) => {
      if (!isObject(o) || !(#highWaterMark in o)) {
        throw new TypeError("The object is not a CountQueuingStrategy");
      }
      return o.#highWaterMark;
    };
  }
}

webidlClass(ReadableStream, "ReadableStream");
webidlClass(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");
webidlClass(ReadableStreamBYOBReader, "ReadableStreamBYOBReader");
webidlClass(ReadableStreamDefaultController, "ReadableStreamDefaultController");
webidlClass(ReadableByteStreamController, "ReadableByteStreamController");
webidlClass(ReadableStreamBYOBRequest, "ReadableStreamBYOBRequest");
webidlClass(WritableStream, "WritableStream");
webidlClass(WritableStreamDefaultWriter, "WritableStreamDefaultWriter");
webidlClass(WritableStreamDefaultController, "WritableStreamDefaultController");
webidlClass(TransformStream, "TransformStream");
webidlClass(TransformStreamDefaultController, "TransformStreamDefaultController");
webidlClass(ByteLengthQueuingStrategy, "ByteLengthQueuingStrategy");
webidlClass(CountQueuingStrategy, "CountQueuingStrategy");

// ===========================================================================
// Runtime-internal helpers (for Body, Request, Response and the host side)

function isReadableStream(x) {
  return rsImpl(x) !== undefined;
}

function isReadableStreamLocked(s) {
  return IsReadableStreamLocked(requireRS(s, "locked"));
}

function isReadableStreamDisturbed(s) {
  return requireRS(s, "disturbed").disturbed;
}

// A read request that collects byte chunks until the stream closes.
class CollectReadRequest {
  constructor(reader, mustCopy) {
    this.reader = reader;
    // Chunks of a byte stream live in buffers that were transferred into the
    // stream, so nobody else can modify them; other chunks are copied because
    // their producer may reuse its buffer once the chunk was handed out.
    this.mustCopy = mustCopy;
    this.chunks = [];
    this.totalLength = 0;
    this.deferred = new Deferred();
  }
  chunkSteps(chunk) {
    let bytes;
    if (ArrayBufferIsView(chunk)) {
      if (isTypedArray(chunk) && TypedArrayPrototypeGetSymbolToStringTag(chunk) === "Uint8Array") {
        bytes = chunk;
      } else {
        bytes = new Uint8Array(viewBuffer(chunk), viewByteOffset(chunk), viewByteLength(chunk));
      }
    } else if (isArrayBuffer(chunk)) {
      bytes = new Uint8Array(chunk);
    } else {
      const error = new TypeError(
        "The stream produced a chunk that is not a Uint8Array, ArrayBufferView or ArrayBuffer",
      );
      rejectDeferred(this.deferred, error);
      setPromiseIsHandledToTrue(ReadableStreamReaderGenericCancel(this.reader, error));
      return;
    }
    const length = TypedArrayPrototypeGetLength(bytes);
    if (this.mustCopy) {
      const copy = new Uint8Array(length);
      TypedArrayPrototypeSet(copy, bytes);
      bytes = copy;
    }
    if (length > 0) ArrayPrototypePush(this.chunks, bytes);
    this.totalLength += length;
    // Continue with the next chunk from a fresh microtask (no deep recursion
    // when many chunks are already queued).
    queueMicrotaskInternal(() => ReadableStreamDefaultReaderRead(this.reader, this));
  }
  closeSteps() {
    const chunks = this.chunks;
    let result;
    if (
      chunks.length === 1 &&
      TypedArrayPrototypeGetByteOffset(chunks[0]) === 0 &&
      TypedArrayPrototypeGetLength(chunks[0]) === bufferByteLength(TypedArrayPrototypeGetBuffer(chunks[0]))
    ) {
      result = chunks[0];
    } else {
      result = new Uint8Array(this.totalLength);
      let offset = 0;
      for (let i = 0; i < chunks.length; i++) {
        TypedArrayPrototypeSet(result, chunks[i], offset);
        offset += TypedArrayPrototypeGetLength(chunks[i]);
      }
    }
    this.chunks = [];
    ReadableStreamDefaultReaderRelease(this.reader);
    resolveDeferred(this.deferred, result);
  }
  errorSteps(e) {
    if (this.reader.stream !== undefined) ReadableStreamDefaultReaderRelease(this.reader);
    rejectDeferred(this.deferred, e);
  }
}

// Reads `s` to the end; fulfills with the concatenated bytes.
function readableStreamCollect(s) {
  let stream;
  let reader;
  try {
    stream = requireRS(s, "collect");
    reader = AcquireReadableStreamDefaultReader(stream);
  } catch (e) {
    return promiseRejectedWith(e);
  }
  const request = new CollectReadRequest(reader, !stream.controller.isByte);
  ReadableStreamDefaultReaderRead(reader, request);
  return request.deferred.promise;
}

// A byte stream that yields `u8` (copied lazily, on first pull) then closes.
function readableStreamFromBytes(u8) {
  let bytes = u8;
  let stream;
  const pullAlgorithm = () => {
    const controller = stream.controller;
    if (bytes !== undefined && TypedArrayPrototypeGetLength(bytes) > 0) {
      const copy = new Uint8Array(TypedArrayPrototypeGetLength(bytes));
      TypedArrayPrototypeSet(copy, bytes);
      bytes = undefined;
      ReadableByteStreamControllerEnqueue(controller, copy);
    }
    bytes = undefined;
    ReadableByteStreamControllerClose(controller);
    // A pending BYOB read on a now-closed stream is answered with 0 bytes.
    if (controller.pendingPullIntos.length > 0 && stream.state === "closed") {
      ReadableByteStreamControllerRespond(controller, 0);
    }
    return promiseResolvedWith(undefined);
  };
  const cancelAlgorithm = () => {
    bytes = undefined;
    return promiseResolvedWith(undefined);
  };
  stream = CreateReadableByteStream(() => undefined, pullAlgorithm, cancelAlgorithm);
  return stream.wrapper;
}

function readableStreamCancel(s, reason) {
  return ReadableStreamCancel(requireRS(s, "cancel"), reason);
}

// Lock-free internal reading API for the host side (not subject to a script
// replacing ReadableStreamDefaultReader.prototype.read).
function readableStreamGetReader(s) {
  return AcquireReadableStreamDefaultReader(requireRS(s, "getReader")).wrapper;
}

function readableStreamRead(reader) {
  const r = defaultReaderImpl(reader);
  if (r === undefined || r.stream === undefined) {
    return promiseRejectedWith(new TypeError("The reader is not attached to a stream"));
  }
  const readRequest = new PromiseReadRequest();
  ReadableStreamDefaultReaderRead(r, readRequest);
  return readRequest.deferred.promise;
}

function readableStreamReleaseReader(reader) {
  const r = defaultReaderImpl(reader);
  if (r !== undefined && r.stream !== undefined) ReadableStreamDefaultReaderRelease(r);
}

internals.ReadableStream = ReadableStream;
internals.WritableStream = WritableStream;
internals.TransformStream = TransformStream;
internals.isReadableStream = isReadableStream;
internals.isReadableStreamLocked = isReadableStreamLocked;
internals.isReadableStreamDisturbed = isReadableStreamDisturbed;
internals.readableStreamCollect = readableStreamCollect;
internals.readableStreamFromBytes = readableStreamFromBytes;
internals.readableStreamCancel = readableStreamCancel;
internals.readableStreamGetReader = readableStreamGetReader;
internals.readableStreamRead = readableStreamRead;
internals.readableStreamReleaseReader = readableStreamReleaseReader;

internals.defineGlobals({
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableByteStreamController,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
});
