"""The token a Rucio client logs in with (`/rucio/auth/userpass`): one token for the API and every storage.

Rucio's upload and download clients present the API token (when it is a JWT) as the storage bearer token,
so this token also names every RSE protocol origin as an audience and carries `storage.read` on the protocol
prefixes and `storage.create` on the directories of the scopes the account owns (everything for
administrators): the same rights Lake's own upload and download plans grant path by path.
"""

from __future__ import annotations

from sqlalchemy import Connection

from lake.core.lfn2pfn import normalize_prefix, scope_directory
from lake.core.scopes import API_SCOPE, StorageOp, storage_scope
from lake.logic.auth.issuer import TokenIssuer, storage_audience
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import rses, scopes


def storage_rights(conn: Connection, caller: Caller) -> tuple[list[str], list[str]]:
    """(audiences, scopes) of every RSE protocol: read under each prefix, create in the caller's scopes."""
    owned = [] if caller.admin else [s.name for s in scopes.list_scopes(conn, caller.account)]
    audiences: set[str] = set()
    granted: set[str] = set()
    for rse in rses.list_rses(conn):
        for p in rse.protocols:
            audiences.add(storage_audience(f"{p.scheme}://{p.hostname}:{p.port}"))
            prefix = normalize_prefix(p.prefix)
            granted.add(storage_scope(StorageOp.READ, prefix.rstrip("/") or "/"))
            if caller.admin:
                granted.add(storage_scope(StorageOp.CREATE, prefix.rstrip("/") or "/"))
            granted.update(storage_scope(StorageOp.CREATE, prefix + scope_directory(s)) for s in owned)
    return sorted(audiences), sorted(granted)


def rucio_session_token(conn: Connection, issuer: TokenIssuer, caller: Caller) -> str:
    """The API scope and audience plus the storage rights above, for the issuer's API token lifetime."""
    audiences, granted = storage_rights(conn, caller)
    return issuer.keystore.mint(
        issuer.issuer, caller.account, [issuer.api_audience, *audiences], [API_SCOPE, *granted], issuer.lifetime
    )
