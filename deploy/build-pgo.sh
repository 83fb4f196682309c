#!/usr/bin/env bash
# Builds the release binary of islet with profile-guided optimisation (PGO).
#
# The plain release build (`cargo build --release`) lays out and inlines
# code by static guesses. This script lets the compiler see where a server
# actually spends its time, as rustc, Chrome and Firefox ship theirs:
#   1. builds an instrumented islet (it counts every branch it takes);
#   2. serves a mix of Workers traffic with it: module and service-worker
#      scripts, a Hono app, streamed uploads, KV reads and writes, deploys
#      through the admin API and requests that match no route;
#   3. merges the counts into one profile (llvm-profdata);
#   4. builds islet again with that profile.
# The result is `target/pgo/islet`. Only the Rust side changes: V8 is the
# same prebuilt library either way. bench/throughput.sh measures it beside
# the plain build with SERVERS="islet islet-pgo deno".
#
# Needs: llvm-profdata of the compiler's LLVM (`rustup component add
# llvm-tools`), and wrk (Debian package `wrk`) to drive the traffic. Two
# whole release builds: about 16 minutes on two cores the first time;
# again, the instrumented build is incremental and the final one is not.
#
# Environment (defaults in brackets):
#   PGO_DIR        where builds, counts and the profile go   [<repo>/target/pgo]
#   TRAIN_SECONDS  seconds of traffic per kind of request    [4]
#   PGO_PORT       edge port of the training server          [9190]; admin port is +1
#   LLVM_PROFDATA  llvm-profdata to merge with               [the toolchain's]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
PGO_DIR="${PGO_DIR:-$REPO_DIR/target/pgo}"
TRAIN_SECONDS="${TRAIN_SECONDS:-4}"
PGO_PORT="${PGO_PORT:-9190}"
ADMIN_PORT=$((PGO_PORT + 1))

step() { printf '\n[pgo] %s\n' "$*" >&2; }
die() { printf '[pgo] error: %s\n' "$*" >&2; exit 1; }

[[ -f "$REPO_DIR/../shared/v8/env.sh" ]] && . "$REPO_DIR/../shared/v8/env.sh"

HOST="$(rustc -vV | sed -n 's/^host: //p')"
SYSROOT="$(rustc --print sysroot)"
PROFDATA="${LLVM_PROFDATA:-$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata}"
[[ -x "$PROFDATA" ]] || die "llvm-profdata not found at $PROFDATA: run \`rustup component add llvm-tools\` (or set LLVM_PROFDATA to one of LLVM $(rustc -vV | sed -n 's/^LLVM version: //p'))"
command -v wrk >/dev/null || die "wrk not found: install it (\`apt-get install -y wrk\`) to drive the training traffic"
command -v curl >/dev/null || die "curl not found: install it to check the training server"

COUNTS="$PGO_DIR/counts"
PROFILE="$PGO_DIR/islet.profdata"
TRAIN="$PGO_DIR/train"
rm -rf "$COUNTS" "$TRAIN"
mkdir -p "$COUNTS" "$TRAIN/data"

# `--target` keeps RUSTFLAGS off build scripts: the snapshot builder runs
# at build time and its counts would only blur the server's.
build() {
  local dir="$1" flags="$2"
  (cd "$REPO_DIR" && RUSTFLAGS="$flags" CARGO_TARGET_DIR="$dir" \
    cargo build --release --target "$HOST" -p islet-runtime --bin islet)
}

step "1/4 building the instrumented islet (a whole release build, about 7 minutes)"
build "$PGO_DIR/instrumented" "-Cprofile-generate=$COUNTS"
ISLET="$PGO_DIR/instrumented/$HOST/release/islet"

step "2/4 serving training traffic (${TRAIN_SECONDS} s per kind of request)"
export ISLET_ADMIN_TOKEN="pgo-training-$RANDOM$RANDOM$RANDOM"
"$ISLET" serve --listen "127.0.0.1:$PGO_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --data-dir "$TRAIN/data" --workers 2 >"$TRAIN/server.log" 2>&1 &
SERVER=$!
trap 'kill -9 $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PGO_PORT/" && break
  kill -0 $SERVER 2>/dev/null || die "the training server stopped; see $TRAIN/server.log"
  sleep 0.2
done
curl -s -o /dev/null "http://127.0.0.1:$PGO_PORT/" \
  || die "the training server did not answer on port $PGO_PORT within 20 s (port taken? set PGO_PORT); see $TRAIN/server.log"

cat >"$TRAIN/kv.js" <<'JS'
// Training script: reads and writes a KV namespace.
export default {
  async fetch(request, env) {
    const key = "k" + (Math.random() * 64 | 0);
    if (request.method === "PUT") {
      await env.KV.put(key, await request.text());
      return new Response(null, { status: 204 });
    }
    return Response.json({ key, value: await env.KV.get(key) });
  },
};
JS
deploy() {
  "$ISLET" deploy --admin "http://127.0.0.1:$ADMIN_PORT" "$@" >>"$TRAIN/deploy.log" 2>&1 \
    || die "deploy $* failed; see $TRAIN/deploy.log"
}
deploy "$REPO_DIR/bench/fixtures/hello.js" --name hello --route 'hello.test/*'
deploy "$REPO_DIR/tests/fixtures/service_worker.js" --name sw --route 'sw.test/*'
deploy "$REPO_DIR/tests/fixtures/hono_app.js" --name hono --route 'hono.test/*'
deploy "$REPO_DIR/tests/fixtures/streaming.js" --name streaming --route 'streaming.test/*'
deploy "$TRAIN/kv.js" --name kv --route 'kv.test/*' --kv KV=training

# wrk scripts: a rotation of Hono routes, and uploads.
cat >"$TRAIN/hono.lua" <<'LUA'
local paths = { "/", "/users/42", "/search?q=islet", "/api/v1/items/7", "/api/v1/ping", "/nope" }
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
cat >"$TRAIN/upload.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("islet ", 3000)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA
cat >"$TRAIN/kv.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n % 4 == 0 then return wrk.format("PUT", "/", nil, "value " .. n) end
  return wrk.format("GET", "/")
end
LUA

traffic() {
  local what="$1"; shift
  printf '[pgo]   %-40s' "$what" >&2
  wrk -t1 -c32 -d"${TRAIN_SECONDS}s" "$@" >"$TRAIN/wrk.out" 2>&1 \
    || die "wrk failed for $what: $(tail -n 3 "$TRAIN/wrk.out")"
  awk '/Non-2xx/ { other = $NF } /Requests\/sec/ { rps = $2 }
       END { printf "%s req/s%s\n", rps, other ? ", " other " answered 4xx/5xx" : "" }' "$TRAIN/wrk.out" >&2
}
URL="http://127.0.0.1:$PGO_PORT/"
traffic "module hello world" -H "Host: hello.test" "$URL"
traffic "service worker" -H "Host: sw.test" "${URL}path?query=1"
traffic "Hono routes (JSON)" -H "Host: hono.test" -s "$TRAIN/hono.lua" "$URL"
traffic "streamed uploads echoed back" -H "Host: streaming.test" -s "$TRAIN/upload.lua" "${URL}echo"
traffic "KV reads and writes" -H "Host: kv.test" -s "$TRAIN/kv.lua" "$URL"
traffic "requests that match no route" -H "Host: nowhere.test" "$URL"

# The counts are written when the process exits normally.
kill -TERM $SERVER
wait $SERVER || true
trap - EXIT

step "3/4 merging the counts"
"$PROFDATA" merge -o "$PROFILE" "$COUNTS"
printf '[pgo]   %s (%s)\n' "$PROFILE" "$(du -h "$PROFILE" | cut -f1)" >&2

step "4/4 building islet with the profile (a whole release build, about 7 minutes)"
# From scratch: cargo does not notice that the profile's contents changed,
# and would keep code optimised with the last run's counts.
rm -rf "$PGO_DIR/optimized"
build "$PGO_DIR/optimized" "-Cprofile-use=$PROFILE"
cp "$PGO_DIR/optimized/$HOST/release/islet" "$PGO_DIR/islet"

step "done: $PGO_DIR/islet"
printf '[pgo] compare it with the plain build: SERVERS="islet islet-pgo deno" ROUNDS=3 bench/throughput.sh\n' >&2
