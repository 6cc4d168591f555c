"""`lake login` (device flow and password), token renewal without a password, `lake token`, and the admin
commands for accounts and clients, against a real lake on loopback ports."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lake.testing.cli import RemoteCli
from lake.testing.server import RunningLake, running_lake
from lake.testing.tokens import claims as _claims

pytestmark = pytest.mark.integration
LAKE = str(Path(sys.executable).parent / "lake")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLake]:
    with running_lake(tmp_path_factory.mktemp("lake"), endpoints=1, daemons=False) as running:
        yield running


def _env(lake: RunningLake, token_file: Path) -> dict[str, str]:
    return {"LAKE_URL": lake.url, "LAKE_TOKEN_FILE": str(token_file), "LAKE_TOKEN": ""}


def _run(lake: RunningLake, token_file: Path, *args: str, code: int = 0) -> str:
    return RemoteCli(lake.url, token_file).run(*args, code=code).stdout


def _approve(lake: RunningLake, user_code: str) -> None:
    """Another session, logged in with a password, approves the code over the API."""
    form = {"grant_type": "password", "username": lake.user, "password": lake.user_password}
    token = httpx.post(f"{lake.url}/v1/oauth/token", data=form).json()["access_token"]
    r = httpx.post(f"{lake.url}/v1/oauth/device/approve", json={"user_code": user_code},
                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert r.status_code == 204, r.text


def _device_login(lake: RunningLake, token_file: Path) -> None:
    """Run `lake login` as a real process, read the user code it prints, approve it, wait for it to finish."""
    env = os.environ | _env(lake, token_file)
    with subprocess.Popen([LAKE, "login"], env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        match = re.search(r"open (\S+) and enter the code ([A-Z]{4}-[A-Z]{4})", first)
        assert match, first
        assert match.group(1) == f"{lake.url}/v1/oauth/device"
        _approve(lake, match.group(2))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"Logged in as {lake.user}" in out


def test_login_does_the_device_flow_then_renews_an_expired_token_without_password(lake, tmp_path):
    token_file = tmp_path / "token"
    _device_login(lake, token_file)
    refresh_file = tmp_path / "token.refresh"
    for path in (token_file, refresh_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert refresh_file.read_text().startswith("lrt_")
    assert "storage.read:/" in _claims(token_file.read_text().strip())["scope"]
    assert lake.user in _run(lake, token_file, "whoami")

    keystore, settings = lake.lake.services.keystore, lake.settings
    expired = keystore.mint(settings.issuer, lake.user, settings.api_audience, ["lake.api"], 1)
    token_file.write_text(expired)
    time.sleep(1.1)
    assert lake.user in _run(lake, token_file, "whoami")
    renewed = token_file.read_text().strip()
    assert renewed != expired and _claims(renewed)["exp"] > time.time() + 600

    token_file.write_text("rejected-by-the-server")
    assert lake.user in _run(lake, token_file, "whoami")
    assert token_file.read_text().strip() != "rejected-by-the-server"


def test_without_a_refresh_token_an_expired_token_is_not_renewed(lake, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("rejected-by-the-server")
    _run(lake, token_file, "whoami", code=1)


def test_password_login_also_saves_a_refresh_token(lake, tmp_path):
    token_file = tmp_path / "token"
    _run(lake, token_file, "login", "--username", lake.user, "--password", lake.user_password)
    assert (tmp_path / "token.refresh").read_text().startswith("lrt_")
    _run(lake, token_file, "login", "--username", lake.user, "--password", "wrong", code=1)


def test_token_prints_the_current_token_or_exchanges_it_for_exactly_the_asked_scope_and_audience(lake, tmp_path):
    token_file = tmp_path / "token"
    _run(lake, token_file, "login", "--username", lake.user, "--password", lake.user_password)
    assert _run(lake, token_file, "token").strip() == token_file.read_text().strip()
    narrow = _run(lake, token_file, "token", "--scope", "storage.read:/x", "--audience", "https://se.example:8443")
    claims = _claims(narrow.strip())
    assert claims["scope"] == "storage.read:/x" and claims["aud"] == "https://se.example:8443"
    assert claims["sub"] == lake.user
    _run(lake, token_file, "token", "--scope", "storage.modify:/x", code=1)
    _run(lake, token_file, "token", "--refresh", code=2)


def test_admin_adds_lists_and_shows_accounts_and_clients(lake, tmp_path):
    token_file = tmp_path / "token"
    _run(lake, token_file, "login", "--username", "root", "--password", lake.root_password)
    _run(lake, token_file, "account", "add", "bob", "--email", "bob@example.org", "--password", "bob-pw")
    assert "bob@example.org" in _run(lake, token_file, "account", "show", "bob")
    names = [line.split()[0] for line in _run(lake, token_file, "account", "list").splitlines()[1:] if line.strip()]
    assert {"root", lake.user, "bob"} <= set(names)
    added = _run(lake, token_file, "--json", "client", "add", "bob", "--audience", "https://fts.example", "--scope",
                 "lake.api")  # fmt: skip
    assert "client_secret" in added
    listed = _run(lake, token_file, "client", "list")
    assert "https://fts.example" in listed and "client_secret" not in listed
    bob_file = tmp_path / "bob"
    _run(lake, bob_file, "login", "--username", "bob", "--password", "bob-pw")
    _run(lake, bob_file, "account", "add", "eve", code=1)
    _run(lake, bob_file, "client", "list", code=1)
