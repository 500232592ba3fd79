#!/usr/bin/env bash
# The main job on the embedded default (SQLite): set up, then run `sessiontrail demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/sessiontrail demo "$@"
