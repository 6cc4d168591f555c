"""Choosing RSEs for a rule: where data already is first, then weighted random, within quota."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from lake.core.errors import InsufficientTargetRSEs, InvalidInput, QuotaExceeded
from lake.core.models import DIDRef
from lake.core.replication import Grouping
from lake.db import schema as t
from lake.db.rules import RuleRow
from lake.logic.catalog import rses
from lake.logic.rules.files import RuleFile, file_groups
from lake.logic.rules.locks import Placement
from lake.logic.rules.quotas import Quota

PRESENT_LOOKUP_MAX = 2000  # larger groups skip the "data already there" lookup


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    weight: float


@dataclass(frozen=True)
class Decision:
    """The RSEs chosen for one group of files."""

    files: list[RuleFile]
    targets: list[Target]


def candidate_targets(conn: Connection, expression: str, weight: str | None) -> list[Target]:
    """RSEs matching the expression that accept writes, each with its weight (1 without a weight attribute).

    Volatile RSEs (caches) are never targets: a cache may drop a copy at any time, so it cannot hold a lock."""
    names = rses.resolve_expression(conn, expression)
    targets = []
    for rse in rses.list_rses(conn):
        if rse.name not in names or not rse.availability_write or rse.volatile:
            continue
        value = rse.attributes.get(weight, 0) if weight else 1
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"weight attribute '{weight}' of {rse.name} is not a number: {value!r}") from exc
        if number > 0:
            targets.append(Target(rse.id, rse.name, number))
    return targets


def choose(
    targets: Sequence[Target], copies: int, present_bytes: Mapping[str, int], rng: random.Random, expression: str
) -> list[Target]:
    """`copies` distinct targets: those holding the most bytes already, the rest by weighted random draw."""
    if len(targets) < copies:
        raise InsufficientTargetRSEs(
            f"'{expression}' gives {len(targets)} RSE(s) available for writing, the rule needs {copies}"
        )
    chosen = sorted((t for t in targets if present_bytes.get(t.id)), key=lambda t: -present_bytes[t.id])[:copies]
    pool = [t for t in targets if t not in chosen]
    while len(chosen) < copies:
        pick = rng.choices(pool, weights=[t.weight for t in pool])[0]
        chosen.append(pick)
        pool.remove(pick)
    return chosen


def decide(
    conn: Connection, rule: RuleRow, ref: DIDRef, targets: list[Target], quota: Quota | None, rng: random.Random
) -> list[Decision]:
    """Choose RSEs per file group (preferring where data already is), charging the quota; writes nothing."""
    decisions = []
    for group in file_groups(conn, ref, Grouping(rule.grouping)):
        present = _present_bytes(conn, group, targets)
        size = sum(f.bytes for f in group)
        allowed = [x for x in targets if quota is None or quota.fits(x.id, size)]
        if quota is not None and len(allowed) < rule.copies:
            blocked = next(x for x in targets if x not in allowed)
            raise QuotaExceeded(
                f"account '{rule.account}' cannot place {size} more bytes on {blocked.name}: "
                f"{quota.blocking(blocked.id, size)}"
            )
        chosen = choose(allowed, rule.copies, present, rng, rule.rse_expression)
        if quota is not None:
            for target in chosen:
                quota.charge(target.id, size)
        decisions.append(Decision(group, chosen))
    return decisions


def placements(decisions: Sequence[Decision]) -> Iterator[Placement]:
    """Every file of each decision on each of its RSEs, one at a time: a 100,000-file rule's placements are
    never all in memory (`add_locks` consumes them in chunks)."""
    for decision in decisions:
        for target in decision.targets:
            for f in decision.files:
                yield Placement(f, target.id)


def _present_bytes(conn: Connection, group: list[RuleFile], targets: list[Target]) -> dict[str, int]:
    """Bytes of the group already AVAILABLE on each target (data already in place wins)."""
    r = t.replicas.c
    wanted = {(f.scope, f.name): f.bytes for f in group}
    present: dict[str, int] = {}
    if len(group) > PRESENT_LOOKUP_MAX:
        return present
    query = select(r.rse_id, r.scope, r.name).where(
        r.rse_id.in_([x.id for x in targets]), r.state == "AVAILABLE", r.name.in_([f.name for f in group])
    )
    for rse_id, scope, name in conn.execute(query):
        if (scope, name) in wanted:
            present[rse_id] = present.get(rse_id, 0) + wanted[(scope, name)]
    return present
