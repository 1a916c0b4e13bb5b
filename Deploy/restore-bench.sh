#!/usr/bin/env bash
# Restore and failover time: payment-worker alone (no channel answers, so every payment stays
# authorized with its hold, events and channel request) on one partition decides N payment
# requests, snapshotting its shard every SNAPSHOT_MB (default 32) MiB of changelog. Then:
#   1. failover: a second instance (its own state folder, same group) is started, the first is
#      killed -9, one more request is published, and the time from the kill until the second
#      instance has decided it is measured (group session timeout 6 s + restore from the newest
#      snapshot and the log after it + claim);
#   2. the shard is rebuilt with `paystream changelog rebuild` from the whole log, and from the
#      newest snapshot and the log after it, both timed (with COMPARE=1 each is also compared
#      with the live file, table by table: slow for large N).
# Starts its own broker on a free loopback port and stops everything it started.
#
#   Deploy/restore-bench.sh [N]      # default 20000
#   SNAPSHOT_MB=0 Deploy/restore-bench.sh 100000     # failover with no snapshot: the whole log
#   STANDBY=1 Deploy/restore-bench.sh 100000         # failover to a standby copy
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
SECOND_PID=
trap 'kill "$TANSU_PID" 2>/dev/null || true; for p in $WORKER_PID $SECOND_PID; do kill "$p" 2>/dev/null || true; done' EXIT
sed "s/^  every_mb: .*/  every_mb: ${SNAPSHOT_MB:-32}/" Config/payment-worker.yaml > Config/.restore-bench-payment-worker.yaml
CONFIG="$ROOT/Config/.restore-bench-payment-worker.yaml"
# STANDBY=1: the second instance keeps a standby copy of the partition while the first owns it.
SECOND_CONFIG="$CONFIG"
if [ -n "${STANDBY:-}" ]; then
  sed 's/^  partitions: none/  partitions: all/' "$CONFIG" > Config/.restore-bench-standby.yaml
  SECOND_CONFIG="$ROOT/Config/.restore-bench-standby.yaml"
fi
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
payments() { sqlite3 "$1/payment-worker/p0.sqlite" 'select count(*) from payment' 2>/dev/null || echo 0; }
"$BIN/payment-worker" --state-dir "$W/state" --config "$CONFIG" --metrics-listen "" > "$W/worker.log" 2>&1 &
WORKER_PID=$!
started=$(date +%s.%N)
"$BIN/paystream" publish --topic payments.requests --key-field payer_id "$W/requests.jsonl" > /dev/null
until [ "$(payments "$W/state")" -ge "$N" ]; do sleep 1; done
echo "payment-worker decided $N payments in $(echo "$(date +%s.%N) - $started" | bc) s"
# The snapshots it published while deciding (size, seconds, CPU of the copy and its checksum).
grep 'snapshot published' "$W/worker.log" | sed 's/.*snapshot published//' || true
# The second instance joins the group (it gets no partition: there is one) ...
mkdir -p "$W/second"
"$BIN/payment-worker" --state-dir "$W/second" --config "$SECOND_CONFIG" --metrics-listen "" > "$W/second.log" 2>&1 &
SECOND_PID=$!
until grep -q 'rebalance\|group joined\|partitions assigned\|ready' "$W/second.log" 2>/dev/null; do sleep 0.2; done
if [ -n "${STANDBY:-}" ]; then
  until grep -q 'standby copy ready' "$W/second.log"; do sleep 0.2; done
  grep 'standby copy ready' "$W/second.log" | sed 's/.*standby copy ready/standby copy ready:/'
fi
sleep 2
# ... and takes over when the first is killed.
killed=$(date +%s.%N)
kill -KILL "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true; WORKER_PID=
python3 -c 'import json; print(json.dumps({"schema": "payment-request/v1", "type": "payment", "request_id": "r-failover", "order_id": "o-failover", "payer_id": "user-failover", "merchant_id": "m-7", "amount": 1234, "currency": "CNY", "method": "card", "channel": "bank_card", "settlement": {"mode": "prepaid"}, "created_at": "2026-12-06T10:00:00Z"}))' > "$W/failover.jsonl"
"$BIN/paystream" publish --topic payments.requests --key-field payer_id "$W/failover.jsonl" > /dev/null
until [ "$(payments "$W/second")" -ge "$((N + 1))" ]; do sleep 0.05; done
echo "failover: the second instance decided a new request $(echo "$(date +%s.%N) - $killed" | bc) s after the first was killed"
grep 'shard restored from its changelog' "$W/second.log" | sed 's/.*shard restored from its changelog//' || true
kill -TERM "$SECOND_PID"; wait "$SECOND_PID" || true; SECOND_PID=
"$BIN/paystream" changelog status --stage payment-worker --state-dir "$W/second"
"$BIN/paystream" changelog snapshots --stage payment-worker
"$BIN/paystream" changelog rebuild --stage payment-worker --partition 0 --into "$W/rebuilt" \
  ${COMPARE:+--compare "$W/second/payment-worker/p0.sqlite"}
"$BIN/paystream" changelog rebuild --stage payment-worker --partition 0 --into "$W/from-snapshot" --from-snapshot \
  ${COMPARE:+--compare "$W/second/payment-worker/p0.sqlite"}
ls -l "$W/second/payment-worker/p0.sqlite"
echo "files: $W"
