"""The big file read through a cache vs straight from its origin: XCache over root:// and http, Lake's own cache.

- XCache (XrdPss + XrdPfc, `running_xrootd(cache_origin=a)`): `xrdcp` to /dev/null from server a and through
  the cache (one miss, then hits); `curl` the same over XrdHttp with another path of the file (a new miss).
  Bytes read from the origin are the origin daemon's `rchar` (/proc/<pid>/io) during each phase.
- Lake-native cache (`lake up`'s DESY-CACHE in front of CERN-DISK): the file is uploaded to CERN-DISK through
  Lake (ticket, `curl -T`, completion), the download plan for site DESY gives the cache URL first and the
  origin URL next, each with a read token; `curl` GETs both. Bytes from the origin are the cache's own
  counter `bytes_from_origin` (GET /.well-known/lake-cache).
Every read goes to /dev/null with the files in the page cache (warm), so a hit is compared with an origin
on the same machine: on loopback a cache cannot beat its origin, it can only cost little (grid-stack.md §4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from lakeproc import SCOPE
from policy_lake import say
from xrootd_grid import Grid
from xrootd_measure import MB, Row, Samples, ratio, size_label, timed
from xrootd_tpc import BigFile

from lake.core.models import DIDRef, FileIn, SourceReplica, UploadDone, UploadRequest
from lake.testing.xrootd import XRootDServer

NAME = "cached.dat"


@dataclass
class Reads:
    """Origin reads, the cache's one miss and its hits, with the bytes the origin served during each."""

    origin: Samples
    miss: Samples
    hits: Samples
    miss_bytes: int
    hit_bytes: int

    def rows(self, what: str, size: int) -> list[Row]:
        miss_note = f"origin served {self.miss_bytes / MB:,.0f} MB during the miss"
        hit_note = f"origin served {self.hit_bytes / MB:,.0f} MB during {len(self.hits.seconds)} hits"
        return [
            Row(f"{what}: miss vs origin", self.origin.text(size), self.miss.text(size),
                ratio(self.miss.median, self.origin.median), miss_note),
            Row(f"{what}: hit vs origin", self.origin.text(size), self.hits.text(size),
                ratio(self.hits.median, self.origin.median), hit_note),
        ]  # fmt: skip


def rchar(server: XRootDServer) -> int:
    """Bytes the daemon has read with read-family syscalls (its files, and requests on its sockets)."""
    for line in Path(f"/proc/{server.pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _read_through(read: Callable[[str], float], origin: str, cache: str, repeat: int,
                  served: Callable[[], int]) -> Reads:  # fmt: skip
    """Origin `repeat` times, then the cache once (the miss) and `repeat` times more (hits)."""
    reads = Reads(Samples(), Samples(), Samples(), 0, 0)
    for _ in range(repeat):
        reads.origin.seconds.append(read(origin))
    before = served()
    reads.miss.seconds.append(read(cache))
    reads.miss_bytes, before = served() - before, served()
    for _ in range(repeat):
        reads.hits.seconds.append(read(cache))
    reads.hit_bytes = served() - before
    say(f"  origin {reads.origin.median:.2f} s, miss {reads.miss.median:.2f} s, hit {reads.hits.median:.2f} s")
    return reads


def xrdcp_read(url: str) -> float:
    return timed(["xrdcp", "-s", "-f", url, "/dev/null"])[0]


def curl_read(url: str, token: str | None = None) -> float:
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    return timed(["curl", "-sS", "-f", "-o", "/dev/null", *auth, url])[0]


def xcache_rows(grid: Grid, big: BigFile, repeat: int) -> tuple[list[Row], Reads]:
    """XCache in front of server a: root:// with xrdcp, then http with curl on another path of the file (the
    http reads are returned too, to compare the Lake cache with)."""

    def served() -> int:
        return rchar(grid.a)

    root_path = "//" + urlsplit(big.root_pfns[big.names[0]]).path.lstrip("/")
    say("XCache: xrdcp via root://")
    by_root = _read_through(xrdcp_read, grid.a.root_url + root_path, grid.xcache.root_url + root_path, repeat, served)
    http_path = urlsplit(big.http_pfns[big.names[0]]).path
    say("XCache: curl via XrdHttp")
    by_http = _read_through(curl_read, grid.a.http_url + http_path, grid.xcache.http_url + http_path, repeat, served)
    gib = size_label(big.size)
    return by_root.rows(f"XCache, {gib} by `xrdcp` (root://)", big.size) + by_http.rows(
        f"XCache, {gib} by `curl` (XrdHttp)", big.size
    ), by_http


def upload_to_origin(grid: Grid, big: BigFile) -> float:
    """The file uploaded to CERN-DISK through Lake: ticket, `curl -T`, completion (server checks adler32)."""
    spec = FileIn(scope=SCOPE, name=NAME, bytes=big.size, adler32=big.adler32)
    dataset = DIDRef(scope=SCOPE, name="cached")
    ticket = grid.user.request_upload(UploadRequest(rse="CERN-DISK", files=[spec], dataset=dataset))
    auth = f"Authorization: Bearer {ticket.token}"
    put = ["curl", "-sS", "-f", "-o", "/dev/null", "-H", "Expect:", "-H", auth, "-T", str(big.local)]
    seconds, _ = timed([*put, ticket.targets[0].pfn])
    [result] = grid.user.complete_upload(UploadDone(rse="CERN-DISK", files=[DIDRef(scope=SCOPE, name=NAME)]))
    if result.error:
        raise RuntimeError(f"upload to CERN-DISK failed: {result.error}")
    return seconds


def _sources(grid: Grid) -> tuple[SourceReplica, SourceReplica]:
    """(through DESY-CACHE, straight from CERN-DISK) from the download plan for site DESY."""
    [plan] = grid.user.list_downloads(SCOPE, NAME, site="DESY")
    cached = next(s for s in plan.sources if s.cached_from)
    origin = next(s for s in plan.sources if not s.cached_from and s.rse == "CERN-DISK")
    return cached, origin


def lake_cache_rows(grid: Grid, big: BigFile, repeat: int, xcache_http: Reads) -> list[Row]:
    """Lake's DESY-CACHE in front of CERN-DISK, read with curl and the plan's tokens; its hit next to XCache's."""
    say("Lake cache: uploading to CERN-DISK")
    upload = upload_to_origin(grid, big)
    cached, origin = _sources(grid)
    parts = urlsplit(cached.pfn)
    stats_url = f"{parts.scheme}://{parts.netloc}/.well-known/lake-cache"

    def served() -> int:
        return int(httpx.get(stats_url, timeout=30).raise_for_status().json()["bytes_from_origin"])

    def read(url: str) -> float:
        return curl_read(url, cached.token if url == cached.pfn else origin.token)

    say(f"Lake cache: upload took {upload:.2f} s; curl via DESY-CACHE")
    reads = _read_through(read, origin.pfn, cached.pfn, repeat, served)
    gib = size_label(big.size)
    rows = reads.rows(f"Lake cache (DESY-CACHE -> CERN-DISK), {gib} by `curl`", big.size)
    rows.append(Row(f"{gib} cache hit by `curl`: XCache (XrdHttp) vs Lake cache", xcache_http.hits.text(big.size),
                    reads.hits.text(big.size), ratio(reads.hits.median, xcache_http.hits.median),
                    "both warm, both plain http on loopback"))  # fmt: skip
    return rows
