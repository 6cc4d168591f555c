"""RootBackend against real XRootD servers: server checksums, unreachable servers, root third-party copy."""

import hashlib
import socket
import time
import uuid

import pytest

from lake.core.checksums import adler32_of_chunks
from lake.core.errors import AlreadyExists, Timeout, Unavailable
from lake.storage import get_backend
from lake.storage.xrootd import RootBackend
from lake.testing.conformance import payload, put, read_all
from lake.testing.xrootd import XRootDServer


def test_checksum_is_answered_by_the_server_not_computed_by_the_client(xrootd_server: XRootDServer) -> None:
    data = payload(300_000, seed=7)
    path = f"cks/{uuid.uuid4().hex}"
    (xrootd_server.data_dir / "cks").mkdir(exist_ok=True)
    (xrootd_server.data_dir / path).write_bytes(data)  # written behind the client's back
    backend = RootBackend()
    url = f"{xrootd_server.root_url}//{path}"
    assert backend.checksum(url, "adler32") == adler32_of_chunks([data])
    assert backend.checksum(url, "md5") == hashlib.md5(data).hexdigest()


def test_registry_gives_root_backend_for_root_and_roots_urls() -> None:
    assert isinstance(get_backend("root://127.0.0.1:1//x"), RootBackend)
    assert isinstance(get_backend("roots://127.0.0.1:1//x"), RootBackend)


def test_stat_against_a_closed_port_fails_unavailable_within_seconds() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(Unavailable):
        RootBackend(timeout=3).stat(f"root://127.0.0.1:{port}//nothing")
    assert time.monotonic() - started < 5


def test_stat_against_a_silent_server_times_out_within_seconds() -> None:
    with socket.socket() as silent:  # accepts connections but never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        with pytest.raises(Timeout):
            RootBackend(timeout=2).stat(f"root://127.0.0.1:{silent.getsockname()[1]}//nothing")
    assert time.monotonic() - started < 8


def test_third_party_copy_between_two_servers_copies_the_file(
    xrootd_server: XRootDServer, xrootd_server_b: XRootDServer
) -> None:
    backend = RootBackend()
    data = payload(2_000_000, seed=8)
    name = uuid.uuid4().hex
    source, dest = f"{xrootd_server.root_url}//tpc/{name}", f"{xrootd_server_b.root_url}//tpc/in/{name}"
    put(backend, source, data)
    result = backend.third_party_copy(source, dest)
    assert result.bytes_transferred == len(data)
    assert read_all(backend, dest) == data
    assert backend.checksum(dest) == backend.checksum(source)


def test_third_party_copy_honours_overwrite(xrootd_server: XRootDServer, xrootd_server_b: XRootDServer) -> None:
    backend = RootBackend()
    name = uuid.uuid4().hex
    source, dest = f"{xrootd_server.root_url}//tpc/{name}", f"{xrootd_server_b.root_url}//tpc/{name}"
    put(backend, source, b"new content")
    put(backend, dest, b"old")
    with pytest.raises(AlreadyExists):
        backend.third_party_copy(source, dest)
    assert read_all(backend, dest) == b"old"
    backend.third_party_copy(source, dest, overwrite=True)
    assert read_all(backend, dest) == b"new content"
