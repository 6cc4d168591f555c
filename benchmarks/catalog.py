"""Catalog benchmarks over the REST API: bulk registration, replica listing, single-DID GET latency."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

import orjson
from lakeproc import SCOPE, LakeProcess, MemoryPhase, RssSampler

BATCH_CANDIDATES = (1_000, 2_000, 5_000, 10_000)
GET_REQUESTS = 2_000
GET_WARMUP = 100


@dataclass
class Registration:
    """Files registered (file DID + AVAILABLE replica + attachment) into one dataset."""

    dataset: str
    files: int
    batch: int
    requests: int
    seconds: float
    memory: MemoryPhase | None = None
    planned: int = 0  # files asked for; more than `files` when a time budget stopped the run

    @property
    def rate(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0

    @property
    def stopped(self) -> bool:
        return self.files < self.planned


@dataclass
class Listing:
    """One streamed NDJSON listing of a dataset's replicas."""

    dataset: str
    rows: int
    first_byte: float
    seconds: float
    memory: MemoryPhase

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class Latency:
    """Sequential GETs of one file DID over one keep-alive connection (milliseconds)."""

    requests: int
    p50: float
    p99: float
    mean: float
    maximum: float


def _body(rse: str, dataset: str, start: int, count: int, rng: random.Random) -> bytes:
    files = [
        {"scope": SCOPE, "name": f"{dataset}.f{i:09d}", "bytes": rng.randrange(1, 1 << 34),
         "adler32": f"{rng.getrandbits(32):08x}"}
        for i in range(start, start + count)
    ]  # fmt: skip
    return orjson.dumps({"rse": rse, "files": files, "dataset": {"scope": SCOPE, "name": dataset}})


def register(lake: LakeProcess, dataset: str, files: int, batch: int, budget: float | None = None) -> Registration:
    """POST /v1/replicas/register in batches; only the requests are timed (bodies are built before each).

    With a `budget` (seconds of requests), registration stops after the first batch that exceeds it.
    """
    rng = random.Random(dataset)
    elapsed = 0.0
    done = requests = 0
    with lake.api() as api, RssSampler(lake.pid) as memory:
        while done < files and (budget is None or elapsed < budget):
            body = _body(lake.rses[0], dataset, done, min(batch, files - done), rng)
            began = time.perf_counter()
            response = api.post("/v1/replicas/register", content=body)
            elapsed += time.perf_counter() - began
            response.raise_for_status()
            done += min(batch, files - done)
            requests += 1
    return Registration(dataset, done, batch, requests, elapsed, memory, planned=files)


def best_batch(lake: LakeProcess, files: int, log: list[Registration]) -> int:
    """Try each candidate batch size on its own dataset of files/5 files (dataset size matters as much as the
    batch size); the fastest wins. The trials are appended to `log`."""
    for batch in [b for b in BATCH_CANDIDATES if b <= files] or [files]:
        trial_files = min(files, max(2 * batch, files // 5))
        log.append(register(lake, f"trial-batch-{batch}", trial_files, batch))
    return max(log, key=lambda r: r.rate).batch


def list_replicas(lake: LakeProcess, dataset: str) -> Listing:
    """Stream GET /v1/replicas/{scope}/{dataset} and count NDJSON lines; server RSS sampled meanwhile."""
    rows = 0
    first_byte = 0.0
    with lake.api() as api, RssSampler(lake.pid) as memory:
        began = time.perf_counter()
        with api.stream("GET", f"/v1/replicas/{SCOPE}/{dataset}") as response:
            response.raise_for_status()
            for chunk in response.iter_raw(1 << 20):
                if not first_byte:
                    first_byte = time.perf_counter() - began
                rows += chunk.count(b"\n")
        seconds = time.perf_counter() - began
    return Listing(dataset, rows, first_byte, seconds, memory)


def get_latency(lake: LakeProcess, dataset: str, requests: int = GET_REQUESTS) -> Latency:
    """`requests` sequential GET /v1/dids/{scope}/{name} of one file after a warm-up, one connection."""
    path = f"/v1/dids/{SCOPE}/{dataset}.f{0:09d}"
    samples = []
    with lake.api(timeout=30) as api:
        for _ in range(GET_WARMUP):
            api.get(path).raise_for_status()
        for _ in range(requests):
            began = time.perf_counter_ns()
            response = api.get(path)
            samples.append((time.perf_counter_ns() - began) / 1e6)
            response.raise_for_status()
    samples.sort()
    return Latency(
        requests=len(samples), p50=statistics.median(samples), p99=samples[int(0.99 * (len(samples) - 1))],
        mean=statistics.fmean(samples), maximum=samples[-1],
    )  # fmt: skip
