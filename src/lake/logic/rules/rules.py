"""Replication rules: add (placement -> locks -> replicas -> transfers), look up, update, reduce, move, delete."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lake.core.clock import utcnow
from lake.core.errors import DuplicateRule, InvalidInput, PermissionDenied, RuleNotFound
from lake.core.models import DIDRef
from lake.core.policy import LockOut, LockState, RuleIn, RuleOut, RuleState, RuleUpdate
from lake.db.schema_policy import locks, rules
from lake.logic.auth.accounts import get_account
from lake.logic.auth.policy import Caller
from lake.logic.catalog import rses
from lake.logic.catalog.dids import get_row
from lake.logic.monitoring.events import record
from lake.logic.rules.locks import add_locks, refresh_rules, release_locks
from lake.logic.rules.placement import candidate_targets, choose, decide, placements
from lake.logic.rules.quotas import Quota


def rule_out(row: Any) -> RuleOut:
    return RuleOut(**{key: getattr(row, key) for key in RuleOut.model_fields})


def get_rule_row(conn: Connection, rule_id: str) -> Any:
    row = conn.execute(select(rules).where(rules.c.id == rule_id)).first()
    if row is None:
        raise RuleNotFound(f"rule '{rule_id}' does not exist")
    return row


def get_rule(conn: Connection, rule_id: str) -> RuleOut:
    return rule_out(get_rule_row(conn, rule_id))


def _owner(conn: Connection, caller: Caller, account: str | None) -> str:
    owner = account or caller.account
    if owner != caller.account and not caller.admin:
        raise PermissionDenied(f"account '{caller.account}' may not create rules for '{owner}'")
    get_account(conn, owner)
    return owner


def add_rule(conn: Connection, caller: Caller, spec: RuleIn, rng: random.Random | None = None) -> RuleOut:
    """Create a rule and everything it implies; every check (quota included) runs before the first write."""
    owner = _owner(conn, caller, spec.account)
    did = get_row(conn, spec.scope, spec.name)
    if spec.source_replica_expression:
        rses.resolve_expression(conn, spec.source_replica_expression)
    _refuse_duplicate(conn, owner, spec)
    targets = candidate_targets(conn, spec.rse_expression, spec.weight)
    if len(targets) < spec.copies:
        choose(targets, spec.copies, {}, random.Random(), spec.rse_expression)  # raises with a clear message
    quota = None if spec.ignore_account_limit and caller.admin else Quota.load(conn, owner)
    draft = SimpleNamespace(account=owner, **spec.model_dump(include={"grouping", "copies", "rse_expression"}))
    decisions = decide(conn, draft, DIDRef(scope=spec.scope, name=spec.name), targets, quota, rng or random.Random())
    row = _insert_rule(conn, owner, did.did_type, spec)
    ok, replicating = add_locks(conn, row, placements(decisions))
    refresh_rules(conn, [row.id])
    record(conn, "rule.created", rule_id=row.id, scope=spec.scope, name=spec.name, activity=spec.activity,
           payload={"copies": spec.copies, "rse_expression": spec.rse_expression, "locks_ok": ok,
                    "locks_replicating": replicating})  # fmt: skip
    return get_rule(conn, row.id)


def _refuse_duplicate(conn: Connection, owner: str, spec: RuleIn) -> None:
    r = rules.c
    query = select(r.id).where(
        r.account == owner, r.scope == spec.scope, r.name == spec.name, r.rse_expression == spec.rse_expression
    )
    existing = conn.execute(query).scalar()
    if existing:
        raise DuplicateRule(
            f"account '{owner}' already has rule {existing} on '{spec.scope}:{spec.name}' for '{spec.rse_expression}'"
        )


def _insert_rule(conn: Connection, owner: str, did_type: str, spec: RuleIn) -> Any:
    now = utcnow()
    rule_id = uuid.uuid4().hex
    conn.execute(
        insert(rules).values(
            id=rule_id, account=owner, scope=spec.scope, name=spec.name, did_type=did_type,
            rse_expression=spec.rse_expression, copies=spec.copies, grouping=spec.grouping.value, weight=spec.weight,
            locked=spec.locked, activity=spec.activity, priority=spec.priority,
            source_replica_expression=spec.source_replica_expression, purge_replicas=spec.purge_replicas,
            ignore_account_limit=spec.ignore_account_limit, state=RuleState.REPLICATING.value, locks_ok_cnt=0,
            locks_replicating_cnt=0, locks_stuck_cnt=0, error=None, stuck_at=None,
            expires_at=now + timedelta(seconds=spec.lifetime) if spec.lifetime else None,
            child_rule_id=None, comments=spec.comments, created_at=now, updated_at=now,
        )
    )  # fmt: skip
    return get_rule_row(conn, rule_id)


def list_rules(conn: Connection, account: str | None = None, scope: str | None = None, name: str | None = None,
               state: str | None = None) -> Iterator[RuleOut]:  # fmt: skip
    query = select(rules).order_by(rules.c.created_at)
    for column, value in (("account", account), ("scope", scope), ("name", name), ("state", state)):
        if value:
            query = query.where(rules.c[column] == (value.upper() if column == "state" else value))
    for row in conn.execute(query):
        yield rule_out(row)


def _require_owner(caller: Caller, row: Any) -> None:
    if not caller.admin and row.account != caller.account:
        raise PermissionDenied(f"rule {row.id} belongs to '{row.account}'")


def update_rule(conn: Connection, caller: Caller, rule_id: str, change: RuleUpdate) -> RuleOut:
    row = get_rule_row(conn, rule_id)
    _require_owner(caller, row)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if change.lifetime is not None:
        values["expires_at"] = None if change.lifetime < 0 else utcnow() + timedelta(seconds=change.lifetime)
    for key in ("locked", "activity", "priority", "comments"):
        if getattr(change, key) is not None:
            values[key] = getattr(change, key)
    if change.suspended is True:
        values["state"] = RuleState.SUSPENDED.value
    conn.execute(update(rules).where(rules.c.id == rule_id).values(**values))
    if change.suspended is False and row.state == RuleState.SUSPENDED.value:
        conn.execute(update(rules).where(rules.c.id == rule_id).values(state=RuleState.REPLICATING.value))
        refresh_rules(conn, [rule_id])
    record(conn, "rule.updated", rule_id=rule_id, scope=row.scope, name=row.name,
           payload=change.model_dump(exclude_none=True))  # fmt: skip
    return get_rule(conn, rule_id)


def delete_rule(conn: Connection, caller: Caller, rule_id: str, force: bool = False) -> None:
    """Remove a rule and its locks; replicas no other rule holds get tombstones for the reaper.

    The rule row is locked first, the same order the transfer worker uses (rule, then its locks), so the
    two never deadlock on PostgreSQL.
    """
    conn.execute(select(rules.c.id).where(rules.c.id == rule_id).with_for_update()).all()
    row = get_rule_row(conn, rule_id)
    _require_owner(caller, row)
    if row.locked and not force:
        raise InvalidInput(f"rule {rule_id} is locked: unlock it first (lake rule update --unlock)")
    released = release_locks(conn, rule_id, purge=row.purge_replicas)
    conn.execute(delete(rules).where(rules.c.id == rule_id))
    record(conn, "rule.deleted", rule_id=rule_id, scope=row.scope, name=row.name, payload={"locks": released})


def rule_locks(conn: Connection, rule_id: str) -> Iterator[LockOut]:
    get_rule_row(conn, rule_id)
    names = {rse.id: rse.name for rse in rses.list_rses(conn)}
    for row in conn.execute(select(locks).where(locks.c.rule_id == rule_id)):
        yield LockOut(rule_id=row.rule_id, scope=row.scope, name=row.name, rse=names.get(row.rse_id, row.rse_id),
                      state=LockState(row.state), bytes=row.bytes)  # fmt: skip
