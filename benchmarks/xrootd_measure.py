"""Shared pieces of the XRootD benchmark: a result row, timed commands, and one Lake rule timed until OK."""

from __future__ import annotations

import math
import statistics
import subprocess
import time
from dataclasses import dataclass, field

from lakeproc import SCOPE
from policy_lake import TransferStats, say, transfer_stats, wait_settled
from xrootd_grid import Grid

from lake.core.replication import RuleIn

PAUSE = 2.0  # seconds after `sync` before each timed transfer, so earlier writes do not slow it down
MB = 1e6


@dataclass(frozen=True)
class Row:
    """One line of the results table; `ratio` is Lake's time over the baseline's (below 1: Lake is faster)."""

    measurement: str
    baseline: str
    lake: str
    ratio: float | None
    note: str = ""


@dataclass
class Samples:
    """Seconds of repeated runs of one thing."""

    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    def text(self, size: int | None = None) -> str:
        """`median s (MB/s), N runs: a, b, c` for the table."""
        rate = f", {size / self.median / MB:,.0f} MB/s" if size and self.seconds else ""
        runs = ", ".join(f"{s:.2f}" for s in self.seconds)
        count = len(self.seconds)
        return f"{self.median:.2f} s{rate} (median of {count}: {runs})" if count > 1 else f"{self.median:.2f} s{rate}"


def size_label(size: int) -> str:
    """`2 GiB`, `256 MiB`."""
    return f"{size / 2**30:g} GiB" if size >= 2**30 else f"{size / 2**20:g} MiB"


def settle() -> None:
    """Flush dirty pages and pause, as the other benchmarks do before a timed transfer."""
    subprocess.run(["sync"], check=True)
    time.sleep(PAUSE)


def timed(command: list[str]) -> tuple[float, str]:
    """Run a command to its end; (seconds, stdout). A failure raises with its stderr."""
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return seconds, done.stdout


def ratio(lake: float, baseline: float) -> float | None:
    """Lake's time over the baseline's; None when either is missing (NaN) or the baseline is zero."""
    return None if math.isnan(lake) or math.isnan(baseline) or not baseline else lake / baseline


@dataclass(frozen=True)
class LakeRun:
    """A rule from just before its POST until GET /v1/rules/{id} said OK, and what its transfers did."""

    seconds: float
    state: str
    stats: TransferStats


def lake_rule(grid: Grid, name: str, dest: str, source: str, files: int = 1, timeout: float = 1800.0) -> LakeRun:
    """A one-copy rule on `name` to `dest` reading only from `source`, timed until it settles."""
    spec = RuleIn(scope=SCOPE, name=name, copies=1, rse_expression=dest, source_replica_expression=source)
    began = time.perf_counter()
    rule = grid.user.add_rule(spec)
    rule, seconds = wait_settled(grid.user, rule.id, began, timeout)
    stats = transfer_stats(grid.lake, rule.id, files)
    say(f"  Lake {name} {source} -> {dest}: {rule.state} after {seconds:.2f} s, modes {stats.mode_text()}, "
        f"copy {stats.mean_copy():.2f} s mean")  # fmt: skip
    return LakeRun(seconds, rule.state, stats)


def modes_note(run: LakeRun) -> str:
    """`mode root-tpc x3` plus failures and retries, if any."""
    note = f"mode {run.stats.mode_text()}"
    if run.stats.retried or run.stats.failures:
        failures = ", ".join(f"{k} x{n}" for k, n in run.stats.failures.items())
        note += f"; {run.stats.retried} retried ({failures})"
    if run.state != "OK":
        note += f"; rule {run.state}"
    return note
