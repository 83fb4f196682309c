// https://dom.spec.whatwg.org/#events
//
// Event, EventTarget and CustomEvent. There is no node tree here, so an
// event's path is only its target: capturing listeners run first, then the
// others, both with eventPhase AT_TARGET, as the DOM dispatch algorithm does
// for a target without a parent.
//
// Publishes on `internals`:
//   Event, EventTarget, CustomEvent
//   dispatchEvent(target, event)    dispatch as the runtime ("fire an event"):
//                                   the event gets isTrusted = true
//   isEvent(x), isEventTarget(x)    brand checks
//   makeEventTarget(obj)            give any object (e.g. globalThis) an
//                                   EventTarget listener list, so the
//                                   EventTarget.prototype methods accept it
//   addListenerInternal(target, type, fn, options) /
//   removeListenerInternal(target, type, fn, capture)
//                                   the same as the public methods, immune to a
//                                   script replacing them
//   defineEventHandler(proto, name, brandCheck?)
//                                   installs an `on<name>` event handler IDL
//                                   attribute (https://html.spec.whatwg.org/#event-handler-attributes)
//   reportException(err)            internals.reportError if present, else
//                                   console.error

const {
  ArrayPrototypePush,
  ArrayPrototypeSlice,
  ArrayPrototypeSplice,
  DateNow,
  FunctionPrototypeCall,
  Map,
  MapPrototypeDelete,
  MapPrototypeGet,
  MapPrototypeSet,
  ObjectDefineProperty,
  ReflectApply,
  SymbolToStringTag,
  TypeError,
  WeakMap,
  WeakMapPrototypeGet,
  WeakMapPrototypeHas,
  WeakMapPrototypeSet,
  globalThis,
} = primordials;

const DOMException = internals.DOMException;

function toDOMString(value) {
  return `${value}`;
}

function illegalInvocation() {
  return new TypeError("Illegal invocation");
}

function reportException(error) {
  try {
    if (typeof internals.reportError === "function") {
      internals.reportError(error);
      return;
    }
    const console = globalThis.console;
    if (console && typeof console.error === "function") {
      FunctionPrototypeCall(console.error, console, error);
    }
  } catch {
    // Nothing sensible left to do with an error thrown while reporting one.
  }
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

function defineConstants(targets, constants) {
  for (let t = 0; t < targets.length; t++) {
    for (let i = 0; i < constants.length; i++) {
      ObjectDefineProperty(targets[t], constants[i][0], {
        value: constants[i][1],
        writable: false,
        enumerable: true,
        configurable: false,
      });
    }
  }
}

// Reads an EventInit-style dictionary member (undefined and null mean "{}").
function checkDictionary(dict, what) {
  if (dict === undefined || dict === null) return undefined;
  if (typeof dict !== "object" && typeof dict !== "function") {
    throw new TypeError(`${what} is not an object`);
  }
  return dict;
}

// ---------------------------------------------------------------- Event

const NONE = 0;
const CAPTURING_PHASE = 1;
const AT_TARGET = 2;
const BUBBLING_PHASE = 3;

let getEventState;
let isEvent;

// [LegacyUnforgeable] readonly attribute boolean isTrusted: an own accessor of
// every instance, sharing one getter function.
function isTrustedGetter() {
  return getEventState(this).isTrusted;
}
ObjectDefineProperty(isTrustedGetter, "name", { value: "get isTrusted" });

class Event {
  #state;

  constructor(type, eventInitDict = undefined) {
    if (arguments.length < 1) {
      throw new TypeError(
        "Failed to construct 'Event': 1 argument required, but only 0 present.",
      );
    }
    type = toDOMString(type);
    const init = checkDictionary(eventInitDict, "EventInit");
    let bubbles = false;
    let cancelable = false;
    let composed = false;
    if (init !== undefined) {
      bubbles = !!init.bubbles;
      cancelable = !!init.cancelable;
      composed = !!init.composed;
    }
    this.#state = {
      type,
      bubbles,
      cancelable,
      composed,
      target: null,
      currentTarget: null,
      eventPhase: NONE,
      timeStamp: DateNow(),
      isTrusted: false,
      initialized: true,
      dispatching: false,
      stopPropagation: false,
      stopImmediatePropagation: false,
      canceled: false,
      inPassiveListener: false,
    };
    ObjectDefineProperty(this, "isTrusted", {
      get: isTrustedGetter,
      enumerable: true,
      configurable: false,
    });
  }

  static {
    getEventState = (event) => {
      if (event === null || typeof event !== "object" || !(#state in event)) {
        throw illegalInvocation();
      }
      return event.#state;
    };
    isEvent = (value) =>
      value !== null && typeof value === "object" && #state in value;
  }

  get type() {
    return getEventState(this).type;
  }

  get target() {
    return getEventState(this).target;
  }

  get srcElement() {
    return getEventState(this).target;
  }

  get currentTarget() {
    return getEventState(this).currentTarget;
  }

  composedPath() {
    const state = getEventState(this);
    return state.currentTarget === null ? [] : [state.currentTarget];
  }

  get eventPhase() {
    return getEventState(this).eventPhase;
  }

  stopPropagation() {
    getEventState(this).stopPropagation = true;
  }

  get cancelBubble() {
    return getEventState(this).stopPropagation;
  }

  set cancelBubble(value) {
    const state = getEventState(this);
    if (value) state.stopPropagation = true;
  }

  stopImmediatePropagation() {
    const state = getEventState(this);
    state.stopPropagation = true;
    state.stopImmediatePropagation = true;
  }

  get bubbles() {
    return getEventState(this).bubbles;
  }

  get cancelable() {
    return getEventState(this).cancelable;
  }

  get returnValue() {
    return !getEventState(this).canceled;
  }

  set returnValue(value) {
    const state = getEventState(this);
    if (!value) setCanceledFlag(state);
  }

  preventDefault() {
    setCanceledFlag(getEventState(this));
  }

  get defaultPrevented() {
    return getEventState(this).canceled;
  }

  get composed() {
    return getEventState(this).composed;
  }

  get timeStamp() {
    return getEventState(this).timeStamp;
  }

  initEvent(type, bubbles = false, cancelable = false) {
    const state = getEventState(this);
    if (arguments.length < 1) {
      throw new TypeError(
        "Failed to execute 'initEvent' on 'Event': 1 argument required, but only 0 present.",
      );
    }
    if (state.dispatching) return;
    state.initialized = true;
    state.stopPropagation = false;
    state.stopImmediatePropagation = false;
    state.canceled = false;
    state.isTrusted = false;
    state.target = null;
    state.type = toDOMString(type);
    state.bubbles = !!bubbles;
    state.cancelable = !!cancelable;
  }
}

const EventPrototypeInitEvent = Event.prototype.initEvent;

function setCanceledFlag(state) {
  if (state.cancelable && !state.inPassiveListener) state.canceled = true;
}

const EVENT_CONSTANTS = [
  ["NONE", NONE],
  ["CAPTURING_PHASE", CAPTURING_PHASE],
  ["AT_TARGET", AT_TARGET],
  ["BUBBLING_PHASE", BUBBLING_PHASE],
];
defineConstants([Event, Event.prototype], EVENT_CONSTANTS);
makeEnumerable(Event.prototype, [
  "type", "target", "srcElement", "currentTarget", "composedPath",
  "eventPhase", "stopPropagation", "cancelBubble", "stopImmediatePropagation",
  "bubbles", "cancelable", "returnValue", "preventDefault",
  "defaultPrevented", "composed", "timeStamp", "initEvent",
]);
defineToStringTag(Event.prototype, "Event");

// ---------------------------------------------------------------- CustomEvent

class CustomEvent extends Event {
  #detail;

  constructor(type, eventInitDict = undefined) {
    if (arguments.length < 1) {
      throw new TypeError(
        "Failed to construct 'CustomEvent': 1 argument required, but only 0 present.",
      );
    }
    super(type, eventInitDict);
    const init = checkDictionary(eventInitDict, "CustomEventInit");
    const detail = init === undefined ? undefined : init.detail;
    this.#detail = detail === undefined ? null : detail;
  }

  get detail() {
    if (!(#detail in this)) throw illegalInvocation();
    return this.#detail;
  }

  initCustomEvent(type, bubbles = false, cancelable = false, detail = null) {
    if (!(#detail in this)) throw illegalInvocation();
    if (arguments.length < 1) {
      throw new TypeError(
        "Failed to execute 'initCustomEvent' on 'CustomEvent': 1 argument required, but only 0 present.",
      );
    }
    if (getEventState(this).dispatching) return;
    FunctionPrototypeCall(EventPrototypeInitEvent, this, type, bubbles, cancelable);
    this.#detail = detail;
  }
}
makeEnumerable(CustomEvent.prototype, ["detail", "initCustomEvent"]);
defineToStringTag(CustomEvent.prototype, "CustomEvent");

// ---------------------------------------------------------------- EventTarget

// target -> Map(type -> array of listener records). A WeakMap rather than a
// private field so the runtime can make globalThis an event target.
const listenerLists = new WeakMap();

function getListeners(target) {
  // Methods called without a receiver (`addEventListener(...)` at top level
  // of a worker) act on the global object, as Web IDL specifies for globals.
  if (target === undefined || target === null) target = globalThis;
  const lists = WeakMapPrototypeGet(listenerLists, target);
  if (lists === undefined) throw illegalInvocation();
  return lists;
}

function makeEventTarget(object) {
  if (!WeakMapPrototypeHas(listenerLists, object)) {
    WeakMapPrototypeSet(listenerLists, object, new Map());
  }
  return object;
}

function isEventTarget(value) {
  return value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    WeakMapPrototypeHas(listenerLists, value);
}

// https://dom.spec.whatwg.org/#concept-flatten-options
function flattenCapture(options) {
  if (typeof options === "boolean") return options;
  if (options === undefined || options === null) return false;
  if (typeof options !== "object" && typeof options !== "function") {
    return !!options;
  }
  return !!options.capture;
}

function checkCallback(callback, method) {
  if (callback === undefined || callback === null) return null;
  if (typeof callback !== "object" && typeof callback !== "function") {
    throw new TypeError(
      `Failed to execute '${method}' on 'EventTarget': parameter 2 is not of type 'Object'.`,
    );
  }
  return callback;
}

function findListener(list, callback, capture) {
  for (let i = 0; i < list.length; i++) {
    const l = list[i];
    if (l.callback === callback && l.capture === capture) return i;
  }
  return -1;
}

function removeListenerRecord(lists, listener) {
  listener.removed = true;
  const list = MapPrototypeGet(lists, listener.type);
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === listener) {
      ArrayPrototypeSplice(list, i, 1);
      break;
    }
  }
  if (list.length === 0) MapPrototypeDelete(lists, listener.type);
  if (listener.signal !== null) {
    internals.abortSignalRemoveAlgorithm(listener.signal, listener.onAbort);
    listener.signal = null;
  }
}

// https://dom.spec.whatwg.org/#add-an-event-listener
function addListener(target, type, callback, options) {
  const lists = getListeners(target);
  type = toDOMString(type);
  let capture = false;
  let once = false;
  let passive = false;
  let signal = null;
  if (typeof options === "boolean") {
    capture = options;
  } else if (options !== undefined && options !== null) {
    if (typeof options !== "object" && typeof options !== "function") {
      capture = !!options;
    } else {
      // Dictionary members in lexicographic order, as Web IDL converts them.
      capture = !!options.capture;
      once = !!options.once;
      passive = !!options.passive;
      const s = options.signal;
      if (s !== undefined) {
        if (!internals.isAbortSignal(s)) {
          throw new TypeError(
            "Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type 'AbortSignal'.",
          );
        }
        signal = s;
      }
    }
  }
  if (signal !== null && internals.abortSignalAborted(signal)) return;
  if (callback === null) return;
  let list = MapPrototypeGet(lists, type);
  if (list === undefined) {
    list = [];
    MapPrototypeSet(lists, type, list);
  }
  if (findListener(list, callback, capture) !== -1) return;
  const listener = {
    type,
    callback,
    capture,
    passive,
    once,
    signal,
    removed: false,
    onAbort: null,
  };
  ArrayPrototypePush(list, listener);
  if (signal !== null) {
    listener.onAbort = () => {
      listener.signal = null;
      removeListenerRecord(lists, listener);
    };
    internals.abortSignalAddAlgorithm(signal, listener.onAbort);
  }
}

// https://dom.spec.whatwg.org/#remove-an-event-listener
function removeListener(target, type, callback, capture) {
  const lists = getListeners(target);
  type = toDOMString(type);
  if (callback === null) return;
  const list = MapPrototypeGet(lists, type);
  if (list === undefined) return;
  const index = findListener(list, callback, capture);
  if (index !== -1) removeListenerRecord(lists, list[index]);
}

// https://dom.spec.whatwg.org/#concept-event-listener-inner-invoke
function innerInvoke(target, lists, listeners, event, state, phase) {
  for (let i = 0; i < listeners.length; i++) {
    const listener = listeners[i];
    if (listener.removed) continue;
    if (phase === CAPTURING_PHASE && !listener.capture) continue;
    if (phase === BUBBLING_PHASE && listener.capture) continue;
    if (listener.once) removeListenerRecord(lists, listener);
    if (listener.passive) state.inPassiveListener = true;
    const callback = listener.callback;
    try {
      if (typeof callback === "function") {
        ReflectApply(callback, state.currentTarget, [event]);
      } else {
        const handleEvent = callback.handleEvent;
        if (typeof handleEvent !== "function") {
          throw new TypeError("The 'handleEvent' property of the event listener is not a function");
        }
        ReflectApply(handleEvent, callback, [event]);
      }
    } catch (error) {
      reportException(error);
    }
    state.inPassiveListener = false;
    if (state.stopImmediatePropagation) return;
  }
}

// https://dom.spec.whatwg.org/#concept-event-dispatch for a parentless target.
function dispatch(target, event, state) {
  if (target === undefined || target === null) target = globalThis;
  const lists = getListeners(target);
  state.dispatching = true;
  state.target = target;
  const list = MapPrototypeGet(lists, state.type);
  if (list !== undefined) {
    const listeners = ArrayPrototypeSlice(list);
    state.currentTarget = target;
    state.eventPhase = AT_TARGET;
    if (!state.stopPropagation) {
      innerInvoke(target, lists, listeners, event, state, CAPTURING_PHASE);
    }
    if (!state.stopPropagation) {
      innerInvoke(target, lists, listeners, event, state, BUBBLING_PHASE);
    }
  }
  state.eventPhase = NONE;
  state.currentTarget = null;
  state.dispatching = false;
  state.stopPropagation = false;
  state.stopImmediatePropagation = false;
  return !state.canceled;
}

function checkDispatchable(event, method) {
  if (!isEvent(event)) {
    throw new TypeError(
      `Failed to execute '${method}' on 'EventTarget': parameter 1 is not of type 'Event'.`,
    );
  }
  const state = getEventState(event);
  if (state.dispatching || !state.initialized) {
    throw new DOMException(
      `Failed to execute '${method}' on 'EventTarget': The event is already being dispatched.`,
      "InvalidStateError",
    );
  }
  return state;
}

class EventTarget {
  constructor() {
    WeakMapPrototypeSet(listenerLists, this, new Map());
  }

  addEventListener(type, callback, options = undefined) {
    getListeners(this);
    if (arguments.length < 2) {
      throw new TypeError(
        `Failed to execute 'addEventListener' on 'EventTarget': 2 arguments required, but only ${arguments.length} present.`,
      );
    }
    callback = checkCallback(callback, "addEventListener");
    addListener(this, type, callback, options);
  }

  removeEventListener(type, callback, options = undefined) {
    getListeners(this);
    if (arguments.length < 2) {
      throw new TypeError(
        `Failed to execute 'removeEventListener' on 'EventTarget': 2 arguments required, but only ${arguments.length} present.`,
      );
    }
    callback = checkCallback(callback, "removeEventListener");
    removeListener(this, type, callback, flattenCapture(options));
  }

  dispatchEvent(event) {
    getListeners(this);
    if (arguments.length < 1) {
      throw new TypeError(
        "Failed to execute 'dispatchEvent' on 'EventTarget': 1 argument required, but only 0 present.",
      );
    }
    const state = checkDispatchable(event, "dispatchEvent");
    state.isTrusted = false;
    return dispatch(this, event, state);
  }
}
makeEnumerable(EventTarget.prototype, [
  "addEventListener", "removeEventListener", "dispatchEvent",
]);
defineToStringTag(EventTarget.prototype, "EventTarget");

// ------------------------------------------------------- event handler IDL attributes

// target -> Map(name -> { value, listener })
const eventHandlers = new WeakMap();

function defineEventHandler(proto, name, brandCheck = isEventTarget) {
  const attribute = "on" + name;
  function check(receiver) {
    getListeners(receiver);
    if (receiver !== undefined && receiver !== null && !brandCheck(receiver)) {
      throw illegalInvocation();
    }
  }
  function get() {
    check(this);
    const target = this === undefined || this === null ? globalThis : this;
    const handlers = WeakMapPrototypeGet(eventHandlers, target);
    if (handlers === undefined) return null;
    const handler = MapPrototypeGet(handlers, name);
    return handler === undefined ? null : handler.value;
  }
  function set(value) {
    check(this);
    const target = this === undefined || this === null ? globalThis : this;
    if (typeof value !== "object" && typeof value !== "function") value = null;
    let handlers = WeakMapPrototypeGet(eventHandlers, target);
    if (handlers === undefined) {
      if (value === null) return;
      handlers = new Map();
      WeakMapPrototypeSet(eventHandlers, target, handlers);
    }
    const existing = MapPrototypeGet(handlers, name);
    if (value === null) {
      if (existing !== undefined) {
        MapPrototypeDelete(handlers, name);
        removeListener(target, name, existing.listener, false);
      }
      return;
    }
    if (existing !== undefined) {
      existing.value = value;
      return;
    }
    const record = { value, listener: null };
    // https://html.spec.whatwg.org/#the-event-handler-processing-algorithm
    record.listener = function (event) {
      const callback = record.value;
      if (typeof callback !== "function") {
        throw new TypeError(`${attribute} handler is not a function`);
      }
      const result = ReflectApply(callback, this, [event]);
      if (result === false) setCanceledFlag(getEventState(event));
    };
    MapPrototypeSet(handlers, name, record);
    addListener(target, name, record.listener, undefined);
  }
  ObjectDefineProperty(get, "name", { value: "get " + attribute });
  ObjectDefineProperty(set, "name", { value: "set " + attribute });
  ObjectDefineProperty(proto, attribute, {
    get,
    set,
    enumerable: true,
    configurable: true,
  });
}

// ------------------------------------------------------------------ internals

internals.Event = Event;
internals.CustomEvent = CustomEvent;
internals.EventTarget = EventTarget;
internals.isEvent = isEvent;
internals.isEventTarget = isEventTarget;
internals.makeEventTarget = makeEventTarget;
internals.reportException = reportException;
internals.defineEventHandler = defineEventHandler;
internals.addListenerInternal = function addListenerInternal(target, type, callback, options) {
  addListener(target, type, checkCallback(callback, "addEventListener"), options);
};
internals.removeListenerInternal = function removeListenerInternal(target, type, callback, capture) {
  removeListener(target, type, checkCallback(callback, "removeEventListener"), !!capture);
};
// "Fire an event": the runtime dispatching an event it created.
internals.dispatchEvent = function dispatchEvent(target, event) {
  const state = checkDispatchable(event, "dispatchEvent");
  state.isTrusted = true;
  return dispatch(target, event, state);
};

internals.defineGlobals({ Event, EventTarget, CustomEvent });
