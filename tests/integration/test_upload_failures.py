"""Failure paths of the two-step upload against a real embedded lake: nothing half-uploaded is AVAILABLE."""

from __future__ import annotations

import socket
import zlib
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from lake.db.schema import replicas
from lake.db.schema_replication import rules
from lake.testing.clients import login
from lake.testing.server import running_lake

pytestmark = pytest.mark.integration
DATA = b"science " * 1000


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    with running_lake(tmp_path_factory.mktemp("upload-failures"), endpoints=2) as running:
        yield running


@pytest.fixture
def api(lake):
    with httpx.Client(base_url=lake.url) as client:
        yield login(client, lake.user, lake.user_password)


def ticket(api, lake, name, data=DATA):
    adler = f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"
    body = {"rse": lake.rses[0], "files": [{"scope": "user.alice", "name": name, "bytes": len(data), "adler32": adler}]}
    response = api.post("/v1/uploads", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def complete(api, lake, name):
    body = {"rse": lake.rses[0], "files": [{"scope": "user.alice", "name": name}]}
    return api.post("/v1/uploads/complete", json=body).json()[0]


def states(api, name):
    return [line for line in api.get(f"/v1/replicas/user.alice/{name}").text.splitlines() if line]


def put(url, token, data):
    return httpx.put(url, content=data, headers={"Authorization": f"Bearer {token}"})


def test_corrupted_upload_is_rejected_and_removed_from_storage(api, lake):
    t = ticket(api, lake, "corrupt.dat")
    pfn = t["targets"][0]["pfn"]
    assert put(pfn, t["token"], b"X" * len(DATA)).status_code in (200, 201)
    result = complete(api, lake, "corrupt.dat")
    assert result["state"] == "UNAVAILABLE" and result["error"]["code"] == "ChecksumMismatch"
    assert states(api, "corrupt.dat") == []
    assert httpx.head(pfn, headers={"Authorization": f"Bearer {t['token']}"}).status_code == 404


def test_upload_never_sent_stays_copying_and_cannot_be_downloaded(api, lake):
    ticket(api, lake, "pending.dat")
    assert '"COPYING"' in states(api, "pending.dat")[0]
    plan = api.get("/v1/downloads/user.alice/pending.dat").text.splitlines()
    assert plan == [] or '"sources":[]' in plan[0]
    result = complete(api, lake, "pending.dat")
    assert result["state"] == "UNAVAILABLE" and result["error"]["code"] == "FileNotFoundOnStorage"
    assert states(api, "pending.dat") == []


def test_interrupted_put_leaves_no_file_and_no_available_replica(api, lake):
    t = ticket(api, lake, "cut.dat")
    url = urlsplit(t["targets"][0]["pfn"])
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (f"PUT {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {t['token']}\r\n"
                f"Content-Length: {len(DATA)}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode() + DATA[:1000])
    assert complete(api, lake, "cut.dat")["error"]["code"] == "FileNotFoundOnStorage"
    assert states(api, "cut.dat") == []


def test_retry_after_a_failed_upload_succeeds(api, lake):
    t = ticket(api, lake, "retry.dat")
    put(t["targets"][0]["pfn"], t["token"], b"Y" * len(DATA))
    assert complete(api, lake, "retry.dat")["error"]["code"] == "ChecksumMismatch"
    t = ticket(api, lake, "retry.dat")
    assert put(t["targets"][0]["pfn"], t["token"], DATA).status_code in (200, 201)
    assert complete(api, lake, "retry.dat")["state"] == "AVAILABLE"
    assert '"AVAILABLE"' in states(api, "retry.dat")[0]


def test_upload_token_is_good_only_for_its_own_paths(api, lake):
    t = ticket(api, lake, "narrow.dat")
    pfn = t["targets"][0]["pfn"]
    other = pfn.rsplit("/", 1)[0] + "/someone-else.dat"
    assert put(other, t["token"], DATA).status_code == 403
    assert httpx.delete(pfn, headers={"Authorization": f"Bearer {t['token']}"}).status_code == 403


def test_uploading_an_existing_available_file_is_a_duplicate(api, lake):
    t = ticket(api, lake, "twice.dat")
    put(t["targets"][0]["pfn"], t["token"], DATA)
    assert complete(api, lake, "twice.dat")["state"] == "AVAILABLE"
    body = {"rse": lake.rses[0], "files": [{"scope": "user.alice", "name": "twice.dat", "bytes": 1, "adler32": "1"}]}
    assert api.post("/v1/uploads", json=body).json()["code"] == "ChecksumMismatch"
    adler = f"{zlib.adler32(DATA) & 0xFFFFFFFF:08x}"
    body["files"][0].update(bytes=len(DATA), adler32=adler)
    assert api.post("/v1/uploads", json=body).json()["code"] == "AlreadyExists"


def test_upload_to_an_rse_not_available_for_writing_is_refused(api, lake):
    with httpx.Client(base_url=lake.url) as root:
        token = root.post("/v1/auth/token", json={"username": "root", "password": lake.root_password})
        root.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        root.patch(f"/v1/rses/{lake.rses[1]}", json={"availability_write": False})
    data = {"rse": lake.rses[1], "files": [{"scope": "user.alice", "name": "x.dat", "bytes": 1, "adler32": "1"}]}
    response = api.post("/v1/uploads", json=data)
    assert response.status_code == 503 and response.json()["code"] == "Unavailable"


def test_completed_upload_is_protected_by_an_upload_rule(api, lake):
    t = ticket(api, lake, "pinned.dat")
    put(t["targets"][0]["pfn"], t["token"], DATA)
    assert complete(api, lake, "pinned.dat")["state"] == "AVAILABLE"
    with lake.lake.services.db.transaction() as conn:
        rule = conn.execute(select(rules).where(rules.c.name == "pinned.dat")).one()
        replica = conn.execute(select(replicas).where(replicas.c.name == "pinned.dat")).one()
    assert (rule.copies, rule.rse_expression, rule.state, rule.locks_ok_cnt) == (1, lake.rses[0], "OK", 1)
    assert replica.lock_cnt == 1 and replica.tombstone is None
