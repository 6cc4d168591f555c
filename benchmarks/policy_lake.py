"""Shared pieces of the policy benchmark: a client and rule helpers around `lakeproc.lake_up` (two plain-HTTP
endpoints, every daemon)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from lakeproc import LakeProcess

from lake.client import LakeClient
from lake.core.replication import RuleIn, RuleOut
from lake.core.settings import ClientSettings

POLL_SECONDS = 0.1


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def client(lake: LakeProcess, workdir: Path) -> LakeClient:
    """A LakeClient logged in as the user (token given directly; nothing is written to ~/.config)."""
    settings = ClientSettings(url=lake.url, token=lake.token, token_file=workdir / "no-token", timeout=600.0)
    return LakeClient(settings)


def add_rule(lake_client: LakeClient, scope: str, name: str, rse: str) -> tuple[RuleOut, float]:
    """POST /v1/rules for one copy on `rse`; the rule and the seconds the call took."""
    began = time.perf_counter()
    rule = lake_client.add_rule(RuleIn(scope=scope, name=name, copies=1, rse_expression=rse))
    return rule, time.perf_counter() - began


def delete_rule(lake_client: LakeClient, rule_id: str) -> float:
    began = time.perf_counter()
    lake_client.delete_rule(rule_id)
    return time.perf_counter() - began


def wait_settled(lake_client: LakeClient, rule_id: str, since: float, timeout: float) -> tuple[RuleOut, float]:
    """Poll GET /v1/rules/{id} until OK or STUCK (or the timeout); the last rule and seconds since `since`."""
    last_report = time.monotonic()
    while True:
        rule = lake_client.get_rule(rule_id)
        elapsed = time.perf_counter() - since
        if rule.state in ("OK", "STUCK") or elapsed > timeout:
            return rule, elapsed
        if time.monotonic() - last_report > 15:
            say(f"  rule {rule.state}: {rule.locks_ok_cnt:,} ok, {rule.locks_replicating_cnt:,} replicating "
                f"after {elapsed:.0f} s")  # fmt: skip
            last_report = time.monotonic()
        time.sleep(POLL_SECONDS)


@dataclass
class TransferStats:
    """What GET /v1/transfers and GET /v1/events say about a rule's transfers."""

    transfers: int = 0
    modes: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    copy_seconds: list[float] = field(default_factory=list)  # `duration` of each transfer.done event

    def mode_text(self) -> str:
        return ", ".join(f"{mode} x{n:,}" for mode, n in self.modes.most_common()) or "none"

    def mean_copy(self) -> float:
        return sum(self.copy_seconds) / len(self.copy_seconds) if self.copy_seconds else 0.0


def transfer_stats(lake: LakeProcess, rule_id: str, expected: int) -> TransferStats:
    """Modes, states and retries of the rule's transfers, failure categories and copy durations (events)."""
    stats = TransferStats()
    with lake.api() as api:
        params = {"rule_id": rule_id, "limit": max(1, 2 * expected)}
        for line in api.get("/v1/transfers", params=params).raise_for_status().content.splitlines():
            row = orjson.loads(line)
            stats.transfers += 1
            stats.modes[row["mode"] or "(none)"] += 1
            stats.states[row["state"]] += 1
            stats.retried += row["attempt"] > 0
        params = {"rule_id": rule_id, "kind": "transfer.*"}
        for line in api.get("/v1/events", params=params).raise_for_status().content.splitlines():
            event = orjson.loads(line)
            if event["kind"] == "transfer.done" and event["duration"] is not None:
                stats.copy_seconds.append(float(event["duration"]))
            elif event["kind"] == "transfer.failed":
                stats.failures[event["error_category"] or "?"] += 1
    return stats


def event_kinds(lake: LakeProcess, rule_id: str, kind: str = "transfer.*") -> Counter[str]:
    """How many events of each kind (matching `kind`) a rule has so far."""
    kinds: Counter[str] = Counter()
    with lake.api() as api:
        response = api.get("/v1/events", params={"rule_id": rule_id, "kind": kind}).raise_for_status()
        for line in response.content.splitlines():
            kinds[orjson.loads(line)["kind"]] += 1
    return kinds


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
