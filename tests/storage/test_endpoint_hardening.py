"""The built-in endpoint's hardening: authorization before existence, and no temporary files after a crash."""

import os
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import httpx
import pytest

from lake.core.settings import EndpointSettings
from lake.endpoint.upload import BLOCK
from lake.logic.auth.keystore import KeyStore
from lake.storage import localfs
from lake.testing import waiting
from lake.testing.cache import running_cache
from lake.testing.endpoint import endpoint_process, running_endpoint, start_put
from lake.testing.issuer import JWKS, running_issuer

NO_RIGHTS_PATHS = ("/b/exists", "/b/missing", "/b/dir", "/b/dir/missing", "/b/nodir/child", "/b/.lake.tmp.x")


@pytest.fixture(scope="module")
def origin(endpoint: EndpointSettings) -> str:
    return endpoint.origin()


@pytest.fixture(scope="module")
def admin(origin: str, mint) -> str:
    return mint("storage.read:/", "storage.modify:/", audience=origin)


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def put(origin: str, path: str, token: str, data: bytes, **headers: str) -> httpx.Response:
    return httpx.put(f"{origin}{path}", content=data, headers=auth(token, **headers))


wait_for = partial(waiting.eventually, timeout=10.0)


def temp_files(root: Path) -> list[Path]:
    return [Path(d) / name for d, _, names in os.walk(root) for name in names if localfs.is_internal(name)]


def response_status(sock: socket.socket) -> int:
    sock.settimeout(10)
    answer = b""
    while b"\r\n" not in answer:
        answer += sock.recv(4096)
    return int(answer.split()[1])


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


# authorization before existence


def test_put_over_existing_with_create_only_is_403_and_the_file_is_unchanged(origin: str, admin: str, mint) -> None:
    assert put(origin, "/created/f", admin, b"first").status_code == 201
    create_only = mint("storage.create:/created", "storage.read:/created", audience=origin)
    assert put(origin, "/created/f", create_only, b"second").status_code == 403
    assert put(origin, "/created/f", create_only, b"second", **{"Overwrite": "T"}).status_code == 403
    assert httpx.get(f"{origin}/created/f", headers=auth(admin)).content == b"first"
    assert put(origin, "/created/new", create_only, b"new").status_code == 201


def test_if_none_match_over_existing_is_412_only_for_a_token_that_may_write_there(
    origin: str, admin: str, mint
) -> None:
    assert put(origin, "/precond/f", admin, b"first").status_code == 201
    create_only = mint("storage.create:/precond", audience=origin)
    elsewhere = mint("storage.modify:/a", audience=origin)
    assert put(origin, "/precond/f", create_only, b"x", **{"If-None-Match": "*"}).status_code == 412
    assert put(origin, "/precond/f", admin, b"x", **{"Overwrite": "F"}).status_code == 412
    assert put(origin, "/precond/f", elsewhere, b"x", **{"If-None-Match": "*"}).status_code == 403
    assert httpx.get(f"{origin}/precond/f", headers=auth(admin)).content == b"first"


def test_tpc_pull_over_existing_with_create_only_is_403_before_any_transfer(origin: str, admin: str, mint) -> None:
    assert put(origin, "/pulled/f", admin, b"first").status_code == 201
    assert put(origin, "/pulled/source", admin, b"second").status_code == 201
    create_only = mint("storage.create:/pulled", audience=origin)
    headers = auth(create_only, Source=f"{origin}/pulled/source", TransferHeaderAuthorization=f"Bearer {admin}")
    assert httpx.request("COPY", f"{origin}/pulled/f", headers=headers).status_code == 403
    assert httpx.get(f"{origin}/pulled/f", headers=auth(admin)).content == b"first"


def _requests(origin: str) -> dict[str, tuple[str, dict[str, str], bytes]]:
    """Every method the endpoint knows, as (method, extra headers, body)."""
    return {
        "GET": ("GET", {}, b""),
        "HEAD": ("HEAD", {}, b""),
        "DELETE": ("DELETE", {}, b""),
        "PROPFIND depth 0": ("PROPFIND", {"Depth": "0"}, b""),
        "PROPFIND depth 1": ("PROPFIND", {"Depth": "1"}, b""),
        "MKCOL": ("MKCOL", {}, b""),
        "PUT": ("PUT", {}, b"probe"),
        "PUT if-none-match": ("PUT", {"If-None-Match": "*"}, b"probe"),
        "COPY pull": ("COPY", {"Source": f"{origin}/a/source"}, b""),
        "COPY push": ("COPY", {"Destination": f"{origin}/a/copy"}, b""),
        "MOVE": ("MOVE", {"Destination": f"{origin}/a/moved"}, b""),
        "OPTIONS": ("OPTIONS", {}, b""),
    }


def test_a_token_without_rights_on_a_path_gets_the_same_status_whether_it_exists_or_not(
    origin: str, admin: str, mint, endpoint: EndpointSettings
) -> None:
    assert put(origin, "/b/exists", admin, b"secret").status_code == 201
    assert httpx.request("MKCOL", f"{origin}/b/dir", headers=auth(admin)).status_code == 201
    (endpoint.root / "b" / ".lake.tmp.x").write_bytes(b"half")
    prober = mint("storage.read:/a", "storage.modify:/a", audience=origin)
    for name, (method, headers, body) in _requests(origin).items():
        statuses = {
            path: httpx.request(method, f"{origin}{path}", headers=auth(prober, **headers), content=body).status_code
            for path in NO_RIGHTS_PATHS
        }
        assert len(set(statuses.values())) == 1, (name, statuses)
        expected = 405 if method in ("MOVE", "OPTIONS") else 403  # not served at all: nothing about the path
        assert set(statuses.values()) == {expected}, (name, statuses)
    assert httpx.get(f"{origin}/b/exists", headers=auth(admin)).content == b"secret"
    assert httpx.head(f"{origin}/b/missing", headers=auth(admin)).status_code == 404
    assert httpx.head(f"{origin}/b/nodir", headers=auth(admin)).status_code == 404


def test_a_token_allowed_the_operation_gets_the_true_answer(origin: str, admin: str, mint) -> None:
    assert put(origin, "/true/exists", admin, b"data").status_code == 201
    stage = mint("storage.stage:/true", audience=origin)
    read = mint("storage.read:/true", audience=origin)
    assert httpx.head(f"{origin}/true/exists", headers=auth(stage)).status_code == 200
    assert httpx.head(f"{origin}/true/missing", headers=auth(stage)).status_code == 404
    assert httpx.get(f"{origin}/true/exists", headers=auth(stage)).status_code == 403
    assert httpx.get(f"{origin}/true/missing", headers=auth(stage)).status_code == 403
    assert httpx.get(f"{origin}/true/exists", headers=auth(read)).status_code == 200
    assert httpx.get(f"{origin}/true/missing", headers=auth(read)).status_code == 404
    assert httpx.delete(f"{origin}/true/exists", headers=auth(read)).status_code == 403
    assert httpx.delete(f"{origin}/true/missing", headers=auth(admin)).status_code == 404


def test_temporary_files_are_neither_listed_nor_served(origin: str, admin: str, endpoint: EndpointSettings) -> None:
    assert put(origin, "/hidden/f", admin, b"data").status_code == 201
    name = localfs.temp_name("g", pid=os.getppid())
    (endpoint.root / "hidden" / name).write_bytes(b"half")
    listing = httpx.request("PROPFIND", f"{origin}/hidden", headers=auth(admin, Depth="1"))
    assert listing.status_code == 207 and "/hidden/f" in listing.text and ".lake." not in listing.text
    assert httpx.get(f"{origin}/hidden/{name}", headers=auth(admin)).status_code == 404
    assert httpx.head(f"{origin}/hidden/{name}", headers=auth(admin)).status_code == 404


# no leftovers after a crash


def test_an_endpoint_killed_during_20_puts_restarts_with_no_temporary_or_partial_files(tmp_path: Path) -> None:
    with running_issuer(tmp_path / "issuer", tls=False) as issuer:
        root = tmp_path / "root"
        with endpoint_process(root, issuer.url, issuer.url + JWKS) as server:
            origin = server.settings.origin()
            token = issuer.mint("tester", origin, ["storage.read:/", "storage.modify:/"])
            assert put(origin, "/crash/before", token, b"kept").status_code == 201
            piece = os.urandom(64 * 1024)
            puts = [start_put(origin, f"/crash/f{i}", token, 3 * BLOCK, piece) for i in range(20)]
            assert wait_for(lambda: len(temp_files(root)) == 20)
            for sock in puts:  # the next pieces: a first block of each reaches the disk
                sock.sendall(os.urandom(BLOCK))
            assert wait_for(lambda: all(path.stat().st_size >= BLOCK for path in temp_files(root)))
            server.kill()
            assert len(temp_files(root)) == 20
            for sock in puts:
                sock.close()
            server.start()
            assert wait_for(lambda: not temp_files(root)), temp_files(root)
            assert sorted(path.name for path in (root / "crash").iterdir()) == ["before"]
            assert put(origin, "/crash/after", token, b"works").status_code == 201
            assert httpx.get(f"{origin}/crash/before", headers=auth(token)).content == b"kept"
            assert httpx.get(f"{origin}/crash/after", headers=auth(token)).content == b"works"


def test_periodic_sweep_removes_abandoned_temporary_files_and_keeps_live_ones(
    tmp_path: Path, keystore: KeyStore, mint
) -> None:
    with running_endpoint(tmp_path / "root", keystore.keyset(), stale_upload_seconds=30, temp_sweep_seconds=0.05) as ep:
        origin = ep.origin()
        token = mint("storage.read:/", "storage.modify:/", audience=origin)
        directory = ep.root / "sweep"
        live = start_put(origin, "/sweep/live", token, 2 * 1024, b"a" * 1024)
        assert wait_for(lambda: len(temp_files(directory)) == 1)
        age(temp_files(directory)[0], 3600)  # idle, but this endpoint is writing it
        old = directory / localfs.temp_name("old", pid=os.getppid())  # a live writer that stopped writing
        young = directory / localfs.temp_name("young", pid=os.getppid())  # a live writer's upload
        dead = directory / localfs.temp_name("dead", pid=dead_pid())  # young, but its writer is gone
        for path in (old, young, dead):
            path.write_bytes(b"half")
        age(old, 3600)
        assert wait_for(lambda: not old.exists() and not dead.exists())
        time.sleep(0.3)  # several more sweeps
        assert young.exists() and len(temp_files(directory)) == 2
        live.sendall(b"b" * 1024)
        assert response_status(live) == 201
        live.close()
        assert httpx.get(f"{origin}/sweep/live", headers=auth(token)).content == b"a" * 1024 + b"b" * 1024
        assert temp_files(directory) == [young]


def test_a_starting_cache_removes_temporary_files_of_a_killed_fill(tmp_path: Path, keystore: KeyStore) -> None:
    root = tmp_path / "cache"
    (root / "data").mkdir(parents=True)
    leftover = root / "data" / localfs.temp_name("f", pid=dead_pid())
    leftover.write_bytes(b"half")
    with running_cache(root, "http://127.0.0.1:9", keystore.keyset()):
        assert wait_for(lambda: not leftover.exists())
