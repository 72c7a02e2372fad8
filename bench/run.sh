#!/usr/bin/env bash
# The receiver benchmark, one command from a fresh clone:  ./bench/run.sh
#
# Per core: each server runs pinned to core 0 (started under `taskset -c 0`, so every thread it
# starts inherits the pin; checked in /proc/PID/task/*/status), the load generator (`wrk -t1`)
# pinned to core 1. Builds the release binary, starts changegate (dry run, SQLite in a temporary
# folder, every delivery committed with synchronous=FULL before its 202, the worker running on
# the same core) and then the Node reference (@octokit/webhooks 14.2.0: verify, parse, one rule,
# no storage) the same way, signs a real payload from tests/fixtures, runs the same wrk load
# against each, and prints one table with the ratio. Stops every process it started.
# Env: DURATION (10s), CONNECTIONS (32), SERVER_CPU (0), LOAD_CPU (1); BIN: a changegate binary
# already built (skips the build).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CG_PORT=${CG_PORT:-18081}
NODE_PORT=${NODE_PORT:-18082}
SECRET=bench-secret
PAYLOAD=tests/fixtures/github/pull_request.labeled.1.json

say() { printf 'bench: %s\n' "$*" >&2; }
command -v wrk >/dev/null || { say "installing wrk"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v node >/dev/null && command -v npm >/dev/null || { say "installing node"; apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
command -v taskset >/dev/null || { say "taskset (util-linux) is needed to pin the processes"; exit 1; }

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

if [ -z "${BIN:-}" ]; then
  say "building the release binary"
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-target}/release/changegate
fi
say "installing the Node reference (pinned @octokit/webhooks 14.2.0)"
NODE_DIR=${CARGO_TARGET_DIR:-$PWD/target}/bench-node
mkdir -p "$NODE_DIR"
cp bench/node/package.json bench/node/server.mjs "$NODE_DIR/"
(cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null)

# The real payload, as GitHub sends it (compact JSON), and its signature.
python3 -c 'import json,sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")))' "$PAYLOAD" > "$TMP/body.json"
SIGNATURE=$(python3 -c 'import hmac,hashlib,sys; print("sha256="+hmac.new(sys.argv[1].encode(), open(sys.argv[2],"rb").read(), hashlib.sha256).hexdigest())' "$SECRET" "$TMP/body.json")
BYTES=$(wc -c < "$TMP/body.json")

wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; say "port $1 did not come up"; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

# Every thread of PID may run on SERVER_CPU only (threads started later inherit the pin).
check_pinned() {
  local pid=$1 bad=0 t cpus
  for t in /proc/"$pid"/task/*; do
    cpus=$(awk '/^Cpus_allowed_list/ {print $2}' "$t/status")
    if [ "$cpus" != "$SERVER_CPU" ]; then say "thread $(basename "$t") of $pid may run on $cpus"; bad=1; fi
  done
  [ "$bad" = 0 ] || exit 1
  ls /proc/"$pid"/task | wc -l
}

# run NAME PORT PID: wrk against one server; prints "rate p50 p99 non2xx cores"
run() {
  local port=$2 pid=$3 t0 c0 out
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  out=$(BODY_FILE="$TMP/body.json" SIGNATURE="$SIGNATURE" RUN_ID="$1$$" taskset -c "$LOAD_CPU" \
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/wrk.lua "http://127.0.0.1:$port")
  local c1 t1; c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  echo "$out" > "$TMP/wrk-$1.txt"
  local rate p50 p99 bad cores
  rate=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}'); bad=${bad:-0}
  cores=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) }')
  echo "$rate $p50 $p99 $bad $cores"
}

say "changegate on core $SERVER_CPU: SQLite in $TMP, synchronous=FULL, worker running (dry run)"
CHANGEGATE__SERVER__LISTEN=127.0.0.1:$CG_PORT CHANGEGATE__DATABASE__URL="sqlite://$TMP/state.db" \
  CHANGEGATE__GITHUB__WEBHOOK_SECRET=$SECRET CHANGEGATE_LOG=error taskset -c "$SERVER_CPU" "$BIN" serve &
CG_PID=$!; PIDS+=("$CG_PID")
wait_up "$CG_PORT"; sleep 1; check_pinned "$CG_PID" >/dev/null
say "wrk -t1 -c$CONNECTIONS -d$DURATION on core $LOAD_CPU against changegate"
read -r CG_RATE CG_P50 CG_P99 CG_BAD CG_CORES < <(run changegate "$CG_PORT" "$CG_PID")
CG_THREADS=$(check_pinned "$CG_PID")
STORED=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from deliveries").fetchone()[0])' "$TMP/state.db")
kill "$CG_PID"; wait "$CG_PID" 2>/dev/null || true

say "Node reference on core $SERVER_CPU"
(cd "$NODE_DIR" && SECRET=$SECRET PORT=$NODE_PORT exec taskset -c "$SERVER_CPU" node server.mjs) &
NODE_PID=$!; PIDS+=("$NODE_PID")
wait_up "$NODE_PORT"; sleep 1; check_pinned "$NODE_PID" >/dev/null
say "wrk -t1 -c$CONNECTIONS -d$DURATION on core $LOAD_CPU against the Node reference"
read -r N_RATE N_P50 N_P99 N_BAD N_CORES < <(run node "$NODE_PORT" "$NODE_PID")
N_THREADS=$(check_pinned "$NODE_PID")
kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true

python3 - "$BYTES" "$CG_RATE" "$CG_P50" "$CG_P99" "$CG_BAD" "$CG_CORES" "$CG_THREADS" "$STORED" \
  "$N_RATE" "$N_P50" "$N_P99" "$N_BAD" "$N_CORES" "$N_THREADS" "$CONNECTIONS" "$DURATION" "$SERVER_CPU" "$LOAD_CPU" <<'PY'
import sys
(bytes_, cg_rate, cg_p50, cg_p99, cg_bad, cg_cores, cg_threads, stored,
 n_rate, n_p50, n_p99, n_bad, n_cores, n_threads, conns, duration, server_cpu, load_cpu) = sys.argv[1:]
f = float
print(f"signed pull_request.labeled ({int(bytes_)/1024:.1f} KiB), each server pinned to core {server_cpu} (all its threads),")
print(f"wrk -t1 -c{conns} -d{duration} pinned to core {load_cpu}, loopback")
print()
print("| server (one core) | requests/s per core | p50 ms | p99 ms | non-2xx | core busy | threads |")
print("|---|---|---|---|---|---|---|")
print(f"| changegate (stored durably, SQLite, worker on the same core) | {f(cg_rate):,.0f} | {cg_p50} | {cg_p99} | {cg_bad} | {f(cg_cores):.0%} | {cg_threads} |")
print(f"| Node @octokit/webhooks 14.2 (stores nothing) | {f(n_rate):,.0f} | {n_p50} | {n_p99} | {n_bad} | {f(n_cores):.0%} | {n_threads} |")
print()
ratio = f(cg_rate) / f(n_rate)
print(f"changegate / Node per core: {ratio:.2f}x (target >= 2x: {'met' if ratio >= 2 else 'not met'}); "
      f"changegate p99 {cg_p99} ms (target < 10 ms: {'met' if f(cg_p99) < 10 else 'not met'}); Node p99 {n_p99} ms")
print(f"deliveries stored: {stored} (every 202 was committed before it was sent)")
print(f"reproduce: DURATION={duration} CONNECTIONS={conns} SERVER_CPU={server_cpu} LOAD_CPU={load_cpu} ./bench/run.sh")
PY
