"""Running the real Rucio tools of .venv-rucio (`rucio` CLI, Python scripts) against a running lake."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

from lake.testing.server import RunningLake

RUCIO_VENV = Path(__file__).resolve().parents[2] / ".venv-rucio" / "bin"


def rucio_env(lake: RunningLake, home: Path, username: str, password: str, account: str) -> dict[str, str]:
    """The environment of a Rucio client logged in to the lake's `/rucio` as `username` (userpass)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "rucio.cfg"
    config.write_text(
        textwrap.dedent(f"""
        [client]
        rucio_host = {lake.url}/rucio
        auth_host = {lake.url}/rucio
        auth_type = userpass
        username = {username}
        password = {password}
        account = {account}
        ca_cert = {lake.ca_cert}
        auth_token_file_path = {home}/token
        request_retries = 1
    """)
    )
    return {**os.environ, "RUCIO_CONFIG": str(config), "HOME": str(home)}


def rucio(env: dict[str, str], *args: str, ok: bool = True) -> str:
    """Run the `rucio` CLI; its combined output, after checking it succeeded (or failed, with `ok=False`)."""
    result = subprocess.run([str(RUCIO_VENV / "rucio"), *args], env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, f"rucio {' '.join(args)} -> {result.returncode}\n{output}"
    return output


def python(env: dict[str, str], script: str, timeout: float = 180) -> str:
    """Run a Python script in .venv-rucio; its standard output, after checking it succeeded."""
    result = subprocess.run([str(RUCIO_VENV / "python"), "-c", script], env=env, capture_output=True, text=True,
                            timeout=timeout)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
