#!/usr/bin/env bash
# Instructions per delivery, repeatable on a loaded machine:  BIN=target/release/changegate ./bench/callgrind.sh
# Runs `changegate serve` (dry run, SQLite in a temporary folder) under callgrind, zeroes the
# counters once it answers, sends N signed deliveries of one change (bench/drive.py), waits until
# the worker has processed them all, dumps the counters and prints instructions per delivery:
# in all, in SHA-256 (valgrind does not emulate the SHA extensions: natively far fewer) and the
# rest. Env: N (2000), PORT (18091), BIN (default: build the release binary).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}; PORT=${PORT:-18091}; SECRET=bench-secret
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=${CARGO_TARGET_DIR:-target}/release/changegate; fi
TMP=$(mktemp -d); OUT=$TMP/callgrind.out
CHANGEGATE__SERVER__LISTEN=127.0.0.1:$PORT CHANGEGATE__DATABASE__URL="sqlite://$TMP/state.db" \
  CHANGEGATE__GITHUB__WEBHOOK_SECRET=$SECRET CHANGEGATE_LOG=error \
  valgrind --tool=callgrind --callgrind-out-file="$OUT" "$BIN" serve 2>"$TMP/valgrind.log" &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 1 600); do
  kill -0 "$PID" || { cat "$TMP/valgrind.log" >&2; exit 1; }
  curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.5
done
callgrind_control -z "$PID" >/dev/null
python3 bench/drive.py "$PORT" "$N" 16 "$TMP/state.db" "$SECRET"
callgrind_control -d "$PID" >/dev/null
sleep 2
callgrind_annotate --threshold=100 --auto=no "$OUT.1" > "$TMP/annotated" 2>/dev/null
total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$TMP/annotated")
sum() { grep -E "$1" "$TMP/annotated" | awk '{gsub(",", "", $1); s += $1} END {print s + 0}'; }
sha=$(sum compress256); json=$(sum serde_json); sqlite=$(sum 'sqlite3\.c')
echo "instructions per delivery ($N deliveries of one change, acknowledged and processed):"
echo "  total $((total / N)), SHA-256 $((sha / N)), the rest $(((total - sha) / N)) (serde_json $((json / N)), SQLite $((sqlite / N)))"
