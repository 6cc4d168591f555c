#!/usr/bin/env bash
# Static checks: ruff (lint + format), the layer contracts (import-linter) and mypy.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
$V/ruff check src tests benchmarks
$V/ruff format --check src tests benchmarks
$V/lint-imports
$V/mypy
