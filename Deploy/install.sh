#!/usr/bin/env bash
# Installs Paystream on this host: release binaries, the systemd units, the configuration and the
# runbook, and (--create-topics) the pipeline's topics. Idempotent: run it again after an upgrade;
# it replaces binaries, units and docs, and never overwrites a configuration file you edited (the
# shipped version is put beside it as <file>.dist when they differ).
#
#   sudo Deploy/install.sh [--prefix /usr/local] [--sysconfdir /etc/paystream]
#                          [--unitdir /etc/systemd/system] [--destdir DIR]
#                          [--no-build --bin-dir DIR] [--create-topics --brokers HOST:PORT [--partitions N]]
#
#   --destdir DIR    install under DIR (a staging root, for packaging or a dry look); nothing
#                    outside it is touched, systemctl is not called
#   --no-build       do not build; take the binaries from --bin-dir (default: the release build)
#   --create-topics  create every topic (`paystream topics create`) on --brokers; existing topics
#                    are left as they are
#
# After it: put Kafka secrets in <sysconfdir>/kafka/<property>, webhook secrets in
# <sysconfdir>/webhooks/<endpoint_id> and channel keys in <sysconfdir>/channels/<file>
# (docs/channels.md), set brokers in <sysconfdir>/paystream.env, then
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "install: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
log() { printf '[install] %s\n' "$*" >&2; }
if [ "$CREATE_TOPICS" = 1 ] && [ -z "$BROKERS" ]; then echo "install: --create-topics needs --brokers (or PAYSTREAM_BROKERS)" >&2; exit 2; fi
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then echo "install: run as root (or give --destdir)" >&2; exit 2; fi

cd "$ROOT"
if [ "$BUILD" = 1 ]; then
  bash Deploy/setup.sh
  # shellcheck disable=SC1091
  source .deps/env.sh
  log "building release binaries (the Swift runtime linked in: the host needs no Swift)"
  # shellcheck source=Deploy/swift-build.sh
  source Deploy/swift-build.sh
  swift_build install -c release --static-swift-stdlib
  BIN_DIR="$BIN"
fi
[ -n "$BIN_DIR" ] || { echo "install: --no-build needs --bin-dir" >&2; exit 2; }
for exe in "${DAEMONS[@]}" paystream; do
  [ -x "$BIN_DIR/$exe" ] || { echo "install: $BIN_DIR/$exe is missing" >&2; exit 1; }
done

bindir="$DESTDIR$PREFIX/bin"
docdir="$DESTDIR$PREFIX/share/doc/paystream"
confdir="$DESTDIR$SYSCONFDIR"
unitdir="$DESTDIR$UNITDIR"
install -d -m 0755 "$bindir" "$docdir" "$unitdir" "$confdir"
# Secrets: root only; systemd copies them to each unit (LoadCredential=). Both must exist.
install -d -m 0700 "$confdir/kafka" "$confdir/webhooks" "$confdir/channels"

for exe in "${DAEMONS[@]}" paystream; do
  install -m 0755 "$BIN_DIR/$exe" "$bindir/$exe"
done
log "binaries: ${DAEMONS[*]} paystream → $bindir"
# librdkafka: the binaries use the one they were built against (the system's, or the one
# Deploy/setup.sh built under .deps/librdkafka, found through their rpath); on another host
# install librdkafka >= 2.2 there.

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
  printf '# Read by every Paystream unit. PAYSTREAM_BROKERS=HOST:PORT,… is required.\n#PAYSTREAM_BROKERS=\n' > "$confdir/paystream.env"
  chmod 0644 "$confdir/paystream.env"
fi
log "configuration → $confdir (secrets: $confdir/kafka, $confdir/webhooks, $confdir/channels)"

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
