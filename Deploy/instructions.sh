#!/usr/bin/env bash
# Instructions per payment, per stage: the stable figure for CPU work (wall-clock figures on a
# shared machine move ±20 %; instruction counts do not). Runs the benchmark's offline stage
# measurement — each stage deciding and committing card payments on temporary shards, no Kafka —
# under valgrind's callgrind, and attributes the instructions to each stage by the functions its
# decisions run in (`InstructionMarks` in Sources/PaystreamBench/OfflineStageBench.swift).
# payment-worker's figure covers both of its records per payment (the request and the channel's
# answer). Report it before and after a change that touches the decision or store path.
#
#   Deploy/instructions.sh                    # 1,000 payments (a few minutes under callgrind)
#   Deploy/instructions.sh --payments 300     # quicker; per-payment figures shift a little with
#                                             # the batch count, so compare runs of one size
#   Deploy/instructions.sh --batch 4          # records per partition per transaction (default 500,
#                                             # a burst's; a paced load commits a few at a time)
#   Deploy/instructions.sh --keep DIR         # keep callgrind's output in DIR (callgrind_annotate)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PAYMENTS=1000
PARTITIONS=4
BATCH=500
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --payments) PAYMENTS="$2"; shift 2 ;;
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "instructions: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$PAYMENTS" in ''|*[!0-9]*|0) echo "instructions: --payments must be a positive number" >&2; exit 2 ;; esac
case "$BATCH" in ''|*[!0-9]*|0) echo "instructions: --batch must be a positive number" >&2; exit 2 ;; esac
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null \
  || { echo "instructions: valgrind is missing (apt-get install valgrind)" >&2; exit 2; }
bash Deploy/setup.sh >&2
# shellcheck disable=SC1091
source .deps/env.sh
# shellcheck source=Deploy/swift-build.sh
source Deploy/swift-build.sh
swift_build instructions -c release --product paystream-instructions
OUT="${KEEP:-$(mktemp -d)}"
mkdir -p "$OUT"
[ -n "$KEEP" ] || trap 'rm -rf "$OUT"' EXIT
echo "[instructions] $PAYMENTS card payments through each stage under callgrind, $BATCH records per transaction ($OUT)" >&2
# Valgrind 3.19 cannot read the DWARF 5 the Swift toolchain writes: a copy without debug info
# keeps the symbol table, which is all the function attribution needs.
# (paystream-instructions is the offline run with a synchronous main: valgrind cannot run Swift's
# async main here.)
cp "$BIN/paystream-instructions" "$OUT/paystream-instructions"
strip --strip-debug "$OUT/paystream-instructions"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
  "$OUT/paystream-instructions" --partitions "$PARTITIONS" --payments "$PAYMENTS" --batch "$BATCH" \
  >"$OUT/bench.log" 2>"$OUT/valgrind.log" \
  || { echo "instructions: the run failed:" >&2; tail -n 20 "$OUT/valgrind.log" >&2; exit 1; }
callgrind_annotate --inclusive=yes --threshold=100 "$OUT/callgrind.out" | swift demangle --simplified >"$OUT/annotate.txt"
python3 - "$OUT/annotate.txt" "$PAYMENTS" <<'PY'
import re, sys
path, payments = sys.argv[1], int(sys.argv[2])
text = open(path, encoding="utf-8", errors="replace").read()
total = re.search(r"^\s*([\d,]+).*PROGRAM TOTALS", text, re.M)
marks = [("payment-worker", "paymentWorker"), ("channel-sandbox", "channelSandbox"),
         ("settlement-worker", "settlementWorker"), ("notifier", "notifier")]
rows, missing = [], []
for stage, name in marks:
    found = re.search(r"^\s*([\d,]+)\s.*InstructionMarks\." + name + r"\(", text, re.M)
    if not found:
        missing.append(stage)
        continue
    rows.append((stage, int(found.group(1).replace(",", ""))))
if missing:
    sys.exit("instructions: no figure for " + ", ".join(missing) + " (were the marks inlined?)")
print(f"{'stage':<18} {'instructions':>15} {'per payment':>12}")
for stage, count in rows:
    print(f"{stage:<18} {count:>15,} {count // payments:>12,}")
summed = sum(count for _, count in rows)
print(f"{'four stages':<18} {summed:>15,} {summed // payments:>12,}")
if total:
    print(f"(the whole process, start-up and shard set-up included: {int(total.group(1).replace(',', '')):,})")
PY
