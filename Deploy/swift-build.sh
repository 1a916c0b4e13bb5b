# Sourced by the Deploy scripts (after .deps/env.sh), not run: `swift_build WHO [swift build
# arguments]` builds the package and sets BIN to its binaries' folder. A failed build stops the
# script (exit 1, its errors shown, the full log kept): running or measuring the binaries an
# earlier build left would run or measure old code.
swift_build() {
    local who=$1
    shift
    local log="${TMPDIR:-/tmp}/paystream-$who-build.log"
    # shellcheck disable=SC2086
    if ! swift build "$@" $PAYSTREAM_SWIFT_FLAGS > "$log" 2>&1; then
        grep -E "error" "$log" | head -n 20 >&2
        echo "$who: the build failed (full log: $log)" >&2
        exit 1
    fi
    grep -E "Build complete" "$log" | tail -n 1 >&2 || true
    # shellcheck disable=SC2086
    BIN="$(swift build "$@" $PAYSTREAM_SWIFT_FLAGS --show-bin-path)"
}
