#!/usr/bin/env bash
# Runs every test: installs what is missing (Deploy/setup.sh), builds, and runs `swift test`.
# Integration tests start their own Tansu broker on a free loopback port and stop it.
# Extra arguments go to `swift test` (e.g. --filter CrashTests).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash Deploy/setup.sh
# shellcheck disable=SC1091
source .deps/env.sh
# shellcheck disable=SC2086
swift build $PAYSTREAM_SWIFT_FLAGS --build-tests
# shellcheck disable=SC2086
exec swift test $PAYSTREAM_SWIFT_FLAGS --skip-build "$@"
