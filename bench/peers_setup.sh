#!/usr/bin/env bash
# The peers' virtualenv (bench/peer_harness/setup.sh, versions pinned there) plus
# this checkout of sessiontrail installed into it, so bench/peers.py runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PEERS_VENV:-/tmp/peers-venv}"
PEERS_VENV="$VENV" bash bench/peer_harness/setup.sh
"$VENV/bin/python" -m pip install --quiet -e .
"$VENV/bin/python" -c "import sessiontrail"
echo "sessiontrail installed in $VENV"
