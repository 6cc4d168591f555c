"""The big file between two XRootD servers: `xrdcp --tpc only` vs Lake's root TPC, `curl` COPY vs Lake's HTTP-TPC.

One random file is uploaded once to server a with `xrdcp`, then hard-linked under the PFN of each DID
`big-<i>.dat` on ROOT-A and HTTP-A (same bytes, same adler32, no extra disk), so run i of the baseline and run
i of Lake copy the same bytes from the same server. Baseline and Lake runs alternate (baseline i, Lake i, ...)
so a change of the machine's load hits both; every copy is deleted from server b after it is measured.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lakeproc import SCOPE
from policy_lake import say
from xrootd_grid import Grid, link_into, random_file, register, xrd_url
from xrootd_measure import LakeRun, Row, Samples, lake_rule, modes_note, ratio, settle, size_label, timed

from lake.core.models import FileIn

DATASET = "big"


@dataclass
class BigFile:
    """The file's size and adler32, its local copy, its names, and their PFNs on ROOT-A and HTTP-A."""

    size: int
    adler32: str
    local: Path
    names: list[str]
    root_pfns: dict[str, str] = field(default_factory=dict)
    http_pfns: dict[str, str] = field(default_factory=dict)


def prepare_big(grid: Grid, size: int, repeat: int) -> BigFile:
    """Write the random file, xrdcp it to server a once, link it under every PFN and register the replicas."""
    local = grid.workdir / "big.dat"
    adler32 = random_file(local, size)
    names = [f"big-{i}.dat" for i in range(1, repeat + 1)]
    files = [FileIn(scope=SCOPE, name=name, bytes=size, adler32=adler32) for name in names]
    big = BigFile(size, adler32, local, names)
    big.root_pfns = register(grid.user, "ROOT-A", files, DATASET)
    big.http_pfns = register(grid.user, "HTTP-A", files, DATASET)
    first = big.root_pfns[names[0]]
    settle()
    upload, _ = timed(["xrdcp", "-s", "-f", str(local), xrd_url(first)])
    say(f"big file: {size / 1e6:,.0f} MB uploaded to a with xrdcp in {upload:.2f} s")
    on_disk = grid.local_path(first)
    for pfn in [*big.root_pfns.values(), *big.http_pfns.values()]:
        if pfn != first:
            link_into(grid, on_disk, pfn)
    return big


def drop_copy(grid: Grid, name: str, rse: str) -> None:
    """Delete Lake's copy on server b after it was measured (the catalog keeps its replica; nothing reads it)."""
    for replica in grid.user.list_replicas(SCOPE, name, rse_expression=rse):
        if replica.pfn:
            grid.local_path(replica.pfn).unlink(missing_ok=True)


def _lake_rows(what: str, baseline: Samples, runs: list[LakeRun], size: int, extra: str) -> list[Row]:
    total = Samples([run.seconds for run in runs])
    copy = Samples([s for run in runs for s in run.stats.copy_seconds])
    note = modes_note(runs[0]) if len({modes_note(r) for r in runs}) == 1 else "; ".join(modes_note(r) for r in runs)
    return [
        Row(f"{what}: rule POST until OK", baseline.text(size), total.text(size), ratio(total.median, baseline.median),
            note),
        Row(f"{what}: Lake's transfer (copy + adler32 check, `transfer.done` duration)", baseline.text(size),
            copy.text(size), ratio(copy.median, baseline.median), extra),
    ]  # fmt: skip


def root_tpc(grid: Grid, big: BigFile) -> list[Row]:
    """`xrdcp --tpc only a -> b` vs a rule from ROOT-A to ROOT-B, alternating, one run per name."""
    baseline, runs, checksum = Samples(), [], 0.0
    for index, name in enumerate(big.names):
        dest = f"{grid.b.root_url}//bench/xrdcp-tpc/{name}"
        settle()
        seconds, _ = timed(["xrdcp", "-s", "-f", "--tpc", "only", xrd_url(big.root_pfns[name]), dest])
        baseline.seconds.append(seconds)
        say(f"  xrdcp --tpc only {name}: {seconds:.2f} s")
        if index == 0:  # what verifying costs: the server computes adler32 of the new copy on first request
            checksum, _ = timed(["xrdfs", grid.b.root_url, "query", "checksum", f"/bench/xrdcp-tpc/{name}"])
        grid.local_path(dest).unlink()
        settle()
        runs.append(lake_rule(grid, name, "ROOT-B", "ROOT-A"))
        drop_copy(grid, name, "ROOT-B")
    extra = f"server-side adler32 of the copy on b (`xrdfs query checksum`) took {checksum:.2f} s in this run"
    return _lake_rows(f"{size_label(big.size)} root TPC a -> b", baseline, runs, big.size, extra)


def _mkcol(url: str) -> None:
    """MKCOL, tolerating an existing collection (XrdHttpTPC 5.5.3 pulls only into existing directories)."""
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "-X", "MKCOL", url], check=True)


def curl_copy(source: str, dest: str) -> float:
    """HTTP-TPC pull: COPY with `Source:` to the destination; success is the last line of the streamed body."""
    seconds, body = timed(["curl", "-sS", "-X", "COPY", "-H", f"Source: {source}", dest])
    last = body.strip().splitlines()[-1] if body.strip() else ""
    if not last.startswith("success"):
        raise RuntimeError(f"curl COPY {source} -> {dest} did not succeed: {last!r}")
    return seconds


def http_tpc(grid: Grid, big: BigFile) -> list[Row]:
    """`curl -X COPY` (pull, plain http) vs a rule from HTTP-A to HTTP-B, alternating, one run per name."""
    baseline, runs = Samples(), []
    _mkcol(f"{grid.b.http_url}/bench")
    _mkcol(f"{grid.b.http_url}/bench/curl-copy")
    for name in big.names:
        dest = f"{grid.b.http_url}/bench/curl-copy/{name}"
        settle()
        seconds = curl_copy(big.http_pfns[name], dest)
        baseline.seconds.append(seconds)
        say(f"  curl COPY {name}: {seconds:.2f} s")
        grid.local_path(dest).unlink()
        settle()
        runs.append(lake_rule(grid, name, "HTTP-B", "HTTP-A"))
        drop_copy(grid, name, "HTTP-B")
    extra = "Lake also MKCOLs the parent before the COPY and checks adler32 with `HEAD Want-Digest` after it"
    return _lake_rows(f"{size_label(big.size)} HTTP-TPC pull a -> b (plain http)", baseline, runs, big.size, extra)


def big_file_rows(grid: Grid, size: int, repeat: int) -> tuple[BigFile, list[Row]]:
    """Parts 2 and 3: the big file by root TPC and by HTTP-TPC, baseline next to Lake."""
    big = prepare_big(grid, size, repeat)
    say(f"root TPC, {repeat} runs each")
    rows = root_tpc(grid, big)
    say(f"HTTP-TPC, {repeat} runs each")
    rows += http_tpc(grid, big)
    return big, rows
