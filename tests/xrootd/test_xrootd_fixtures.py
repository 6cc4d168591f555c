"""The XRootD fixtures themselves: an XCache serves its origin's files, and a stopped server leaves no process."""

import os
import uuid
from pathlib import Path

from lake.storage.xrootd import RootBackend
from lake.testing.conformance import payload, put, read_all
from lake.testing.xrootd import XRootDServer, running_xrootd


def test_cache_serves_the_files_of_its_origin(xrootd_server: XRootDServer, tmp_path: Path) -> None:
    backend = RootBackend()
    data = payload(1_500_000, seed=9)
    path = f"cached/{uuid.uuid4().hex}"
    put(backend, f"{xrootd_server.root_url}//{path}", data)
    with running_xrootd(tmp_path, "cache", cache_origin=xrootd_server) as cache:
        assert read_all(backend, f"{cache.root_url}//{path}") == data
        assert (cache.data_dir / path).is_file()  # kept by the cache


def test_leaving_the_block_stops_the_daemon(tmp_path: Path) -> None:
    with running_xrootd(tmp_path, "short") as server:
        os.kill(server.pid, 0)
    assert not Path(f"/proc/{server.pid}").exists()
    assert (tmp_path / "short-files" / "xrootd.cfg").is_file()
