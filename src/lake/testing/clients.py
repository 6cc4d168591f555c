"""Clients logged in as an account: an HTTP client (a TestClient or httpx.Client) on either dialect, or a LakeClient
for a running lake; and the NDJSON lines of a listing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from lake.client import LakeClient
from lake.core.settings import ClientSettings

if TYPE_CHECKING:
    from lake.testing.server import RunningLake

HttpClient = TypeVar("HttpClient", bound=httpx.Client)


def login(client: HttpClient, username: str, password: str) -> HttpClient:
    """Log `client` in to the native API with a password: its requests carry the bearer token from now on."""
    response = client.post("/v1/auth/token", json={"username": username, "password": password})
    response.raise_for_status()
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return client


def rucio_login(client: HttpClient, username: str, password: str, prefix: str = "/rucio") -> HttpClient:
    """Log `client` in to the Rucio dialect (userpass, under `prefix`): its requests carry `X-Rucio-Auth-Token`."""
    headers = {"X-Rucio-Username": username, "X-Rucio-Password": password}
    response = client.get(f"{prefix}/auth/userpass", headers=headers)
    assert response.status_code == 200, response.text
    client.headers["X-Rucio-Auth-Token"] = response.headers["X-Rucio-Auth-Token"]
    return client


def connect(lake: RunningLake, token_dir: Path, username: str | None = None, password: str | None = None) -> LakeClient:
    """A LakeClient of `lake` logged in as `username` (default: the lake's user; without `password`, the lake's
    own password for its user or root), its token in `token_dir/<username>.token`."""
    username = lake.user if username is None else username
    if password is None:
        known = {lake.user: lake.user_password, "root": lake.root_password}
        if username not in known:
            raise ValueError(f"no password known for {username!r}: pass one")
        password = known[username]
    client = LakeClient(ClientSettings(url=lake.url, token_file=token_dir / f"{username}.token"))
    client.login(username, password)
    return client


def lines(response: httpx.Response, media_type: str | None = None) -> list[Any]:
    """The JSON values of an NDJSON response, one a line (blank lines skipped), after asserting it is a 200 (and,
    with `media_type`, that its content type starts with that)."""
    assert response.status_code == 200, response.text
    if media_type is not None:
        assert response.headers["content-type"].startswith(media_type)
    return [json.loads(line) for line in response.text.splitlines() if line]
