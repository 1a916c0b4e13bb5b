#!/usr/bin/env bash
# The benchmark: installs what is missing (Deploy/setup.sh), makes a release build, and runs
# `paystream-bench`, which starts its own Tansu broker on a free loopback port, the four daemons
# as processes with the Config/ settings, and a pass-through relay with as many hops; prints
# throughput, latency and CPU per payment end to end and through the relay, their ratios, and
# each stage's decide + commit rate without Kafka. Exits 1 if a payment was lost. Stops
# everything it started, by PID.
#
#   Deploy/bench.sh                     # 10,000 payments at once ×3, 1,000/s for 10 s (a few minutes)
#   Deploy/bench.sh --smoke             # 300 payments once, 200/s for 2 s (about a minute)
#   Deploy/bench.sh --payments 50000 --rate 2000 --shipped-sandbox
#
# Every option: Deploy/bench.sh --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash Deploy/setup.sh
# shellcheck disable=SC1091
source .deps/env.sh
# shellcheck source=Deploy/swift-build.sh
source Deploy/swift-build.sh
swift_build bench -c release
[ -x "$BIN/paystream-bench" ] || { echo "bench: build failed: $BIN/paystream-bench missing" >&2; exit 1; }
exec "$BIN/paystream-bench" "$@"
