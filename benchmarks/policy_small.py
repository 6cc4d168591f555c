"""Part 1: many small files uploaded to endpoint A (real bytes), then one rule replicating them to endpoint B."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lakeproc import SCOPE, LakeProcess, MemoryPhase, RssSampler
from policy_lake import TransferStats, add_rule, client, say, transfer_stats, wait_settled
from profiling import Profiler

from lake.client import LakeClient
from lake.core.errors import LakeError

KiB = 1024
UPLOAD_BATCH = 200  # files per LakeClient.upload call (one ticket, one completion)
UPLOAD_PARALLEL = 16  # concurrent PUTs inside one call
UPLOAD_CALLS = 2  # upload calls running at once (one's PUTs overlap the other's completion)
"""POST /v1/uploads/complete checks every file on storage inside one database transaction (~50 ms a file here),
holding SQLite's write lock throughout: with 1,000 files a call, the other call's requests outwaited the 30 s
busy timeout (OperationalError). 200 a call keeps that wait well below it."""


@dataclass
class Upload:
    files: int
    bytes: int
    seconds: float
    failed: int
    memory: MemoryPhase

    @property
    def rate(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0

    @property
    def mbps(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0


@dataclass
class RuleRun:
    """One rule from creation to OK (or STUCK): the POST, the wait, what the transfers did."""

    files: int
    bytes: int
    create_seconds: float
    settle_seconds: float  # from just before the POST until GET /v1/rules/{id} said OK/STUCK
    state: str
    locks_ok: int
    stats: TransferStats
    memory: MemoryPhase

    @property
    def rate(self) -> float:
        return self.locks_ok / self.settle_seconds if self.settle_seconds else 0.0

    @property
    def mbps(self) -> float:
        done = self.bytes * self.locks_ok / self.files if self.files else 0
        return done / self.settle_seconds / 1e6 if self.settle_seconds else 0.0


def make_files(directory: Path, count: int, size: int) -> list[Path]:
    """`count` files of `size` random bytes (untimed)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"small-{i:06d}" for i in range(count)]
    for path in paths:
        path.write_bytes(os.urandom(size))
    return paths


def upload(lake: LakeProcess, lake_client: LakeClient, paths: list[Path], dataset: str) -> Upload:
    """LakeClient.upload in batches of UPLOAD_BATCH, UPLOAD_CALLS batches at a time, UPLOAD_PARALLEL PUTs each."""
    rse = lake.rses[0]
    batches = [paths[i : i + UPLOAD_BATCH] for i in range(0, len(paths), UPLOAD_BATCH)]
    lake_client.upload(batches[0][:1], rse, SCOPE, dataset)  # creates the dataset (and warms up); counted below

    def one(batch: list[Path]) -> int:
        try:
            results = lake_client.upload(batch, rse, SCOPE, dataset, parallel=UPLOAD_PARALLEL)
        except LakeError as exc:  # reported (files not uploaded), the run goes on
            say(f"  an upload call of {len(batch)} files failed: {exc}")
            return len(batch)
        errors = [r for r in results if r.error is not None]
        if errors:
            say(f"  {len(errors)} of {len(batch)} files not uploaded, e.g. {errors[0].name}: {errors[0].error}")
        return len(errors)

    batches[0] = batches[0][1:]
    with RssSampler(lake.pid) as memory:
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=UPLOAD_CALLS) as pool:
            failed = sum(pool.map(one, batches))
        seconds = time.perf_counter() - began
    uploaded = len(paths) - 1 - failed
    return Upload(uploaded, uploaded * paths[0].stat().st_size, seconds, failed, memory)


def replicate(lake: LakeProcess, lake_client: LakeClient, dataset: str, files: int, size: int,
              timeout: float) -> RuleRun:  # fmt: skip
    """A one-copy rule on the dataset to the second RSE; timed from just before the POST until OK."""
    with RssSampler(lake.pid) as memory:
        began = time.perf_counter()
        rule, create_seconds = add_rule(lake_client, SCOPE, dataset, lake.rses[1])
        size, files = size * (rule.locks_replicating_cnt + rule.locks_ok_cnt) // files, rule.locks_replicating_cnt
        say(f"  rule {rule.id} created in {create_seconds:.2f} s: {rule.locks_replicating_cnt:,} locks replicating")
        rule, settle_seconds = wait_settled(lake_client, rule.id, began, timeout)
    stats = transfer_stats(lake, rule.id, files)
    return RuleRun(files, size, create_seconds, settle_seconds, rule.state, rule.locks_ok_cnt, stats, memory)


def run_small(lake: LakeProcess, workdir: Path, count: int, size_kib: int, prof: Profiler) -> tuple[Upload, RuleRun]:
    """Create the files, upload them into one dataset on RSE A, replicate the dataset to RSE B by a rule."""
    dataset = f"small-{count}"
    source = workdir / "small-files"
    paths = make_files(source, count, size_kib * KiB)
    say(f"small files: {count:,} x {size_kib} KiB written; uploading to {lake.rses[0]}")
    with client(lake, workdir) as lake_client:
        with prof.phase("small-upload"):
            up = upload(lake, lake_client, paths, dataset)
        say(f"  uploaded {up.files:,} files in {up.seconds:.1f} s: {up.rate:,.0f} files/s, {up.mbps:,.0f} MB/s, "
            f"{up.failed} failed")  # fmt: skip
        for path in paths:
            path.unlink()
        source.rmdir()
        with prof.phase("small-rule"):
            run = replicate(lake, lake_client, dataset, count, count * size_kib * KiB, timeout=max(600.0, count / 5))
    say(f"  rule {run.state} after {run.settle_seconds:.1f} s: {run.rate:,.0f} files/s, {run.mbps:,.1f} MB/s; "
        f"modes {run.stats.mode_text()}")  # fmt: skip
    return up, run
