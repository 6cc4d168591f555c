"""The embedded lake's cache: a Lake-native read-through cache at the second site, in front of the first
site's endpoint, registered as a volatile RSE (`site=<second site>`, `cache_for=<first RSE>`).

It listens on the port after the endpoints (`endpoint_base_port + endpoint_count`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from sqlalchemy import Connection

from lake.core.errors import AlreadyExists, UnsupportedOperation
from lake.core.models import ProtocolDomains, ProtocolIn, RSEIn
from lake.core.settings import CacheSettings, EndpointSettings, ServerSettings
from lake.logic.catalog import rses
from lake.server.sites import ROOT, Site

# Clients read through it; nothing writes to a cache or copies from it.
READ_ONLY = ProtocolDomains(read=1)


@dataclass(frozen=True)
class BuiltinCache:
    rse: str
    site: str
    origin_rse: str
    settings: CacheSettings


def builtin_cache(settings: ServerSettings, endpoints: list[tuple[Site, EndpointSettings]]) -> BuiltinCache | None:
    """The cache `lake up` runs, or None (disabled, or no endpoint to front)."""
    if not settings.cache or not endpoints:
        return None
    origin_site, origin = endpoints[0]
    site = endpoints[1][0] if len(endpoints) > 1 else origin_site
    cache = CacheSettings(
        root=settings.data_dir / "cache" / f"{site.site}-CACHE",
        origin_url=origin.origin(),
        max_bytes=settings.cache_max_bytes,
        host=settings.host,
        port=settings.endpoint_base_port + settings.endpoint_count,
        issuer=settings.issuer,
    )
    return BuiltinCache(rse=f"{site.site}-CACHE", site=site.site, origin_rse=origin_site.rse, settings=cache)


def register_cache(conn: Connection, cache: BuiltinCache) -> None:
    """Idempotent: the volatile RSE with its site, the RSE it fronts, and its http read protocol."""
    attributes = {"site": cache.site, "cache_for": cache.origin_rse, "type": "CACHE", "builtin": True}
    with contextlib.suppress(AlreadyExists):
        rses.add_rse(conn, ROOT, RSEIn(name=cache.rse, volatile=True, attributes=attributes))
    with contextlib.suppress(UnsupportedOperation):
        rses.delete_protocol(conn, ROOT, cache.rse, "http")
    http = ProtocolIn(
        scheme="http",
        hostname=cache.settings.host,
        port=cache.settings.port,
        prefix="/",
        lan=READ_ONLY,
        wan=READ_ONLY,
    )
    rses.add_protocol(conn, ROOT, cache.rse, http)
