// https://html.spec.whatwg.org/multipage/timers-and-user-prompts.html#timers
//
// Timer callbacks live here, keyed by id; Rust keeps only the deadlines
// (ops.op_timer_start / op_timer_cancel) and calls internals.fireTimers(ids)
// from the isolate's event loop when they are due.

const {
  MapPrototypeGet, MapPrototypeSet, MapPrototypeDelete, MapPrototypeHas, Map,
  PromisePrototypeThen, PromiseResolve, ReflectApply, TypeError, NumberIsFinite,
} = primordials;

const timers = new Map();
let nextId = 1;

function normalizeDelay(delay) {
  const n = +delay;
  return NumberIsFinite(n) && n > 0 ? n : 0;
}

function startTimer(callback, delay, args, repeat) {
  if (typeof callback !== "function") {
    // Strings are not evaluated: no eval in the runtime.
    throw new TypeError("The callback provided as parameter 1 is not a function.");
  }
  const id = nextId++;
  const ms = normalizeDelay(delay);
  MapPrototypeSet(timers, id, { callback, args, repeat, ms });
  ops.op_timer_start(id, ms);
  return id;
}

function clearTimer(id) {
  const n = +id;
  if (MapPrototypeHas(timers, n)) {
    MapPrototypeDelete(timers, n);
    ops.op_timer_cancel(n);
  }
}

function setTimeout(callback, delay = 0, ...args) {
  return startTimer(callback, delay, args, false);
}
function setInterval(callback, delay = 0, ...args) {
  return startTimer(callback, delay, args, true);
}
function clearTimeout(id) { clearTimer(id); }
function clearInterval(id) { clearTimer(id); }

internals.fireTimers = function fireTimers(ids) {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    const timer = MapPrototypeGet(timers, id);
    if (timer === undefined) continue;
    if (timer.repeat) ops.op_timer_start(id, timer.ms);
    else MapPrototypeDelete(timers, id);
    try {
      ReflectApply(timer.callback, globalThis, timer.args);
    } catch (err) {
      internals.reportError(err);
    }
  }
};

const resolved = PromiseResolve();
function queueMicrotask(callback) {
  if (typeof callback !== "function") {
    throw new TypeError("The callback provided as parameter 1 is not a function.");
  }
  PromisePrototypeThen(resolved, () => {
    try {
      callback();
    } catch (err) {
      internals.reportError(err);
    }
  });
}

internals.setTimeout = setTimeout;
internals.clearTimeout = clearTimeout;
internals.defineGlobals({ setTimeout, setInterval, clearTimeout, clearInterval, queueMicrotask });
