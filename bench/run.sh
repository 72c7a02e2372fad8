#!/usr/bin/env bash
# The receiver benchmark, one command from a fresh clone:  ./bench/run.sh
#
# Builds the release binary, starts changegate (SQLite in a temporary folder, durable before
# every 202) and the Node reference (@octokit/webhooks 14.2.0: verify, parse, one rule, no
# storage), signs a real payload from tests/fixtures, runs the same wrk load against each in
# turn, measures the floor (HMAC verify + typed parse, criterion), and prints one table with
# the ratios. Stops every process it started. Env: DURATION (10s), CONNECTIONS (32), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
CG_PORT=${CG_PORT:-18081}
NODE_PORT=${NODE_PORT:-18082}
SECRET=bench-secret
PAYLOAD=tests/fixtures/github/pull_request.labeled.1.json

say() { printf 'bench: %s\n' "$*" >&2; }
command -v wrk >/dev/null || { say "installing wrk"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v node >/dev/null && command -v npm >/dev/null || { say "installing node"; apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

say "building the release binary"
cargo build --release --quiet
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
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

# run NAME PORT PID: wrk against one server; prints "rate p50 p99 non2xx rss_idle rss_peak cores"
run() {
  local port=$2 pid=$3 idle t0 c0 out
  sleep 1
  idle=$(rss_kb "$pid")
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  out=$(BODY_FILE="$TMP/body.json" SIGNATURE="$SIGNATURE" RUN_ID="$1$$" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/wrk.lua "http://127.0.0.1:$port")
  local c1 t1; c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  echo "$out" > "$TMP/wrk-$1.txt"
  local rate p50 p99 bad cores
  rate=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}'); bad=${bad:-0}
  cores=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) }')
  echo "$rate $p50 $p99 $bad $((idle / 1024)) $(( $(hwm_kb "$pid") / 1024 )) $cores"
}

say "changegate: SQLite in $TMP, synchronous=FULL, worker running (dry run)"
CHANGEGATE__SERVER__LISTEN=127.0.0.1:$CG_PORT CHANGEGATE__DATABASE__URL="sqlite://$TMP/state.db" \
  CHANGEGATE__GITHUB__WEBHOOK_SECRET=$SECRET CHANGEGATE_LOG=error ./target/release/changegate serve &
CG_PID=$!; PIDS+=("$CG_PID")
wait_up "$CG_PORT"
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION against changegate"
read -r CG_RATE CG_P50 CG_P99 CG_BAD CG_IDLE CG_PEAK CG_CORES < <(run changegate "$CG_PORT" "$CG_PID")
STORED=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from deliveries").fetchone()[0])' "$TMP/state.db")
kill "$CG_PID"; wait "$CG_PID" 2>/dev/null || true

say "Node reference"
(cd "$NODE_DIR" && SECRET=$SECRET PORT=$NODE_PORT exec node server.mjs) &
NODE_PID=$!; PIDS+=("$NODE_PID")
wait_up "$NODE_PORT"
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION against the Node reference"
read -r N_RATE N_P50 N_P99 N_BAD N_IDLE N_PEAK N_CORES < <(run node "$NODE_PORT" "$NODE_PID")
kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true

say "floor: HMAC-SHA256 verify + typed parse of the same payload (criterion)"
cargo bench --quiet --bench hotpaths -- --noplot floor >/dev/null 2>&1 || cargo bench --bench hotpaths -- floor >&2
FLOOR_NS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"])' "${CARGO_TARGET_DIR:-target}/criterion/floor/new/estimates.json")

python3 - "$BYTES" "$CG_RATE" "$CG_P50" "$CG_P99" "$CG_BAD" "$CG_IDLE" "$CG_PEAK" "$CG_CORES" "$STORED" \
  "$N_RATE" "$N_P50" "$N_P99" "$N_BAD" "$N_IDLE" "$N_PEAK" "$N_CORES" "$FLOOR_NS" "$THREADS" "$CONNECTIONS" "$DURATION" <<'PY'
import sys
a = sys.argv[1:]
(bytes_, cg_rate, cg_p50, cg_p99, cg_bad, cg_idle, cg_peak, cg_cores, stored,
 n_rate, n_p50, n_p99, n_bad, n_idle, n_peak, n_cores, floor_ns, threads, conns, duration) = a
f = float
floor_rate = 1e9 / f(floor_ns)
cg_per_core = f(cg_rate) / max(f(cg_cores), 0.01)
print(f"signed pull_request.labeled ({int(bytes_)/1024:.1f} KiB), wrk -t{threads} -c{conns} -d{duration}, loopback, this machine")
print()
print("| server | deliveries/s | p50 ms | p99 ms | non-2xx | RSS idle MB | RSS peak MB | cores used |")
print("|---|---|---|---|---|---|---|---|")
print(f"| changegate (stored durably, SQLite) | {f(cg_rate):,.0f} | {cg_p50} | {cg_p99} | {cg_bad} | {cg_idle} | {cg_peak} | {cg_cores} |")
print(f"| Node @octokit/webhooks 14.2 (stores nothing) | {f(n_rate):,.0f} | {n_p50} | {n_p99} | {n_bad} | {n_idle} | {n_peak} | {n_cores} |")
print(f"| floor: verify + typed parse, one core | {floor_rate:,.0f} | {f(floor_ns)/1e6:.3f} | | | | | 1 |")
print()
print(f"changegate / Node: {f(cg_rate)/f(n_rate):.2f}x (target >= 3x); p99 {cg_p99} ms (target < 10 ms)")
print(f"changegate per core used / floor: {cg_per_core:,.0f} / {floor_rate:,.0f} = {100*cg_per_core/floor_rate:.0f}% (target >= 50%)")
print(f"deliveries stored: {stored} (every 202 was committed before it was sent)")
PY
