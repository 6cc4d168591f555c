#!/usr/bin/env bash
# Installs the real Rucio client (rucio-clients, latest release) and the Rucio JupyterLab extension
# (rucio-jupyterlab, which brings JupyterLab and its server; about a minute) into their own venv, .venv-rucio,
# for the integration tests in tests/rucio_dialect. A separate venv because rucio-clients installs a top-level
# `rucio`. Idempotent: installs only what is missing. Set RUCIO_CLIENTS_SPEC / RUCIO_JUPYTERLAB_SPEC to pin.
set -euo pipefail
cd "$(dirname "$0")/.."
pip_install() {
  .venv-rucio/bin/pip install -q --disable-pip-version-check "$@"
}
if [ ! -x .venv-rucio/bin/rucio ]; then
  python=${PYTHON:-.venv/bin/python}
  "$python" -m venv --clear .venv-rucio
  pip_install "${RUCIO_CLIENTS_SPEC:-rucio-clients}"
  .venv-rucio/bin/rucio --version >&2 || true
fi
if ! .venv-rucio/bin/python -c "import rucio_jupyterlab" 2>/dev/null; then
  pip_install "${RUCIO_JUPYTERLAB_SPEC:-rucio-jupyterlab}"
fi
