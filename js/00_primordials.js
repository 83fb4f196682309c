// https://tc39.es/ecma262/ (captured builtins, "primordials")
//
// Every runtime file receives `primordials`: copies of the ECMAScript builtins
// taken at snapshot time, so a script that overwrites Array.prototype.push or
// JSON.parse cannot break Request, Response or streams. Naming, as in Deno:
//   Constructor itself        primordials.Map
//   static method/property    primordials.ArrayIsArray, primordials.JSONParse
//   prototype method          primordials.ArrayPrototypePush(arr, x)
//   prototype getter          primordials.ArrayBufferPrototypeGetByteLength(ab)
//   well-known symbols        primordials.SymbolIterator, SymbolAsyncIterator
// At snapshot build, `internals.primordialNames` holds every word the runtime
// files contain, and a builtin method no file names is not copied: contexts
// do not carry a bound copy of every builtin (`snapshot_builder.rs`). Name a
// primordial in full, never build its name from pieces.
// This file also installs `internals.defineGlobal(name, value)` and
// `internals.defineGlobals(object)` which add web-IDL style globals
// (writable, configurable, not enumerable).

const uncurryThis = Function.prototype.bind.bind(Function.prototype.call);
const ReflectOwnKeys = Reflect.ownKeys;
const ReflectGetOwnPropertyDescriptor = Reflect.getOwnPropertyDescriptor;
const ObjectDefineProperty = Object.defineProperty;
const StringPrototypeToUpperCase = uncurryThis(String.prototype.toUpperCase);
const StringPrototypeSlice = uncurryThis(String.prototype.slice);

let wanted = internals.primordialNames;
delete internals.primordialNames;

function put(name, value) {
  if (wanted[name] === true) primordials[name] = value;
}

function capitalize(key) {
  return StringPrototypeToUpperCase(key[0]) + StringPrototypeSlice(key, 1);
}

function copyStatics(src, prefix) {
  const keys = ReflectOwnKeys(src);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (typeof key !== "string" || key === "prototype" || key === "length" ||
        key === "name" || key === "caller" || key === "arguments") {
      continue;
    }
    const desc = ReflectGetOwnPropertyDescriptor(src, key);
    const name = prefix + capitalize(key);
    if ("value" in desc) {
      const value = desc.value;
      put(name, typeof value === "function" ? value.bind(src) : value);
    } else if (desc.get) {
      put(prefix + "Get" + capitalize(key), desc.get.bind(src));
    }
  }
}

function copyPrototype(proto, prefix) {
  const keys = ReflectOwnKeys(proto);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key === "constructor") continue;
    let keyName;
    if (typeof key === "symbol") {
      const desc = key.description;
      if (!desc || desc.slice(0, 7) !== "Symbol.") continue;
      keyName = "Symbol" + capitalize(desc.slice(7));
    } else {
      keyName = capitalize(key);
    }
    const desc = ReflectGetOwnPropertyDescriptor(proto, key);
    if ("value" in desc) {
      if (typeof desc.value === "function") {
        put(prefix + "Prototype" + keyName, uncurryThis(desc.value));
      }
    } else {
      if (desc.get) put(prefix + "PrototypeGet" + keyName, uncurryThis(desc.get));
      if (desc.set) put(prefix + "PrototypeSet" + keyName, uncurryThis(desc.set));
    }
  }
}

const namespaces = { JSON, Math, Reflect, Atomics };
for (const name of ReflectOwnKeys(namespaces)) {
  primordials[name] = namespaces[name];
  copyStatics(namespaces[name], name);
}

const TypedArray = Object.getPrototypeOf(Uint8Array);
const AsyncIteratorPrototype = Object.getPrototypeOf(
  Object.getPrototypeOf(async function* () {}).prototype,
);
const IteratorPrototype = Object.getPrototypeOf(
  Object.getPrototypeOf([][Symbol.iterator]()),
);

const constructors = {
  AggregateError, Array, ArrayBuffer, BigInt, BigInt64Array, BigUint64Array,
  Boolean, DataView, Date, Error, EvalError, FinalizationRegistry,
  Float32Array, Float64Array, Function, Int16Array, Int32Array, Int8Array,
  Map, Number, Object, Promise, Proxy, RangeError, ReferenceError, RegExp, Set,
  String, Symbol, SyntaxError, TypeError, URIError,
  Uint16Array, Uint32Array, Uint8Array, Uint8ClampedArray, WeakMap, WeakRef,
  WeakSet, TypedArray,
};
for (const name of ReflectOwnKeys(constructors)) {
  const ctor = constructors[name];
  primordials[name] = ctor;
  copyStatics(ctor, name);
  if (ctor.prototype) copyPrototype(ctor.prototype, name);
}
// Closures made here keep this file's scope alive; the list is not needed.
wanted = undefined;
primordials.IteratorPrototype = IteratorPrototype;
primordials.AsyncIteratorPrototype = AsyncIteratorPrototype;
primordials.globalThis = globalThis;
primordials.uncurryThis = uncurryThis;
primordials.isNaN = isNaN;
primordials.encodeURIComponent = encodeURIComponent;
primordials.decodeURIComponent = decodeURIComponent;
primordials.encodeURI = encodeURI;
primordials.decodeURI = decodeURI;
// Array iteration without touching Array.prototype[Symbol.iterator] later.
primordials.ArrayIteratorPrototypeNext = uncurryThis(
  Object.getPrototypeOf([][Symbol.iterator]()).next,
);
primordials.PromiseWithResolvers = () => {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
// Promise.prototype.then, but safe from a script replacing `then`.
primordials.SafePromiseThen = primordials.PromisePrototypeThen;

Object.freeze(primordials);

internals.defineGlobal = function defineGlobal(name, value) {
  ObjectDefineProperty(globalThis, name, {
    value,
    writable: true,
    enumerable: false,
    configurable: true,
  });
};
internals.defineGlobals = function defineGlobals(values) {
  const keys = ReflectOwnKeys(values);
  for (let i = 0; i < keys.length; i++) {
    internals.defineGlobal(keys[i], values[keys[i]]);
  }
};
