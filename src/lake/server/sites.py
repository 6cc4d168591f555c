"""The embedded lake's built-in sites: four endpoints registered as RSEs with realistic attributes."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from sqlalchemy import Connection

from lake.core.errors import AlreadyExists, UnsupportedOperation
from lake.core.models import DistanceIn, ProtocolDomains, ProtocolIn, RSEIn
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import rses

ROOT = Caller(account="root", admin=True)


@dataclass(frozen=True)
class Site:
    rse: str
    site: str
    country: str
    city: str
    tier: int


SITES = (
    Site("CERN-DISK", "CERN", "CH", "Geneva", 0),
    Site("DESY-DISK", "DESY", "DE", "Hamburg", 1),
    Site("PIC-DISK", "PIC", "ES", "Barcelona", 1),
    Site("INFN-NA-DISK", "INFN-NA", "IT", "Naples", 2),
)


def site_list(count: int) -> list[Site]:
    """The first `count` built-in sites (extra ones, if asked for more than four, are numbered)."""
    extra = [Site(f"SITE{i}-DISK", f"SITE{i}", "EU", "Nowhere", 2) for i in range(len(SITES) + 1, count + 1)]
    return (list(SITES) + extra)[:count]


# Lake's own clients and daemons keep choosing plain http (priority 1); https (2) is there for clients that
# need it, such as rucio's WebDAV plugin. No third-party copy over https: the endpoints' TPC client would have
# to trust the lake's CA.
HTTPS_DOMAINS = ProtocolDomains(read=2, write=2, delete=2)


def register_site(conn: Connection, site: Site, host: str, port: int, tls_port: int | None = None) -> None:
    """Idempotent: the RSE, its attributes, its http protocol and, with `tls_port`, an https one (re-pointed
    if a port changed; a stale https protocol goes when `tls_port` is None)."""
    attributes = {
        "site": site.site,
        "country": site.country,
        "city": site.city,
        "tier": site.tier,
        "type": "DISK",
        "lfn2pfn_algorithm": "hash",
        "builtin": True,
    }
    with contextlib.suppress(AlreadyExists):
        rses.add_rse(conn, ROOT, RSEIn(name=site.rse, attributes=attributes))
    for scheme in ("http", "https"):
        with contextlib.suppress(UnsupportedOperation):
            rses.delete_protocol(conn, ROOT, site.rse, scheme)
    rses.add_protocol(conn, ROOT, site.rse, ProtocolIn(scheme="http", hostname=host, port=port, prefix="/"))
    if tls_port is not None:
        https = ProtocolIn(
            scheme="https", hostname=host, port=tls_port, prefix="/", lan=HTTPS_DOMAINS, wan=HTTPS_DOMAINS
        )
        rses.add_protocol(conn, ROOT, site.rse, https)


def distance_between(a: Site, b: Site) -> int:
    """Closer when in the same country, and tier-0/1 sites are well connected to each other."""
    if a.country == b.country:
        return 1
    return 2 if max(a.tier, b.tier) <= 1 else 3


def register_distances(conn: Connection, sites: list[Site]) -> None:
    for a in sites:
        for b in sites:
            if a != b:
                rses.set_distance(
                    conn, ROOT, DistanceIn(source=a.rse, destination=b.rse, distance=distance_between(a, b))
                )
