"""Upload: lake names of local files, and a failed PUT never confirmed to the server."""

from __future__ import annotations

import json

import httpx
import pytest

from lake.client import LakeClient
from lake.client.upload import collect_files
from lake.core.checksums import file_checksums
from lake.core.errors import InvalidInput
from lake.core.settings import ClientSettings


def test_a_file_keeps_its_name_and_a_directory_gives_relative_paths(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "sub" / "b.txt").write_text("b")
    (tmp_path / "single.dat").write_text("s")
    found = collect_files([tmp_path / "d", tmp_path / "single.dat"])
    assert [name for _, name in found] == ["a.txt", "sub/b.txt", "single.dat"]


def test_missing_paths_and_clashing_names_are_invalid(tmp_path):
    with pytest.raises(InvalidInput):
        collect_files([tmp_path / "missing"])
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("1")
    (tmp_path / "x").write_text("2")
    with pytest.raises(InvalidInput):
        collect_files([tmp_path / "d", tmp_path / "x"])


class FakeLake:
    """Just enough of the API and a storage to follow one upload; PUTs to `bad` hosts fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []
        self.stored: dict[str, bytes] = {}

    def api(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, request.url.path, body))
        if request.url.path == "/v1/dids":
            return httpx.Response(409, json={"code": "DuplicateDID", "message": "exists"})
        if request.url.path == "/v1/uploads":
            targets = [
                {
                    "scope": f["scope"],
                    "name": f["name"],
                    "pfn": f"http://{'bad' if 'b' in f['name'] else 'ok'}/{f['name']}",
                }
                for f in body["files"]
            ]
            return httpx.Response(200, json={"rse": body["rse"], "targets": targets, "token": "st", "expires_in": 60})
        results = [{"scope": f["scope"], "name": f["name"], "state": "AVAILABLE"} for f in body["files"]]
        return httpx.Response(200, json=results)

    def storage(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer st"
        assert int(request.headers["content-length"]) == len(request.read())
        if request.url.host == "bad":
            return httpx.Response(403, json={"code": "PermissionDenied", "message": "token scope"})
        self.stored[request.url.path] = request.content
        return httpx.Response(201)


def test_upload_puts_then_confirms_only_the_files_that_arrived(tmp_path):
    fake = FakeLake()
    settings = ClientSettings(url="http://lake.test", token="t", token_file=tmp_path / "token")
    client = LakeClient(settings, http=httpx.Client(base_url=settings.url, transport=httpx.MockTransport(fake.api)))
    client.storage_http = httpx.Client(transport=httpx.MockTransport(fake.storage))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"A" * 3_000_000)
    (tmp_path / "d" / "b").write_bytes(b"B")
    progress: list[int] = []

    results = client.upload(
        [tmp_path / "d"], "SITE", "user.alice", "ds", {"run": 7}, progress=lambda n, c, s: progress.append(c)
    )

    assert [(r.name, r.state, r.error and r.error["code"]) for r in results] == [
        ("a", "AVAILABLE", None),
        ("b", "COPYING", "PermissionDenied"),
    ]
    assert fake.stored == {"/a": b"A" * 3_000_000}
    assert sum(progress) >= 3_000_000
    methods = [(method, path) for method, path, _ in fake.calls]
    assert methods == [("POST", "/v1/dids"), ("POST", "/v1/uploads"), ("POST", "/v1/uploads/complete")]
    request = fake.calls[1][2]
    assert request["files"][0] == {
        "scope": "user.alice",
        "name": "a",
        "bytes": 3_000_000,
        "adler32": file_checksums(tmp_path / "d" / "a")[1],
        "md5": file_checksums(tmp_path / "d" / "a")[2],
        "meta": {"run": 7},
    }
    assert fake.calls[2][2]["files"] == [{"scope": "user.alice", "name": "a"}]
    assert fake.calls[2][2]["dataset"] == {"scope": "user.alice", "name": "ds"}


def test_many_files_are_uploaded_in_batches_each_with_its_own_ticket(tmp_path, monkeypatch):
    monkeypatch.setattr("lake.client.upload.BATCH", 2)
    fake = FakeLake()
    settings = ClientSettings(url="http://lake.test", token="t", token_file=tmp_path / "token")
    client = LakeClient(settings, http=httpx.Client(base_url=settings.url, transport=httpx.MockTransport(fake.api)))
    client.storage_http = httpx.Client(transport=httpx.MockTransport(fake.storage))
    (tmp_path / "d").mkdir()
    for name in ("f1", "f2", "f3", "f4", "f5"):
        (tmp_path / "d" / name).write_text(name)

    results = client.upload([tmp_path / "d"], "SITE", "user.alice", "ds")

    assert [(r.name, r.state) for r in results] == [(f"f{i}", "AVAILABLE") for i in range(1, 6)]
    tickets = [[f["name"] for f in body["files"]] for _, path, body in fake.calls if path == "/v1/uploads"]
    assert tickets == [["f1", "f2"], ["f3", "f4"], ["f5"]]
    assert sorted(fake.stored) == ["/f1", "/f2", "/f3", "/f4", "/f5"]
