"""Which caches serve a client's site, and the URL of a file through a cache.

A cache is a volatile RSE with attribute `site=<site>`; attribute `cache_for` (an RSE expression) names the
origins it fronts, else it fronts every non-volatile RSE. A cache proxies its origin's namespace (XCache,
the Lake-native cache), so the URL through it is the cache's base URL with the origin replica's path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Connection

from lake.core.errors import UnsupportedOperation
from lake.core.lfn2pfn import normalize_prefix
from lake.core.models import RSEOut
from lake.logic.catalog import rses

SITE = "site"
CACHE_FOR = "cache_for"
NO_PRIORITY = 99


@dataclass(frozen=True)
class CacheRoute:
    """One cache of a site, with the read protocol clients use and the origins it fronts (None: all)."""

    rse: RSEOut
    scheme: str
    netloc: str
    prefix: str
    origins: frozenset[str] | None

    def serves(self, origin: RSEOut) -> bool:
        return not origin.volatile and (self.origins is None or origin.name in self.origins)

    def url(self, origin_pfn: str) -> str:
        """The origin replica's path through this cache (the cache's prefix, if any, goes in front)."""
        return f"{self.scheme}://{self.netloc}{self.prefix}{urlsplit(origin_pfn).path}"

    @property
    def audience(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def _route(conn: Connection, rse: RSEOut) -> CacheRoute | None:
    try:
        protocol = rses.best_protocol(rse, "read")
    except UnsupportedOperation:
        return None
    expression = rse.attributes.get(CACHE_FOR)
    origins = frozenset(rses.resolve_expression(conn, str(expression))) if expression else None
    return CacheRoute(
        rse=rse,
        scheme=protocol.scheme,
        netloc=f"{protocol.hostname}:{protocol.port}",
        prefix=normalize_prefix(protocol.prefix).rstrip("/"),
        origins=origins,
    )


def is_cache_of(rse: RSEOut, site: str) -> bool:
    return rse.volatile and rse.availability_read and str(rse.attributes.get(SITE)) == site


def site_caches(conn: Connection, site: str | None, all_rses: Iterable[RSEOut] | None = None) -> list[CacheRoute]:
    """The readable caches of `site`, best read protocol priority first (none without a site)."""
    if not site:
        return []
    candidates = all_rses if all_rses is not None else rses.list_rses(conn)
    routes = [route for rse in candidates if is_cache_of(rse, site) and (route := _route(conn, rse))]
    return sorted(routes, key=lambda r: (_priority(r.rse, r.scheme), r.rse.name))


def _priority(rse: RSEOut, scheme: str) -> int:
    values = [p.wan.read for p in rse.protocols if p.scheme == scheme and p.wan.read is not None]
    return min(values, default=NO_PRIORITY)
