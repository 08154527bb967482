#!/usr/bin/env bash
# Set up (see scripts/setup.sh), then lint, type-check and run the whole test suite.
# This is exactly what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
