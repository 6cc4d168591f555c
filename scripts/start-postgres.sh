#!/usr/bin/env bash
# Start the local PostgreSQL 15 cluster and create the lake test role and database (idempotent).
# Prints the URL to use as LAKE_TEST_DATABASE_URL. FRESH=1 drops the database first.
set -euo pipefail
cd /  # su postgres cannot enter the caller's directory
DB=${1:-lake_test}
if ! command -v pg_ctlcluster >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi
pg_ctlcluster 15 main start >/dev/null 2>&1 || pg_ctlcluster 15 main status >/dev/null
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='lake'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE lake LOGIN PASSWORD 'lake' CREATEDB\""
if [ "${FRESH:-0}" = 1 ]; then
  su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $DB WITH (FORCE)'" >/dev/null
fi
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='$DB'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE DATABASE $DB OWNER lake\""
echo "postgresql://lake:lake@127.0.0.1:5432/$DB"
