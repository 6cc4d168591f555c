"""Account limits (local per RSE, global per RSE expression) and usage computed from locks.

Usage is the sum of the bytes an account's locks hold on each RSE, read straight from the locks table
(indexed by account and RSE), so it is never stale. An RSE without any limit that applies is unlimited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, func, insert, select

from lake.core.errors import InvalidRSEExpression, RSENotFound
from lake.core.replication import LimitIn, LimitOut, UsageOut
from lake.db.schema_replication import account_limits, locks
from lake.logic.auth.accounts import get_account
from lake.logic.auth.permissions import Caller, require_admin
from lake.logic.catalog import rses


def set_limit(conn: Connection, caller: Caller, account: str, limit: LimitIn) -> LimitOut:
    """A limit for one RSE (local) or for an RSE expression (global); -1 removes it."""
    require_admin(caller)
    get_account(conn, account)
    try:
        is_local = bool(rses.rse_id(conn, limit.rse_expression))
    except RSENotFound:
        rses.resolve_expression(conn, limit.rse_expression)
        is_local = False
    key = (account_limits.c.account == account) & (account_limits.c.rse_expression == limit.rse_expression)
    conn.execute(delete(account_limits).where(key))
    if limit.bytes >= 0:
        conn.execute(
            insert(account_limits).values(
                account=account, rse_expression=limit.rse_expression, bytes=limit.bytes, is_local=is_local
            )
        )
    return LimitOut(account=account, rse_expression=limit.rse_expression, bytes=limit.bytes, is_local=is_local)


def list_limits(conn: Connection, account: str) -> list[LimitOut]:
    query = select(account_limits).where(account_limits.c.account == account).order_by(account_limits.c.rse_expression)
    return [
        LimitOut(account=r.account, rse_expression=r.rse_expression, bytes=r.bytes, is_local=r.is_local)
        for r in conn.execute(query)
    ]


def usage_by_rse(conn: Connection, account: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
    """(account, rse_id) -> (files, bytes) held by locks."""
    query = select(locks.c.account, locks.c.rse_id, func.count(), func.coalesce(func.sum(locks.c.bytes), 0))
    if account:
        query = query.where(locks.c.account == account)
    query = query.group_by(locks.c.account, locks.c.rse_id)
    return {(a, r): (int(n), int(b)) for a, r, n, b in conn.execute(query)}


def account_usage(conn: Connection, account: str) -> Iterator[UsageOut]:
    get_account(conn, account)
    names = {rse.id: rse.name for rse in rses.list_rses(conn)}
    quota = Quota.load(conn, account)
    for (_, rse_id), (files, size) in sorted(usage_by_rse(conn, account).items()):
        limit = quota.local_limit(rse_id)
        remaining = None if limit is None else limit - size
        yield UsageOut(
            account=account,
            rse=names.get(rse_id, rse_id),
            files=files,
            bytes=size,
            bytes_limit=limit,
            bytes_remaining=remaining,
        )


@dataclass
class _Limit:
    expression: str
    rse_ids: set[str]
    bytes: int
    is_local: bool


@dataclass
class Quota:
    """An account's limits and usage, loaded once per rule creation and charged as RSEs are chosen."""

    account: str
    limits: list[_Limit]
    used: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: Connection, account: str) -> Quota:
        names = {rse.name: rse.id for rse in rses.list_rses(conn)}
        limits = []
        for limit in list_limits(conn, account):
            try:
                chosen = rses.resolve_expression(conn, limit.rse_expression)
            except InvalidRSEExpression:
                chosen = set()
            limits.append(_Limit(limit.rse_expression, {names[n] for n in chosen}, limit.bytes, limit.is_local))
        used = {rse_id: size for (_, rse_id), (_, size) in usage_by_rse(conn, account).items()}
        return cls(account, limits, used)

    def local_limit(self, rse_id: str) -> int | None:
        return next((x.bytes for x in self.limits if x.is_local and rse_id in x.rse_ids), None)

    def fits(self, rse_id: str, extra: int) -> bool:
        for limit in self.limits:
            if rse_id in limit.rse_ids:
                total = sum(self.used.get(r, 0) for r in limit.rse_ids)
                if total + extra > limit.bytes:
                    return False
        return True

    def charge(self, rse_id: str, extra: int) -> None:
        self.used[rse_id] = self.used.get(rse_id, 0) + extra

    def blocking(self, rse_id: str, extra: int) -> str:
        """Which limit refuses `extra` more bytes on this RSE (for the error message)."""
        for limit in self.limits:
            if rse_id in limit.rse_ids and sum(self.used.get(r, 0) for r in limit.rse_ids) + extra > limit.bytes:
                return f"limit of {limit.bytes} bytes on '{limit.expression}'"
        return "no limit"
