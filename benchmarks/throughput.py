"""One big file through the built-in endpoint (Lake client and curl) next to cp, all in the same run.

Every measurement starts with no dirty pages (an untimed `sync` and a pause before it) and every copy is
deleted after its measurement (the last Lake upload is kept for the GETs); the source file stays in the
page cache, as it would for any of the compared tools. The endpoint does not fsync what it receives, so
the primary `cp` baseline does not either; `cp + sync` is reported beside it. GNU cp copies with
copy_file_range (in the kernel); `dd bs=4M` copies with read(2)/write(2) like the endpoint, so both are shown.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
from lakeproc import SCOPE, LakeProcess, MemoryPhase, RssSampler
from profiling import Profiler

from lake.client.upload import put_file
from lake.core.checksums import format_adler32
from lake.core.models import FileIn

MiB = 1024 * 1024
WRITE_BLOCK = 16 * MiB
SETTLE_SECONDS = 2.0
"""Pause after `sync` before each timed run: on this VM's ext4 (mounted with `discard`), a write right after a
2 GiB delete alternated between ~0.4 and ~3.6 GB/s; after sync + 2-3 s it is steady."""


@dataclass
class Transfer:
    """Repeated timings of one way of moving the file."""

    label: str
    direction: str  # "PUT" (write) or "GET" (read)
    size: int
    seconds: list[float] = field(default_factory=list)
    memory: MemoryPhase | None = None

    @property
    def mbps(self) -> float:
        """MB/s (10^6 bytes) of the median run."""
        return self.size / statistics.median(self.seconds) / 1e6 if self.seconds else 0.0

    @property
    def best_mbps(self) -> float:
        return self.size / min(self.seconds) / 1e6 if self.seconds else 0.0


def make_file(path: Path, size_mib: int) -> str:
    """Random data of `size_mib` MiB; returns its adler32."""
    adler = 1
    with open(path, "wb") as out:
        for _ in range(0, size_mib * MiB, WRITE_BLOCK):
            block = os.urandom(min(WRITE_BLOCK, size_mib * MiB))
            adler = zlib.adler32(block, adler)
            out.write(block)
    return format_adler32(adler)


def _timed(action: Callable[[], None]) -> float:
    """Seconds `action` takes, started on a settled disk (see SETTLE_SECONDS)."""
    os.sync()
    time.sleep(SETTLE_SECONDS)
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def _run(args: list[str]) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


class FileBench:
    """Tickets, PUTs, GETs and baselines for one file against one running lake."""

    def __init__(self, lake: LakeProcess, source: Path, adler32: str, workdir: Path) -> None:
        self.lake = lake
        self.source = source
        self.size = source.stat().st_size
        self.adler32 = adler32
        self.workdir = workdir
        self.api = lake.api()
        self.storage = httpx.Client(timeout=600)
        self.counter = 0

    def close(self) -> None:
        self.api.close()
        self.storage.close()

    def ticket(self) -> tuple[str, str, str]:
        """A new file name, its PFN on the first RSE and a storage.create token for it."""
        self.counter += 1
        name = f"bigfile-{self.counter}"
        files = [{"scope": SCOPE, "name": name, "bytes": self.size, "adler32": self.adler32}]
        response = self.api.post("/v1/uploads", content=orjson.dumps({"rse": self.lake.rses[0], "files": files}))
        response.raise_for_status()
        ticket = response.json()
        return name, ticket["targets"][0]["pfn"], ticket["token"]

    def complete(self, name: str) -> float:
        """POST /v1/uploads/complete (the server checks size and adler32 on storage); returns seconds."""
        body = {"rse": self.lake.rses[0], "files": [{"scope": SCOPE, "name": name}]}
        began = time.perf_counter()
        response = self.api.post("/v1/uploads/complete", content=orjson.dumps(body))
        response.raise_for_status()
        if response.json()[0]["state"] != "AVAILABLE":
            raise RuntimeError(f"upload of {name} was not confirmed: {response.text}")
        return time.perf_counter() - began

    def read_source(self, name: str) -> tuple[str, str]:
        """PFN and read token of a file from its download plan (GET /v1/downloads/...)."""
        response = self.api.get(f"/v1/downloads/{SCOPE}/{name}", params={"rse_expression": self.lake.rses[0]})
        response.raise_for_status()
        source = orjson.loads(response.content.splitlines()[0])["sources"][0]
        return source["pfn"], source["token"]

    def lake_put(self) -> tuple[float, str, str]:
        """Lake's own upload path: `lake.client.upload.put_file` (httpx, streamed in 1 MiB chunks)."""
        name, pfn, token = self.ticket()
        spec = FileIn(scope=SCOPE, name=name, bytes=self.size, adler32=self.adler32)
        seconds = _timed(lambda: put_file(self.storage, pfn, token, self.source, spec))
        return seconds, name, pfn

    def curl_put(self) -> tuple[float, str]:
        name, pfn, token = self.ticket()
        auth = f"Authorization: Bearer {token}"
        seconds = _timed(lambda: _run(["curl", "-sSf", "-H", auth, "-H", "Expect:", "-T", str(self.source), pfn]))
        return seconds, pfn

    def stored(self, pfn: str) -> Path:
        """Where the endpoint of the first RSE keeps a PFN's file (the benchmark owns the data dir)."""
        return self.lake.data_dir / "storage" / self.lake.rses[0] / urlsplit(pfn).path.lstrip("/")

    def httpx_get(self, pfn: str, token: str) -> float:
        def fetch() -> None:
            with self.storage.stream("GET", pfn, headers={"Authorization": f"Bearer {token}"}) as response:
                response.raise_for_status()
                received = sum(len(chunk) for chunk in response.iter_raw(MiB))
            if received != self.size:
                raise RuntimeError(f"GET returned {received} bytes, not {self.size}")

        return _timed(fetch)

    def curl_get(self, pfn: str, token: str) -> float:
        auth = f"Authorization: Bearer {token}"
        return _timed(lambda: _run(["curl", "-sSf", "-H", auth, "-o", "/dev/null", pfn]))

    def cp(self, sync: bool) -> float:
        """`cp` to a new file on the same disk; with `sync`, then `sync FILE` (fsync of the copy) is timed too."""
        target = self.workdir / "cp-copy"

        def copy() -> None:
            _run(["cp", str(self.source), str(target)])
            if sync:
                _run(["sync", str(target)])

        seconds = _timed(copy)
        target.unlink()
        return seconds

    def dd_write(self) -> float:
        """Read and write(2) through user space in 4 MiB blocks, as the endpoint does (cp uses copy_file_range)."""
        target = self.workdir / "dd-copy"
        seconds = _timed(lambda: _run(["dd", f"if={self.source}", f"of={target}", "bs=4M", "status=none"]))
        target.unlink()
        return seconds

    def dd_read(self) -> float:
        return _timed(lambda: _run(["dd", f"if={self.source}", "of=/dev/null", "bs=4M", "status=none"]))


@dataclass
class FileResults:
    size: int
    repeat: int
    transfers: dict[str, Transfer]
    complete_seconds: list[float]


LABELS = {
    "lake_put": ("PUT", "Lake client PUT (httpx stream, 1 MiB chunks) -> endpoint"),
    "curl_put": ("PUT", "curl -T -> endpoint"),
    "cp": ("PUT", "cp (same disk, no sync)"),
    "cp_sync": ("PUT", "cp + sync FILE"),
    "dd_write": ("PUT", "dd if=FILE of=NEW bs=4M (write(2) path, no sync)"),
    "httpx_get": ("GET", "httpx stream GET <- endpoint (discard)"),
    "curl_get": ("GET", "curl GET <- endpoint (-o /dev/null)"),
    "dd_read": ("GET", "dd if=FILE of=/dev/null bs=4M"),
}


def run_transfers(lake: LakeProcess, workdir: Path, size_mib: int, repeat: int, prof: Profiler) -> FileResults:
    """Create the random file, run every transfer `repeat` times (interleaved), delete what was written."""
    source = workdir / "random.bin"
    adler32 = make_file(source, size_mib)
    bench = FileBench(lake, source, adler32, workdir)
    rows = {key: Transfer(label, direction, bench.size) for key, (direction, label) in LABELS.items()}
    completes: list[float] = []
    try:
        bench.cp(sync=False)  # warm-up, untimed
        with RssSampler(lake.pid) as put_memory, prof.phase("put"):
            for round_ in range(repeat):
                seconds, name, pfn = bench.lake_put()
                rows["lake_put"].seconds.append(seconds)
                completes.append(bench.complete(name))
                if round_ < repeat - 1:  # the last one stays for the GETs
                    bench.stored(pfn).unlink()
                seconds, pfn = bench.curl_put()
                rows["curl_put"].seconds.append(seconds)
                bench.stored(pfn).unlink()
                rows["cp"].seconds.append(bench.cp(sync=False))
                rows["cp_sync"].seconds.append(bench.cp(sync=True))
                rows["dd_write"].seconds.append(bench.dd_write())
        pfn, token = bench.read_source(name)
        with RssSampler(lake.pid) as get_memory, prof.phase("get"):
            for _ in range(repeat):
                rows["httpx_get"].seconds.append(bench.httpx_get(pfn, token))
                rows["curl_get"].seconds.append(bench.curl_get(pfn, token))
                rows["dd_read"].seconds.append(bench.dd_read())
    finally:
        bench.close()
        source.unlink(missing_ok=True)
    rows["lake_put"].memory, rows["httpx_get"].memory = put_memory, get_memory
    return FileResults(bench.size, repeat, rows, completes)
