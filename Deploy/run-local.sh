#!/usr/bin/env bash
# Runs the whole pipeline locally on sample data: installs what is missing (Deploy/setup.sh),
# starts a Tansu broker on a free loopback port, creates the topics, loads the reference data
# (merchants, credit lines, FX rates) with `paystream reference load`, builds and starts
# payment-worker, channel-sandbox, settlement-worker, notifier and reconciler, and the real-channel
# edge: channel-gateway with a local Alipay and a local WeChat Pay (`channel-simulator`, the real
# wire formats signed with test keys made for the run), which answer the alipay and wechat_pay
# payments (the sandbox answers the other methods); publishes the sample requests with the
# paystream CLI and prints a table of requests → outcomes. Stops everything it started, by PID,
# when done or on Ctrl-C.
#
#   Deploy/run-local.sh [--requests FILE] [--followups FILE|none] [--reference FILE] [--partitions N]
#                       [--days N] [--keep-running]
#
# The follow-ups (refunds, cancels, wallet payments and repayments that need the first requests
# decided) are published once every first request has its outcome; the outcomes table is
# followed by what settlement did for each payment (mode, fee, commission, splits, FX, the
# merchant's net, installments, refunds, repayments). Then `paystream verify` checks the ledger
# in every shard and money across the stages, and `paystream ledger export` writes both ledgers
# as an hledger journal that `hledger check -s ordereddates` must accept. Then (--days N, default 5;
# 0 skips it) settlement-worker is restarted with its clock N days ahead: the payout dates come,
# every payee's batch closes, the sandbox bank pays (or fails) each payout, `paystream report
# payouts` itemizes them, and verify and hledger run again. Last, reconciliation: the channel
# sandbox's statement files of the run are loaded with `paystream statements load`, the reconciler
# matches them with the captures and refunds, and `paystream report reconciliation` prints each
# statement day's counts per state and its exceptions. Webhooks: a small receiver on loopback
# (Deploy/webhook-receiver.py) gets every merchant's and supplier's notifications, signed with a
# secret made for the run (its credentials folder is the notifier's $CREDENTIALS_DIRECTORY), and
# verifies each with PyPI's standardwebhooks; the run ends by listing what it verified.
#
# --keep-running leaves the pipeline up after the table until Ctrl-C (publish more with
# `.build/debug/paystream publish FILE` using the PAYSTREAM_BROKERS it prints).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUESTS="$ROOT/Config/sample-requests.jsonl"
REFERENCE="$ROOT/Config/reference-data.jsonl"
FOLLOWUPS="$ROOT/Config/sample-followups.jsonl"
PARTITIONS=4
KEEP=0
DAYS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    --followups) if [ "$2" = none ]; then FOLLOWUPS=""; else FOLLOWUPS="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; fi; shift 2 ;;
    --reference) REFERENCE="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    --days) DAYS="$2"; shift 2 ;;
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --keep-running) KEEP=1; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "run-local: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -f "$REQUESTS" ] || { echo "run-local: no such file $REQUESTS" >&2; exit 2; }
[ -f "$REFERENCE" ] || { echo "run-local: no such file $REFERENCE" >&2; exit 2; }

cd "$ROOT"
bash Deploy/setup.sh
# shellcheck disable=SC1091
source .deps/env.sh
log() { printf '[run-local] %s\n' "$*" >&2; }

log "building"
# shellcheck source=Deploy/swift-build.sh
source Deploy/swift-build.sh
swift_build run-local
for exe in payment-worker settlement-worker notifier reconciler channel-sandbox channel-gateway channel-simulator paystream; do
  [ -x "$BIN/$exe" ] || { log "build failed: $BIN/$exe missing"; exit 1; }
done

RUN_DIR="$ROOT/.local/run-$(date +%Y%m%d-%H%M%S)"
RUN_STARTED="$(date +%s)"
mkdir -p "$RUN_DIR/state"
PIDS=()
BROKER_PID=""
RECEIVER_PID=""
SIMULATOR_PIDS=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "${#PIDS[@]}" -gt 0 ]; then
    log "stopping ${#PIDS[@]} daemons (SIGTERM, by PID)"
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
      alive=0
      for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  if [ -n "$RECEIVER_PID" ]; then kill -TERM "$RECEIVER_PID" 2>/dev/null || true; fi
  for pid in "${SIMULATOR_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # The broker last, once the daemons have flushed. Its storage is memory (nothing to flush) and
  # Tansu does not exit on SIGTERM, so it gets SIGKILL.
  if [ -n "$BROKER_PID" ]; then
    log "stopping the broker (SIGKILL, by PID)"
    kill -KILL "$BROKER_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  log "logs and state: $RUN_DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log "starting Tansu on 127.0.0.1:$PORT"
"$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
  --storage-engine memory://tansu/ >"$RUN_DIR/tansu.log" 2>&1 &
BROKER_PID="$!"
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.05
done

export PAYSTREAM_BROKERS="127.0.0.1:$PORT"
export PAYSTREAM_STATE_DIR="$RUN_DIR/state"
"$BIN/paystream" topics create --partitions "$PARTITIONS" >"$RUN_DIR/topics.log"
log "created $(grep -c . "$RUN_DIR/topics.log") topics with $PARTITIONS partitions"
# Reference data first: each worker reads it to the end before it takes input.
"$BIN/paystream" reference load "$REFERENCE" >"$RUN_DIR/reference.log" 2>&1 \
  || { log "reference load failed:"; cat "$RUN_DIR/reference.log" >&2; exit 1; }
log "reference data: $(tail -n 1 "$RUN_DIR/reference.log")"

# Webhooks: a receiver that verifies with standardwebhooks, one endpoint per merchant and
# supplier of the reference data (all to the receiver), a signing secret made for this run in the
# notifier's credentials folder. The secret is never printed.
CREDENTIALS="$RUN_DIR/credentials"
mkdir -p "$CREDENTIALS" && chmod 700 "$CREDENTIALS"
# Answer keys (docs/operations.md, "Security model"): the sandbox and the gateway seal every
# channel and bank answer, the workers check the seal. One key per payment method and the bank,
# made for this run (files 0600, never printed).
for signer in card alipay wechat_pay wallet cash online_banking bank; do
  (umask 077; printf 'local-1 %s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$CREDENTIALS/answers_$signer")
done
WEBHOOK_SECRET="$(python3 -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(32)).decode())')"
.deps/venv/bin/python Deploy/webhook-receiver.py --secret "local=$WEBHOOK_SECRET" --log "$RUN_DIR/webhooks.jsonl" \
  --port-file "$RUN_DIR/webhook-receiver.port" >"$RUN_DIR/webhook-receiver.log" 2>&1 &
RECEIVER_PID="$!"
for _ in $(seq 1 100); do [ -s "$RUN_DIR/webhook-receiver.port" ] && break; sleep 0.05; done
[ -s "$RUN_DIR/webhook-receiver.port" ] || { log "the webhook receiver did not start:"; cat "$RUN_DIR/webhook-receiver.log" >&2; exit 1; }
WEBHOOK_URL="http://127.0.0.1:$(cat "$RUN_DIR/webhook-receiver.port")/local/ok"
python3 - "$REFERENCE" "$WEBHOOK_URL" "$CREDENTIALS" "$WEBHOOK_SECRET" > "$RUN_DIR/endpoints.jsonl" <<'PY'
import json, os, sys
reference, url, folder, secret = sys.argv[1:5]
owners = set()
for line in open(reference):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    value = json.loads(line)
    if value.get("schema") == "merchant/v1" and not value.get("deleted"):
        owners.add(("merchant", value["merchant_id"]))
        owners.update(("supplier", s) for s in value.get("suppliers") or [])
for kind, owner in sorted(owners):
    endpoint = f"local-{owner}"
    path = os.path.join(folder, f"webhook_{endpoint}")
    with open(path, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o600)
    print(json.dumps({"schema": "webhook-endpoint/v1", "endpoint_id": endpoint, "owner_type": kind, "owner_id": owner,
                      "url": url, "enabled": True}))
PY
"$BIN/paystream" reference load "$RUN_DIR/endpoints.jsonl" >>"$RUN_DIR/reference.log" 2>&1 \
  || { log "loading the webhook endpoints failed:"; tail -n 5 "$RUN_DIR/reference.log" >&2; exit 1; }
log "webhooks: receiver on ${WEBHOOK_URL%/local/ok}, $(grep -c . "$RUN_DIR/endpoints.jsonl") endpoints (merchants and suppliers)"
export CREDENTIALS_DIRECTORY="$CREDENTIALS"

# The real-channel edge: test keys for the gateway and both simulators (files 0600, never
# printed), a local Alipay and a local WeChat Pay on free loopback ports (the payer pays after
# 300 ms; every notification is sent twice; retries on the channels' schedules, 100× faster), and
# channel-gateway's configuration: Config/channel-gateway.yaml with the run's addresses and keys.
CHANNEL_KEYS="$RUN_DIR/channel-keys"
"$BIN/channel-simulator" keys --out "$CHANNEL_KEYS" >/dev/null
cp -p "$CREDENTIALS/answers_alipay" "$CREDENTIALS/answers_wechat_pay" "$CHANNEL_KEYS/"  # the gateway seals for these two
SIM_BEHAVIOUR='{"pay_delay_ms":300,"duplicate_notifies":1,"time_scale":0.01}'
"$BIN/channel-simulator" serve --channel alipay --keys "$CHANNEL_KEYS" --merchant-id 2021000000000001 --behaviour "$SIM_BEHAVIOUR" \
  --address-file "$RUN_DIR/alipay-simulator.address" >"$RUN_DIR/alipay-simulator.log" 2>&1 &
SIMULATOR_PIDS+=("$!")
"$BIN/channel-simulator" serve --channel wechat_pay --keys "$CHANNEL_KEYS" --merchant-id 1900000001 --behaviour "$SIM_BEHAVIOUR" \
  --address-file "$RUN_DIR/wechat-simulator.address" >"$RUN_DIR/wechat-simulator.log" 2>&1 &
SIMULATOR_PIDS+=("$!")
for file in alipay-simulator.address wechat-simulator.address; do
  for _ in $(seq 1 100); do [ -s "$RUN_DIR/$file" ] && break; sleep 0.05; done
  [ -s "$RUN_DIR/$file" ] || { log "a channel simulator did not start:"; tail -n 5 "$RUN_DIR/${file%.address}.log" >&2; exit 1; }
done
ALIPAY_SIM="$(cat "$RUN_DIR/alipay-simulator.address")"
WECHAT_SIM="$(cat "$RUN_DIR/wechat-simulator.address")"
CALLBACKS="127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
python3 - Config/channel-gateway.yaml "$RUN_DIR/channel-gateway.yaml" "$CALLBACKS" "$CHANNEL_KEYS" "$ALIPAY_SIM" "$WECHAT_SIM" <<'PY'
import sys
source, target, callbacks, keys, alipay, wechat = sys.argv[1:7]
head = open(source).read().split("\nstage:\n")[0]
stage = f"""
stage:
  listen: "{callbacks}"
  credentials_directory: "{keys}"
  call_timeout_ms: 3000
  retry_delays_ms: [500, 1000, 2000]
  poll_after_ms: 2000
  tick_interval_ms: 20
  alipay:
    gateway_url: http://{alipay}/gateway.do
    app_id: "2021000000000001"
    notify_url: http://{callbacks}/alipay/notify
  wechat_pay:
    base_url: http://{wechat}
    mchid: "1900000001"
    appid: wx0000000000000001
    notify_url: http://{callbacks}/wechatpay/notify
    merchant_serial: 5F1C72E2A0000000000000000000000000000001
    public_key_id: PUB_KEY_ID_0100000000000000000000000000SIM1
"""
open(target, "w").write(head + "\n" + stage)
PY
# The sandbox leaves alipay and wechat_pay to the gateway.
sed 's/^stage:$/stage:\n  skip_methods: [alipay, wechat_pay]/' Config/channel-sandbox.yaml > "$RUN_DIR/channel-sandbox.yaml"
# The notifier may reach the local webhook receiver (loopback, plain http).
sed -e "s|^  templates_file: notification-templates.yaml\$|  templates_file: $PWD/Config/notification-templates.yaml|" \
    -e 's|^    allow: \[\]$|    allow: ["127.0.0.0/8"]|' Config/notifier.yaml > "$RUN_DIR/notifier.yaml"
grep -q '127.0.0.0/8' "$RUN_DIR/notifier.yaml" && grep -q "templates_file: $PWD/" "$RUN_DIR/notifier.yaml" \
  || { log "could not make the notifier's local configuration from Config/notifier.yaml"; exit 1; }
log "channels: Alipay simulator on $ALIPAY_SIM, WeChat Pay simulator on $WECHAT_SIM, gateway callbacks on $CALLBACKS"

config_of() {
  case "$1" in
    channel-gateway|channel-sandbox|notifier) echo "$RUN_DIR/$1.yaml" ;;
    *) echo "Config/$1.yaml" ;;
  esac
}
DAEMONS=(payment-worker channel-sandbox settlement-worker notifier reconciler channel-gateway)
for daemon in "${DAEMONS[@]}"; do
  "$BIN/$daemon" --config "$(config_of "$daemon")" --instance-id "$daemon-local" >"$RUN_DIR/$daemon.log" 2>&1 &
  PIDS+=("$!")
done
for daemon in "${DAEMONS[@]}"; do
  for _ in $(seq 1 300); do
    grep -qs "partitions assigned" "$RUN_DIR/$daemon.log" && break
    if grep -qs "level=critical" "$RUN_DIR/$daemon.log"; then log "$daemon failed:"; tail -n 5 "$RUN_DIR/$daemon.log" >&2; exit 1; fi
    sleep 0.1
  done
  grep -qs "partitions assigned" "$RUN_DIR/$daemon.log" || { log "$daemon got no partitions in 30 s"; exit 1; }
done
log "pipeline up: payment-worker, channel-sandbox, settlement-worker, notifier, reconciler, channel-gateway"

"$BIN/paystream" publish --topic payments.requests "$REQUESTS"
echo
status=0
"$BIN/paystream" outcomes --timeout 60 "$REQUESTS" || status=$?
if [ "$status" = 0 ] && [ -n "$FOLLOWUPS" ]; then
  echo
  log "follow-ups: $FOLLOWUPS"
  "$BIN/paystream" publish --topic payments.requests "$FOLLOWUPS"
  echo
  "$BIN/paystream" outcomes --timeout 60 "$FOLLOWUPS" || status=$?
fi
# paystream verify (ledgers, settlement lines, money across the stages) and hledger's check of the
# exported journal. The last hand-offs (a refund's, a repayment's, a payout's answer) may still be
# on their way: verify gets up to 30 s for the pipeline to drain before it counts.
check_money() {
  local verified=1
  for _ in $(seq 1 30); do
    if "$BIN/paystream" verify --state-dir "$PAYSTREAM_STATE_DIR" > "$RUN_DIR/verify.txt"; then verified=0; break; fi
    sleep 1
  done
  if [ "$verified" = 0 ]; then
    log "paystream verify: $(tail -n 1 "$RUN_DIR/verify.txt"), money conserved across stages"
  else
    log "paystream verify found problems:"; grep -v ": ok$" "$RUN_DIR/verify.txt" >&2; status=1
  fi
  "$BIN/paystream" ledger export --format hledger --state-dir "$PAYSTREAM_STATE_DIR" -o "$RUN_DIR/ledger.journal"
  if hledger -f "$RUN_DIR/ledger.journal" check -s ordereddates; then
    log "hledger check -s ordereddates: ok ($RUN_DIR/ledger.journal); merchant-side balances:"
    hledger -f "$RUN_DIR/ledger.journal" bal -l -N merchant: | sed 's/^/    /'
  else
    log "hledger refused the export"; status=1
  fi
}
echo
check_money

# The payout days: settlement-worker again, its clock moved past the sample day's payout dates
# (T+1 and T+2 business days; PAYSTREAM_CLOCK_OFFSET_SECONDS is for local runs only): every
# payee's money becomes available, its batch closes and the sandbox bank pays it (or fails it).
if [ "$status" = 0 ] && [ "$DAYS" -gt 0 ]; then
  echo
  log "payout days: restarting settlement-worker with its clock $DAYS days ahead"
  kill -TERM "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null || true
  PAYSTREAM_CLOCK_OFFSET_SECONDS=$((DAYS * 86400)) "$BIN/settlement-worker" --config Config/settlement-worker.yaml \
    --instance-id settlement-worker-local >>"$RUN_DIR/settlement-worker.log" 2>&1 &
  PIDS[2]="$!"
  before="$(grep -c "partitions assigned" "$RUN_DIR/settlement-worker.log")"
  for _ in $(seq 1 300); do
    [ "$(grep -c "partitions assigned" "$RUN_DIR/settlement-worker.log")" -gt "$before" ] && break
    sleep 0.1
  done
  # Batches close on the timer's next run; the bank answers within its latency.
  for _ in $(seq 1 30); do
    "$BIN/paystream" report payouts --format csv --state-dir "$PAYSTREAM_STATE_DIR" > "$RUN_DIR/payouts.csv" 2>/dev/null || true
    [ "$(grep -c ",sent," "$RUN_DIR/payouts.csv")" = 0 ] && [ "$(wc -l < "$RUN_DIR/payouts.csv")" -gt 1 ] && break
    sleep 1
  done
  "$BIN/paystream" report payouts --state-dir "$PAYSTREAM_STATE_DIR" || status=$?
  check_money
fi

# Reconciliation: the sandbox rewrites a day's statement files within statement_interval_ms of
# its last answer; they are loaded (each line keyed by its payment id), and the reconciler's
# results are awaited until no line or capture of the day is still pending.
STATEMENTS="$PAYSTREAM_STATE_DIR/channel-statements"
if [ "$status" = 0 ] && [ -d "$STATEMENTS" ]; then
  echo
  sleep 2
  log "reconciliation: loading the sandbox's statements ($STATEMENTS)"
  "$BIN/paystream" statements load "$STATEMENTS" | tail -n 1
  # The simulators' bills, in Alipay's and WeChat Pay's own formats, for the China Standard Time
  # days of the run (the channels cut their bills by those): their lines name the gateway's
  # numbers, which `statements load --state-dir` maps back to payments through its shards.
  BILLS="$RUN_DIR/bills"
  mkdir -p "$BILLS"
  BILL_DAYS="$(printf '%s\n%s\n' "$(TZ=Asia/Shanghai date -d "@$RUN_STARTED" +%F)" "$(TZ=Asia/Shanghai date +%F)" | sort -u)"
  for day in $BILL_DAYS; do
    curl -sf "http://$ALIPAY_SIM/_sim/bill?date=$day" -o "$BILLS/alipay-$day.csv"
    curl -sf "http://$WECHAT_SIM/_sim/bill?date=$day" -o "$BILLS/wechat_pay-$day.csv"
  done
  log "reconciliation: loading the channels' bills ($BILLS)"
  "$BIN/paystream" statements load --state-dir "$PAYSTREAM_STATE_DIR" "$BILLS" | tail -n 2 || status=1
  for day in $( (ls "$STATEMENTS"; printf '%s\n' $BILL_DAYS) | sort -u); do
    for attempt in $(seq 1 30); do
      # The sandbox may rewrite a day's file after the first load (a late answer): load again
      # now and then; a line loaded twice changes nothing.
      if [ $((attempt % 5)) = 0 ]; then "$BIN/paystream" statements load "$STATEMENTS" >/dev/null 2>&1 || true; fi
      "$BIN/paystream" report reconciliation --date "$day" --format json --state-dir "$PAYSTREAM_STATE_DIR" \
        > "$RUN_DIR/reconciliation-$day.json" 2>/dev/null || true
      python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["counts"]; sys.exit(0 if c["pending"] == 0 and sum(c.values()) > 0 else 1)' \
        "$RUN_DIR/reconciliation-$day.json" 2>/dev/null && break
      sleep 1
    done
    "$BIN/paystream" report reconciliation --date "$day" --state-dir "$PAYSTREAM_STATE_DIR" || status=$?
  done
fi

# Webhooks: what the receiver got and verified (independently of our signing code).
if [ -f "$RUN_DIR/webhooks.jsonl" ]; then
  echo
  sleep 1
  python3 - "$RUN_DIR/webhooks.jsonl" <<'PY' || status=$?
import collections, json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
verified = [l for l in lines if l["verified"]]
print(f"webhooks: {len(lines)} deliveries received, {len(verified)} verified with standardwebhooks, "
      f"{len({l['webhook_id'] for l in verified})} distinct webhook-ids")
for kind, count in sorted(collections.Counter(l["type"] for l in verified).items()):
    print(f"  {kind:<28} {count}")
for l in verified[:3]:
    print(f"  e.g. webhook-id {l['webhook_id']}  timestamp {l['timestamp']}  -> {l['status']}")
sys.exit(0 if lines and len(verified) == len(lines) else 1)
PY
fi

# The real-channel edge: what each simulator saw (every request's signature checked, every
# notification signed and, for WeChat Pay, encrypted) and what the gateway did.
echo
python3 - "$ALIPAY_SIM" "$WECHAT_SIM" <<'PY' || status=$?
import json, sys, urllib.request
ok = True
for name, address in (("Alipay", sys.argv[1]), ("WeChat Pay", sys.argv[2])):
    stats = json.load(urllib.request.urlopen(f"http://{address}/_sim/stats", timeout=5))
    calls = ", ".join(f"{k} {v}" for k, v in sorted(stats["calls"].items()))
    print(f"{name} simulator: {stats['trades_created']} trades, {stats['trades_paid']} paid, {stats['refunds']} refunds; "
          f"notifications {stats['notifies_sent']} sent, {stats['notifies_accepted']} taken; "
          f"{stats['bad_signatures']} requests with a bad signature; calls: {calls}")
    ok = ok and stats["bad_signatures"] == 0 and stats["trades_created"] > 0
sys.exit(0 if ok else 1)
PY

# Metrics: each daemon's /metrics (its address is in its log), saved beside the logs; a few lines shown.
echo
for daemon in "${DAEMONS[@]}"; do
  address="$(grep -o 'metrics.address=[^ ]*' "$RUN_DIR/$daemon.log" | tail -n 1 | cut -d= -f2)"
  [ -n "$address" ] || continue
  curl -s "http://$address/metrics" > "$RUN_DIR/metrics-$daemon.txt" || continue
  log "metrics of $daemon (http://$address/metrics, /livez, /readyz; saved in $RUN_DIR/metrics-$daemon.txt):"
  grep -E '^paystream_(records_consumed_total|records_produced_total|dead_letters_total|rejections_total|webhook_deliveries_total|channel_calls_total|channel_notifications_total|ready)' \
    "$RUN_DIR/metrics-$daemon.txt" | head -n 8 | sed 's/^/  /'
done

if [ "$KEEP" = 1 ]; then
  log "still running; PAYSTREAM_BROKERS=$PAYSTREAM_BROKERS; Ctrl-C stops everything"
  wait "$BROKER_PID" || true
fi
exit "$status"
