#!/usr/bin/env bash
# Make sure PostgreSQL server binaries are installed; the tests start their own
# server from them (as the unprivileged 'postgres' user when run as root).
set -euo pipefail
found() {
  [ -n "${SESSIONTRAIL_PG_BINDIR:-}" ] && [ -x "$SESSIONTRAIL_PG_BINDIR/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null && return 0
  command -v pg_config > /dev/null && [ -x "$(pg_config --bindir)/initdb" ]
}
if found; then
  if [ "$(id -u)" -ne 0 ] || id postgres > /dev/null 2>&1; then
    exit 0
  fi
fi
echo "installing PostgreSQL server packages..." >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq postgresql > /dev/null
found || { echo "PostgreSQL binaries still missing after install" >&2; exit 1; }
