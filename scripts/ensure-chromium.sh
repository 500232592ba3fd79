#!/usr/bin/env bash
# Make sure Debian's Chromium is installed: the viewer's browser tests drive it
# with Playwright (pip's playwright package only; no browser is downloaded).
set -euo pipefail
CHROMIUM="${SESSIONTRAIL_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "installing Chromium..." >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium > /dev/null
[ -x "$CHROMIUM" ] || { echo "Chromium still missing after install" >&2; exit 1; }
