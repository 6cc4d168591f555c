"""Replication rules: add (placement -> locks -> replicas -> transfers), look up, update, reduce, move, delete."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import Connection

from lake.core.clock import utcnow
from lake.core.errors import DuplicateRule, InvalidInput, PermissionDenied, RuleNotFound
from lake.core.models import DIDRef
from lake.core.replication import LockOut, LockState, RuleIn, RuleOut, RuleState, RuleUpdate
from lake.db import locks as lock_rows
from lake.db import rules as rule_rows
from lake.db.rules import RuleRow
from lake.logic.auth.accounts import get_account
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import rses
from lake.logic.catalog.dids import get_row
from lake.logic.monitoring.events import record
from lake.logic.rules.locks import add_locks, refresh_rules, release_locks
from lake.logic.rules.placement import candidate_targets, choose, decide, placements
from lake.logic.rules.quotas import Quota


def rule_out(row: RuleRow) -> RuleOut:
    return RuleOut(**{key: getattr(row, key) for key in RuleOut.model_fields})


def get_rule_row(conn: Connection, rule_id: str) -> RuleRow:
    row = rule_rows.get(conn, rule_id)
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
    draft = rule_rows.new_rule(spec, owner, did.did_type, RuleState.REPLICATING, utcnow())  # decided on, not stored
    decisions = decide(conn, draft, DIDRef(scope=spec.scope, name=spec.name), targets, quota, rng or random.Random())
    rule_rows.insert_rules(conn, [draft])
    row = get_rule_row(conn, draft.id)
    ok, replicating = add_locks(conn, row, placements(decisions))
    refresh_rules(conn, [row.id])
    record(
        conn,
        "rule.created",
        rule_id=row.id,
        scope=spec.scope,
        name=spec.name,
        activity=spec.activity,
        payload={
            "copies": spec.copies,
            "rse_expression": spec.rse_expression,
            "locks_ok": ok,
            "locks_replicating": replicating,
        },
    )
    return get_rule(conn, row.id)


def _refuse_duplicate(conn: Connection, owner: str, spec: RuleIn) -> None:
    existing = rule_rows.duplicate_of(conn, owner, spec.scope, spec.name, spec.rse_expression)
    if existing:
        raise DuplicateRule(
            f"account '{owner}' already has rule {existing} on '{spec.scope}:{spec.name}' for '{spec.rse_expression}'"
        )


def list_rules(
    conn: Connection,
    account: str | None = None,
    scope: str | None = None,
    name: str | None = None,
    state: str | None = None,
) -> Iterator[RuleOut]:
    for row in rule_rows.search(conn, account, scope, name, state.upper() if state else None):
        yield rule_out(row)


def _require_owner(caller: Caller, row: RuleRow) -> None:
    if not caller.admin and row.account != caller.account:
        raise PermissionDenied(f"rule {row.id} belongs to '{row.account}'")


def update_rule(conn: Connection, caller: Caller, rule_id: str, change: RuleUpdate) -> RuleOut:
    row = get_rule_row(conn, rule_id)
    _require_owner(caller, row)
    rule_rows.change_settings(conn, rule_id, _settings(change), utcnow())
    if change.suspended is False and row.state == RuleState.SUSPENDED.value:
        rule_rows.set_state(conn, rule_id, RuleState.REPLICATING)
        refresh_rules(conn, [rule_id])
    record(
        conn,
        "rule.updated",
        rule_id=rule_id,
        scope=row.scope,
        name=row.name,
        payload=change.model_dump(exclude_none=True),
    )
    return get_rule(conn, rule_id)


def _settings(change: RuleUpdate) -> rule_rows.Settings:
    """The columns an update changes (None in the request: unchanged; a negative lifetime: no expiry)."""
    settings: rule_rows.Settings = {}
    if change.lifetime is not None:
        settings["expires_at"] = None if change.lifetime < 0 else utcnow() + timedelta(seconds=change.lifetime)
    if change.locked is not None:
        settings["locked"] = change.locked
    if change.activity is not None:
        settings["activity"] = change.activity
    if change.priority is not None:
        settings["priority"] = change.priority
    if change.comments is not None:
        settings["comments"] = change.comments
    if change.suspended is True:
        settings["state"] = RuleState.SUSPENDED.value
    return settings


def delete_rule(conn: Connection, caller: Caller, rule_id: str, force: bool = False) -> None:
    """Remove a rule and its locks; replicas no other rule holds get tombstones for the reaper.

    The rule row is locked first, the same order the transfer worker uses (rule, then its locks), so the
    two never deadlock on PostgreSQL.
    """
    rule_rows.get(conn, rule_id, for_update=True)
    row = get_rule_row(conn, rule_id)
    _require_owner(caller, row)
    if row.locked and not force:
        raise InvalidInput(f"rule {rule_id} is locked: unlock it first (lake rule update --unlock)")
    released = release_locks(conn, rule_id, purge=row.purge_replicas)
    rule_rows.delete_rule(conn, rule_id)
    record(conn, "rule.deleted", rule_id=rule_id, scope=row.scope, name=row.name, payload={"locks": released})


def rule_locks(conn: Connection, rule_id: str) -> Iterator[LockOut]:
    get_rule_row(conn, rule_id)
    names = {rse.id: rse.name for rse in rses.list_rses(conn)}
    for row in lock_rows.of_rule(conn, rule_id):
        yield LockOut(
            rule_id=row.rule_id,
            scope=row.scope,
            name=row.name,
            rse=names.get(row.rse_id, row.rse_id),
            state=LockState(row.state),
            bytes=row.bytes,
        )
