"""Part 2: one big file replicated by a rule from endpoint A to endpoint B, next to `cp` on the same disk.

Each round uploads a new copy of the file to A (Lake's own PUT path, untimed here), then times a one-copy
rule on it to B from just before the POST until GET /v1/rules/{id} says OK, then `cp` of the same file on a
settled disk. Both stored copies are unlinked directly after the round (the rule stays, so no daemon deletes
anything while the next round runs).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from lakeproc import SCOPE, LakeProcess
from policy_lake import TransferStats, add_rule, client, say, transfer_stats, wait_settled
from profiling import Profiler
from throughput import SETTLE_SECONDS, FileBench, make_file


@dataclass
class BigRound:
    settle_seconds: float  # rule POST until OK
    create_seconds: float
    copy_seconds: float  # the worker's own duration (transfer.done event): source check, copy, verification
    cp_seconds: float
    state: str
    stats: TransferStats


@dataclass
class BigResults:
    size: int
    rounds: list[BigRound] = field(default_factory=list)

    def _median(self, key: str) -> float:
        return statistics.median(getattr(r, key) for r in self.rounds) if self.rounds else 0.0

    def mbps(self, key: str) -> float:
        seconds = self._median(key)
        return self.size / seconds / 1e6 if seconds else 0.0

    def seconds(self, key: str) -> float:
        return self._median(key)

    def modes(self) -> str:
        return ", ".join(sorted({r.stats.mode_text() for r in self.rounds}))

    def states(self) -> str:
        return ", ".join(sorted({r.state for r in self.rounds}))


def _stored(lake: LakeProcess, rse: str, pfn: str) -> Path:
    return lake.data_dir / "storage" / rse / urlsplit(pfn).path.lstrip("/")


def _pfn_on(lake: LakeProcess, name: str, rse: str) -> str | None:
    with lake.api() as api:
        response = api.get(f"/v1/downloads/{SCOPE}/{name}", params={"rse_expression": rse})
        if response.is_error or not response.content.strip():
            return None
        sources = orjson.loads(response.content.splitlines()[0])["sources"]
    return sources[0]["pfn"] if sources else None


def one_round(lake: LakeProcess, bench: FileBench, workdir: Path) -> BigRound:
    _, name, pfn_a = bench.lake_put()
    bench.complete(name)
    with client(lake, workdir) as lake_client:
        os.sync()
        time.sleep(SETTLE_SECONDS)
        began = time.perf_counter()
        rule, create_seconds = add_rule(lake_client, SCOPE, name, lake.rses[1])
        rule, settle_seconds = wait_settled(lake_client, rule.id, began, timeout=1800)
    stats = transfer_stats(lake, rule.id, 1)
    cp_seconds = bench.cp(sync=False)
    pfn_b = _pfn_on(lake, name, lake.rses[1])
    _stored(lake, lake.rses[0], pfn_a).unlink(missing_ok=True)
    if pfn_b:
        _stored(lake, lake.rses[1], pfn_b).unlink(missing_ok=True)
    copy_seconds = stats.copy_seconds[0] if stats.copy_seconds else 0.0
    return BigRound(settle_seconds, create_seconds, copy_seconds, cp_seconds, rule.state, stats)


def run_big(lake: LakeProcess, workdir: Path, size_mib: int, repeat: int, prof: Profiler) -> BigResults:
    source = workdir / "big.bin"
    adler32 = make_file(source, size_mib)
    bench = FileBench(lake, source, adler32, workdir)
    results = BigResults(bench.size)
    try:
        bench.cp(sync=False)  # warm-up, untimed
        for index in range(repeat):
            with prof.phase(f"big-rule-{index + 1}"):
                result = one_round(lake, bench, workdir)
            results.rounds.append(result)
            say(f"big file round {index + 1}: rule {result.state} after {result.settle_seconds:.2f} s "
                f"({bench.size / result.settle_seconds / 1e6:,.0f} MB/s; worker copy {result.copy_seconds:.2f} s), "
                f"cp {result.cp_seconds:.2f} s ({bench.size / result.cp_seconds / 1e6:,.0f} MB/s); "
                f"mode {result.stats.mode_text()}")  # fmt: skip
    finally:
        bench.close()
        source.unlink(missing_ok=True)
    return results
