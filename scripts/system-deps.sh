#!/usr/bin/env bash
# Debian packages the real-tier tests use: PostgreSQL 15, davix (a real grid HTTP client), scitokens-cpp
# (a real token validator) and XRootD 5.5 (real grid storage: root://, XrdHttp, TPC, XCache, SciTokens).
# Installs only what is missing; needs root (as in CI). Without root it says what is missing and goes on.
set -uo pipefail
need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql-15)
command -v davix-put >/dev/null || need+=(davix)
command -v scitokens-verify >/dev/null || need+=(scitokens-cpp)
for pkg in xrootd-server xrootd-client xrootd-plugins xrootd-server-plugins xrootd-scitokens-plugins \
  xrootd-client-http-plugins xrootd-client-plugins; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages (tests needing them will skip): ${need[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null
