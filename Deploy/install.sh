#!/usr/bin/env bash
# Installs Paystream on this host: release binaries, the systemd units, the configuration and the
# runbook, and (--create-topics) the pipeline's topics. Idempotent: run it again after an upgrade;
# it replaces binaries, units and docs, and never overwrites a configuration file you edited (the
# shipped version is put beside it as <file>.dist when they differ).
#
#   sudo Deploy/install.sh [--prefix /usr/local] [--sysconfdir /etc/paystream]
#                          [--unitdir /etc/systemd/system] [--destdir DIR] [--allow-ip CIDR]…
#                          [--no-build --bin-dir DIR] [--create-topics --brokers HOST:PORT [--partitions N]]
#
#   --destdir DIR    install under DIR (a staging root, for packaging or a dry look); nothing
#                    outside it is touched, systemctl is not called
#   --no-build       do not build; take the binaries from --bin-dir (default: the release build)
#   --allow-ip CIDR  an address the units may talk to: the brokers, the metrics scraper
#                    (repeatable); written to <unitdir>/paystream-.service.d/network.conf. Every
#                    unit denies all other addresses (the notifier and channel-gateway also
#                    reach public ones)
#
# The build takes only what a release build needs (Deploy/setup.sh --build-only: no test broker,
# nothing from PyPI). librdkafka, when it is not the system's, is installed beside the binaries
# (<prefix>/lib/paystream) and the binaries find it there ($ORIGIN), not in this checkout.
#   --create-topics  create every topic (`paystream topics create`) on --brokers; existing topics
#                    are left as they are
#
# After it: put each daemon's Kafka secrets in <sysconfdir>/<daemon>/kafka/<property>, webhook
# secrets in <sysconfdir>/notifier/webhooks/<endpoint_id> and channel keys in
# <sysconfdir>/channel-gateway/channels/<file> (docs/channels.md), answer keys in
# <sysconfdir>/<daemon>/answers/<signer> (docs/operations.md, "Security model"), set brokers in
# <sysconfdir>/paystream.env (0600), then
# `systemctl enable --now paystream-payment-worker@1 …` (docs/operations.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/usr/local
SYSCONFDIR=/etc/paystream
UNITDIR=/etc/systemd/system
DESTDIR=""
BUILD=1
BIN_DIR=""
CREATE_TOPICS=0
BROKERS="${PAYSTREAM_BROKERS:-}"
PARTITIONS=8
ALLOW_IPS=()
DAEMONS=(payment-worker settlement-worker notifier reconciler channel-sandbox channel-gateway)
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --sysconfdir) SYSCONFDIR="$2"; shift 2 ;;
    --unitdir) UNITDIR="$2"; shift 2 ;;
    --destdir) DESTDIR="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    --create-topics) CREATE_TOPICS=1; shift ;;
    --brokers) BROKERS="$2"; shift 2 ;;
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --allow-ip) ALLOW_IPS+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "install: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
log() { printf '[install] %s\n' "$*" >&2; }
if [ "$CREATE_TOPICS" = 1 ] && [ -z "$BROKERS" ]; then echo "install: --create-topics needs --brokers (or PAYSTREAM_BROKERS)" >&2; exit 2; fi
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then echo "install: run as root (or give --destdir)" >&2; exit 2; fi

cd "$ROOT"
if [ "$BUILD" = 1 ]; then
  bash Deploy/setup.sh --build-only
  # shellcheck disable=SC1091
  source .deps/build-env.sh
  log "building release binaries (the Swift runtime linked in: the host needs no Swift)"
  # The binaries look for librdkafka beside themselves (<prefix>/lib/paystream), never here.
  # shellcheck disable=SC2016
  PAYSTREAM_SWIFT_FLAGS='-Xlinker -rpath -Xlinker $ORIGIN/../lib/paystream'
  export PAYSTREAM_SWIFT_FLAGS
  # shellcheck source=Deploy/swift-build.sh
  source Deploy/swift-build.sh
  LIBRARY_PATH="${PAYSTREAM_RDKAFKA_LIB}${LIBRARY_PATH:+:$LIBRARY_PATH}" swift_build install -c release --static-swift-stdlib
  BIN_DIR="$BIN"
fi
[ -n "$BIN_DIR" ] || { echo "install: --no-build needs --bin-dir" >&2; exit 2; }
for exe in "${DAEMONS[@]}" paystream; do
  [ -x "$BIN_DIR/$exe" ] || { echo "install: $BIN_DIR/$exe is missing" >&2; exit 1; }
done

bindir="$DESTDIR$PREFIX/bin"
libdir="$DESTDIR$PREFIX/lib/paystream"
docdir="$DESTDIR$PREFIX/share/doc/paystream"
confdir="$DESTDIR$SYSCONFDIR"
unitdir="$DESTDIR$UNITDIR"
install -d -m 0755 "$bindir" "$docdir" "$unitdir" "$confdir"
# Secrets: root only, one folder per daemon (its own Kafka principal); systemd copies them to the
# daemon's units (LoadCredential=). Every folder a unit names must exist.
for daemon in "${DAEMONS[@]}"; do
  install -d -m 0700 "$confdir/$daemon" "$confdir/$daemon/kafka"
done
install -d -m 0700 "$confdir/notifier/webhooks" "$confdir/channel-gateway/channels"
# Answer keys (the units' LoadCredential=answers:…): the signers' and the verifiers' own copies.
for daemon in payment-worker settlement-worker channel-sandbox channel-gateway; do
  install -d -m 0700 "$confdir/$daemon/answers"
done

for exe in "${DAEMONS[@]}" paystream; do
  install -m 0755 "$BIN_DIR/$exe" "$bindir/$exe"
done
log "binaries: ${DAEMONS[*]} paystream → $bindir"
# librdkafka: the system's when it is new enough (a package), else the one these binaries were
# built against, installed beside them; the binaries find it through $ORIGIN/../lib/paystream,
# never through this checkout.
rdkafka="$(LD_LIBRARY_PATH="${PAYSTREAM_RDKAFKA_LIB:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$BIN_DIR/payment-worker" 2>/dev/null \
  | awk '/librdkafka\.so/ { print $3; exit }')"
case "$rdkafka" in
  ""|"not") echo "install: $BIN_DIR/payment-worker finds no librdkafka (set LD_LIBRARY_PATH or run Deploy/setup.sh)" >&2; exit 1 ;;
  /usr/lib/*|/lib/*) log "librdkafka: the system's ($rdkafka)" ;;
  *)
    install -d -m 0755 "$libdir"
    install -m 0644 "$(readlink -f "$rdkafka")" "$libdir/librdkafka.so.1"
    log "librdkafka: $(readlink -f "$rdkafka") → $libdir/librdkafka.so.1"
    ;;
esac
# shellcheck disable=SC2016
wanted='$ORIGIN/../lib/paystream'
for exe in "${DAEMONS[@]}" paystream; do
  runpath="$(readelf -d "$bindir/$exe" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')"
  if [ -n "$runpath" ] && [ "$runpath" != "$wanted" ]; then
    command -v patchelf >/dev/null || { echo "install: $exe looks for libraries in $runpath; install patchelf (apt) to point it at $wanted" >&2; exit 1; }
    patchelf --set-rpath "$wanted" "$bindir/$exe"
  fi
done
changed_units=0
for unit in Deploy/systemd/*; do
  name="$(basename "$unit")"
  target="$unitdir/$name"
  content="$(sed "s#/usr/local/bin/#$PREFIX/bin/#; s#/etc/paystream/#$SYSCONFDIR/#g; s#/usr/local/share/doc/paystream/#$PREFIX/share/doc/paystream/#" "$unit")"
  if [ ! -f "$target" ] || [ "$(cat "$target")" != "$content" ]; then
    printf '%s\n' "$content" > "$target"
    chmod 0644 "$target"
    changed_units=1
  fi
done
log "units → $unitdir"

# Configuration: a file already there is the operator's; the shipped one goes beside it.
for file in Config/*.yaml Config/payment-policy.json; do
  name="$(basename "$file")"
  target="$confdir/$name"
  if [ ! -f "$target" ]; then
    install -m 0644 "$file" "$target"
  elif ! cmp -s "$file" "$target"; then
    install -m 0644 "$file" "$target.dist"
    log "kept your $target; the shipped version is $target.dist"
  fi
done
if [ ! -f "$confdir/paystream.env" ]; then
  printf '# Read by every Paystream unit (by systemd, as root). PAYSTREAM_BROKERS=HOST:PORT,… is required.\n#PAYSTREAM_BROKERS=\n' > "$confdir/paystream.env"
fi
# It may hold more than the brokers' addresses: root only, like every file that may hold a secret.
chmod 0600 "$confdir/paystream.env"
log "configuration → $confdir (secrets: $confdir/<daemon>/kafka, $confdir/<daemon>/answers, $confdir/notifier/webhooks, $confdir/channel-gateway/channels)"

# The units' network allow-list (a drop-in every paystream-* unit reads).
dropin="$unitdir/paystream-.service.d"
install -d -m 0755 "$dropin"
if [ "${#ALLOW_IPS[@]}" -gt 0 ]; then
  network="$(printf '# Written by Deploy/install.sh --allow-ip: the brokers and the metrics scraper.\n[Service]\nIPAddressAllow=%s\n' "${ALLOW_IPS[*]}")"
  if [ ! -f "$dropin/network.conf" ] || [ "$(cat "$dropin/network.conf")" != "$network" ]; then
    printf '%s\n' "$network" > "$dropin/network.conf"
    chmod 0644 "$dropin/network.conf"
    changed_units=1
  fi
  log "network: units may reach ${ALLOW_IPS[*]} ($dropin/network.conf)"
elif [ ! -f "$dropin/network.conf" ]; then
  log "network: no --allow-ip: the units reach no broker until $dropin/network.conf says IPAddressAllow=<brokers> <scraper>"
fi

install -m 0644 docs/operations.md docs/notifications.md docs/architecture.md docs/channels.md README.md "$docdir/"
log "runbook → $docdir/operations.md"

if [ -z "$DESTDIR" ] && [ "$changed_units" = 1 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  log "systemctl daemon-reload"
fi

if [ "$CREATE_TOPICS" = 1 ]; then
  log "creating topics on $BROKERS ($PARTITIONS partitions)"
  "$bindir/paystream" topics create --brokers "$BROKERS" --partitions "$PARTITIONS"
fi
log "done"
