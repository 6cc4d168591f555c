"""RSEs: storage endpoints with attributes, availability, protocols and distances."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lake.core import rse_expression
from lake.core.clock import utcnow
from lake.core.errors import AlreadyExists, InvalidInput, RSENotFound, UnsupportedOperation
from lake.core.models import (
    DistanceIn,
    DistanceOut,
    ProtocolDomains,
    ProtocolIn,
    ProtocolOut,
    RSEIn,
    RSEOut,
    RSEType,
    RSEUpdate,
)
from lake.core.names import validate_attribute_key, validate_rse_name
from lake.db import schema as t
from lake.logic.auth.permissions import Caller, require_admin

OPERATIONS = ("read", "write", "delete", "third_party_copy_read", "third_party_copy_write")


def add_rse(conn: Connection, caller: Caller, rse: RSEIn) -> RSEOut:
    require_admin(caller)
    validate_rse_name(rse.name)
    if conn.execute(select(t.rses.c.id).where(t.rses.c.name == rse.name)).first():
        raise AlreadyExists(f"RSE '{rse.name}' already exists")
    rse_id = uuid.uuid4().hex
    conn.execute(
        insert(t.rses).values(
            id=rse_id,
            name=rse.name,
            rse_type=rse.rse_type.value,
            deterministic=rse.deterministic,
            volatile=rse.volatile,
            availability_read=True,
            availability_write=True,
            availability_delete=True,
            deleted=False,
            created_at=utcnow(),
        )
    )
    attributes = {rse.name: True, **rse.attributes}
    for key in attributes:
        validate_attribute_key(key)
    conn.execute(insert(t.rse_attrs), [{"rse_id": rse_id, "key": k, "value": v} for k, v in attributes.items()])
    return get_rse(conn, rse.name)


def rse_id(conn: Connection, name: str) -> str:
    found = conn.execute(select(t.rses.c.id).where(t.rses.c.name == name, t.rses.c.deleted.is_(False))).scalar()
    if found is None:
        raise RSENotFound(f"RSE '{name}' does not exist")
    return str(found)


def get_rse(conn: Connection, name: str) -> RSEOut:
    row = conn.execute(select(t.rses).where(t.rses.c.name == name, t.rses.c.deleted.is_(False))).first()
    if row is None:
        raise RSENotFound(f"RSE '{name}' does not exist")
    return _rse_out(conn, row)


def _rse_out(conn: Connection, row: Any) -> RSEOut:
    attrs = {r.key: r.value for r in conn.execute(select(t.rse_attrs).where(t.rse_attrs.c.rse_id == row.id))}
    protocols = [
        _protocol_out(p) for p in conn.execute(select(t.rse_protocols).where(t.rse_protocols.c.rse_id == row.id))
    ]
    return RSEOut(
        id=row.id,
        name=row.name,
        rse_type=RSEType(row.rse_type),
        deterministic=row.deterministic,
        volatile=row.volatile,
        availability_read=row.availability_read,
        availability_write=row.availability_write,
        availability_delete=row.availability_delete,
        lfn2pfn_algorithm=str(attrs.get("lfn2pfn_algorithm", "hash")),
        attributes=attrs,
        protocols=protocols,
    )


def _protocol_out(row: Any) -> ProtocolOut:
    domains = row.domains or {}
    return ProtocolOut(
        scheme=row.scheme,
        hostname=row.hostname,
        port=row.port,
        prefix=row.prefix,
        impl=row.impl,
        lan=ProtocolDomains(**domains.get("lan", {})),
        wan=ProtocolDomains(**domains.get("wan", {})),
        extended_attributes=row.extended_attributes,
    )


def attribute_map(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every live RSE's attributes, the input of RSE-expression resolution."""
    query = select(t.rses.c.name, t.rse_attrs.c.key, t.rse_attrs.c.value).join(
        t.rse_attrs, t.rse_attrs.c.rse_id == t.rses.c.id
    )
    result: dict[str, dict[str, Any]] = {}
    for name, key, value in conn.execute(query.where(t.rses.c.deleted.is_(False))):
        result.setdefault(name, {})[key] = value
    return result


def resolve_expression(conn: Connection, expression: str) -> set[str]:
    return rse_expression.resolve(expression, attribute_map(conn))


def list_rses(conn: Connection, expression: str | None = None) -> Iterator[RSEOut]:
    query = select(t.rses).where(t.rses.c.deleted.is_(False)).order_by(t.rses.c.name)
    if expression:
        query = query.where(t.rses.c.name.in_(resolve_expression(conn, expression)))
    for row in conn.execute(query).all():
        yield _rse_out(conn, row)


def update_rse(conn: Connection, caller: Caller, name: str, change: RSEUpdate) -> RSEOut:
    require_admin(caller)
    values = change.model_dump(exclude_none=True)
    if values:
        conn.execute(update(t.rses).where(t.rses.c.id == rse_id(conn, name)).values(**values))
    return get_rse(conn, name)


def set_attribute(conn: Connection, caller: Caller, name: str, key: str, value: Any) -> RSEOut:
    require_admin(caller)
    validate_attribute_key(key)
    rid = rse_id(conn, name)
    conn.execute(delete(t.rse_attrs).where(t.rse_attrs.c.rse_id == rid, t.rse_attrs.c.key == key))
    conn.execute(insert(t.rse_attrs).values(rse_id=rid, key=key, value=value))
    return get_rse(conn, name)


def delete_attribute(conn: Connection, caller: Caller, name: str, key: str) -> RSEOut:
    require_admin(caller)
    if key == name:
        raise InvalidInput(f"the attribute '{key}' names the RSE itself and cannot be removed")
    rid = rse_id(conn, name)
    conn.execute(delete(t.rse_attrs).where(t.rse_attrs.c.rse_id == rid, t.rse_attrs.c.key == key))
    return get_rse(conn, name)


def add_protocol(conn: Connection, caller: Caller, name: str, protocol: ProtocolIn) -> RSEOut:
    require_admin(caller)
    rid = rse_id(conn, name)
    _check_priorities(protocol)
    key = (t.rse_protocols.c.rse_id == rid) & (t.rse_protocols.c.scheme == protocol.scheme)
    key = key & (t.rse_protocols.c.hostname == protocol.hostname) & (t.rse_protocols.c.port == protocol.port)
    if conn.execute(select(t.rse_protocols.c.scheme).where(key)).first():
        raise AlreadyExists(
            f"RSE '{name}' already has protocol {protocol.scheme}://{protocol.hostname}:{protocol.port}"
        )
    conn.execute(
        insert(t.rse_protocols).values(
            rse_id=rid,
            scheme=protocol.scheme,
            hostname=protocol.hostname,
            port=protocol.port,
            prefix=_normalize_prefix(protocol.prefix),
            impl=protocol.impl,
            domains={"lan": protocol.lan.model_dump(), "wan": protocol.wan.model_dump()},
            extended_attributes=protocol.extended_attributes,
        )
    )
    return get_rse(conn, name)


def _check_priorities(protocol: ProtocolIn) -> None:
    for domain in (protocol.lan, protocol.wan):
        for value in domain.model_dump().values():
            if value is not None and value < 1:
                raise InvalidInput("protocol priorities start at 1 (lower is preferred; null means unsupported)")


def _normalize_prefix(prefix: str) -> str:
    return "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"


def delete_protocol(conn: Connection, caller: Caller, name: str, scheme: str) -> RSEOut:
    require_admin(caller)
    rid = rse_id(conn, name)
    removed = conn.execute(
        delete(t.rse_protocols).where(t.rse_protocols.c.rse_id == rid, t.rse_protocols.c.scheme == scheme)
    ).rowcount
    if not removed:
        raise UnsupportedOperation(f"RSE '{name}' has no protocol '{scheme}'")
    return get_rse(conn, name)


def best_protocol(rse: RSEOut, operation: str, domain: str = "wan") -> ProtocolOut:
    """The preferred protocol of an RSE for one operation (lowest priority number wins)."""
    ranked = []
    for protocol in rse.protocols:
        priority = getattr(getattr(protocol, domain), operation)
        if priority is not None:
            ranked.append((priority, protocol.scheme, protocol))
    if not ranked:
        raise UnsupportedOperation(f"RSE '{rse.name}' has no protocol for {operation} ({domain})")
    return min(ranked, key=lambda item: (item[0], item[1]))[2]


def set_distance(conn: Connection, caller: Caller, distance: DistanceIn) -> DistanceOut:
    require_admin(caller)
    src, dst = rse_id(conn, distance.source), rse_id(conn, distance.destination)
    conn.execute(delete(t.distances).where(t.distances.c.src_rse_id == src, t.distances.c.dest_rse_id == dst))
    conn.execute(insert(t.distances).values(src_rse_id=src, dest_rse_id=dst, distance=distance.distance))
    return DistanceOut(**distance.model_dump())


def list_distances(conn: Connection, source: str | None = None, destination: str | None = None) -> list[DistanceOut]:
    src, dst = t.rses.alias("src"), t.rses.alias("dst")
    query = (
        select(src.c.name, dst.c.name, t.distances.c.distance)
        .join(src, src.c.id == t.distances.c.src_rse_id)
        .join(dst, dst.c.id == t.distances.c.dest_rse_id)
    )
    if source:
        query = query.where(src.c.name == source)
    if destination:
        query = query.where(dst.c.name == destination)
    return [DistanceOut(source=s, destination=d, distance=n) for s, d, n in conn.execute(query.order_by(src.c.name))]
