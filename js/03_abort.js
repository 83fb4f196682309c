// https://dom.spec.whatwg.org/#aborting-ongoing-activities
//
// AbortController and AbortSignal (abort(), timeout(), any()).
//
// Publishes on `internals`:
//   isAbortSignal(x)
//   abortSignalAborted(signal)               -> boolean
//   abortSignalAddAlgorithm(signal, fn)      runs fn() when the signal aborts
//                                            (no-op if it already has; check
//                                            abortSignalAborted first)
//   abortSignalRemoveAlgorithm(signal, fn)
//   createAbortSignal()                      a new, unaborted signal
//   signalAbort(signal, reason)              https://dom.spec.whatwg.org/#abortsignal-signal-abort
//   AbortSignal, AbortController, isAbortController(x)

const {
  ArrayPrototypeIndexOf,
  ArrayPrototypePush,
  ArrayPrototypeSplice,
  MathTrunc,
  NumberIsFinite,
  ObjectDefineProperty,
  SymbolToStringTag,
  TypeError,
} = primordials;

const { DOMException, EventTarget, Event } = internals;

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

const illegalConstructorKey = {};
let getSignalState;
let isAbortSignal;

class AbortSignal extends EventTarget {
  #state;

  constructor(key = undefined) {
    if (key !== illegalConstructorKey) {
      throw new TypeError("Illegal constructor");
    }
    super();
    this.#state = {
      aborted: false,
      reason: undefined,
      algorithms: [],
      dependent: false,
      // Strong references: a signal made by any() stays reachable from its
      // sources until they abort.
      sourceSignals: [],
      dependentSignals: [],
    };
  }

  static {
    getSignalState = (signal) => {
      if (signal === null || typeof signal !== "object" || !(#state in signal)) {
        throw new TypeError("Illegal invocation");
      }
      return signal.#state;
    };
    isAbortSignal = (value) =>
      value !== null && typeof value === "object" && #state in value;
  }

  static abort(reason = undefined) {
    const signal = new AbortSignal(illegalConstructorKey);
    const state = signal.#state;
    state.aborted = true;
    state.reason = reason === undefined ? newAbortError() : reason;
    return signal;
  }

  static timeout(milliseconds) {
    if (arguments.length < 1) {
      throw new TypeError(
        "Failed to execute 'timeout' on 'AbortSignal': 1 argument required, but only 0 present.",
      );
    }
    const ms = enforceRangeUnsignedLongLong(milliseconds, "timeout");
    const signal = new AbortSignal(illegalConstructorKey);
    internals.setTimeout(() => {
      signalAbort(signal, new DOMException("signal timed out", "TimeoutError"));
    }, ms);
    return signal;
  }

  // https://dom.spec.whatwg.org/#create-a-dependent-abort-signal
  static any(signals) {
    if (arguments.length < 1) {
      throw new TypeError(
        "Failed to execute 'any' on 'AbortSignal': 1 argument required, but only 0 present.",
      );
    }
    if (signals === null || (typeof signals !== "object" && typeof signals !== "function")) {
      throw new TypeError(
        "Failed to execute 'any' on 'AbortSignal': The provided value cannot be converted to a sequence.",
      );
    }
    const list = [];
    for (const s of signals) {
      if (!isAbortSignal(s)) {
        throw new TypeError(
          "Failed to execute 'any' on 'AbortSignal': Failed to convert value to 'AbortSignal'.",
        );
      }
      ArrayPrototypePush(list, s);
    }
    const result = new AbortSignal(illegalConstructorKey);
    const resultState = result.#state;
    for (let i = 0; i < list.length; i++) {
      const state = list[i].#state;
      if (state.aborted) {
        resultState.aborted = true;
        resultState.reason = state.reason;
        return result;
      }
    }
    resultState.dependent = true;
    for (let i = 0; i < list.length; i++) {
      const signal = list[i];
      const state = signal.#state;
      if (!state.dependent) {
        linkDependent(result, resultState, signal, state);
      } else {
        const sources = state.sourceSignals;
        for (let j = 0; j < sources.length; j++) {
          linkDependent(result, resultState, sources[j], sources[j].#state);
        }
      }
    }
    return result;
  }

  get aborted() {
    return getSignalState(this).aborted;
  }

  get reason() {
    return getSignalState(this).reason;
  }

  throwIfAborted() {
    const state = getSignalState(this);
    if (state.aborted) throw state.reason;
  }
}

function linkDependent(result, resultState, source, sourceState) {
  if (ArrayPrototypeIndexOf(resultState.sourceSignals, source) !== -1) return;
  ArrayPrototypePush(resultState.sourceSignals, source);
  ArrayPrototypePush(sourceState.dependentSignals, result);
}

function newAbortError() {
  return new DOMException("signal is aborted without reason", "AbortError");
}

// Web IDL [EnforceRange] unsigned long long.
function enforceRangeUnsignedLongLong(value, method) {
  const n = +value;
  if (!NumberIsFinite(n)) {
    throw new TypeError(
      `Failed to execute '${method}' on 'AbortSignal': Value is not of type 'unsigned long long'.`,
    );
  }
  const t = MathTrunc(n);
  if (t < 0 || t > 9007199254740991) {
    throw new TypeError(
      `Failed to execute '${method}' on 'AbortSignal': Value is outside the 'unsigned long long' value range.`,
    );
  }
  return t === 0 ? 0 : t;
}

// https://dom.spec.whatwg.org/#run-the-abort-steps
function runAbortSteps(signal, state) {
  const algorithms = state.algorithms;
  state.algorithms = [];
  for (let i = 0; i < algorithms.length; i++) {
    try {
      algorithms[i]();
    } catch (error) {
      internals.reportException(error);
    }
  }
  internals.dispatchEvent(signal, new Event("abort"));
}

// https://dom.spec.whatwg.org/#abortsignal-signal-abort
function signalAbort(signal, reason) {
  const state = getSignalState(signal);
  if (state.aborted) return;
  state.aborted = true;
  state.reason = reason === undefined ? newAbortError() : reason;
  const toAbort = [];
  const dependents = state.dependentSignals;
  state.dependentSignals = [];
  for (let i = 0; i < dependents.length; i++) {
    const dependentState = getSignalState(dependents[i]);
    if (!dependentState.aborted) {
      dependentState.aborted = true;
      dependentState.reason = state.reason;
      ArrayPrototypePush(toAbort, dependents[i]);
    }
  }
  runAbortSteps(signal, state);
  for (let i = 0; i < toAbort.length; i++) {
    const dependentState = getSignalState(toAbort[i]);
    dependentState.sourceSignals = [];
    runAbortSteps(toAbort[i], dependentState);
  }
}

internals.defineEventHandler(AbortSignal.prototype, "abort", isAbortSignal);
makeEnumerable(AbortSignal.prototype, ["aborted", "reason", "throwIfAborted"]);
for (const key of ["abort", "timeout", "any"]) {
  ObjectDefineProperty(AbortSignal, key, { enumerable: true });
}
defineToStringTag(AbortSignal.prototype, "AbortSignal");

class AbortController {
  #signal;

  constructor() {
    this.#signal = new AbortSignal(illegalConstructorKey);
  }

  get signal() {
    if (!(#signal in this)) throw new TypeError("Illegal invocation");
    return this.#signal;
  }

  abort(reason = undefined) {
    if (!(#signal in this)) throw new TypeError("Illegal invocation");
    signalAbort(this.#signal, reason);
  }

  static {
    internals.isAbortController = (value) =>
      value !== null && typeof value === "object" && #signal in value;
  }
}
makeEnumerable(AbortController.prototype, ["signal", "abort"]);
defineToStringTag(AbortController.prototype, "AbortController");

internals.AbortSignal = AbortSignal;
internals.AbortController = AbortController;
internals.isAbortSignal = isAbortSignal;
internals.abortSignalAborted = (signal) => getSignalState(signal).aborted;
internals.abortSignalAddAlgorithm = (signal, algorithm) => {
  const state = getSignalState(signal);
  if (state.aborted) return;
  ArrayPrototypePush(state.algorithms, algorithm);
};
internals.abortSignalRemoveAlgorithm = (signal, algorithm) => {
  const state = getSignalState(signal);
  const index = ArrayPrototypeIndexOf(state.algorithms, algorithm);
  if (index !== -1) ArrayPrototypeSplice(state.algorithms, index, 1);
};
internals.createAbortSignal = () => new AbortSignal(illegalConstructorKey);
internals.signalAbort = signalAbort;

internals.defineGlobals({ AbortController, AbortSignal });
