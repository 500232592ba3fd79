#!/usr/bin/env bash
# The whole test suite on memory, SQLite and PostgreSQL (the tests start the server).
# Extra arguments go to pytest, e.g. scripts/test.sh -k merge, or --slow.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure-postgres.sh
exec .venv/bin/pytest "$@"
