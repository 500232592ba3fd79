#!/usr/bin/env bash
# The whole test suite on memory, SQLite and PostgreSQL (the tests start the server).
# Extra arguments go to pytest, e.g. scripts/test.sh -k merge. With --slow, also the
# long runs: hundreds of crash kills, and property tests on ten times as many new
# random examples (the default run always tries the same ones).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure-postgres.sh
scripts/ensure-chromium.sh
# One worker process per core (each starts its own PostgreSQL server; an idle
# worker takes tests queued for another); `-n 0`
# runs the tests in this one process.
exec .venv/bin/pytest -n auto --dist worksteal "$@"
