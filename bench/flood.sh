#!/usr/bin/env bash
# Unauthenticated memory flood, one command:  ./bench/flood.sh
#
# Starts the release binary (SQLite in a temporary folder, a webhook secret, default settings:
# 25 MiB bodies, 64 MiB buffered at once), posts FLOOD (12) bodies of 25 MB with a wrong
# signature at once, and during the flood one real signed delivery. Prints the server's RSS
# idle and at its peak, the flood's answers, and the signed delivery's answer and time.
# Loopback only; every request bounded; stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
FLOOD=${FLOOD:-12}
PORT=${PORT:-18083}
SECRET=flood-secret
PAYLOAD=tests/fixtures/github/pull_request.labeled.1.json

say() { printf 'flood: %s\n' "$*" >&2; }
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/changegate
head -c 26000000 /dev/zero | tr '\0' 'x' > "$TMP/big.json"
SIGNATURE=$(python3 -c 'import hmac,hashlib,sys; print("sha256="+hmac.new(sys.argv[1].encode(), open(sys.argv[2],"rb").read(), hashlib.sha256).hexdigest())' "$SECRET" "$PAYLOAD")

CHANGEGATE__SERVER__LISTEN=127.0.0.1:$PORT CHANGEGATE__DATABASE__URL="sqlite://$TMP/state.db" \
CHANGEGATE__GITHUB__WEBHOOK_SECRET=$SECRET CHANGEGATE__RULES__PATH=rules.yaml RUST_LOG=error \
  "$BIN" serve >"$TMP/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$SERVER/status"; }
IDLE=$(rss)
PEAK=$IDLE
( while kill -0 "$SERVER" 2>/dev/null; do r=$(rss); echo "$r"; sleep 0.05; done ) > "$TMP/rss" &
PIDS+=("$!")

for i in $(seq "$FLOOD"); do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 -X POST "http://127.0.0.1:$PORT/webhooks/github" \
    -H 'x-github-event: pull_request' -H "x-github-delivery: flood-$i" \
    -H "x-hub-signature-256: sha256=$(printf '0%.0s' $(seq 64))" -H 'content-type: application/json' \
    --data-binary @"$TMP/big.json" >> "$TMP/codes" &
  PIDS+=("$!")
done
sleep 0.5
SIGNED=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 30 -X POST "http://127.0.0.1:$PORT/webhooks/github" \
  -H 'x-github-event: pull_request' -H 'x-github-delivery: real-1' -H "x-hub-signature-256: $SIGNATURE" \
  -H 'content-type: application/json' --data-binary @"$PAYLOAD")
for _ in $(seq 600); do [[ $(wc -l < "$TMP/codes" 2>/dev/null || echo 0) -ge $FLOOD ]] && break; sleep 0.1; done
PEAK=$(sort -n "$TMP/rss" | tail -n1)
echo "flood of $FLOOD x 25 MB unsigned bodies against changegate (server.max_buffered_bytes 64 MiB)"
echo "RSS idle ${IDLE} MB, peak ${PEAK} MB"
echo "flood answers: $(sort "$TMP/codes" | uniq -c | awk '{printf "%s x %s, ", $1, $2}' | sed 's/, $//')"
echo "signed delivery during the flood: HTTP ${SIGNED% *} in ${SIGNED#* } s"
