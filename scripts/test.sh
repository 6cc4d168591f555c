#!/usr/bin/env bash
# Every check CI runs: lint, the whole suite on SQLite (with real servers and clients), then the catalog
# tests again on a real PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
bash scripts/system-deps.sh
bash scripts/install-rucio-client.sh
bash scripts/lint.sh
$V/pytest -q -p no:cacheprovider
if command -v pg_ctlcluster >/dev/null && [ "$(id -u)" -eq 0 ]; then
  url=$(FRESH=1 bash scripts/start-postgres.sh)
  LAKE_TEST_DATABASE_URL="$url" $V/pytest -q -p no:cacheprovider -m "postgres or not integration" \
    tests/api tests/logic tests/deletion tests/transfers tests/daemons tests/integration/test_database_restart.py
else
  echo "PostgreSQL tier skipped: needs pg_ctlcluster and root" >&2
fi
