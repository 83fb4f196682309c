// https://webidl.spec.whatwg.org/#idl-DOMException
//
// DOMException: an Error-like platform object with a `name`, a `message` and a
// legacy numeric `code`. Instances inherit from Error.prototype and carry a V8
// `stack`. Published as `internals.DOMException` so runtime files can throw
// `new internals.DOMException(msg, "AbortError")` even if a script replaces
// the global.

const {
  Error,
  ErrorCaptureStackTrace,
  ObjectDefineProperty,
  ObjectSetPrototypeOf,
  ObjectPrototypeHasOwnProperty,
  SymbolToStringTag,
  TypeError,
} = primordials;

// Legacy names and codes: https://webidl.spec.whatwg.org/#dfn-error-names-table
const CODES = {
  __proto__: null,
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InUseAttributeError: 10,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
};

const CONSTANTS = [
  ["INDEX_SIZE_ERR", 1],
  ["DOMSTRING_SIZE_ERR", 2],
  ["HIERARCHY_REQUEST_ERR", 3],
  ["WRONG_DOCUMENT_ERR", 4],
  ["INVALID_CHARACTER_ERR", 5],
  ["NO_DATA_ALLOWED_ERR", 6],
  ["NO_MODIFICATION_ALLOWED_ERR", 7],
  ["NOT_FOUND_ERR", 8],
  ["NOT_SUPPORTED_ERR", 9],
  ["INUSE_ATTRIBUTE_ERR", 10],
  ["INVALID_STATE_ERR", 11],
  ["SYNTAX_ERR", 12],
  ["INVALID_MODIFICATION_ERR", 13],
  ["NAMESPACE_ERR", 14],
  ["INVALID_ACCESS_ERR", 15],
  ["VALIDATION_ERR", 16],
  ["TYPE_MISMATCH_ERR", 17],
  ["SECURITY_ERR", 18],
  ["NETWORK_ERR", 19],
  ["ABORT_ERR", 20],
  ["URL_MISMATCH_ERR", 21],
  ["QUOTA_EXCEEDED_ERR", 22],
  ["TIMEOUT_ERR", 23],
  ["INVALID_NODE_TYPE_ERR", 24],
  ["DATA_CLONE_ERR", 25],
];

// Web IDL DOMString conversion (ToString, which throws on symbols).
function toDOMString(value) {
  return `${value}`;
}

class DOMException {
  #name;
  #message;

  constructor(message = "", name = "Error") {
    this.#message = toDOMString(message);
    this.#name = toDOMString(name);
    // Captured after the fields are set so the stack header reads
    // "AbortError: message" like in browsers.
    ErrorCaptureStackTrace(this, DOMException);
  }

  get name() {
    if (!(#name in this)) throw new TypeError("Illegal invocation");
    return this.#name;
  }

  get message() {
    if (!(#message in this)) throw new TypeError("Illegal invocation");
    return this.#message;
  }

  get code() {
    if (!(#name in this)) throw new TypeError("Illegal invocation");
    const name = this.#name;
    return ObjectPrototypeHasOwnProperty(CODES, name) ? CODES[name] : 0;
  }

  static {
    // Lets structuredClone (09) recognise DOMException without a public hook.
    internals.isDOMException = (value) =>
      value !== null && typeof value === "object" && #name in value;
  }
}

ObjectSetPrototypeOf(DOMException.prototype, Error.prototype);

ObjectDefineProperty(DOMException.prototype, SymbolToStringTag, {
  value: "DOMException",
  writable: false,
  enumerable: false,
  configurable: true,
});

for (let i = 0; i < CONSTANTS.length; i++) {
  const desc = {
    value: CONSTANTS[i][1],
    writable: false,
    enumerable: true,
    configurable: false,
  };
  ObjectDefineProperty(DOMException, CONSTANTS[i][0], desc);
  ObjectDefineProperty(DOMException.prototype, CONSTANTS[i][0], desc);
}

// Methods and accessors of Web IDL interfaces are enumerable.
for (const key of ["name", "message", "code"]) {
  ObjectDefineProperty(DOMException.prototype, key, { enumerable: true });
}

internals.DOMException = DOMException;
internals.defineGlobal("DOMException", DOMException);
