// https://console.spec.whatwg.org/
//
// console.* formats its arguments here (printf-style substitutions, then an
// inspect of each value) and hands one line to ops.op_console_write(level,
// line). Levels: 0 debug, 1 log, 2 info, 3 warn, 4 error.

const {
  ArrayIsArray, ArrayPrototypeJoin, ArrayPrototypePush, ArrayPrototypeMap,
  DatePrototypeToISOString, ErrorPrototypeToString, JSONStringify, MapPrototypeForEach,
  MapPrototypeGetSize, NumberIsNaN, ObjectKeys, ObjectPrototypeToString,
  ObjectGetPrototypeOf, RegExpPrototypeToString, SetPrototypeForEach, SetPrototypeGetSize,
  StringPrototypeRepeat, StringPrototypeSlice, StringPrototypeReplace, SymbolPrototypeToString,
  WeakSet, WeakSetPrototypeAdd, WeakSetPrototypeHas, WeakSetPrototypeDelete, Map, MapPrototypeGet,
  MapPrototypeSet, MapPrototypeDelete, DateNow, Error, ObjectGetOwnPropertyDescriptor,
  NumberParseInt, NumberParseFloat, ArrayBufferIsView, TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetSymbolToStringTag, ArrayPrototypeSlice, StringPrototypeIncludes,
  RegExpPrototypeTest,
} = primordials;

const MAX_DEPTH = 4;
const MAX_ITEMS = 100;
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function quote(s) {
  return JSONStringify(s);
}

function inspectKey(key) {
  if (typeof key === "symbol") return "[" + SymbolPrototypeToString(key) + "]";
  return RegExpPrototypeTest(IDENT, key) ? key : quote(key);
}

function isError(v) {
  return ObjectPrototypeToString(v) === "[object Error]" || v instanceof Error;
}

function inspect(value, depth, seen, top) {
  switch (typeof value) {
    case "string":
      return top ? value : quote(value);
    case "number":
      return (value === 0 && 1 / value < 0) ? "-0" : "" + value;
    case "bigint":
      return value + "n";
    case "boolean":
    case "undefined":
      return "" + value;
    case "symbol":
      return SymbolPrototypeToString(value);
    case "function": {
      const name = value.name;
      return name ? "[Function: " + name + "]" : "[Function (anonymous)]";
    }
  }
  if (value === null) return "null";
  if (WeakSetPrototypeHas(seen, value)) return "[Circular]";
  if (isError(value)) {
    const stack = value.stack;
    return typeof stack === "string" ? stack : ErrorPrototypeToString(value);
  }
  const tag = ObjectPrototypeToString(value);
  if (tag === "[object Date]") return DatePrototypeToISOString(value);
  if (tag === "[object RegExp]") return RegExpPrototypeToString(value);
  if (depth > MAX_DEPTH) return ArrayIsArray(value) ? "[Array]" : "[Object]";
  WeakSetPrototypeAdd(seen, value);
  try {
    const parts = [];
    let open = "{", close = "}", prefix = "";
    if (ArrayIsArray(value)) {
      open = "["; close = "]";
      const n = value.length < MAX_ITEMS ? value.length : MAX_ITEMS;
      for (let i = 0; i < n; i++) ArrayPrototypePush(parts, inspect(value[i], depth + 1, seen, false));
      if (value.length > MAX_ITEMS) ArrayPrototypePush(parts, "... " + (value.length - MAX_ITEMS) + " more items");
    } else if (ArrayBufferIsView(value) && TypedArrayPrototypeGetSymbolToStringTag(value) !== undefined) {
      prefix = TypedArrayPrototypeGetSymbolToStringTag(value) + "(" + TypedArrayPrototypeGetLength(value) + ") ";
      open = "["; close = "]";
      const n = value.length < MAX_ITEMS ? value.length : MAX_ITEMS;
      for (let i = 0; i < n; i++) ArrayPrototypePush(parts, "" + value[i]);
      if (value.length > MAX_ITEMS) ArrayPrototypePush(parts, "... " + (value.length - MAX_ITEMS) + " more items");
    } else if (tag === "[object Map]") {
      prefix = "Map(" + MapPrototypeGetSize(value) + ") ";
      MapPrototypeForEach(value, (v, k) => {
        ArrayPrototypePush(parts, inspect(k, depth + 1, seen, false) + " => " + inspect(v, depth + 1, seen, false));
      });
    } else if (tag === "[object Set]") {
      prefix = "Set(" + SetPrototypeGetSize(value) + ") ";
      SetPrototypeForEach(value, (v) => {
        ArrayPrototypePush(parts, inspect(v, depth + 1, seen, false));
      });
    } else if (tag === "[object Promise]") {
      return "Promise { <pending> }";
    } else {
      const proto = ObjectGetPrototypeOf(value);
      const ctor = proto && proto.constructor;
      if (proto === null) prefix = "[Object: null prototype] ";
      else if (ctor && ctor.name && ctor.name !== "Object") prefix = ctor.name + " ";
    }
    if (open === "{" ) {
      const keys = ObjectKeys(value);
      for (let i = 0; i < keys.length && i < MAX_ITEMS; i++) {
        const key = keys[i];
        const desc = ObjectGetOwnPropertyDescriptor(value, key);
        const shown = desc && "value" in desc ? inspect(desc.value, depth + 1, seen, false) : "[Getter/Setter]";
        ArrayPrototypePush(parts, inspectKey(key) + ": " + shown);
      }
    }
    if (parts.length === 0) return prefix + open + close;
    return prefix + open + " " + ArrayPrototypeJoin(parts, ", ") + " " + close;
  } finally {
    WeakSetPrototypeDelete(seen, value);
  }
}

// printf-style substitutions in a first string argument: %s %d %i %f %o %O %j %c %%
function format(args) {
  const seen = new WeakSet();
  let first = 0;
  let out = "";
  if (typeof args[0] === "string" && args.length > 1 && StringPrototypeIncludes(args[0], "%")) {
    const fmt = args[0];
    let next = 1;
    let i = 0;
    first = -1;
    while (i < fmt.length) {
      const c = fmt[i];
      if (c === "%" && i + 1 < fmt.length) {
        const d = fmt[i + 1];
        if (d === "%") { out += "%"; i += 2; continue; }
        if (next < args.length && (d === "s" || d === "d" || d === "i" || d === "f" || d === "o" || d === "O" || d === "j" || d === "c")) {
          const a = args[next++];
          if (d === "s") out += typeof a === "string" ? a : inspect(a, 2, seen, false);
          else if (d === "d" || d === "i") out += typeof a === "object" ? "NaN" : "" + NumberParseInt(a, 10);
          else if (d === "f") out += "" + NumberParseFloat(a);
          else if (d === "j") { try { out += JSONStringify(a); } catch { out += "[Circular]"; } }
          else if (d === "c") { /* CSS is ignored */ }
          else out += inspect(a, 0, seen, false);
          i += 2;
          continue;
        }
      }
      out += c;
      i++;
    }
    for (let j = next; j < args.length; j++) out += " " + inspect(args[j], 0, seen, true);
    return out;
  }
  const parts = [];
  for (let j = first; j < args.length; j++) ArrayPrototypePush(parts, inspect(args[j], 0, seen, true));
  return ArrayPrototypeJoin(parts, " ");
}

let groupIndent = "";
function write(level, args) {
  let line = format(args);
  if (groupIndent) line = groupIndent + StringPrototypeReplace(line, /\n/g, "\n" + groupIndent);
  ops.op_console_write(level, line);
}

const counts = new Map();
const timers = new Map();

const console = {
  log(...args) { write(1, args); },
  info(...args) { write(2, args); },
  warn(...args) { write(3, args); },
  error(...args) { write(4, args); },
  debug(...args) { write(0, args); },
  trace(...args) {
    const err = new Error(format(args));
    err.name = "Trace";
    write(1, [err.stack]);
  },
  assert(condition, ...args) {
    if (!condition) write(4, ["Assertion failed" + (args.length ? ":" : ""), ...args]);
  },
  dir(value) { write(1, [value]); },
  table(data) { write(1, [data]); },
  count(label = "default") {
    const n = (MapPrototypeGet(counts, label) || 0) + 1;
    MapPrototypeSet(counts, label, n);
    write(1, [label + ": " + n]);
  },
  countReset(label = "default") { MapPrototypeDelete(counts, label); },
  time(label = "default") { MapPrototypeSet(timers, label, ops.op_time_now()); },
  timeLog(label = "default", ...args) {
    const start = MapPrototypeGet(timers, label);
    if (start === undefined) return write(3, ["Timer '" + label + "' does not exist"]);
    write(1, [label + ": " + (ops.op_time_now() - start) + "ms", ...args]);
  },
  timeEnd(label = "default") {
    const start = MapPrototypeGet(timers, label);
    if (start === undefined) return write(3, ["Timer '" + label + "' does not exist"]);
    MapPrototypeDelete(timers, label);
    write(1, [label + ": " + (ops.op_time_now() - start) + "ms"]);
  },
  group(...args) {
    if (args.length) write(1, args);
    groupIndent += "  ";
  },
  groupCollapsed(...args) { console.group(...args); },
  groupEnd() { groupIndent = StringPrototypeSlice(groupIndent, 2); },
};

internals.format = format;
internals.inspect = (value) => inspect(value, 0, new WeakSet(), false);
internals.reportError = function reportError(error) {
  write(4, ["Uncaught", error]);
};
internals.defineGlobals({ console });
internals.defineGlobal("reportError", function reportError(error) {
  internals.reportError(error);
});
