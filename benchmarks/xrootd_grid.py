"""The grid of the XRootD benchmark: two XRootD data servers, an XCache, and one `lake up` that knows them as RSEs.

Each server is registered three times, under its own path prefix so the copies never collide:
- `ROOT-A`/`ROOT-B` (prefix /lake/root): only root:// (read, write, both TPC operations), so the engine uses
  `root-tpc`;
- `HTTP-A`/`HTTP-B` (prefix /lake/http): only plain http (XrdHttp), so the engine uses `http-pull`;
- `DUAL-A`/`DUAL-B` (prefix /lake/dual): both, at the same priority, so the engine's own ranking decides
  (`logic/transfers/paths.py`: a tie goes to HTTP-TPC pull, cheaper per file than root TPC).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lakeproc import (
    LAKE,
    ROOT_PASSWORD,
    SCOPE,
    USER,
    USER_PASSWORD,
    LakeProcess,
    _environment,
    _wait_ready,
    free_ports,
    login,
    stop,
)
from policy_lake import client, say

from lake.client import LakeClient
from lake.core.models import DIDRef, FileIn, ProtocolDomains, ProtocolIn, RegisterFilesIn, RSEIn
from lake.core.settings import ClientSettings
from lake.testing.xrootd import XROOTD_USER, XRootDServer, running_xrootd

ENDPOINTS = 2  # CERN-DISK and DESY-DISK; the built-in cache DESY-CACHE (in front of CERN-DISK) takes the next port
ALL = ProtocolDomains(read=1, write=1, delete=1, third_party_copy_read=1, third_party_copy_write=1)
PLAIN = ProtocolDomains(read=1, write=1, delete=1)
PAIRS = {"root": ("ROOT-A", "ROOT-B"), "http": ("HTTP-A", "HTTP-B"), "dual": ("DUAL-A", "DUAL-B")}
MiB = 1024 * 1024


@dataclass
class Grid:
    """Everything one run uses: the servers, the lake, a user and an admin client."""

    workdir: Path
    a: XRootDServer
    b: XRootDServer
    xcache: XRootDServer
    lake: LakeProcess
    user: LakeClient
    admin: LakeClient

    def server_of(self, pfn: str) -> XRootDServer:
        return self.a if urlsplit(pfn).port in _ports(self.a) else self.b

    def local_path(self, pfn: str) -> Path:
        """Where the file behind a PFN on server a or b lives on disk."""
        return self.server_of(pfn).data_dir / urlsplit(pfn).path.lstrip("/")


def _ports(server: XRootDServer) -> set[int | None]:
    return {urlsplit(server.root_url).port, urlsplit(server.http_url).port}


@contextlib.contextmanager
def lake_with_cache(workdir: Path, cache_bytes: int) -> Iterator[LakeProcess]:
    """`lake up` on SQLite with two endpoints and its cache (all ports checked free), stopped at the end."""
    data_dir = workdir / "lake-data"
    ports = free_ports(ENDPOINTS + 2)  # API, endpoints, cache
    env = _environment(data_dir, None, ports[:-1]) | {
        "LAKE_ENDPOINT_COUNT": str(ENDPOINTS), "LAKE_ENDPOINT_TLS": "false", "LAKE_CACHE_MAX_BYTES": str(cache_bytes),
    }  # fmt: skip
    log = workdir / "lake-up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(LAKE), "up"], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{ports[0]}"
        endpoints = [f"http://127.0.0.1:{port}" for port in ports[1:]]
        _wait_ready(proc, [url, *endpoints], log)
        lake = LakeProcess(proc, url, endpoints[:ENDPOINTS], data_dir)
        lake.token = login(url, USER, USER_PASSWORD)
        yield lake
    finally:
        stop(proc)


def xrd_url(pfn: str) -> str:
    """A root:// PFN as `xrdcp` needs it: an absolute path after a double slash (Lake writes one slash)."""
    parts = urlsplit(pfn)
    return f"{parts.scheme}://{parts.netloc}//{parts.path.lstrip('/')}"


def admin_client(lake: LakeProcess, workdir: Path) -> LakeClient:
    token = login(lake.url, "root", ROOT_PASSWORD)
    return LakeClient(ClientSettings(url=lake.url, token=token, token_file=workdir / "no-token", timeout=600.0))


def _protocol(server: XRootDServer, scheme: str, prefix: str, wan: ProtocolDomains) -> ProtocolIn:
    url = server.root_url if scheme == "root" else server.http_url
    parts = urlsplit(url)
    impl = "lake.storage.xrootd" if scheme == "root" else "lake.storage.http"
    assert parts.hostname and parts.port
    return ProtocolIn(scheme=scheme, hostname=parts.hostname, port=parts.port, prefix=prefix, impl=impl,
                      lan=PLAIN, wan=wan)  # fmt: skip


def register_rses(admin: LakeClient, a: XRootDServer, b: XRootDServer) -> None:
    """The three RSE pairs of the module docstring, with distance 1 from A to B."""
    for kind, names in PAIRS.items():
        schemes = ("root", "http") if kind == "dual" else (kind,)
        for name, server in zip(names, (a, b), strict=True):
            admin.add_rse(RSEIn(name=name, attributes={"type": "XROOTD", "site": name}))
            for scheme in schemes:
                admin.add_protocol(name, _protocol(server, scheme, f"/lake/{kind}", ALL))
        admin.set_distance(names[0], names[1], 1)


def adler32_of(path: Path) -> str:
    value = 1
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            value = zlib.adler32(chunk, value)
    return f"{value & 0xFFFFFFFF:08x}"


def random_file(path: Path, size: int) -> str:
    """Write `size` random bytes; returns their adler32."""
    value = 1
    with open(path, "wb") as f:
        for offset in range(0, size, 8 * MiB):
            chunk = os.urandom(min(8 * MiB, size - offset))
            value = zlib.adler32(chunk, value)
            f.write(chunk)
    return f"{value & 0xFFFFFFFF:08x}"


def register(user: LakeClient, rse: str, files: list[FileIn], dataset: str) -> dict[str, str]:
    """Register AVAILABLE replicas on `rse`, attached to `dataset` (created if missing); name -> PFN there."""
    ref = DIDRef(scope=SCOPE, name=dataset)
    for start in range(0, len(files), 5000):
        user.register_files(RegisterFilesIn(rse=rse, files=files[start : start + 5000], dataset=ref))
    names = {f.name for f in files}
    return {r.name: r.pfn for r in user.list_replicas(SCOPE, dataset, rse_expression=rse) if r.name in names and r.pfn}


def link_into(grid: Grid, source: Path, pfn: str) -> None:
    """Put a hard link of `source` (already on that server's disk) where `pfn` points, owned by xrootd."""
    target = grid.local_path(pfn)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(source, target)
    if os.geteuid() == 0:  # the daemon runs as xrootd and must be able to write next to it
        top = grid.server_of(pfn).data_dir / "lake"
        subprocess.run(["chown", "-R", f"{XROOTD_USER}:{XROOTD_USER}", str(top)], check=True)


@contextlib.contextmanager
def running_grid(workdir: Path, cache_bytes: int) -> Iterator[Grid]:
    """Start servers a, b, an XCache in front of a and `lake up`; register the RSEs; stop all by PID at the end."""
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(running_xrootd(workdir / "xrootd", "a"))
        b = stack.enter_context(running_xrootd(workdir / "xrootd", "b"))
        xcache = stack.enter_context(running_xrootd(workdir / "xrootd", "xcache", cache_origin=a))
        lake = stack.enter_context(lake_with_cache(workdir, cache_bytes))
        say(f"xrootd a pid {a.pid} {a.root_url} {a.http_url}; b pid {b.pid}; xcache pid {xcache.pid}; "
            f"lake up pid {lake.pid} {lake.url}")  # fmt: skip
        user = stack.enter_context(client(lake, workdir))
        admin = stack.enter_context(admin_client(lake, workdir))
        register_rses(admin, a, b)
        yield Grid(workdir, a, b, xcache, lake, user, admin)
