#!/usr/bin/env bash
# Restore time from the changelog: payment-worker alone (no channel answers, so every payment
# stays authorized with its hold, events and channel request) on one partition decides N payment
# requests; then its shard is rebuilt from payment-worker.changelog with `paystream changelog
# rebuild`, timed (with COMPARE=1 also compared with the live file, table by table: slow for
# large N). Starts its own broker on a free loopback port and stops everything it started.
#
#   Deploy/restore-bench.sh [N]      # default 20000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N=${1:-20000}
bash Deploy/setup.sh
# shellcheck disable=SC1091
source .deps/env.sh
# shellcheck source=Deploy/swift-build.sh
source Deploy/swift-build.sh
swift_build restore-bench -c release
W="$ROOT/.local/restore-$N-$(date +%s)"; mkdir -p "$W/state"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
  --storage-engine memory://tansu/ > "$W/tansu.log" 2>&1 &
TANSU_PID=$!
WORKER_PID=
trap 'kill "$TANSU_PID" 2>/dev/null || true; [ -n "$WORKER_PID" ] && kill "$WORKER_PID" 2>/dev/null || true' EXIT
export PAYSTREAM_BROKERS=127.0.0.1:$PORT
until "$BIN/paystream" topics list --connect-timeout 1 > /dev/null 2>&1; do sleep 0.2; done
"$BIN/paystream" topics create --partitions 1 > /dev/null
"$BIN/paystream" reference load Config/reference-data.jsonl > /dev/null
python3 - "$N" > "$W/requests.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"schema": "payment-request/v1", "type": "payment", "request_id": f"r-{i}", "order_id": f"o-{i}",
                      "payer_id": f"user-{i % 5000}", "merchant_id": "m-7", "amount": 1000 + i % 500, "currency": "CNY",
                      "method": "card", "channel": "bank_card", "settlement": {"mode": "prepaid"},
                      "created_at": "2026-12-06T10:00:00Z"}))
PY
"$BIN/payment-worker" --state-dir "$W/state" --config Config/payment-worker.yaml --metrics-listen "" > "$W/worker.log" 2>&1 &
WORKER_PID=$!
started=$(date +%s.%N)
"$BIN/paystream" publish --topic payments.requests --key-field payer_id "$W/requests.jsonl" > /dev/null
until [ "$(sqlite3 "$W/state/payment-worker/p0.sqlite" 'select count(*) from payment' 2>/dev/null || echo 0)" -ge "$N" ]; do sleep 1; done
echo "payment-worker decided $N payments in $(echo "$(date +%s.%N) - $started" | bc) s"
kill -TERM "$WORKER_PID"; wait "$WORKER_PID" || true; WORKER_PID=
"$BIN/paystream" changelog status --stage payment-worker --state-dir "$W/state"
"$BIN/paystream" changelog rebuild --stage payment-worker --partition 0 --into "$W/rebuilt" \
  ${COMPARE:+--compare "$W/state/payment-worker/p0.sqlite"}
echo "files: $W"
