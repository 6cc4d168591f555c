"""XRootD, third-party copy and caching: Lake next to the grid tools doing the same thing, in one run (issue 6).

    .venv/bin/python benchmarks/xrootd.py            # 2 GiB file, 1,000 x 100 KiB, 3 runs of each big copy
    .venv/bin/python benchmarks/xrootd.py --quick    # 256 MiB, 200 files, 2 runs (a few minutes)

Starts two XRootD 5.5.3 data servers (a, b), an XCache in front of a and one `lake up` on SQLite that has a
and b registered as RSEs (see xrootd_grid.py), then measures, baseline first and Lake next to it:
1. the big file a -> b by `xrdcp --tpc only` vs a Lake rule copied by root TPC (xrootd_tpc.py);
2. the same by `curl -X COPY` (HTTP-TPC pull, plain http) vs a Lake rule copied by HTTP-TPC;
3. many small files: one `xrdcp` process per file (and one `xrdcp --parallel 8`) vs a Lake rule on the
   dataset, plus a small root-TPC sample (xrootd_small.py);
4. reads of the big file through XCache and through Lake's cache vs straight from the origin (xrootd_cache.py).
Ratios are Lake's time over the baseline's time measured in the same run. Measures and reports, never
asserts: Markdown goes to stdout and benchmarks/out/results-xrootd.md, progress to stderr. Every server is
stopped by PID and every file removed at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from lakeproc import REPO
from policy_lake import load_average, say
from xrootd_cache import lake_cache_rows, xcache_rows
from xrootd_grid import running_grid
from xrootd_measure import Row
from xrootd_small import small_rows
from xrootd_tpc import big_file_rows, prepare_big

OUT = Path(__file__).resolve().parent / "out"
MiB = 1024 * 1024
PARTS = ("tpc", "small", "cache")


def run(args: argparse.Namespace, workdir: Path) -> list[Row]:
    """Every part asked for, in one grid; the rows in order."""
    rows: list[Row] = []
    size = args.size_mib * MiB
    with running_grid(workdir, cache_bytes=4 * size) as grid:
        big = None
        if "tpc" in args.parts:
            big, big_rows = big_file_rows(grid, size, args.repeat)
            rows += big_rows
        if "small" in args.parts:
            rows += small_rows(grid, args.files, args.file_kib, args.root_sample)
        if "cache" in args.parts:
            big = big or prepare_big(grid, size, args.repeat)
            xcache, xcache_http = xcache_rows(grid, big, args.repeat)
            rows += xcache + lake_cache_rows(grid, big, args.repeat, xcache_http)
    return rows


def commit() -> str:
    """The short commit, marked when the working tree has changes (others' work in progress included)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()  # fmt: skip
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


def render(rows: list[Row], args: argparse.Namespace, context: dict[str, str]) -> str:
    lines = [f"XRootD, TPC and caching: {args.size_mib:,} MiB file, {args.files:,} x {args.file_kib} KiB, "
             f"{args.repeat} runs of each big transfer; `lake up` on SQLite", ""]  # fmt: skip
    lines += [f"- {key}: {value}" for key, value in context.items()]
    lines += ["", "| measurement | baseline | Lake (or the cache named) | ratio (Lake / baseline time) | note |",
              "|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "n/a"
        lines.append(f"| {row.measurement} | {row.baseline} | {row.lake} | {ratio} | {row.note} |")
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=2048, help="size of the big file")
    parser.add_argument("--files", type=int, default=1000, help="small files in the dataset")
    parser.add_argument("--file-kib", type=int, default=100, help="size of each small file")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each big-file transfer and cache read")
    parser.add_argument("--root-sample", type=int, default=16, help="small files copied by root TPC")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="256 MiB, 200 files, 2 runs, 8 root-TPC files")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mib, args.files, args.repeat, args.root_sample = 256, 200, 2, 8
    args.parts = [part for part in args.parts.split(",") if part in PARTS]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started, load = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load_average()
    with tempfile.TemporaryDirectory(prefix="lake-bench-xrootd-") as workdir:
        rows = run(args, Path(workdir))
    context = {
        "started": started, "commit": commit(), "machine": f"{os.cpu_count()} CPUs, loopback only",
        "load average (1, 5, 15 min)": f"{load} at the start, {load_average()} at the end",
    }  # fmt: skip
    table = render(rows, args, context)
    OUT.mkdir(exist_ok=True)
    (OUT / "results-xrootd.md").write_text(table)
    say(f"written to {OUT / 'results-xrootd.md'}")
    print(table)


if __name__ == "__main__":
    main()
