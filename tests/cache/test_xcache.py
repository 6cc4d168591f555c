"""A real XCache (XrdPss + XrdPfc) in front of a real XRootD origin, registered as the cache RSE of a site.

The download plan for a client at that site puts the root:// URL through the XCache first. The first read
through it is a miss: XCache fetches from the origin and keeps `<path>` and `<path>.cinfo` under its
`oss.localroot`. Then the origin is stopped: the second read still returns the same bytes, so it was served
from the cache (a hit), reading nothing from the origin.
"""

from __future__ import annotations

import os
import signal
import time
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lake.core.errors import LakeError
from lake.core.lfn2pfn import lfn2path
from lake.core.models import DIDRef, FileIn, ProtocolDomains, ProtocolIn, RegisterFilesIn, RSEIn
from lake.logic.access import downloads
from lake.logic.catalog import replicas, rses
from lake.testing.factories import ALICE, ROOT
from lake.testing.net import wait_refused
from lake.testing.xrootd import xrootd_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not xrootd_available(), reason="xrootd daemon or XRootD bindings not installed"),
]
DATA = os.urandom(3 * 1024 * 1024 + 5)
FILE = DIDRef(scope="user.alice", name="xc.bin")
READ_ONLY = ProtocolDomains(read=1)


def root_protocol(url: str, read_only: bool = False) -> ProtocolIn:
    parts = urlsplit(url)
    protocol = ProtocolIn(scheme="root", hostname=parts.hostname or "", port=parts.port or 0, prefix="/",
                          impl="lake.storage.xrootd")  # fmt: skip
    return protocol.model_copy(update={"lan": READ_ONLY, "wan": READ_ONLY}) if read_only else protocol


def register(conn, origin_url: str, cache_url: str) -> None:
    """The origin as an RSE at CERN with the file on it; the XCache as DESY's cache for it."""
    rses.add_rse(conn, ROOT, RSEIn(name="XRD-ORIGIN", attributes={"site": "CERN"}))
    rses.add_protocol(conn, ROOT, "XRD-ORIGIN", root_protocol(origin_url))
    attributes = {"site": "DESY", "cache_for": "XRD-ORIGIN"}
    rses.add_rse(conn, ROOT, RSEIn(name="DESY-XCACHE", volatile=True, attributes=attributes))
    rses.add_protocol(conn, ROOT, "DESY-XCACHE", root_protocol(cache_url, read_only=True))
    f = FileIn(scope=FILE.scope, name=FILE.name, bytes=len(DATA), adler32=f"{zlib.adler32(DATA):08x}")
    replicas.register_files(conn, ALICE, RegisterFilesIn(rse="XRD-ORIGIN", files=[f]))


def place_on_origin(data_dir: Path) -> str:
    relative = lfn2path(FILE.scope, FILE.name)
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(DATA)
    for path in (target, *target.parents):
        path.chmod(path.stat().st_mode | 0o055)  # readable by the daemon's user
        if path == data_dir:
            break
    return relative


def read_all(url: str) -> bytes:
    from lake.storage.xrootd import RootBackend

    return b"".join(RootBackend().read(url))


def stop(pid: int, port: int) -> None:
    """Stop the daemon we started (by its PID) and wait until its port no longer answers."""
    os.kill(pid, signal.SIGTERM)
    wait_refused(port, "the origin", connect_timeout=0.2)


def fully_cached(path, size, timeout=20.0):
    """Whether XCache holds all `size` bytes of `path` (with its .cinfo) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.with_name(path.name + ".cinfo").is_file() and path.is_file() and path.stat().st_size == size:
            return True
        time.sleep(0.05)
    return False


def test_xcache_at_the_site_is_read_first_misses_then_hits_without_the_origin(services, tmp_path):
    from lake.testing.xrootd import running_xrootd

    with (
        running_xrootd(tmp_path / "xrd", "origin") as origin,
        running_xrootd(tmp_path / "xrd", "xcache", cache_origin=origin) as xcache,
    ):
        relative = place_on_origin(origin.data_dir)
        with services.db.transaction() as conn:
            register(conn, origin.root_url, xcache.root_url)
            [plan] = downloads.download_plan(conn, ALICE, FILE, None, services.issuer, site="DESY")
        through, direct = plan.sources
        assert (through.rse, through.cached_from, direct.rse) == ("DESY-XCACHE", "XRD-ORIGIN", "XRD-ORIGIN")
        assert through.pfn == f"{xcache.root_url}/{relative}"

        assert read_all(through.pfn) == DATA  # miss: fetched from the origin
        cached = xcache.data_dir / relative
        assert fully_cached(cached, len(DATA))  # XCache writes the blocks it served in the background

        stop(origin.pid, int(urlsplit(origin.root_url).port or 0))
        with pytest.raises(LakeError):
            read_all(direct.pfn)
        assert read_all(through.pfn) == DATA  # hit: served from the cache alone
