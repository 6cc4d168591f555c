"""Download: sources tried in order, verified by size and adler32, with fallback on any failure."""

from __future__ import annotations

import zlib

import httpx
import pytest

from lake.client.download import already_present, fetch_file, verify
from lake.core.checksums import file_checksums, format_adler32
from lake.core.errors import ChecksumMismatch, Unavailable
from lake.core.models import DownloadFile, SourceReplica

DATA = b"hello lake\n" * 1000


def adler(data: bytes) -> str:
    return format_adler32(zlib.adler32(data))


def a_file(*rses: str, data: bytes = DATA) -> DownloadFile:
    sources = [SourceReplica(rse=rse, pfn=f"http://{rse.lower()}.test/f", token=f"t-{rse}") for rse in rses]
    return DownloadFile(scope="s", name="dir/f", bytes=len(data), adler32=adler(data), sources=sources)


def storage(behaviour: dict[str, str], log: list[str]) -> httpx.Client:
    """A fake storage: per host, 'ok', 'corrupt', 'error' or 'down'."""

    def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        log.append(host)
        assert request.headers["authorization"].startswith("Bearer t-")
        kind = behaviour[host]
        if kind == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if kind == "error":
            return httpx.Response(500, json={"code": "StorageError", "message": "disk on fire"})
        return httpx.Response(200, content=DATA if kind == "ok" else DATA[:-1] + b"X")

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_first_good_source_is_used_and_lands_under_scope(tmp_path):
    log: list[str] = []
    result = fetch_file(storage({"a.test": "ok", "b.test": "ok"}, log), a_file("A", "B"), tmp_path)
    assert result.ok and result.rse == "A"
    assert log == ["a.test"]
    assert (tmp_path / "s" / "dir" / "f").read_bytes() == DATA


@pytest.mark.parametrize("failure", ["down", "error", "corrupt"])
def test_a_failing_source_falls_back_to_the_next(tmp_path, failure):
    log: list[str] = []
    result = fetch_file(storage({"a.test": failure, "b.test": "ok"}, log), a_file("A", "B"), tmp_path)
    assert result.ok and result.rse == "B"
    assert log == ["a.test", "b.test"]
    assert (tmp_path / "s" / "dir" / "f").read_bytes() == DATA
    assert not list((tmp_path / "s" / "dir").glob("*.lake-part"))


def test_all_sources_corrupt_is_a_checksum_mismatch_and_leaves_no_file(tmp_path):
    result = fetch_file(storage({"a.test": "corrupt", "b.test": "down"}, []), a_file("A", "B"), tmp_path)
    assert isinstance(result.error, ChecksumMismatch)
    assert [attempt["rse"] for attempt in result.error.details["attempts"]] == ["A", "B"]
    assert not (tmp_path / "s" / "dir" / "f").exists()


def test_all_sources_unreachable_is_unavailable(tmp_path):
    result = fetch_file(storage({"a.test": "down", "b.test": "error"}, []), a_file("A", "B"), tmp_path)
    assert isinstance(result.error, Unavailable)
    assert isinstance(fetch_file(storage({}, []), a_file(), tmp_path).error, Unavailable)


def test_progress_is_rolled_back_when_a_source_fails(tmp_path):
    counted: list[int] = []
    fetch_file(
        storage({"a.test": "corrupt", "b.test": "ok"}, []),
        a_file("A", "B"),
        tmp_path,
        lambda name, count, size: counted.append(count),
    )
    assert sum(counted) == len(DATA)


def test_verify_checks_size_and_adler32_of_a_local_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(DATA)
    size, adler32, _ = file_checksums(path, md5=False)
    verify(a_file(), size, adler32)
    verify(a_file(), size, adler32.upper().lstrip("0"))
    with pytest.raises(ChecksumMismatch):
        verify(a_file(), size - 1, adler32)
    with pytest.raises(ChecksumMismatch):
        verify(a_file(data=DATA + b"!"), size, adler32)


def test_a_verified_file_already_in_place_is_not_fetched_again(tmp_path):
    target = tmp_path / "s" / "dir" / "f"
    target.parent.mkdir(parents=True)
    target.write_bytes(DATA)
    assert already_present(a_file(), target)
    log: list[str] = []
    result = fetch_file(storage({"a.test": "ok"}, log), a_file("A"), tmp_path)
    assert result.skipped and result.ok and log == []
    target.write_bytes(b"stale")
    assert not already_present(a_file(), target)
