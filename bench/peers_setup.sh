#!/usr/bin/env bash
# The peers' virtualenv (../shared/peers/setup.sh, versions pinned there) plus this
# checkout of sessiontrail installed into it, so bench/peers.py can run them all.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PEERS_VENV:-/tmp/peers-venv}"
PEERS_VENV="$VENV" bash ../shared/peers/setup.sh
"$VENV/bin/python" -m pip install --quiet -e .
"$VENV/bin/python" -c "import sessiontrail"
echo "sessiontrail installed in $VENV"
