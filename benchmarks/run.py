"""Lake benchmarks against a real `lake up` subprocess, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/run.py                 # full run: 100,000 files, 2 GiB file, both backends
    .venv/bin/python benchmarks/run.py --quick         # smoke run: 2,000 files, 64 MiB
    .venv/bin/python benchmarks/run.py --backend sqlite --million --profile

Measures and reports, never asserts: Markdown tables go to stdout and to benchmarks/out/results-<backend>.md,
progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import catalog
from lakeproc import LakeProcess, fresh_postgres, lake_up
from profiling import Profiler
from report import Results, render
from throughput import run_transfers

OUT = Path(__file__).resolve().parent / "out"
MILLION = 1_000_000
MILLION_BUDGET_SECONDS = 300


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000, help="files in the registered dataset")
    parser.add_argument("--size-mib", type=int, default=2048, help="size of the big file (MiB)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 files, 64 MiB, no million")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--million", action=argparse.BooleanOptionalAction, default=None,
        help="register and list a 1,000,000-file dataset to the end (default: on SQLite only, registration "
        f"stopped after {MILLION_BUDGET_SECONDS} s and what was registered listed)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="runs of each big-file transfer (median reported)")
    parser.add_argument("--get-requests", type=int, default=catalog.GET_REQUESTS)
    parser.add_argument("--skip-transfers", action="store_true", help="catalog benchmarks only")
    parser.add_argument("--profile", action="store_true", help="py-spy record the server during each phase")
    parser.add_argument("--pg-database", default="lake_bench", help="PostgreSQL database (dropped and recreated)")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.size_mib = min(args.files, 2_000), min(args.size_mib, 64)
        args.million = bool(args.million)
    return args


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def million_budget(args: argparse.Namespace, backend: str) -> tuple[bool, float | None]:
    """Whether to run the 1,000,000-file dataset, and its registration time budget (None: no limit).

    Explicit --million/--no-million wins; by default it runs on SQLite only, stopped after
    MILLION_BUDGET_SECONDS of registration (then the part registered is listed)."""
    if args.million is not None:
        return bool(args.million), None
    return backend == "sqlite", MILLION_BUDGET_SECONDS


def catalog_phase(args: argparse.Namespace, lake: LakeProcess, r: Results, prof: Profiler) -> None:
    with prof.phase("register-trials"):
        batch = catalog.best_batch(lake, args.files, r.trials)
    say(f"batch-size trials: {', '.join(f'{t.batch}: {t.rate:,.0f}/s' for t in r.trials)}; using {batch}")
    dataset = f"bench-{args.files}"
    with prof.phase("register"):
        r.registration = catalog.register(lake, dataset, args.files, batch)
    say(f"registered {args.files:,} files: {r.registration.rate:,.0f} files/s")
    with prof.phase("list"):
        r.listing = catalog.list_replicas(lake, dataset)
    say(f"listed {r.listing.rows:,} replicas: {r.listing.rate:,.0f} files/s")
    with prof.phase("did-latency"):
        r.latency = catalog.get_latency(lake, dataset, args.get_requests)
    say(f"GET latency p50 {r.latency.p50:.2f} ms, p99 {r.latency.p99:.2f} ms")


def million_phase(lake: LakeProcess, r: Results, prof: Profiler, budget: float | None) -> None:
    batch = r.registration.batch if r.registration else 5_000
    say(f"registering the 1,000,000-file dataset (budget: {f'{budget:.0f} s' if budget else 'none'})")
    with prof.phase("register-million"):
        registration = catalog.register(lake, "bench-million", MILLION, batch, budget)
    if registration.stopped:
        r.notes.append(
            f"The 1,000,000-file registration was stopped by its {budget:.0f} s budget after "
            f"{registration.files:,} files; the listing below is of those. Run with --million for all of it."
        )
    say(f"registered {registration.files:,} files: {registration.rate:,.0f} files/s; listing")
    with prof.phase("list-million"):
        listing = catalog.list_replicas(lake, "bench-million")
    say(f"listed {listing.rows:,}: {listing.rate:,.0f} files/s, server peak RSS {listing.memory.peak // 1024} MB")
    r.million = (registration, listing)


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_backend(args: argparse.Namespace, backend: str) -> Results:
    r = Results(backend=backend, files=args.files)
    started_load = load_average()
    workdir = Path(tempfile.mkdtemp(prefix=f"lake-bench-{backend}-"))
    try:
        database_url = fresh_postgres(args.pg_database) if backend == "postgres" else None
        with lake_up(workdir, database_url) as lake:
            say(f"{backend}: `lake up` pid {lake.pid} at {lake.url}, data in {workdir}")
            prof = Profiler(lake.pid, OUT / f"profile-{backend}", enabled=args.profile)
            catalog_phase(args, lake, r, prof)
            if not args.skip_transfers:
                say(f"big file: {args.size_mib} MiB x {args.repeat} runs")
                r.transfers = run_transfers(lake, workdir, args.size_mib, args.repeat, prof)
            run_million, budget = million_budget(args, backend)
            if run_million:
                million_phase(lake, r, prof, budget)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    r.notes.append(f"Database: {'PostgreSQL 15 (fresh database)' if backend == 'postgres' else 'SQLite (WAL)'}.")
    r.notes.append(
        f"Load average (1/5/15 min) at start {started_load}, at end {load_average()}: other work on this "
        "machine competes for its CPUs (the benchmark client and the server share them too)."
    )
    return r


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        text = render(run_backend(args, backend))
        (OUT / f"results-{backend}.md").write_text(text)
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
