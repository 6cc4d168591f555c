"""Route choice between two RSEs: protocol priorities rank (source, destination) pairs; push and streaming
only where their rule allows."""

from __future__ import annotations

from typing import Any

from lake.core.models import ProtocolDomains, ProtocolOut, RSEOut, RSEType
from lake.logic.transfers.paths import HTTP_PULL, HTTP_PUSH, ROOT_TPC, STREAM, direct_route, tpc_candidates

PLAIN = ProtocolDomains(read=1, write=1, delete=1)


def protocol(scheme: str, port: int, push: bool = False, **wan: int | None) -> ProtocolOut:
    """A protocol offering read/write/delete at 1 plus the given wan priorities (None = not offered)."""
    domains = ProtocolDomains(**PLAIN.model_dump() | wan)
    extended = {"tpc_push": True} if push else None
    return ProtocolOut(scheme=scheme, hostname="127.0.0.1", port=port, prefix="/", lan=PLAIN, wan=domains,
                       extended_attributes=extended)  # fmt: skip


def rse(name: str, *protocols: ProtocolOut) -> RSEOut:
    return RSEOut(id=name.lower(), name=name, rse_type=RSEType.DISK, deterministic=True, volatile=False,
                  availability_read=True, availability_write=True, availability_delete=True,
                  protocols=list(protocols))  # fmt: skip


def xrootd(name: str, root: int = 1, https: int = 2, push: bool = True, **root_wan: int | None) -> RSEOut:
    """An XRootD RSE: root:// and https with both TPC directions at the given priorities (`root_wan`
    overrides the root protocol's)."""
    tpc: dict[str, Any] = {"third_party_copy_read": root, "third_party_copy_write": root}
    return rse(
        name,
        protocol("root", 1094, **(tpc | root_wan)),
        protocol("https", 8443, push=push, third_party_copy_read=https, third_party_copy_write=https),
    )


def builtin(name: str, **wan: int | None) -> RSEOut:
    """Lake's built-in endpoint: http with pull TPC, no push."""
    return rse(name, protocol("http", 8000, **({"third_party_copy_read": 1, "third_party_copy_write": 1} | wan)))


def chosen(source: RSEOut, dest: RSEOut) -> tuple[str, str, str] | None:
    route = direct_route(source, dest)
    return (route.mode, route.source.protocol.scheme, route.dest.protocol.scheme) if route else None


def test_root_tpc_wins_when_root_has_the_better_priority_at_both_ends():
    assert chosen(xrootd("A"), xrootd("B")) == (ROOT_TPC, "root", "root")


def test_https_pull_wins_when_https_has_the_better_priority():
    assert chosen(xrootd("A", root=2, https=1), xrootd("B", root=2, https=1)) == (HTTP_PULL, "https", "https")


def test_destination_priority_decides_before_source_priority():
    source = xrootd("A", root=1, https=2)
    dest = xrootd("B", root=3, https=1)
    assert chosen(source, dest) == (HTTP_PULL, "https", "https")


def test_equal_ranks_prefer_http_pull_over_root_tpc():
    assert chosen(xrootd("A", root=1, https=1), xrootd("B", root=1, https=1)) == (HTTP_PULL, "https", "https")


def test_source_without_root_tpc_read_makes_http_tpc_the_choice():
    """How a token-protected XRootD (whose root TPC cannot work in 5.5.3) is expressed: no root tpc read."""
    source = xrootd("T", third_party_copy_read=None)
    assert chosen(source, xrootd("B")) == (HTTP_PULL, "https", "https")


def test_xrootd_to_builtin_endpoint_is_pulled_by_the_endpoint():
    assert chosen(xrootd("A"), builtin("LAKE")) == (HTTP_PULL, "https", "http")


def test_builtin_endpoint_to_xrootd_is_pulled_by_xrootd():
    assert chosen(builtin("LAKE"), xrootd("A")) == (HTTP_PULL, "http", "https")


def test_destination_that_cannot_pull_gets_a_push_from_a_source_that_can():
    dest = builtin("LAKE", third_party_copy_write=None)
    assert chosen(xrootd("A"), dest) == (HTTP_PUSH, "https", "http")


def test_push_is_never_used_when_the_destination_can_pull():
    modes = {c.mode for c in tpc_candidates(xrootd("A"), xrootd("B"))}
    assert modes == {ROOT_TPC, HTTP_PULL}


def test_source_that_does_not_declare_push_is_streamed_from_instead():
    dest = builtin("LAKE", third_party_copy_write=None)
    assert chosen(xrootd("A", push=False), dest)[::2] == (STREAM, "http")
    assert chosen(builtin("OTHER"), dest) == (STREAM, "http", "http")


def test_streaming_uses_the_best_read_and_write_protocols_without_any_tpc():
    source = builtin("A", third_party_copy_read=None)
    assert chosen(source, builtin("B")) == (STREAM, "http", "http")


def test_no_route_when_nothing_can_read_the_source():
    source = builtin("A", read=None)
    dest = builtin("B", third_party_copy_write=None)
    assert chosen(source, dest) is None


def test_candidates_are_ranked_destination_priority_first():
    ranks = [(c.mode, c.rank[:2]) for c in tpc_candidates(xrootd("A", root=2, https=1), xrootd("B", root=1, https=3))]
    assert ranks == [(ROOT_TPC, (1, 2)), (HTTP_PULL, (3, 1))]
