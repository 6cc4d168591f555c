"""`lake download --site DESY` through a real XCache, read over its XrdHttp port.

A real XRootD origin is an RSE at CERN with an http protocol (its XrdHttp port); a real XCache in front of it
is DESY's volatile cache RSE with an http protocol at the XCache's XrdHttp port. The client (httpx only) reads
the plan's first URL, the XCache's: the first download is a miss (XCache fetches from the origin and keeps
`<path>.cinfo`). Then the origin is stopped: a download at DESY still verifies (a hit from the cache alone),
while one without a site, which can only read the origin, fails.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_xcache import DATA, FILE, READ_ONLY, place_on_origin, stop
from typer.testing import CliRunner

from lake.cli.main import app
from lake.core.models import FileIn, ProtocolIn, RegisterFilesIn, RSEIn
from lake.logic.catalog import replicas, rses
from lake.testing.factories import ALICE, ROOT
from lake.testing.server import RunningLake, running_lake
from lake.testing.xrootd import XRootDServer, running_xrootd, xrootd_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not xrootd_available(), reason="xrootd daemon or XRootD bindings not installed"),
]
DID = f"{FILE.scope}:{FILE.name}"


def http_protocol(url: str, read_only: bool = False) -> ProtocolIn:
    """An http protocol at an XrdHttp port; read-only for a cache (nothing writes to it or copies from it)."""
    parts = urlsplit(url)
    protocol = ProtocolIn(scheme="http", hostname=parts.hostname or "", port=parts.port or 0, prefix="/")
    return protocol.model_copy(update={"lan": READ_ONLY, "wan": READ_ONLY}) if read_only else protocol


def register(lake: RunningLake, origin: XRootDServer, xcache: XRootDServer) -> None:
    """The origin as an RSE at CERN with the file on it; the XCache as DESY's cache for it, both over http."""
    with lake.lake.services.db.transaction() as conn:
        rses.add_rse(conn, ROOT, RSEIn(name="XRD-ORIGIN", attributes={"site": "CERN"}))
        rses.add_protocol(conn, ROOT, "XRD-ORIGIN", http_protocol(origin.http_url))
        attributes = {"site": "DESY", "cache_for": "XRD-ORIGIN"}
        rses.add_rse(conn, ROOT, RSEIn(name="DESY-XCACHE", volatile=True, attributes=attributes))
        rses.add_protocol(conn, ROOT, "DESY-XCACHE", http_protocol(xcache.http_url, read_only=True))
        f = FileIn(scope=FILE.scope, name=FILE.name, bytes=len(DATA), adler32=f"{zlib.adler32(DATA):08x}")
        replicas.register_files(conn, ALICE, RegisterFilesIn(rse="XRD-ORIGIN", files=[f]))


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def run(env: dict[str, str], *args: str) -> str:
    code, output = invoke(env, *args)
    assert code == 0, (args, output)
    return output


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[RunningLake]:
    """One built-in endpoint at CERN, so DESY has no cache but the XCache."""
    with running_lake(tmp_path / "lake", endpoints=1, daemons=False) as running:
        yield running


def test_download_at_the_xcache_site_reads_through_it_and_hits_without_the_origin(lake, tmp_path):
    env = {"LAKE_URL": lake.url, "LAKE_TOKEN_FILE": str(tmp_path / "token"), "LAKE_TOKEN": ""}
    run(env, "login", "--username", lake.user, "--password", lake.user_password)
    with (
        running_xrootd(tmp_path / "xrd", "origin") as origin,
        running_xrootd(tmp_path / "xrd", "xcache", cache_origin=origin) as xcache,
    ):
        relative = place_on_origin(origin.data_dir)
        register(lake, origin, xcache)
        listed = [
            json.loads(line) for line in run(env, "--json", "replica", "list", DID, "--site", "DESY").splitlines()
        ]
        assert [(r["rse"], r["cached"]) for r in listed] == [("DESY-XCACHE", True), ("XRD-ORIGIN", False)]
        assert [r["pfn"] for r in listed] == [f"{xcache.http_url}/{relative}", f"{origin.http_url}/{relative}"]

        first = json.loads(run(env, "--json", "download", DID, "--dir", str(tmp_path / "first"), "--site", "DESY"))
        assert first["rse"] == "DESY-XCACHE"  # a miss: XCache fetched the file from the origin
        assert (tmp_path / "first" / FILE.scope / FILE.name).read_bytes() == DATA
        cinfo = xcache.data_dir / (relative + ".cinfo")
        assert cinfo.is_file()

        stop(origin.pid, int(urlsplit(origin.http_url).port or 0))
        code, output = invoke(env, "--json", "download", DID, "--dir", str(tmp_path / "direct"))
        failed = json.loads(output.splitlines()[0])["error"]
        assert code != 0  # without a site only the origin is offered, and it is gone
        assert [a["rse"] for a in failed["details"]["attempts"]] == ["XRD-ORIGIN"]
        second = json.loads(run(env, "--json", "download", DID, "--dir", str(tmp_path / "second"), "--site", "DESY"))
        assert second["rse"] == "DESY-XCACHE"  # a hit: served from the cache alone
        assert (tmp_path / "second" / FILE.scope / FILE.name).read_bytes() == DATA
