#!/usr/bin/env bash
# Static checks: ruff (lint + format), the layer contracts (import-linter) and mypy.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
paths=(src tests)
[ -d benchmarks ] && paths+=(benchmarks)
$V/ruff check "${paths[@]}"
$V/ruff format --check "${paths[@]}"
$V/lint-imports
$V/mypy
