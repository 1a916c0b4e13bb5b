#!/usr/bin/env bash
# The whole-pipeline fault and fuzz run: installs what is missing (Deploy/setup.sh), builds, and
# runs `paystream-faults`, which starts its own Tansu broker on a free loopback port and the four
# daemons as processes, publishes seeded mixed load and hostile records, SIGKILLs and restarts
# daemons at random, freezes the broker once (long form), then checks the end state and prints a
# summary. Exits 1 if a check fails. Stops everything it started, by PID.
#
#   Deploy/faults.sh --short            # the CI form: 600 requests, 10 kills (about 2 minutes)
#   Deploy/faults.sh --long             # 10,000 requests, 100 kills, broker frozen 30 s
#   Deploy/faults.sh --seed 7 --requests 2000 --kills 20 --freeze-broker 10
#
# Every option: Deploy/faults.sh --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash Deploy/setup.sh
# shellcheck disable=SC1091
source .deps/env.sh
# shellcheck source=Deploy/swift-build.sh
source Deploy/swift-build.sh
swift_build faults
[ -x "$BIN/paystream-faults" ] || { echo "faults: build failed: $BIN/paystream-faults missing" >&2; exit 1; }
exec "$BIN/paystream-faults" "$@"
