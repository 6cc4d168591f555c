"""DIDs: files, datasets and containers; creation, lookup, open/closed status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lake.core.clock import utcnow
from lake.core.errors import DIDNotFound, DuplicateDID, InvalidInput, PermissionDenied
from lake.core.models import DIDIn, DIDOut, DIDRef, DIDType
from lake.core.names import validate_did_name, validate_scope
from lake.db import schema as t
from lake.logic.auth.permissions import Caller, require_scope_writer
from lake.logic.catalog import meta


def did_out(row: Any, metadata: dict[str, Any] | None = None) -> DIDOut:
    return DIDOut(
        scope=row.scope,
        name=row.name,
        type=DIDType(row.did_type),
        account=row.account,
        is_open=row.is_open,
        bytes=row.bytes,
        length=row.length,
        adler32=row.adler32,
        md5=row.md5,
        expired_at=row.expired_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        meta=metadata,
    )


def add_collection(conn: Connection, caller: Caller, did: DIDIn) -> DIDOut:
    """Create a dataset or container (open, empty); files are registered with their replicas instead."""
    if did.type == DIDType.FILE:
        raise InvalidInput("files are registered with their replicas: use an upload or replicas/register")
    validate_scope(did.scope)
    validate_did_name(did.name)
    require_scope_writer(conn, caller, did.scope)
    ensure_new_names(conn, did.scope, [did.name])
    if did.lifetime is not None and did.lifetime <= 0:
        raise InvalidInput("lifetime must be a positive number of seconds")
    now = utcnow()
    expired_at = now + timedelta(seconds=did.lifetime) if did.lifetime else None
    conn.execute(
        insert(t.dids).values(
            scope=did.scope,
            name=did.name,
            did_type=did.type.value,
            account=caller.account,
            is_open=True,
            monotonic=False,
            bytes=0,
            length=0,
            availability="AVAILABLE",
            expired_at=expired_at,
            created_at=now,
            updated_at=now,
        )
    )
    if did.meta:
        meta.set_meta(conn, did.scope, did.name, did.meta)
    return get_did(conn, did.scope, did.name, with_meta=bool(did.meta))


def ensure_new_names(conn: Connection, scope: str, names: list[str]) -> None:
    """A name used once, even if deleted since, can never be reused (DuplicateDID)."""
    for table in (t.dids, t.deleted_dids):
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            taken = conn.execute(
                select(table.c.name).where(table.c.scope == scope, table.c.name.in_(chunk)).limit(1)
            ).scalar()
            if taken is not None:
                raise DuplicateDID(f"DID '{scope}:{taken}' already exists (names are never reused)")


def get_row(conn: Connection, scope: str, name: str) -> Any:
    row = conn.execute(select(t.dids).where(t.dids.c.scope == scope, t.dids.c.name == name)).first()
    if row is None:
        raise DIDNotFound(f"DID '{scope}:{name}' does not exist")
    return row


def get_did(conn: Connection, scope: str, name: str, with_meta: bool = False) -> DIDOut:
    row = get_row(conn, scope, name)
    return did_out(row, meta.get_meta(conn, scope, name) if with_meta else None)


def set_status(conn: Connection, caller: Caller, ref: DIDRef, is_open: bool) -> DIDOut:
    """Close a collection (content frozen) or, for admins only, reopen it."""
    row = get_row(conn, ref.scope, ref.name)
    if row.did_type == DIDType.FILE.value:
        raise InvalidInput(f"'{ref.scope}:{ref.name}' is a file; only datasets and containers have a status")
    require_scope_writer(conn, caller, ref.scope)
    if is_open and not row.is_open and not caller.admin:
        raise PermissionDenied("only an administrator may reopen a closed collection")
    now = utcnow()
    conn.execute(
        update(t.dids)
        .where(t.dids.c.scope == ref.scope, t.dids.c.name == ref.name)
        .values(is_open=is_open, closed_at=None if is_open else now, updated_at=now)
    )
    return get_did(conn, ref.scope, ref.name)


def set_did_meta(conn: Connection, caller: Caller, did: DIDRef, values: dict[str, Any]) -> None:
    """Set metadata of an existing DID (DIDNotFound first); only its scope's owner or an admin may."""
    get_row(conn, did.scope, did.name)
    require_scope_writer(conn, caller, did.scope)
    meta.set_meta(conn, did.scope, did.name, values)
