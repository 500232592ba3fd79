#!/usr/bin/env bash
# Build the documentation site (mkdocs, material theme) with warnings as errors:
# a broken link or a page missing from the nav fails the build. Output: site/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pip install --quiet -e ".[docs]"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "${1:-site}"
