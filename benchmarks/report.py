"""Markdown tables of one backend's results, with the targets and Rucio's numbers next to them."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from catalog import Latency, Listing, Registration
from lakeproc import MemoryPhase
from throughput import FileResults

TARGET_REGISTER = 6_600  # files/s; Rucio 41 did 662 on this machine
TARGET_LIST = 10_000  # files/s; Rucio: 978
TARGET_GET_P50 = 1.5  # ms; Rucio: 5.5
TARGET_MILLION_RSS_MB = 200
TARGET_GET_MBPS = 2_000
TARGET_PUT_MBPS = 700


@dataclass
class Results:
    """Everything one backend run measured (parts may be missing when skipped)."""

    backend: str
    files: int
    trials: list[Registration] = field(default_factory=list)
    registration: Registration | None = None
    listing: Listing | None = None
    latency: Latency | None = None
    million: tuple[Registration, Listing] | None = None
    transfers: FileResults | None = None
    notes: list[str] = field(default_factory=list)
    code: str = field(default_factory=lambda: code_version())  # when the run started: others may commit meanwhile


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    """'met' or how far off the target the value is (a report, never an assertion)."""
    if (value >= target) if higher_is_better else (value <= target):
        return f"met ({value / target:.2f}x target)" if higher_is_better else f"met ({target / value:.2f}x margin)"
    if higher_is_better:
        return f"**missed**: {value / target:.0%} of target ({target / value:.1f}x short)"
    return f"**missed**: {value / target:.1f}x the target"


def mb(kib: int) -> str:
    return f"{kib / 1024:.0f} MB"


def memory(phase: MemoryPhase | None) -> str:
    if phase is None:
        return ""
    return f"peak {mb(phase.peak)} (before {mb(phase.baseline)}, +{mb(phase.growth)}; after {mb(phase.end)})"


def machine() -> str:
    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({cpu}), {ram:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def code_version() -> str:
    """The commit measured, and how many files under src/ differed from it (others may be editing)."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = [line for line in git("status", "--porcelain", "--", "src").splitlines() if line]
    return f"commit {commit}" + (f" + uncommitted changes in {len(changed)} files under src/" if changed else "")


def catalog_table(r: Results) -> list[str]:
    lines = ["| measurement | result | target (Rucio 41 here) | verdict |", "|---|---|---|---|"]
    if r.registration:
        reg = r.registration
        lines.append(
            f"| registration: {reg.files:,} files + replicas + attach, {reg.batch:,}/request | "
            f"{reg.rate:,.0f} files/s ({reg.seconds:.1f} s) | >= {TARGET_REGISTER:,} files/s (662) | "
            f"{verdict(reg.rate, TARGET_REGISTER)} |"
        )
    if r.listing:
        lines += _listing_rows(r.listing, "replica listing")
    if r.latency:
        lat = r.latency
        lines.append(
            f"| GET /v1/dids of one file, {lat.requests:,} sequential, keep-alive | p50 {lat.p50:.2f} ms, "
            f"p99 {lat.p99:.2f} ms (mean {lat.mean:.2f}, max {lat.maximum:.1f}) | p50 <= {TARGET_GET_P50} ms (5.5) | "
            f"{verdict(lat.p50, TARGET_GET_P50, higher_is_better=False)} |"
        )
    if r.million:
        reg, listing = r.million
        what = f"{reg.files:,} of {reg.planned:,} files (time budget)" if reg.stopped else f"{reg.files:,} files"
        lines.append(
            f"| registration: {what}, {reg.batch:,}/request | {reg.rate:,.0f} files/s "
            f"({reg.seconds:.0f} s) | >= {TARGET_REGISTER:,} files/s | "
            f"{'did not finish in its budget; ' if reg.stopped else ''}{verdict(reg.rate, TARGET_REGISTER)} |"
        )
        lines += _listing_rows(listing, "replica listing")
        lines.append(
            f"| server peak RSS listing {listing.rows:,} replicas | {mb(listing.memory.peak)} | "
            f"< {TARGET_MILLION_RSS_MB} MB | "
            f"{verdict(listing.memory.peak / 1024, TARGET_MILLION_RSS_MB, higher_is_better=False)} |"
        )
    return lines


def _listing_rows(listing: Listing, what: str) -> list[str]:
    return [
        f"| {what}: {listing.rows:,} replicas, NDJSON streamed | {listing.rate:,.0f} files/s "
        f"({listing.seconds:.1f} s, first byte {listing.first_byte * 1000:.0f} ms) | >= {TARGET_LIST:,} files/s "
        f"(978) | {verdict(listing.rate, TARGET_LIST)} |",
        f"| server RSS during that listing | {memory(listing.memory)} | flat | |",
    ]


def trials_table(r: Results) -> list[str]:
    lines = ["| batch size | files | requests | files/s | server RSS |", "|---|---|---|---|---|"]
    for reg in r.trials:
        lines.append(f"| {reg.batch:,} | {reg.files:,} | {reg.requests} | {reg.rate:,.0f} | {memory(reg.memory)} |")
    return lines


def transfer_table(results: FileResults) -> list[str]:
    rows = results.transfers
    base = {"PUT": rows["cp"].mbps, "GET": rows["cp"].mbps}
    curl = {"PUT": rows["curl_put"].mbps, "GET": rows["curl_get"].mbps}
    targets = {"lake_put": TARGET_PUT_MBPS, "curl_put": TARGET_PUT_MBPS, "httpx_get": TARGET_GET_MBPS,
               "curl_get": TARGET_GET_MBPS}  # fmt: skip
    lines = [
        f"| {results.size / 2**30:.2f} GiB file | MB/s (median of {results.repeat}) | best | vs cp | vs curl "
        "| target | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, row in rows.items():
        target = targets.get(key)
        endpoint = key in targets and not key.startswith("curl")
        lines.append(
            f"| {row.direction}: {row.label} | {row.mbps:,.0f} | {row.best_mbps:,.0f} | "
            f"{row.mbps / base[row.direction]:.2f} | {f'{row.mbps / curl[row.direction]:.2f}' if endpoint else ''} | "
            f"{f'>= {target:,} MB/s' if target else ''} | {verdict(row.mbps, target) if target else ''} |"
        )
    return lines


def render(r: Results) -> str:
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = [f"## Lake benchmark on {r.backend} ({stamp})", "", f"Machine: {machine()}. Code: {r.code}.", ""]
    out += ["### Catalog (REST API of a `lake up` subprocess)", "", *catalog_table(r), ""]
    if r.trials:
        out.append("Registration batch-size trials, each into its own dataset of files/5 files, registered before")
        out += ["the main run (the best size is used above):", "", *trials_table(r), ""]
    if r.transfers:
        t = r.transfers
        out += ["### Big file through the built-in endpoint (same run, same disk)", "", *transfer_table(t), ""]
        out.append(f"Server RSS during the PUTs: {memory(t.transfers['lake_put'].memory)}; during the GETs: "
                   f"{memory(t.transfers['httpx_get'].memory)}. `POST /v1/uploads/complete` (server-side size and "
                   f"adler32 check): {', '.join(f'{s * 1000:.0f} ms' for s in t.complete_seconds)}.")  # fmt: skip
        out.append("")
    out += [f"- {note}" for note in r.notes]
    return "\n".join(out).rstrip() + "\n"
