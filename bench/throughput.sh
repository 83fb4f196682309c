#!/usr/bin/env bash
# Hello-world HTTP throughput: islet vs Deno vs workerd, measured with wrk.
#
# Each server is pinned to one CPU (SERVER_CPU, default 0) with taskset and wrk
# to another (WRK_CPU, default 1), so every server gets exactly one core.
#   islet   : `islet serve --workers 1` (one isolate thread).
#   islet-pgo: the same, built with profile-guided optimisation by
#             deploy/build-pgo.sh (the release binary to ship). Not in the
#             default set.
#   hyper   : `islet-bench-origin`, a bare hyper HTTP/1.1 server on one tokio
#             thread answering a fixed body: the floor any hyper-based server
#             (islet, Deno) starts from. Not in the default set.
#   Deno    : Deno.serve runs JavaScript on a single thread (no --parallel).
#   workerd : has no thread-count option; it runs all JavaScript on one event-loop
#             thread per process, so one process is single-threaded for JS.
# Helper threads (V8 GC/compiler, tokio) are confined to the same core by taskset.
#
# Usage: bench/throughput.sh            # islet, Deno and workerd
#        SERVERS="deno workerd" bench/throughput.sh
#        SERVERS="islet deno hyper" bench/throughput.sh
#        SERVERS="islet islet-pgo deno" bench/throughput.sh   # after deploy/build-pgo.sh
#        ROUNDS=3 SERVERS="islet deno" bench/throughput.sh
#
# On a shared machine one run can land in a busy spell: ROUNDS=N runs the
# servers N times in turn (islet, deno, islet, deno, ...) and adds a table
# of each server's median over the rounds, the ratio of each median to
# the first server's, and the paired ratio: the median of each round's own
# ratio to the first server's in that round (servers in one round run
# seconds apart, so a machine that slows down between rounds cancels out).
#
# Besides requests/s and p99, each row shows the server's CPU time per
# request during the measured run (user and kernel, all its threads, from
# /proc/PID/stat): where a server spends its time, independent of how busy
# the machine is.
#
# Environment (defaults in brackets):
#   SERVERS        servers to run, in order              [islet deno workerd]
#   ROUNDS         times to run the whole list           [1]
#   PEERS_DIR      cache folder for Deno and workerd     [/work/peers]
#   NO_INSTALL=1   never install missing peers/wrk; skip them instead
#   ISLET_BIN      islet binary                          [<repo>/target/release/islet]
#   ISLET_PGO_BIN  islet built by deploy/build-pgo.sh    [<repo>/target/pgo/islet]
#   ORIGIN_BIN     bare hyper server                     [<repo>/target/release/islet-bench-origin]
#   ISLET_PORT / DENO_PORT / WORKERD_PORT                [9100 / 9101 / 9102]
#   WRK_THREADS / WRK_CONNS / WRK_DURATION               [1 / 64 / 10s]
#   WARMUP         warm-up run before measuring, 0 = off [3s]
#   SERVER_CPU / WRK_CPU                                 [0 / 1]
#   STARTUP_TIMEOUT  seconds to wait for a port          [30]
#   OUT_DIR        where wrk outputs and server logs go  [a new temp dir]
set -uo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"

SERVERS="${SERVERS:-islet deno workerd}"
ROUNDS="${ROUNDS:-1}"
ROUND=1
PEERS_DIR="${PEERS_DIR:-/work/peers}"
NO_INSTALL="${NO_INSTALL:-0}"
ISLET_BIN="${ISLET_BIN:-$REPO_DIR/target/release/islet}"
ISLET_PGO_BIN="${ISLET_PGO_BIN:-$REPO_DIR/target/pgo/islet}"
ORIGIN_BIN="${ORIGIN_BIN:-$REPO_DIR/target/release/islet-bench-origin}"
HYPER_PORT="${HYPER_PORT:-9103}"
ISLET_PORT="${ISLET_PORT:-9100}"
DENO_PORT="${DENO_PORT:-9101}"
WORKERD_PORT="${WORKERD_PORT:-9102}"
WRK_THREADS="${WRK_THREADS:-1}"
WRK_CONNS="${WRK_CONNS:-64}"
WRK_DURATION="${WRK_DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
SERVER_CPU="${SERVER_CPU:-0}"
WRK_CPU="${WRK_CPU:-1}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-30}"
OUT_DIR="${OUT_DIR:-$(mktemp -d /tmp/islet-throughput.XXXXXX)}"
mkdir -p "$OUT_DIR"

DENO_PKG="@deno/linux-x64-glibc"
WORKERD_PKG="workerd"

log() { printf '[throughput] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- cleanup
SERVER_PIDS=()
TMP_DIRS=()
cleanup() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  SERVER_PIDS=()
  local d
  for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done
  TMP_DIRS=()
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

stop_server() {
  local pid="$1" keep=() p
  kill "$pid" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  for p in "${SERVER_PIDS[@]}"; do [[ "$p" != "$pid" ]] && keep+=("$p"); done
  SERVER_PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------- tools
PIN_SERVER=()
PIN_WRK=()
setup_pinning() {
  local ncpu
  ncpu="$(nproc 2>/dev/null || echo 1)"
  if ! command -v taskset >/dev/null; then
    log "warning: taskset not found (package util-linux); running unpinned"
    return
  fi
  if (( ncpu < 2 )) || (( SERVER_CPU >= ncpu )) || (( WRK_CPU >= ncpu )); then
    log "warning: $ncpu CPU(s) available; cannot pin server to CPU $SERVER_CPU and wrk to CPU $WRK_CPU; running unpinned"
    return
  fi
  PIN_SERVER=(taskset -c "$SERVER_CPU")
  PIN_WRK=(taskset -c "$WRK_CPU")
}

ensure_wrk() {
  command -v wrk >/dev/null && return 0
  if [[ "$NO_INSTALL" == 1 ]]; then log "wrk not found and NO_INSTALL=1"; return 1; fi
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null; then sudo=(sudo); else log "wrk not found; install it with: apt-get install -y wrk"; return 1; fi
  fi
  log "installing wrk with apt-get ..."
  "${sudo[@]}" apt-get install -y wrk >"$OUT_DIR/apt-wrk.log" 2>&1 || {
    log "apt-get install failed; running apt-get update first ..."
    "${sudo[@]}" apt-get update >>"$OUT_DIR/apt-wrk.log" 2>&1
    "${sudo[@]}" apt-get install -y wrk >>"$OUT_DIR/apt-wrk.log" 2>&1
  } || { log "could not install wrk (see $OUT_DIR/apt-wrk.log)"; return 1; }
  command -v wrk >/dev/null
}

# Installs an npm package into $PEERS_DIR (a plain folder with a package.json).
npm_install_peer() {
  local pkg="$1"
  if [[ "$NO_INSTALL" == 1 ]]; then log "$pkg missing in $PEERS_DIR and NO_INSTALL=1"; return 1; fi
  command -v npm >/dev/null || { log "npm not found; cannot install $pkg"; return 1; }
  mkdir -p "$PEERS_DIR" || return 1
  [[ -f "$PEERS_DIR/package.json" ]] || printf '{ "name": "islet-bench-peers", "private": true }\n' >"$PEERS_DIR/package.json"
  log "installing $pkg into $PEERS_DIR with npm (can take a minute) ..."
  (cd "$PEERS_DIR" && npm install --no-audit --no-fund "$pkg") >"$OUT_DIR/npm-$(echo "$pkg" | tr '/@' '__').log" 2>&1 \
    || { log "npm install $pkg failed (see $OUT_DIR)"; return 1; }
  log "installed $pkg"
}

find_deno() {
  local c
  for c in "$PEERS_DIR/node_modules/$DENO_PKG/deno" "$PEERS_DIR/node_modules/.bin/deno"; do
    [[ -x "$c" ]] && { echo "$c"; return 0; }
  done
  return 1
}

find_workerd() {
  local c
  for c in "$PEERS_DIR"/node_modules/@cloudflare/workerd-linux-64/bin/workerd \
           "$PEERS_DIR"/node_modules/workerd/bin/workerd; do
    [[ -x "$c" ]] && { echo "$c"; return 0; }
  done
  c="$(find "$PEERS_DIR/node_modules" -path '*workerd*' -type f -name workerd -perm -u+x 2>/dev/null | head -n1)"
  [[ -n "$c" ]] && { echo "$c"; return 0; }
  return 1
}

ensure_deno() {
  local b
  b="$(find_deno)" && { echo "$b"; return 0; }
  npm_install_peer "$DENO_PKG" >&2 || return 1
  find_deno
}

ensure_workerd() {
  local b
  b="$(find_workerd)" && { echo "$b"; return 0; }
  npm_install_peer "$WORKERD_PKG" >&2 || return 1
  find_workerd
}

# ---------------------------------------------------------------- helpers
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until the server answers an HTTP request (and is still alive).
wait_for_port() {
  local port="$1" pid="$2" name="$3" deadline=$((SECONDS + STARTUP_TIMEOUT))
  while (( SECONDS < deadline )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited during startup (log: $OUT_DIR/$name.log)"
      tail -n 20 "$OUT_DIR/$name.log" >&2
      return 1
    fi
    if port_in_use "$port"; then
      if ! command -v curl >/dev/null || curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
        return 0
      fi
    fi
    sleep 0.1
  done
  log "$name did not accept on port $port within ${STARTUP_TIMEOUT}s (log: $OUT_DIR/$name.log)"
  return 1
}

RESULTS=()
# add_result NAME VERSION RPS P99 ERRORS [USER_US SYS_US]
add_result() { RESULTS+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$ROUND" "$1" "$2" "$3" "$4" "$5" "${6:--}" "${7:--}")"); }

# User and system CPU time of process PID (all threads), in clock ticks.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat" 2>/dev/null; }

# Runs warm-up + measured wrk against a started server; records a result row.
bench_server() {
  local name="$1" version="$2" port="$3" pid="$4"
  local url="http://127.0.0.1:$port/" out="$OUT_DIR/wrk-$name-round$ROUND.txt"
  local body
  body="$(curl -s --max-time 2 "$url" 2>/dev/null || true)"
  # The bare hyper server answers its own fixed body.
  [[ "$name" == hyper || "$body" == "Hello World" ]] || log "warning: $name answered '${body:0:60}' instead of 'Hello World'"
  if [[ "$WARMUP" != 0 && -n "$WARMUP" ]]; then
    log "$name: warm-up ${WARMUP}"
    "${PIN_WRK[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WARMUP" "$url" >"$OUT_DIR/wrk-$name-warmup.txt" 2>&1
  fi
  log "$name: wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION --latency $url"
  local before after
  before="$(cpu_ticks "$pid")"
  "${PIN_WRK[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency "$url" >"$out" 2>&1
  after="$(cpu_ticks "$pid")"
  local rps p99 errors
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
  p99="$(awk '$1 == "99%" {print $2}' "$out")"
  errors="$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")"
  if ! kill -0 "$pid" 2>/dev/null; then
    log "$name died during the run (log: $OUT_DIR/$name.log)"
    add_result "$name" "$version" "${rps:-n/a}" "${p99:-n/a}" "server died"
    return
  fi
  if [[ -z "$rps" ]]; then
    log "could not parse wrk output for $name:"; cat "$out" >&2
    add_result "$name" "$version" "n/a" "n/a" "wrk failed"
    return
  fi
  # Server CPU per request, microseconds: ticks * 1e6 / CLK_TCK / requests.
  local requests hz user_us="-" sys_us="-"
  requests="$(awk '/requests in/ {print $1}' "$out")"
  hz="$(getconf CLK_TCK 2>/dev/null || echo 100)"
  if [[ -n "$before" && -n "$after" && "${requests:-0}" -gt 0 ]]; then
    read -r user_us sys_us < <(echo "$before $after" | awk -v n="$requests" -v hz="$hz" \
      '{printf "%.2f %.2f", ($3 - $1) * 1e6 / hz / n, ($4 - $2) * 1e6 / hz / n}')
  fi
  add_result "$name" "$version" "$rps" "$p99" "$errors" "$user_us" "$sys_us"
}

# start_server NAME PORT CMD...  -> sets STARTED_PID
start_server() {
  local name="$1" port="$2"; shift 2
  if port_in_use "$port"; then
    log "port $port is already in use; skipping $name"
    return 1
  fi
  "${PIN_SERVER[@]}" "$@" >"$OUT_DIR/$name.log" 2>&1 &
  STARTED_PID=$!
  SERVER_PIDS+=("$STARTED_PID")
  wait_for_port "$port" "$STARTED_PID" "$name" || { stop_server "$STARTED_PID"; return 1; }
}

# ---------------------------------------------------------------- servers
# run_islet NAME BIN HINT: islet from BIN, reported as NAME; HINT says how to build BIN.
run_islet() {
  local name="$1" bin="$2" hint="$3"
  if [[ ! -x "$bin" ]]; then
    log "$name: $bin not found; $hint first. Skipping $name."
    add_result "$name" "-" "skipped" "-" "not built"
    return
  fi
  local data
  data="$(mktemp -d /tmp/islet-bench-data.XXXXXX)"; TMP_DIRS+=("$data")
  mkdir -p "$data/scripts"
  cp "$SCRIPT_DIR/fixtures/hello.js" "$data/scripts/hello.js"
  printf '[{"pattern": "*/*", "script": "hello"}]\n' >"$data/routes.json"
  local version
  version="$(timeout 5 "$bin" --version 2>/dev/null | head -n1)"; version="${version:-islet}"
  log "$name: starting $bin on 127.0.0.1:$ISLET_PORT (data dir $data)"
  start_server "$name" "$ISLET_PORT" "$bin" serve --admin-listen 127.0.0.1:0 --workers 1 --listen "127.0.0.1:$ISLET_PORT" --data-dir "$data" \
    || { add_result "$name" "$version" "n/a" "n/a" "failed to start"; return; }
  bench_server "$name" "$version" "$ISLET_PORT" "$STARTED_PID"
  stop_server "$STARTED_PID"
}

run_deno() {
  local bin version
  bin="$(ensure_deno)" || { log "deno unavailable; skipping"; add_result deno "-" "skipped" "-" "not installed"; return; }
  version="$("$bin" --version 2>/dev/null | head -n1)"
  log "deno: starting $bin on 127.0.0.1:$DENO_PORT"
  mkdir -p "$PEERS_DIR/deno_dir"
  start_server deno "$DENO_PORT" env PORT="$DENO_PORT" DENO_DIR="$PEERS_DIR/deno_dir" DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 \
    "$bin" run --allow-net=127.0.0.1 --allow-env=PORT "$SCRIPT_DIR/peers/deno_hello.js" \
    || { add_result deno "$version" "n/a" "n/a" "failed to start"; return; }
  bench_server deno "$version" "$DENO_PORT" "$STARTED_PID"
  stop_server "$STARTED_PID"
}

run_workerd() {
  local bin version
  bin="$(ensure_workerd)" || { log "workerd unavailable; skipping"; add_result workerd "-" "skipped" "-" "not installed"; return; }
  version="$("$bin" --version 2>/dev/null | head -n1)"
  log "workerd: starting $bin on 127.0.0.1:$WORKERD_PORT"
  start_server workerd "$WORKERD_PORT" "$bin" serve "$SCRIPT_DIR/peers/workerd_hello.capnp" \
    --socket-addr "http=127.0.0.1:$WORKERD_PORT" \
    || { add_result workerd "$version" "n/a" "n/a" "failed to start"; return; }
  bench_server workerd "$version" "$WORKERD_PORT" "$STARTED_PID"
  stop_server "$STARTED_PID"
}

run_hyper() {
  if [[ ! -x "$ORIGIN_BIN" ]]; then
    log "hyper: $ORIGIN_BIN not found; run \`cargo build --release -p islet-bench\` first. Skipping."
    add_result hyper "-" "skipped" "-" "not built"
    return
  fi
  log "hyper: starting $ORIGIN_BIN on 127.0.0.1:$HYPER_PORT"
  start_server hyper "$HYPER_PORT" "$ORIGIN_BIN" "127.0.0.1:$HYPER_PORT" \
    || { add_result hyper "bare hyper" "n/a" "n/a" "failed to start"; return; }
  bench_server hyper "bare hyper (islet-bench-origin)" "$HYPER_PORT" "$STARTED_PID"
  stop_server "$STARTED_PID"
}

# ---------------------------------------------------------------- main
log "output folder: $OUT_DIR"
setup_pinning
ensure_wrk || { log "wrk is required"; exit 1; }
log "wrk: $(wrk --version 2>&1 | head -n1 | cut -c1-40); servers on CPU ${PIN_SERVER[2]:-any}, wrk on CPU ${PIN_WRK[2]:-any}"

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  (( ROUNDS > 1 )) && log "round $ROUND of $ROUNDS"
  for s in $SERVERS; do
    case "$s" in
      islet) run_islet islet "$ISLET_BIN" "run \`cargo build --release\`" ;;
      islet-pgo) run_islet islet-pgo "$ISLET_PGO_BIN" "run deploy/build-pgo.sh" ;;
      deno) run_deno ;;
      workerd) run_workerd ;;
      hyper) run_hyper ;;
      *) log "unknown server '$s' (known: islet islet-pgo deno workerd hyper)" ;;
    esac
  done
done

echo
echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION --latency (warm-up: $WARMUP); server on CPU ${PIN_SERVER[2]:-any}, wrk on CPU ${PIN_WRK[2]:-any}"
table() { if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi; }
{
  printf 'round\tserver\tversion\trequests/s\tp99 latency\terrors\tuser us/req\tsys us/req\n'
  printf '%s\n' "${RESULTS[@]}"
} | table
if (( ROUNDS > 1 )); then
  # Median per server of each numeric column over the rounds that ran
  # (odd counts: the middle value; even: the mean of the two middle ones).
  echo
  echo "median over $ROUNDS rounds (ratio: requests/s against the first server's;"
  echo "paired: the median over rounds of each round's own ratio, which cancels a machine that drifts between rounds)"
  {
    printf 'server\trequests/s\tratio\tpaired ratio\tp99 ms\tuser us/req\tsys us/req\n'
    printf '%s\n' "${RESULTS[@]}" | awk -F'\t' -v order="$SERVERS" '
      function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return "" }
      function median(list,   a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        if (n == 0) return ""
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      $4 ~ /^[0-9.]+$/ {
        rps[$2] = rps[$2] " " $4; p99[$2] = p99[$2] " " ms($5); usr[$2] = usr[$2] " " $7; sys[$2] = sys[$2] " " $8
        round_rps[$1, $2] = $4; rounds[$1] = 1
      }
      END {
        n = split(order, names, " ")
        for (i = 1; i <= n; i++) {
          s = names[i]; if (!(s in rps) || seen[s]++) continue
          m = median(rps[s]); if (base == "") { base = m; first = s }
          paired = ""
          for (r in rounds) if (((r, s) in round_rps) && ((r, first) in round_rps) && round_rps[r, first] > 0)
            paired = paired " " round_rps[r, s] / round_rps[r, first]
          printf "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", s, m, m / base, median(paired), median(p99[s]), median(usr[s]), median(sys[s])
        }
      }'
  } | table
fi
echo
echo "raw wrk output and server logs: $OUT_DIR"
