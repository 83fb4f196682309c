// https://w3c.github.io/webcrypto/#crypto-interface
//
// crypto.getRandomValues and crypto.randomUUID from the OS CSPRNG.

const {
  ArrayBufferIsView, ObjectDefineProperty, SymbolToStringTag, TypeError,
  TypedArrayPrototypeGetSymbolToStringTag, TypedArrayPrototypeGetByteLength,
} = primordials;

const INTEGER_ARRAYS = {
  Int8Array: true, Uint8Array: true, Uint8ClampedArray: true, Int16Array: true,
  Uint16Array: true, Int32Array: true, Uint32Array: true, BigInt64Array: true,
  BigUint64Array: true,
};

const brand = Symbol("Crypto");

class Crypto {
  constructor(key) {
    if (key !== brand) throw new TypeError("Illegal constructor");
  }
  getRandomValues(array) {
    const tag = ArrayBufferIsView(array) ? TypedArrayPrototypeGetSymbolToStringTag(array) : undefined;
    if (tag === undefined || INTEGER_ARRAYS[tag] !== true) {
      const DOMException = internals.DOMException;
      throw new DOMException(
        "Failed to execute 'getRandomValues' on 'Crypto': The provided ArrayBufferView is not an integer array type.",
        "TypeMismatchError",
      );
    }
    if (TypedArrayPrototypeGetByteLength(array) > 65536) {
      const DOMException = internals.DOMException;
      throw new DOMException(
        "Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length (" +
          TypedArrayPrototypeGetByteLength(array) + ") exceeds the number of bytes of entropy available via this API (65536).",
        "QuotaExceededError",
      );
    }
    ops.op_crypto_get_random_values(array);
    return array;
  }
  randomUUID() {
    return ops.op_crypto_random_uuid();
  }
}
ObjectDefineProperty(Crypto.prototype, SymbolToStringTag, { value: "Crypto", configurable: true });

internals.defineGlobals({ Crypto, crypto: new Crypto(brand) });
