"""Choosing RSEs for a rule: where data already is first, then weighted random, within quota."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from lake.core.errors import InsufficientTargetRSEs, InvalidInput
from lake.logic.catalog import rses


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    weight: float


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


def choose(targets: Sequence[Target], copies: int, present_bytes: Mapping[str, int], rng: random.Random,
           expression: str) -> list[Target]:  # fmt: skip
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
