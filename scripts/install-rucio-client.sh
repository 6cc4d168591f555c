#!/usr/bin/env bash
# Installs the real Rucio client (rucio-clients, latest release) into its own venv, .venv-rucio, for the
# integration tests in tests/rucio_dialect. A separate venv because the package installs a top-level `rucio`.
# Idempotent: does nothing when .venv-rucio/bin/rucio already exists. Set RUCIO_CLIENTS_SPEC to pin.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv-rucio/bin/rucio ]; then
  exit 0
fi
python=${PYTHON:-.venv/bin/python}
"$python" -m venv --clear .venv-rucio
.venv-rucio/bin/pip install -q --disable-pip-version-check "${RUCIO_CLIENTS_SPEC:-rucio-clients}"
.venv-rucio/bin/rucio --version >&2 || true
