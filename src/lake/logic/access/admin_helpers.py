"""Thin logic behind the Rucio dialect's admin calls that Lake's own API does not need.

Identities (userpass only: the one login type Lake checks), free account attributes, account usage per RSE
and per global limit, the rules that hold locks on a file, and live per-RSE summaries of a collection's
replicas. Everything else the admin calls need (accounts, scopes, RSEs, limits, rule moves) already exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, case, delete, func, insert, select

from lake.core.errors import AccountNotFound, AlreadyExists, InvalidInput, UnsupportedOperation
from lake.core.models import DIDRef, ReplicaState
from lake.core.names import validate_attribute_key
from lake.core.replication import RuleOut, UsageOut
from lake.db import rules as rule_rows
from lake.db import schema as t
from lake.logic.auth import accounts
from lake.logic.auth.permissions import Caller, require_admin
from lake.logic.catalog import contents, rses
from lake.logic.rules import quotas
from lake.logic.rules.rules import rule_out

USERPASS = "USERPASS"


def add_identity(
    conn: Connection, caller: Caller, account: str, identity: str, authtype: str, password: str | None
) -> None:
    """Map a userpass identity to an account (admins only); other identity types cannot log in to Lake."""
    require_admin(caller)
    accounts.get_account(conn, account)
    if authtype.upper() != USERPASS:
        raise UnsupportedOperation(f"Lake only logs in userpass identities, not '{authtype}'")
    if not password:
        raise InvalidInput("a userpass identity needs a password")
    key = (t.identities.c.identity == identity) & (t.identities.c.type == USERPASS)
    if conn.execute(select(t.identities.c.account).where(key, t.identities.c.account == account)).first():
        raise AlreadyExists(f"identity '{identity}' already belongs to account '{account}'")
    accounts.add_userpass(conn, identity, password, account)


def list_identities(conn: Connection, account: str) -> list[dict[str, str | None]]:
    """`[{type, identity, email}]` of an account (the email is the account's: Lake keeps none per identity)."""
    email = accounts.get_account(conn, account).email
    query = select(t.identities.c.identity, t.identities.c.type).where(t.identities.c.account == account)
    return [{"type": kind, "identity": identity, "email": email} for identity, kind in conn.execute(query)]


def account_attributes(conn: Connection, account: str) -> dict[str, str | None]:
    accounts.get_account(conn, account)
    query = select(t.account_attrs.c.key, t.account_attrs.c.value).where(t.account_attrs.c.account == account)
    return {key: value for key, value in conn.execute(query.order_by(t.account_attrs.c.key))}


def set_account_attribute(conn: Connection, caller: Caller, account: str, key: str, value: str) -> None:
    """Set (or replace) one attribute; `admin=True` makes the account an administrator."""
    require_admin(caller)
    validate_attribute_key(key)
    accounts.get_account(conn, account)
    where = (t.account_attrs.c.account == account) & (t.account_attrs.c.key == key)
    conn.execute(delete(t.account_attrs).where(where))
    conn.execute(insert(t.account_attrs).values(account=account, key=key, value=str(value)))


def delete_account_attribute(conn: Connection, caller: Caller, account: str, key: str) -> None:
    require_admin(caller)
    accounts.get_account(conn, account)
    where = (t.account_attrs.c.account == account) & (t.account_attrs.c.key == key)
    if not conn.execute(delete(t.account_attrs).where(where)).rowcount:
        raise AccountNotFound(f"attribute '{key}' does not exist for the account '{account}'")


def local_usage(conn: Connection, account: str) -> list[UsageOut]:
    """Usage on every RSE the account holds locks on or has a local limit for (no limit: unlimited)."""
    used = list(quotas.account_usage(conn, account))
    seen = {u.rse for u in used}
    for limit in quotas.list_limits(conn, account):
        if limit.is_local and limit.rse_expression not in seen:
            used.append(
                UsageOut(
                    account=account,
                    rse=limit.rse_expression,
                    files=0,
                    bytes=0,
                    bytes_limit=limit.bytes,
                    bytes_remaining=limit.bytes,
                )
            )
    return sorted(used, key=lambda u: u.rse)


def global_usage(conn: Connection, account: str) -> list[UsageOut]:
    """Per global limit, the usage summed over the RSEs its expression resolves to (`rse` is the expression)."""
    accounts.get_account(conn, account)
    files = {rse_id: n for (_, rse_id), (n, _) in quotas.usage_by_rse(conn, account).items()}
    quota = quotas.Quota.load(conn, account)
    usage = []
    for limit in quota.limits:
        if limit.is_local:
            continue
        size = sum(quota.used.get(rse_id, 0) for rse_id in limit.rse_ids)
        usage.append(
            UsageOut(
                account=account,
                rse=limit.expression,
                bytes=size,
                bytes_limit=limit.bytes,
                files=sum(files.get(rse_id, 0) for rse_id in limit.rse_ids),
                bytes_remaining=limit.bytes - size,
            )
        )
    return usage


def associated_rules(conn: Connection, ref: DIDRef) -> Iterator[RuleOut]:
    """The rules holding a lock on a file, whichever DID they were made for."""
    for row in rule_rows.holding(conn, ref.scope, ref.name):
        yield rule_out(row)


@dataclass(frozen=True)
class CollectionReplica:
    """How much of a collection one RSE holds, counted live from the replicas of its files."""

    rse: str
    rse_id: str
    bytes: int
    length: int
    available_bytes: int
    available_length: int
    created_at: datetime | None
    updated_at: datetime | None
    accessed_at: datetime | None

    @property
    def state(self) -> str:
        return "AVAILABLE" if self.available_length == self.length else "UNAVAILABLE"


def collection_replicas(conn: Connection, ref: DIDRef) -> list[CollectionReplica]:
    """Per RSE holding any file of the collection: its total size and file count, and what is AVAILABLE there."""
    keys = contents.file_keys_query(conn, ref).subquery()
    totals = conn.execute(
        select(func.count(), func.coalesce(func.sum(t.dids.c.bytes), 0)).join(
            keys, and_(t.dids.c.scope == keys.c.scope, t.dids.c.name == keys.c.name)
        )
    ).one()
    r = t.replicas.c
    available = r.state == ReplicaState.AVAILABLE.value
    counts = (func.sum(case((available, 1), else_=0)), func.sum(case((available, r.bytes), else_=0)))
    times = (func.min(r.created_at), func.max(r.updated_at), func.max(r.accessed_at))
    query = (
        select(r.rse_id, *counts, *times)
        .join(keys, and_(r.scope == keys.c.scope, r.name == keys.c.name))
        .group_by(r.rse_id)
    )
    names = {rse.id: rse.name for rse in rses.list_rses(conn)}
    return [
        CollectionReplica(
            rse=names.get(rse_id, rse_id),
            rse_id=rse_id,
            bytes=int(totals[1]),
            length=int(totals[0]),
            available_bytes=int(size or 0),
            available_length=int(count or 0),
            created_at=created,
            updated_at=updated,
            accessed_at=accessed,
        )
        for rse_id, count, size, created, updated, accessed in conn.execute(query)
    ]
