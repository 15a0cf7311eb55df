#!/usr/bin/env bash
# Lint, format check and type check: the same task the test command runs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/ruff" check src tests bench
"$bin/ruff" format --check --quiet src tests bench
"$bin/mypy" --no-error-summary
