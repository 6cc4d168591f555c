"""How a file gets from a source RSE to a destination: HTTP-TPC, streaming through the worker, or a hop.

Third-party copy (pull) needs a destination protocol with `third_party_copy_write` and a source protocol
with `third_party_copy_read`, both HTTP/WebDAV, since the destination GETs the source itself. Otherwise the
worker streams (source read -> destination write) when it has a backend for both schemes. With neither, a
hop through an RSE marked `available_for_multihop` may bridge the gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lake.core.models import ProtocolOut, RSEOut
from lake.logic.catalog.replicas import RSEAccess
from lake.logic.transfers.sources import Source, Topology
from lake.storage.registry import registered_schemes

HTTP_SCHEMES = frozenset({"http", "https", "dav", "davs"})
TPC = "tpc"
STREAM = "stream"
MULTIHOP_ATTRIBUTE = "available_for_multihop"


@dataclass(frozen=True)
class Route:
    """A direct way to copy: the mode and the protocol chosen at each end."""

    mode: str
    source: RSEAccess
    dest: RSEAccess


def _best(rse: RSEOut, operation: str, schemes: frozenset[str]) -> ProtocolOut | None:
    """The preferred wan protocol for an operation among the given schemes (lowest priority wins)."""
    ranked = [
        (priority, p.scheme, p)
        for p in rse.protocols
        if p.scheme in schemes and (priority := getattr(p.wan, operation)) is not None
    ]
    return min(ranked, key=lambda item: (item[0], item[1]))[2] if ranked else None


def direct_route(source: RSEOut, dest: RSEOut) -> Route | None:
    """TPC when both ends allow it over HTTP, else streaming when the worker speaks both schemes, else None."""
    pull_from = _best(source, "third_party_copy_read", HTTP_SCHEMES)
    pull_to = _best(dest, "third_party_copy_write", HTTP_SCHEMES)
    if pull_from and pull_to:
        return Route(TPC, RSEAccess(source, pull_from), RSEAccess(dest, pull_to))
    known = frozenset(registered_schemes())
    read, write = _best(source, "read", known), _best(dest, "write", known)
    if read and write:
        return Route(STREAM, RSEAccess(source, read), RSEAccess(dest, write))
    return None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def intermediates(topology: Topology, dest: RSEOut) -> list[RSEOut]:
    """RSEs that may hold a file for a hop: marked for multihop, readable and writable, not the destination."""
    return [
        rse
        for rse in topology.rses.values()
        if _truthy(rse.attributes.get(MULTIHOP_ATTRIBUTE)) and rse.availability_read and rse.availability_write
        and rse.id != dest.id
    ]  # fmt: skip


def hop_via(sources: Sequence[Source], dest: RSEOut, topology: Topology,
            excluded: frozenset[str] = frozenset()) -> tuple[Source, RSEOut] | None:  # fmt: skip
    """The cheapest (source, intermediate) with direct routes source -> intermediate -> destination."""
    best: tuple[int, str, Source, RSEOut] | None = None
    for inter in intermediates(topology, dest):
        if inter.id in excluded or direct_route(inter, dest) is None:
            continue
        for source in sources:
            if source.rse.id == inter.id or direct_route(source.rse, inter) is None:
                continue
            cost = topology.distance(source.rse.id, inter.id) + topology.distance(inter.id, dest.id)
            if best is None or (cost, inter.name) < best[:2]:
                best = (cost, inter.name, source, inter)
    return (best[2], best[3]) if best else None
