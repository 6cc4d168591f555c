"""The `lake` CLI against a real lake (API and built-in endpoints on loopback ports)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lake.testing.cli import RemoteCli
from lake.testing.server import RunningLake, running_lake

pytestmark = pytest.mark.integration

SCOPE = "user.alice"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLake]:
    with running_lake(tmp_path_factory.mktemp("lake"), endpoints=2) as running:
        yield running


@pytest.fixture
def alice(lake: RunningLake, tmp_path: Path) -> RemoteCli:
    return RemoteCli(lake.url, tmp_path / "alice.token").login(lake.user, lake.user_password)


@pytest.fixture
def root(lake: RunningLake, tmp_path: Path) -> RemoteCli:
    return RemoteCli(lake.url, tmp_path / "root.token").login("root", lake.root_password)


def test_login_prompts_for_the_password_and_saves_a_private_token(lake, tmp_path):
    cli = RemoteCli("http://127.0.0.1:1", tmp_path / "token")
    result = cli.run("login", "--url", lake.url, "--username", lake.user, input=f"{lake.user_password}\n")
    assert "Logged in as alice" in result.stdout
    assert stat.S_IMODE(cli.token_file.stat().st_mode) == 0o600
    cli.env["LAKE_URL"] = lake.url
    assert cli.json("whoami")["name"] == "alice"
    assert "alice" in cli.run("whoami").stdout


def test_admin_manages_scopes_and_rses(root, alice, lake):
    assert root.json("scope", "add", "cli.project", "--account", "alice")["account"] == "alice"
    assert "cli.project" in {s["name"] for s in alice.ndjson("scope", "list", "--account", "alice")}
    assert {r["name"] for r in alice.ndjson("rse", "list")} >= set(lake.rses)
    assert [r["name"] for r in alice.ndjson("rse", "list", "--expression", "tier=0")] == [lake.rses[0]]
    added = root.json("rse", "add", "CLI-DISK", "--attr", "tier=3", "--attr", "country=XX")
    assert {"tier": 3, "country": "XX"}.items() <= added["attributes"].items()
    assert root.json("rse", "set-attr", "CLI-DISK", "color", "blue")["attributes"]["color"] == "blue"
    args = ["--scheme", "http", "--hostname", "cli.test", "--port", "8000", "--prefix", "/data"]
    assert root.json("rse", "add-protocol", "CLI-DISK", *args)["protocols"][0]["prefix"].rstrip("/") == "/data"
    assert root.json("rse", "distance", "CLI-DISK", lake.rses[0], "5")["distance"] == 5
    assert alice.ndjson("rse", "distance", "CLI-DISK", lake.rses[0]) == [
        {"source": "CLI-DISK", "destination": lake.rses[0], "distance": 5}
    ]
    assert "CLI-DISK" in alice.run("rse", "show", "CLI-DISK").stdout


def test_admin_registers_an_oauth_client_that_gets_tokens(root, alice, lake):
    args = ["client", "add", "alice", "--scope", "storage.read:/data", "--audience", "https://storage.test"]
    added = root.json(*args)
    assert added["account"] == "alice" and added["client_secret"]
    assert "PermissionDenied" in alice.run(*args, code=1).output
    form = {"grant_type": "client_credentials", "client_id": added["client_id"]}
    r = httpx.post(f"{lake.url}/v1/oauth/token", data=form | {"client_secret": added["client_secret"]})
    assert r.status_code == 200 and r.json()["scope"] == "storage.read:/data"


def test_upload_find_organise_and_download(alice, lake, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"cli-{i}.dat").write_bytes(f"payload {i}\n".encode() * 500)
    args = ["upload", str(data), "--rse", lake.rses[0], "--scope", SCOPE, "--dataset", "cli-ds", "--meta", "run=7"]
    uploaded = alice.ndjson(*args)
    assert {(u["name"], u["state"]) for u in uploaded} == {(f"cli-{i}.dat", "AVAILABLE") for i in range(3)}

    assert [d["name"] for d in alice.ndjson("did", "list", SCOPE, "--filter", "run=7", "--type", "dataset")] == [
        "cli-ds"
    ]
    assert alice.json("did", "show", f"{SCOPE}:cli-ds")["meta"] == {"run": 7}
    assert "cli-1.dat" in alice.run("did", "content", f"{SCOPE}:cli-ds").stdout
    assert alice.json("did", "meta", "set", f"{SCOPE}:cli-ds", "quality=good") == {"run": 7, "quality": "good"}
    assert alice.json("did", "meta", "get", f"{SCOPE}:cli-ds")["quality"] == "good"

    assert alice.json("did", "add", f"{SCOPE}:cli-box", "--type", "container")["type"] == "CONTAINER"
    assert alice.json("did", "attach", f"{SCOPE}:cli-box", "cli-ds") == {"attached": 1}
    inside = alice.ndjson("did", "content", f"{SCOPE}:cli-box", "--recursive")
    assert {d["name"] for d in inside} == {"cli-ds", "cli-0.dat", "cli-1.dat", "cli-2.dat"}
    assert alice.json("did", "detach", f"{SCOPE}:cli-box", f"{SCOPE}:cli-ds") == {"detached": 1}
    assert alice.json("did", "close", f"{SCOPE}:cli-ds")["is_open"] is False

    replicas = alice.ndjson("replica", "list", f"{SCOPE}:cli-ds", "--rse", lake.rses[0])
    assert {(r["rse"], r["state"]) for r in replicas} == {(lake.rses[0], "AVAILABLE")}
    downloaded = alice.ndjson("download", f"{SCOPE}:cli-ds", "--dir", str(tmp_path / "out"))
    assert {d["rse"] for d in downloaded} == {lake.rses[0]}
    for i in range(3):
        assert (tmp_path / "out" / SCOPE / f"cli-{i}.dat").read_bytes() == (data / f"cli-{i}.dat").read_bytes()


def test_errors_print_their_code_and_exit_1(alice, lake, tmp_path):
    missing = alice.run("did", "show", f"{SCOPE}:nope", code=1)
    assert missing.stderr.startswith("Error [DIDNotFound]: ")
    assert "Traceback" not in missing.output
    assert alice.run("scope", "add", "not.mine", code=1).stderr.startswith("Error [PermissionDenied]: ")
    assert alice.run("did", "list", SCOPE, "--filter", "run>>1", code=1).stderr.startswith("Error [InvalidFilter]")
    alice.run("upload", str(tmp_path / "missing"), "--rse", lake.rses[0], "--scope", SCOPE, code=2)
    anonymous = RemoteCli(lake.url, tmp_path / "none.token")
    assert anonymous.run("whoami", code=1).stderr.startswith("Error [Unauthenticated]: ")
    wrong = anonymous.run("login", "--username", "alice", "--password", "wrong", code=1)
    assert wrong.stderr.startswith("Error [")
