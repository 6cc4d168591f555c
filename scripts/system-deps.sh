#!/usr/bin/env bash
# Debian packages the real-tier tests use: PostgreSQL 15, davix (a real grid HTTP client) and scitokens-cpp
# (a real token validator).
# Installs only what is missing; needs root (as in CI). Without root it says what is missing and goes on.
set -uo pipefail
need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql-15)
command -v davix-put >/dev/null || need+=(davix)
command -v scitokens-verify >/dev/null || need+=(scitokens-cpp)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages (tests needing them will skip): ${need[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null
