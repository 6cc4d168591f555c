"""Policy-engine benchmarks (rules and transfers) against a real `lake up` subprocess, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/policy.py                   # full: 10,000 x 100 KiB, 2 GiB, 100,000-file dataset
    .venv/bin/python benchmarks/policy.py --quick           # smoke: 500 files, 64 MiB, 5,000-file dataset
    .venv/bin/python benchmarks/policy.py --backend postgres --profile

1. Many small files uploaded (real bytes) to endpoint A, then a one-copy rule to endpoint B: time until OK.
2. One big file replicated A -> B by a rule, next to `cp` of it on the same disk.
3. POST /v1/rules and DELETE /v1/rules/{id} on a large registered dataset (locks per second).

The lake runs with two built-in endpoints over plain HTTP and every daemon. Measures and reports, never
asserts: Markdown goes to stdout and to benchmarks/out/policy-<backend>.md, progress to stderr.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from lakeproc import LakeProcess, fresh_postgres, lake_up
from policy_big import run_big
from policy_create import run_create
from policy_lake import load_average, say
from policy_report import PolicyResults, render
from policy_small import run_small
from profiling import Profiler

OUT = Path(__file__).resolve().parent / "out"
PARTS = ("small", "big", "create")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000, help="small files replicated by a rule")
    parser.add_argument("--file-kib", type=int, default=100, help="size of each small file (KiB)")
    parser.add_argument("--size-mib", type=int, default=2048, help="size of the big file (MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the big-file rule (median reported)")
    parser.add_argument("--dataset-files", type=int, default=100_000, help="files of the rule-creation dataset")
    parser.add_argument("--quick", action="store_true", help="smoke run: 500 files, 64 MiB, 5,000-file dataset")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument(
        "--worker-during-create",
        action="store_true",
        help="let the transfer worker claim rule B's transfers while rules are created and deleted",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy record the server during each phase")
    parser.add_argument("--tag", default="", help="write benchmarks/out/policy-<backend>-<tag>.md instead")
    parser.add_argument("--pg-database", default="lake_bench_policy", help="PostgreSQL database (recreated)")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.size_mib = min(args.files, 500), min(args.size_mib, 64)
        args.dataset_files, args.repeat = min(args.dataset_files, 5_000), min(args.repeat, 2)
    args.parts = [p for p in args.parts.split(",") if p]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    return args


def run_backend(args: argparse.Namespace, backend: str) -> PolicyResults:
    """A fresh lake (and a fresh PostgreSQL database) per backend; every part in it, in order."""
    r = PolicyResults(backend)
    started_load = load_average()
    workdir = Path(tempfile.mkdtemp(prefix=f"lake-bench-policy-{backend}-"))
    try:
        database_url = fresh_postgres(args.pg_database) if backend == "postgres" else None
        with lake_up(workdir, database_url) as lake:
            say(f"{backend}: `lake up` pid {lake.pid} at {lake.url}, endpoints {lake.endpoint_urls}, data {workdir}")
            (OUT / "policy-profiles").mkdir(parents=True, exist_ok=True)
            prof = Profiler(lake.pid, OUT / "policy-profiles" / backend, enabled=args.profile)
            run_parts(args, lake, workdir, prof, r)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    r.notes += notes(backend, started_load)
    return r


def run_parts(args: argparse.Namespace, lake: LakeProcess, workdir: Path, prof: Profiler, r: PolicyResults) -> None:
    """Each selected part in order; one that fails is reported in the notes and the others still run."""
    for part in args.parts:
        try:
            if part == "small":
                r.upload, r.small = run_small(lake, workdir, args.files, args.file_kib, prof)
            elif part == "big":
                r.big = run_big(lake, workdir, args.size_mib, args.repeat, prof)
            elif part == "create":
                r.create = run_create(lake, workdir, args.dataset_files, prof, args.worker_during_create)
        except Exception as exc:  # a benchmark reports; the server log is kept in the note's place
            say(f"part {part} failed: {type(exc).__name__}: {exc}")
            r.notes.append(f"**Part `{part}` failed**: {type(exc).__name__}: {exc}")


def notes(backend: str, started_load: str) -> list[str]:
    return [
        f"Database: {'PostgreSQL 15 (fresh database)' if backend == 'postgres' else 'SQLite (WAL)'}; one `lake up` "
        "process runs the API, both endpoints (A = CERN-DISK, B = DESY-DISK, plain HTTP, same disk) and every "
        "daemon.",
        "Rule times run from just before POST /v1/rules until GET /v1/rules/{id} (polled every 0.1 s) reports OK, "
        "so they include the transfer worker's claim latency (it sleeps 2 s when idle) and per-link limits.",
        f"Load average (1/5/15 min) at start {started_load}, at end {load_average()}: other work on this machine "
        "competes for its CPUs (the benchmark client and the server share them too).",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for backend in ["sqlite", "postgres"] if args.backend == "both" else [args.backend]:
        text = render(run_backend(args, backend))
        (OUT / f"policy-{backend}{'-' + args.tag if args.tag else ''}.md").write_text(text)
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
