"""How a file gets from a source RSE to a destination: a third-party copy, streaming, or a hop.

Modes (stored in `transfers.mode`):
- `root-tpc`: XRootD third-party copy. Both ends speak root/roots, the source offers the protocol for
  `third_party_copy_read` and the destination for `third_party_copy_write`; the destination pulls.
- `http-pull`: WLCG HTTP-TPC pull. Both ends speak HTTP/WebDAV with the same two operations; Lake sends
  `COPY` with `Source:` to the destination, which GETs the source.
- `http-push`: WLCG HTTP-TPC push, for a destination that cannot pull (no HTTP protocol with
  `third_party_copy_write`) but accepts plain writes, from a source that declares it can push: its HTTP
  protocol has `third_party_copy_read` and `extended_attributes {"tpc_push": true}` (XRootD does; Lake's
  built-in endpoint does not, so it is never asked to push). Lake sends `COPY` with `Destination:` to the
  source, which PUTs to the destination.
- `stream`: the worker reads the source and writes the destination itself, only when no TPC pair exists.

Ranking, as Rucio's `find_matching_scheme`: every (source protocol, destination protocol) pair that
supports a mode is a candidate; the lowest destination priority wins (the operation used there:
`third_party_copy_write`, or `write` for push), then the lowest source priority (`third_party_copy_read`),
then the mode order above (pull before root TPC: on loopback HTTP-TPC costs ~50 ms against root TPC's
~2.5 s fixed overhead), then the scheme names for a stable order. A priority of None means the protocol is
not offered for that operation, which is how an RSE rules a mode out (e.g. `third_party_copy_write` None
on its root protocol: no root TPC into it). With no TPC pair the worker streams when it has a backend for
both schemes; with neither, a hop through an RSE marked `available_for_multihop` may
bridge the gap.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from lake.core.models import ProtocolOut, RSEOut
from lake.logic.catalog.replicas import RSEAccess
from lake.logic.transfers.sources import Source, Topology
from lake.storage.registry import registered_schemes

HTTP_SCHEMES = frozenset({"http", "https", "dav", "davs"})
ROOT_SCHEMES = frozenset({"root", "roots"})
ROOT_TPC = "root-tpc"
HTTP_PULL = "http-pull"
HTTP_PUSH = "http-push"
STREAM = "stream"
TPC_MODES = (HTTP_PULL, ROOT_TPC, HTTP_PUSH)  # the tie-break order among equally ranked pairs
PUSH_ATTRIBUTE = "tpc_push"
MULTIHOP_ATTRIBUTE = "available_for_multihop"


@dataclass(frozen=True)
class Route:
    """A direct way to copy: the mode (`root-tpc`, `http-pull`, `http-push`, `stream`) and the protocol
    chosen at each end."""

    mode: str
    source: RSEAccess
    dest: RSEAccess

    @property
    def third_party(self) -> bool:
        """Whether the bytes go storage to storage, never through the worker."""
        return self.mode != STREAM


@dataclass(frozen=True)
class Candidate:
    """One (source protocol, destination protocol) pair able to run a mode, with its rank."""

    mode: str
    source: ProtocolOut
    dest: ProtocolOut
    rank: tuple[int, int, int, str, str]


def _offered(rse: RSEOut, operation: str, schemes: frozenset[str]) -> Iterator[tuple[int, ProtocolOut]]:
    """(priority, protocol) for every wan protocol of the given schemes offered for the operation."""
    for protocol in rse.protocols:
        priority = getattr(protocol.wan, operation)
        if protocol.scheme in schemes and priority is not None:
            yield priority, protocol


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def can_push(protocol: ProtocolOut) -> bool:
    """Whether the storage behind this HTTP protocol declares HTTP-TPC push (COPY with Destination:)."""
    return _truthy((protocol.extended_attributes or {}).get(PUSH_ATTRIBUTE))


def _pairs(mode: str, source: RSEOut, dest: RSEOut) -> Iterator[Candidate]:
    """The candidates of one TPC mode between two RSEs."""
    schemes = ROOT_SCHEMES if mode == ROOT_TPC else HTTP_SCHEMES
    dest_operation = "write" if mode == HTTP_PUSH else "third_party_copy_write"
    order = TPC_MODES.index(mode)
    for src_priority, src in _offered(source, "third_party_copy_read", schemes):
        if mode == HTTP_PUSH and not can_push(src):
            continue
        for dst_priority, dst in _offered(dest, dest_operation, schemes):
            yield Candidate(mode, src, dst, (dst_priority, src_priority, order, src.scheme, dst.scheme))


def tpc_candidates(source: RSEOut, dest: RSEOut) -> list[Candidate]:
    """Every third-party pair between two RSEs, best first; push only if the destination cannot pull."""
    can_pull = any(_offered(dest, "third_party_copy_write", HTTP_SCHEMES))
    modes = [m for m in TPC_MODES if m != HTTP_PUSH or not can_pull]
    return sorted((c for mode in modes for c in _pairs(mode, source, dest)), key=lambda c: c.rank)


def _best(rse: RSEOut, operation: str, schemes: frozenset[str]) -> ProtocolOut | None:
    """The preferred wan protocol for an operation among the given schemes (lowest priority wins)."""
    ranked = [(priority, p.scheme, p) for priority, p in _offered(rse, operation, schemes)]
    return min(ranked, key=lambda item: (item[0], item[1]))[2] if ranked else None


def direct_route(source: RSEOut, dest: RSEOut) -> Route | None:
    """The best-ranked third-party copy, else streaming when the worker speaks both schemes, else None."""
    candidates = tpc_candidates(source, dest)
    if candidates:
        best = candidates[0]
        return Route(best.mode, RSEAccess(source, best.source), RSEAccess(dest, best.dest))
    known = frozenset(registered_schemes())
    read, write = _best(source, "read", known), _best(dest, "write", known)
    if read and write:
        return Route(STREAM, RSEAccess(source, read), RSEAccess(dest, write))
    return None


def intermediates(topology: Topology, dest: RSEOut) -> list[RSEOut]:
    """RSEs that may hold a file for a hop: marked for multihop, readable and writable, not the destination."""
    return [
        rse
        for rse in topology.rses.values()
        if _truthy(rse.attributes.get(MULTIHOP_ATTRIBUTE))
        and rse.availability_read
        and rse.availability_write
        and rse.id != dest.id
    ]


def hop_via(
    sources: Sequence[Source], dest: RSEOut, topology: Topology, excluded: frozenset[str] = frozenset()
) -> tuple[Source, RSEOut] | None:
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
