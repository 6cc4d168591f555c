"""Bulk third-party copy between built-in endpoints: one request, one verified result per file."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from lake.core.checksums import format_adler32
from lake.core.settings import EndpointSettings
from lake.endpoint import bulk
from lake.logic.auth.keystore import KeyStore
from lake.storage import localfs
from lake.testing.endpoint import endpoint_process, running_endpoint
from lake.testing.issuer import JWKS, running_issuer

BULK = bulk.PATH


@pytest.fixture(scope="module")
def source(keystore: KeyStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointSettings]:
    with running_endpoint(tmp_path_factory.mktemp("source"), keystore.keyset()) as settings:
        yield settings


def adler(data: bytes) -> str:
    return format_adler32(zlib.adler32(data))


def place(settings: EndpointSettings, path: str, data: bytes) -> dict[str, object]:
    """A file on an endpoint's disk, and its bulk entry (source URL, destination path = same path)."""
    full = settings.root / path.lstrip("/")
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(data)
    return {"source": f"{settings.origin()}{path}", "path": path, "bytes": len(data), "adler32": adler(data)}


def pull(destination: str, token: str, files: list[object], **extra: object) -> tuple[list[dict], dict | None]:
    """Send a batch; the per-file lines (by index) and the summary (None if the stream ended without it)."""
    body = orjson.dumps({"files": files, **extra})
    with httpx.stream("POST", f"{destination}{BULK}", content=body, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status_code == 200, r.read()
        lines = [orjson.loads(line) for line in r.iter_lines() if line.strip()]
    summary = lines.pop()["summary"] if lines and "summary" in lines[-1] else None
    return sorted(lines, key=lambda line: line["index"]), summary


def temp_files(root: Path) -> list[str]:
    return [name for _d, _s, names in os.walk(root) for name in names if localfs.is_internal(name)]


def test_a_mixed_batch_copies_the_good_files_and_fails_each_bad_one_alone(endpoint, source, mint) -> None:
    good = [place(source, f"/mixed/good{i}", os.urandom(1500)) for i in range(20)]
    missing = {"source": f"{source.origin()}/mixed/none", "path": "/mixed/none", "bytes": 3, "adler32": "00000001"}
    corrupted = place(source, "/mixed/corrupted", b"what the catalog does not know") | {"adler32": "0badc0de"}
    short = place(source, "/mixed/short", b"12345") | {"bytes": 6}
    malformed = {"source": f"{source.origin()}/mixed/good0", "path": "/mixed/malformed"}
    elsewhere = place(source, "/other/f", b"x") | {"path": "/other/f"}
    files = [*good, missing, corrupted, short, malformed, elsewhere]
    destination = endpoint.origin()
    token = mint("storage.create:/mixed", audience=destination)
    source_token = mint("storage.read:/", audience=source.origin())

    lines, summary = pull(destination, token, files, source_authorization=f"Bearer {source_token}")

    assert summary == {"done": 20, "failed": 5}, lines[0]["message"]
    assert [line["ok"] for line in lines] == [True] * 20 + [False] * 5
    assert [line["adler32"] for line in lines[:20]] == [entry["adler32"] for entry in good]
    categories = [line["category"] for line in lines[20:]]
    assert categories == ["SOURCE_MISSING", "CHECKSUM_MISMATCH", "CHECKSUM_MISMATCH", "STORAGE_ERROR", "AUTH"]
    assert lines[23]["code"] == "InvalidInput" and lines[23]["path"] == "/mixed/malformed"
    for entry in good:
        assert (endpoint.root / str(entry["path"]).lstrip("/")).read_bytes() == (
            source.root / "mixed" / Path(str(entry["path"])).name
        ).read_bytes()
    assert sorted(p.name for p in (endpoint.root / "mixed").iterdir()) == sorted(f"good{i}" for i in range(20))
    assert not (endpoint.root / "other").exists() and temp_files(endpoint.root) == []


def test_a_file_already_complete_is_reported_done_and_a_different_one_is_kept(endpoint, source, mint) -> None:
    destination = endpoint.origin()
    token = mint("storage.create:/again", audience=destination)
    source_token = f"Bearer {mint('storage.read:/', audience=source.origin())}"
    same = place(source, "/again/same", b"same bytes")
    place(endpoint, "/again/same", b"same bytes")
    other = place(source, "/again/other", b"the new bytes")
    place(endpoint, "/again/other", b"old")

    lines, summary = pull(destination, token, [same, other], source_authorization=source_token)

    assert summary == {"done": 1, "failed": 1}
    assert lines[0]["existed"] is True and lines[1]["category"] == "DESTINATION_EXISTS"
    assert (endpoint.root / "again" / "other").read_bytes() == b"old"
    replacer = mint("storage.modify:/again", audience=destination)
    lines, summary = pull(destination, replacer, [other], source_authorization=source_token, overwrite=True)
    assert summary == {"done": 1, "failed": 0} and lines[0]["existed"] is False
    assert (endpoint.root / "again" / "other").read_bytes() == b"the new bytes"


def test_a_wrong_source_token_fails_each_file_as_auth(endpoint, source, mint) -> None:
    entry = place(source, "/auth/f", b"data")
    token = mint("storage.create:/auth", audience=endpoint.origin())
    lines, summary = pull(endpoint.origin(), token, [entry], source_authorization="Bearer nonsense")
    assert summary == {"done": 0, "failed": 1} and lines[0]["category"] == "AUTH"
    assert not (endpoint.root / "auth" / "f").exists()


def test_a_bad_request_is_refused_whole_before_anything_is_pulled(endpoint, source, mint) -> None:
    destination = endpoint.origin()
    token = mint("storage.create:/", audience=destination)
    entry = place(source, "/whole/f", b"data")
    refused = [
        (httpx.post(f"{destination}{BULK}", json={"files": [entry]}), 401),
        (httpx.post(f"{destination}{BULK}", content=b"{", headers={"Authorization": f"Bearer {token}"}), 400),
        (httpx.post(f"{destination}/elsewhere", json={"files": []}, headers={"Authorization": f"Bearer {token}"}), 400),
    ]
    too_many = {"files": [entry] * (bulk.MAX_FILES + 1)}
    answer = httpx.post(f"{destination}{BULK}", json=too_many, headers={"Authorization": f"Bearer {token}"})
    refused.append((answer, 400))
    assert answer.json()["code"] == "TooManyItems"
    assert [r.status_code for r, _ in refused] == [status for _, status in refused]
    assert not (endpoint.root / "whole").exists()


def test_an_endpoint_killed_mid_batch_leaves_no_partial_file_and_the_resent_batch_completes(
    tmp_path: Path, source: EndpointSettings, mint
) -> None:
    files = [place(source, f"/big/f{i}", os.urandom(2 * 1024 * 1024)) for i in range(64)]
    source_token = f"Bearer {mint('storage.read:/', audience=source.origin())}"
    with running_issuer(tmp_path / "issuer", tls=False) as issuer:
        root = tmp_path / "destination"
        with endpoint_process(root, issuer.url, issuer.url + JWKS) as server:
            destination = server.settings.origin()
            token = issuer.mint("tester", destination, ["storage.create:/big"])
            body = orjson.dumps({"files": files, "source_authorization": source_token})
            seen = 0
            with httpx.stream(
                "POST", f"{destination}{BULK}", content=body, headers={"Authorization": f"Bearer {token}"}
            ) as r:
                for line in r.iter_lines():
                    seen += bool(line.strip())
                    if seen == 3:
                        server.kill()
                        break
            partial = [p for p in (root / "big").iterdir() if not localfs.is_internal(p.name)]
            assert all(p.stat().st_size == 2 * 1024 * 1024 for p in partial)
            server.start()
            lines, summary = pull(destination, token, files, source_authorization=source_token)
            assert summary == {"done": 64, "failed": 0}
            assert sum(line["existed"] for line in lines) == len(partial)
            assert temp_files(root) == []
            assert all((root / "big" / f"f{i}").stat().st_size == 2 * 1024 * 1024 for i in range(64))
