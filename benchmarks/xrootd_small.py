"""Many small files from server a to server b: a naive `xrdcp` per file vs Lake's transfer engine.

The files are registered as one dataset on DUAL-A (root:// and http at the same priority, so the engine picks
the mode) and written straight into server a's data directory, where an upload would leave them. Lake's run
is a rule on the dataset to DUAL-B. A smaller dataset on ROOT-A -> ROOT-B shows what root TPC costs per file,
next to `xrdcp --tpc only` run once per file.
"""

from __future__ import annotations

import os
import subprocess
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from lakeproc import SCOPE
from policy_lake import say
from xrootd_grid import Grid, register
from xrootd_measure import LakeRun, Row, lake_rule, modes_note, ratio, settle, timed

from lake.core.models import FileIn
from lake.testing.xrootd import XROOTD_USER

KiB = 1024
STALL = 4.0  # seconds: an xrdcp process this slow hit the 5 s exit stall (grid-stack.md §7)
PARALLEL = 8


@dataclass(frozen=True)
class PerFile:
    """Sequential one-process-per-file copies: total seconds, each process's seconds."""

    total: float
    each: list[float]

    @property
    def stalls(self) -> int:
        return sum(s > STALL for s in self.each)

    def text(self) -> str:
        count, each = len(self.each), sorted(self.each)
        return (f"{self.total:.1f} s, {count / self.total:,.1f} files/s (median {each[count // 2] * 1e3:.0f} ms "
                f"per process; {self.stalls} of {count} took > {STALL:g} s)")  # fmt: skip


def place_files(grid: Grid, rse: str, dataset: str, count: int, size: int) -> dict[str, str]:
    """`count` random files registered on `rse` in `dataset` and written to their place on server a."""
    data = {f"{dataset}-{i:05d}": os.urandom(size) for i in range(count)}
    files = [FileIn(scope=SCOPE, name=name, bytes=size, adler32=f"{zlib.adler32(body) & 0xFFFFFFFF:08x}")
             for name, body in data.items()]  # fmt: skip
    pfns = register(grid.user, rse, files, dataset)
    for name, body in data.items():
        path = grid.local_path(pfns[name])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{XROOTD_USER}:{XROOTD_USER}", str(grid.a.data_dir / "lake")], check=True)
    return pfns


def as_root(grid: Grid, pfn: str) -> str:
    """The root:// URL on server a of a PFN there (of any scheme)."""
    return f"{grid.a.root_url}//{urlsplit(pfn).path.lstrip('/')}"


def per_file(sources: list[str], dest_dir: str, *options: str) -> PerFile:
    """One `xrdcp` process per file, in sequence, into `dest_dir`."""
    each = []
    for source in sources:
        seconds, _ = timed(["xrdcp", "-s", "-f", *options, source, f"{dest_dir}/{source.rsplit('/', 1)[1]}"])
        each.append(seconds)
    return PerFile(sum(each), each)


def one_process(grid: Grid, sources: list[str]) -> float:
    """One `xrdcp --parallel 8` with every source on its command line, into one directory on b."""
    subprocess.run(["xrdfs", grid.b.root_url, "mkdir", "-p", "/bench/many"], check=True, capture_output=True)
    seconds, _ = timed(["xrdcp", "-s", "-f", "--parallel", str(PARALLEL), *sources, f"{grid.b.root_url}//bench/many/"])
    return seconds


def _rate(count: int, seconds: float) -> str:
    return f"{seconds:.2f} s, {count / seconds:,.1f} files/s"


def _lake_text(run: LakeRun, count: int) -> str:
    return f"rule POST until OK: {_rate(count, run.seconds)}; copies {run.stats.mean_copy() * 1e3:,.0f} ms each"


def small_rows(grid: Grid, count: int, size_kib: int, root_sample: int) -> list[Row]:
    """Part 4: `count` files by naive xrdcp, by one xrdcp, and by Lake; a root-TPC sample of `root_sample`."""
    size = size_kib * KiB
    say(f"small files: {count:,} x {size_kib} KiB on DUAL-A, {root_sample} on ROOT-A")
    pfns = place_files(grid, "DUAL-A", "small", count, size)
    sources = [as_root(grid, pfn) for pfn in pfns.values()]  # DUAL-A lists its http PFNs (same paths)
    settle()
    naive = per_file(sources, f"{grid.b.root_url}//bench/naive")
    say(f"  naive xrdcp: {naive.text()}")
    settle()
    many = one_process(grid, sources)
    say(f"  one xrdcp --parallel {PARALLEL}: {many:.2f} s")
    settle()
    lake = lake_rule(grid, "small", "DUAL-B", "DUAL-A", files=count)
    label = f"{count:,} x {size_kib} KiB a -> b"
    rows = [
        Row(f"{label}: naive `xrdcp` per file (sequential) vs Lake rule", naive.text(), _lake_text(lake, count),
            ratio(lake.seconds, naive.total), modes_note(lake)),
        Row(f"{label}: one `xrdcp --parallel {PARALLEL}` (all sources in one process) vs Lake rule",
            _rate(count, many), _rate(count, lake.seconds), ratio(lake.seconds, many), "for context"),
    ]  # fmt: skip
    return rows + root_sample_rows(grid, root_sample, size)


def root_sample_rows(grid: Grid, count: int, size: int) -> list[Row]:
    """`count` small files by root TPC: `xrdcp --tpc only` per file vs a rule ROOT-A -> ROOT-B."""
    pfns = place_files(grid, "ROOT-A", "small-root", count, size)
    settle()
    sources = [as_root(grid, pfn) for pfn in pfns.values()]
    baseline = per_file(sources, f"{grid.b.root_url}//bench/tpc-small", "--tpc", "only")
    say(f"  xrdcp --tpc only per file: {baseline.text()}")
    settle()
    lake = lake_rule(grid, "small-root", "ROOT-B", "ROOT-A", files=count)
    return [
        Row(f"{count} x {size // KiB} KiB root TPC a -> b: `xrdcp --tpc only` per file vs Lake rule",
            baseline.text(), _lake_text(lake, count), ratio(lake.seconds, baseline.total), modes_note(lake)),
    ]  # fmt: skip
