#!/usr/bin/env bash
# Create .venv and install sessiontrail (editable) with its dev extras. One line per
# step; a step's own output is shown only if it fails. Re-runs are cheap and
# silent: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
stamp=.venv/.installed
output=$(mktemp)
trap 'rm -f "$output"' EXIT

step() {  # step "what it does" COMMAND...
  local what=$1
  shift
  echo "setup: $what"
  if ! "$@" >"$output" 2>&1; then
    cat "$output" >&2
    echo "setup: failed: $what" >&2
    exit 1
  fi
}

if [ ! -x .venv/bin/python ]; then
  step "creating .venv" "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  step "upgrading pip" .venv/bin/python -m pip install --upgrade pip
  step "installing sessiontrail (editable) with its extras" \
    .venv/bin/python -m pip install -e ".[dev,openai-agents,adk,server,langgraph]"
  touch "$stamp"
fi
