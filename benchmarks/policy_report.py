"""Markdown tables of one backend's policy benchmark (a report: numbers and notes, no pass/fail)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from policy_big import BigResults
from policy_create import CreateResults
from policy_small import RuleRun, Upload
from report import code_version, machine, memory


@dataclass
class PolicyResults:
    backend: str
    upload: Upload | None = None
    small: RuleRun | None = None
    big: BigResults | None = None
    create: CreateResults | None = None
    notes: list[str] = field(default_factory=list)
    code: str = field(default_factory=code_version)


def small_table(up: Upload, run: RuleRun) -> list[str]:
    size_kib = run.bytes // run.files // 1024 if run.files else 0
    stats = run.stats
    lines = ["| measurement | result | detail |", "|---|---|---|"]
    lines.append(
        f"| upload: {up.files:,} x {size_kib} KiB to A, LakeClient.upload (200/call, 2 calls x 16 PUTs) | "
        f"{up.rate:,.0f} files/s, {up.mbps:,.1f} MB/s ({up.seconds:.1f} s) | {up.failed} failed; "
        f"server RSS {memory(up.memory)} |"
    )
    lines.append(
        f"| rule A -> B on the dataset: POST /v1/rules until OK | {run.rate:,.0f} files/s, {run.mbps:,.1f} MB/s "
        f"({run.settle_seconds:.1f} s) | final state {run.state}, {run.locks_ok:,}/{run.files:,} locks OK |"
    )
    lines.append(f"| of which the POST /v1/rules call ({run.files:,} locks + transfers) | {run.create_seconds:.2f} s "
                 f"| {run.files / run.create_seconds:,.0f} locks/s |")  # fmt: skip
    lines.append(
        f"| transfers | {stats.transfers:,}: {', '.join(f'{k} {v:,}' for k, v in stats.states.items())} | "
        f"mode {stats.mode_text()}; {stats.retried:,} retried"
        f"{'; failures ' + str(dict(stats.failures)) if stats.failures else ''}; "
        f"mean worker time per file {stats.mean_copy() * 1000:.0f} ms |"
    )
    lines.append(f"| server RSS during the rule | {memory(run.memory)} | |")
    return lines


def big_table(big: BigResults) -> list[str]:
    n = len(big.rounds)
    cp = big.mbps("cp_seconds")
    rows = [
        ("rule A -> B: POST /v1/rules until OK", "settle_seconds"),
        ("of which the worker's copy + verification (transfer.done duration)", "copy_seconds"),
        ("`cp` of the same file on the same disk (no sync)", "cp_seconds"),
    ]
    lines = [f"| {big.size / 2**30:.2f} GiB file, median of {n} | seconds | MB/s | vs cp |", "|---|---|---|---|"]
    for label, key in rows:
        mbps = big.mbps(key)
        lines.append(f"| {label} | {big.seconds(key):.2f} | {mbps:,.0f} | {mbps / cp if cp else 0:.2f} |")
    per_round = "; ".join(
        f"{r.settle_seconds:.2f} s (copy {r.copy_seconds:.2f}, POST {r.create_seconds * 1000:.0f} ms, cp "
        f"{r.cp_seconds:.2f})"
        for r in big.rounds
    )
    lines += ["", f"Rounds: {per_round}. Mode: {big.modes()}; final states: {big.states()}."]
    return lines


def create_table(c: CreateResults) -> list[str]:
    lines = [f"| on a {c.files:,}-file registered dataset | seconds | locks/s | server RSS |", "|---|---|---|---|"]
    if c.registration:
        reg = c.registration
        lines.append(f"| (setup) POST /v1/replicas/register, {reg.batch:,}/request | {reg.seconds:.1f} | "
                     f"{reg.rate:,.0f} files/s | {memory(reg.memory)} |")  # fmt: skip
    for call in c.calls:
        lines.append(f"| {call.what} | {call.seconds:.2f} | {call.rate:,.0f} | {memory(call.memory)} |")
    worker = ", ".join(f"{k} {v:,}" for k, v in c.worker_events.most_common()) or "none"
    how = ("it could claim them during the calls above; the files are not on storage" if c.worker
           else "RSE B had `max_transfers=0` during the calls, so the worker claimed none")  # fmt: skip
    lines += ["", f"Rule B queued {c.transfers_queued:,} transfers; the transfer worker's events for it by the end: "
              f"{worker} ({how})."]  # fmt: skip
    lines += [f"**{error}** (the time above is of the try that worked)." for error in c.errors]
    return lines


def render(r: PolicyResults) -> str:
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = [f"## Lake policy benchmark on {r.backend} ({stamp})", "", f"Machine: {machine()}. Code: {r.code}.", ""]
    if r.upload and r.small:
        out += ["### Small files: upload, then a rule replicating them (real transfers)", ""]
        out += [*small_table(r.upload, r.small), ""]
    if r.big:
        out += ["### One big file replicated by a rule (same run, same disk)", "", *big_table(r.big), ""]
    if r.create:
        out += ["### Rule creation and removal on a large dataset (catalog only)", "", *create_table(r.create), ""]
    out += [f"- {note}" for note in r.notes]
    return "\n".join(out).rstrip() + "\n"
