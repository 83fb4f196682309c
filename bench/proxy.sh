#!/usr/bin/env bash
# Proxy overhead: the same small origin measured with wrk directly, through
# `islet serve --origin` (the drop-in proxy: no script runs), and through a
# script that forwards with `return fetch(request)` (outbound fetch path).
#
# On a 2-core machine the three processes (wrk, islet, origin) share the
# cores: islet is pinned to ISLET_CPU, the origin and wrk to OTHER_CPU, so
# compare the three lines with each other, not with other machines.
#
# Usage: bench/proxy.sh
# Environment (defaults in brackets):
#   ISLET_BIN / ORIGIN_BIN   binaries  [<repo>/target/release/islet, .../islet-bench-origin]
#   WRK_CONNS / WRK_DURATION           [32 / 10s]
#   ISLET_CPU / OTHER_CPU              [0 / 1]
#   ORIGIN_PORT / ISLET_PORT / ADMIN_PORT  [9310 / 9311 / 9312]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
ISLET_BIN="${ISLET_BIN:-$REPO_DIR/target/release/islet}"
ORIGIN_BIN="${ORIGIN_BIN:-$REPO_DIR/target/release/islet-bench-origin}"
WRK_CONNS="${WRK_CONNS:-32}"
WRK_DURATION="${WRK_DURATION:-10s}"
ISLET_CPU="${ISLET_CPU:-0}"
OTHER_CPU="${OTHER_CPU:-1}"
ORIGIN_PORT="${ORIGIN_PORT:-9310}"
ISLET_PORT="${ISLET_PORT:-9311}"
ADMIN_PORT="${ADMIN_PORT:-9312}"
OUT_DIR="$(mktemp -d /tmp/islet-proxy-bench.XXXXXX)"

if [ ! -x "$ISLET_BIN" ] || [ ! -x "$ORIGIN_BIN" ]; then
  echo "build first: cargo build --release -p islet-runtime -p islet-bench" >&2
  exit 2
fi
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$OUT_DIR"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "port $1 never opened" >&2
  return 1
}

for port in "$ORIGIN_PORT" "$ISLET_PORT" "$ADMIN_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already taken: set ORIGIN_PORT / ISLET_PORT / ADMIN_PORT" >&2
    exit 2
  fi
done
taskset -c "$OTHER_CPU" "$ORIGIN_BIN" "127.0.0.1:$ORIGIN_PORT" 2>"$OUT_DIR/origin.log" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
wait_port "$ORIGIN_PORT"

cat >"$OUT_DIR/islet.toml" <<TOML
listen = "127.0.0.1:$ISLET_PORT"
admin_listen = "127.0.0.1:$ADMIN_PORT"
data_dir = "$OUT_DIR/data"
workers = 1
[origin]
url = "http://127.0.0.1:$ORIGIN_PORT"
[fetch]
allow = ["127.0.0.0/8"]
TOML
export ISLET_ADMIN_TOKEN="bench-token-0123456789abcdef0123"
ISLET_LOG=warn taskset -c "$ISLET_CPU" "$ISLET_BIN" serve --config "$OUT_DIR/islet.toml" >"$OUT_DIR/islet.log" 2>&1 &
ISLET_PID=$!
PIDS+=("$ISLET_PID")
wait_port "$ISLET_PORT"
wait_port "$ADMIN_PORT"

cat >"$OUT_DIR/forward.js" <<JS
export default {
  fetch(request) {
    const url = new URL(request.url);
    return fetch("http://127.0.0.1:$ORIGIN_PORT" + url.pathname + url.search, request);
  },
};
JS
"$ISLET_BIN" deploy "$OUT_DIR/forward.js" --name forward --route 'script.bench/*' \
  --admin "http://127.0.0.1:$ADMIN_PORT" >/dev/null

# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# CPU per request is the figure that survives a busy machine: wall-clock
# throughput moves with whatever else runs, the CPU a request costs less so.
run() {
  local name="$1"; shift
  taskset -c "$OTHER_CPU" wrk -t1 -c"$WRK_CONNS" -d2s "$@" >/dev/null 2>&1 || true
  local out i0 o0 i1 o1
  i0="$(cpu_ticks "$ISLET_PID")"; o0="$(cpu_ticks "$ORIGIN_PID")"
  out="$(taskset -c "$OTHER_CPU" wrk -t1 -c"$WRK_CONNS" -d"$WRK_DURATION" --latency "$@")"
  i1="$(cpu_ticks "$ISLET_PID")"; o1="$(cpu_ticks "$ORIGIN_PID")"
  local rps lat p50 p99 total
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  lat="$(awk '/^ +Latency/ {print $2; exit}' <<<"$out")"
  p50="$(awk '/^ +50%/ {print $2}' <<<"$out")"
  p99="$(awk '/^ +99%/ {print $2}' <<<"$out")"
  total="$(awk '/requests in/ {print $1}' <<<"$out")"
  printf '%-30s %9s req/s  avg %-8s p50 %-8s p99 %-8s CPU/req: islet %5s us, origin %5s us\n' \
    "$name" "$rps" "$lat" "$p50" "$p99" \
    "$(( (i1 - i0) * TICK_US / (total > 0 ? total : 1) ))" "$(( (o1 - o0) * TICK_US / (total > 0 ? total : 1) ))"
}

echo "proxy overhead, wrk -t1 -c$WRK_CONNS -d$WRK_DURATION, islet --workers 1"
run "origin direct" "http://127.0.0.1:$ORIGIN_PORT/"
run "islet --origin (no route)" "http://127.0.0.1:$ISLET_PORT/"
run "islet script: fetch(request)" -H "Host: script.bench" "http://127.0.0.1:$ISLET_PORT/"
