"""Part 3: rule creation and removal on a large registered dataset (catalog only: no bytes on storage).

The dataset is registered with POST /v1/replicas/register (catalog.register) as AVAILABLE replicas on RSE A.
Then, each call timed on its own:
1. a rule on A: every lock is OK at once (locks only, no transfers);
2. a rule on B: a lock, a COPYING replica, a QUEUED transfer and a `transfer.queued` event per file;
3. DELETE of rule B: its locks released, its COPYING replicas tombstoned, its queued transfers cancelled;
4. DELETE of rule A: its locks released, the AVAILABLE replicas get LRU tombstones.
Rule A is deleted last so its replicas stay locked (no reaper work) while rule B is measured. Unless
`worker=True`, RSE B gets the attribute `max_transfers=0` (as admin) for the duration, so the transfer worker
claims none of rule B's transfers: the calls are measured alone. With the worker let loose, the files being
absent from storage, its transfers fail fast (SOURCE_MISSING), and on PostgreSQL the final failures (which
lock the rule row, then the locks) deadlocked with DELETE (which deletes the locks, then the rule row).
How many transfer events rule B got is reported either way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from catalog import Registration, register
from lakeproc import ROOT_PASSWORD, SCOPE, LakeProcess, MemoryPhase, RssSampler, login
from policy_lake import add_rule, client, delete_rule, event_kinds, say
from profiling import Profiler

from lake.client import LakeClient
from lake.core.errors import LakeError

REGISTER_BATCH = 5_000


@dataclass
class Call:
    """One timed API call on a rule with `locks` locks."""

    what: str
    locks: int
    seconds: float
    memory: MemoryPhase

    @property
    def rate(self) -> float:
        return self.locks / self.seconds if self.seconds else 0.0


@dataclass
class CreateResults:
    files: int
    registration: Registration | None = None
    calls: list[Call] = field(default_factory=list)
    worker_events: Counter[str] = field(default_factory=Counter)  # transfer.* events of rule B
    transfers_queued: int = 0
    errors: list[str] = field(default_factory=list)
    worker: bool = False  # whether the transfer worker could claim rule B's transfers meanwhile


def _delete(lake_client: LakeClient, rule_id: str, results: CreateResults) -> float:
    """DELETE the rule; a failed call is recorded and tried once more (the time of the try that worked)."""
    try:
        return delete_rule(lake_client, rule_id)
    except LakeError as exc:
        say(f"  DELETE /v1/rules/{rule_id} failed ({exc}); trying once more")
        results.errors.append(f"DELETE /v1/rules/{{id}} failed once: {exc.code}: {exc.message}")
        return delete_rule(lake_client, rule_id)


def _pause_transfers_to(lake: LakeProcess, rse: str, paused: bool) -> None:
    """Set (or remove) `max_transfers=0` on an RSE as admin: the transfer worker then claims nothing for it."""
    token = login(lake.url, "root", ROOT_PASSWORD)
    path = f"/v1/rses/{rse}/attributes/max_transfers"
    with httpx.Client(base_url=lake.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as admin:
        response = admin.put(path, json={"value": 0}) if paused else admin.delete(path)
        response.raise_for_status()


def run_create(lake: LakeProcess, workdir: Path, files: int, prof: Profiler, worker: bool = False) -> CreateResults:
    """Register `files` files, then create and delete rules on them (see the module docstring)."""
    results = CreateResults(files)
    dataset = f"rules-{files}"
    with prof.phase("create-register"):
        results.registration = register(lake, dataset, files, min(REGISTER_BATCH, files))
    say(f"registered {files:,} files for the rule benchmark: {results.registration.rate:,.0f} files/s")
    rse_b = lake.rses[1]
    results.worker = worker
    if not worker:
        _pause_transfers_to(lake, rse_b, paused=True)
    try:
        _rules(lake, workdir, dataset, prof, results)
    finally:
        if not worker:
            _pause_transfers_to(lake, rse_b, paused=False)
    return results


def _rules(lake: LakeProcess, workdir: Path, dataset: str, prof: Profiler, results: CreateResults) -> None:
    rse_a, rse_b = lake.rses[0], lake.rses[1]
    with client(lake, workdir) as lake_client:
        with RssSampler(lake.pid) as memory, prof.phase("create-rule-a"):
            rule_a, seconds = add_rule(lake_client, SCOPE, dataset, rse_a)
        results.calls.append(Call(f"POST /v1/rules on {rse_a} (data there: locks OK, no transfers)",
                                  rule_a.locks_ok_cnt + rule_a.locks_replicating_cnt, seconds, memory))  # fmt: skip
        say(f"  {results.calls[-1].what}: {seconds:.2f} s")
        with RssSampler(lake.pid) as memory, prof.phase("create-rule-b"):
            rule_b, seconds = add_rule(lake_client, SCOPE, dataset, rse_b)
        results.transfers_queued = rule_b.locks_replicating_cnt
        results.calls.append(Call(f"POST /v1/rules on {rse_b} (locks + COPYING replicas + QUEUED transfers)",
                                  rule_b.locks_ok_cnt + rule_b.locks_replicating_cnt, seconds, memory))  # fmt: skip
        say(f"  {results.calls[-1].what}: {seconds:.2f} s")
        for rule, label in ((rule_b, f"rule on {rse_b}: locks released, transfers cancelled"),
                            (rule_a, f"rule on {rse_a}: locks released, replicas tombstoned")):  # fmt: skip
            with RssSampler(lake.pid) as memory, prof.phase(f"delete-{rule.rse_expression}"):
                seconds = _delete(lake_client, rule.id, results)
            locks = rule.locks_ok_cnt + rule.locks_replicating_cnt
            results.calls.append(Call(f"DELETE /v1/rules/{{id}}, {label}", locks, seconds, memory))
            say(f"  {results.calls[-1].what}: {seconds:.2f} s")
    results.worker_events = event_kinds(lake, rule_b.id)
