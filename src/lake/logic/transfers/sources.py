"""Source ranking: which AVAILABLE replicas a transfer copies from, best first.

Sources must sit on RSEs available for reading and not volatile (a cache's copy may vanish any time), match
the transfer's source-replica expression, and not be the destination. They are ranked by: failed before for
this transfer (last), distance (unknown = far), protocol priority, then name for a stable order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from lake.core.models import ReplicaState, RSEOut
from lake.db import schema as t
from lake.db.bulk import key_conditions
from lake.logic.catalog import rses
from lake.logic.transfers.failures import tried_sources

UNKNOWN_DISTANCE = 1000
NO_PRIORITY = 1000
READ_OPERATIONS = ("third_party_copy_read", "read")


@dataclass(frozen=True)
class Topology:
    """Every live RSE and the distances between them, loaded once per iteration (small and read often)."""

    rses: dict[str, RSEOut]
    distances: dict[tuple[str, str], int]

    @classmethod
    def load(cls, conn: Connection) -> Topology:
        by_id = {rse.id: rse for rse in rses.list_rses(conn)}
        ids = {rse.name: rse.id for rse in by_id.values()}
        distances = {
            (ids[d.source], ids[d.destination]): d.distance
            for d in rses.list_distances(conn)
            if d.source in ids and d.destination in ids
        }
        return cls(by_id, distances)

    def distance(self, source_id: str, dest_id: str) -> int:
        return self.distances.get((source_id, dest_id), UNKNOWN_DISTANCE)

    def name(self, rse_id: str | None) -> str | None:
        rse = self.rses.get(rse_id or "")
        return rse.name if rse else rse_id


@dataclass(frozen=True)
class Source:
    """A replica to copy from; `path` is its stored path on non-deterministic RSEs."""

    rse: RSEOut
    path: str | None


def available_replicas(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[Any]]:
    """(scope, name) -> its AVAILABLE replica rows (rse_id, path), for many files in a few queries."""
    r = t.replicas.c
    found: dict[tuple[str, str], list[Any]] = {}
    for where in key_conditions(conn, (r.scope, r.name), sorted(set(keys))):
        query = select(r.scope, r.name, r.rse_id, r.path).where(where, r.state == ReplicaState.AVAILABLE.value)
        for row in conn.execute(query):
            found.setdefault((row.scope, row.name), []).append(row)
    return found


def _read_priority(rse: RSEOut) -> int:
    """The best (lowest) wan read or TPC-read priority the RSE offers."""
    values = [getattr(p.wan, op) for p in rse.protocols for op in READ_OPERATIONS]
    return min((v for v in values if v is not None), default=NO_PRIORITY)


class SourceRanker:
    """Ranks sources for many transfers of one iteration, resolving each source expression once."""

    def __init__(self, conn: Connection, topology: Topology) -> None:
        self.conn = conn
        self.topology = topology
        self._expressions: dict[str, set[str]] = {}

    def _allowed(self, expression: str | None) -> set[str] | None:
        if not expression:
            return None
        if expression not in self._expressions:
            self._expressions[expression] = rses.resolve_expression(self.conn, expression)
        return self._expressions[expression]

    def rank(self, transfer: Any, replicas: Sequence[Any]) -> list[Source]:
        """Usable sources of `transfer` among its AVAILABLE `replicas`, best first."""
        allowed = self._allowed(transfer.source_replica_expression)
        tried = set(tried_sources(transfer.error))
        sources = []
        for replica in replicas:
            rse = self.topology.rses.get(replica.rse_id)
            if rse is None or rse.volatile or rse.id == transfer.dest_rse_id or not rse.availability_read:
                continue
            if allowed is None or rse.name in allowed:
                sources.append(Source(rse, replica.path))
        distance = self.topology.distance
        return sorted(
            sources,
            key=lambda s: (
                s.rse.name in tried,
                distance(s.rse.id, transfer.dest_rse_id),
                _read_priority(s.rse),
                s.rse.name,
            ),
        )
