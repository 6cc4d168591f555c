"""Replication rules in Rucio's dialect: add (201 + list of ids), show, update, delete, move, reduce, locks; traces."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from lake.api.deps import ServicesDep, public
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import created, flag, json_dict, json_response, json_stream
from lake.core.errors import LakeError, NotFound, TemporaryFailure
from lake.core.policy import LockOut, RuleIn, RuleOut, RuleUpdate
from lake.logic.rules import changes, rules

router = APIRouter()

# Rucio rule options Lake has no use for (accepted and ignored).
IGNORED_OPTIONS = ("notify", "ignore_availability", "ask_approval", "asynchronous", "delay_injection", "meta")


def rule_dict(rule: RuleOut) -> dict[str, Any]:
    """A rule with every key of upstream's rule dictionary (fields Lake does not have are null)."""
    return {
        "id": rule.id, "subscription_id": None, "account": rule.account, "scope": rule.scope, "name": rule.name,
        "did_type": rule.did_type, "state": rule.state.value, "error": rule.error,
        "rse_expression": rule.rse_expression, "copies": rule.copies, "expires_at": rule.expires_at,
        "weight": rule.weight, "locked": rule.locked, "locks_ok_cnt": rule.locks_ok_cnt,
        "locks_replicating_cnt": rule.locks_replicating_cnt, "locks_stuck_cnt": rule.locks_stuck_cnt,
        "source_replica_expression": rule.source_replica_expression, "activity": rule.activity,
        "grouping": rule.grouping.value, "notification": "NO", "stuck_at": None,
        "purge_replicas": rule.purge_replicas, "ignore_availability": False, "ignore_account_limit": False,
        "priority": rule.priority, "comments": rule.comments, "child_rule_id": rule.child_rule_id, "eol_at": None,
        "split_container": False, "meta": None, "bytes": None, "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }  # fmt: skip


def lock_dict(lock: LockOut) -> dict[str, Any]:
    return {"rule_id": lock.rule_id, "scope": lock.scope, "name": lock.name, "rse": lock.rse,
            "rse_id": None, "state": lock.state.value, "bytes": lock.bytes}  # fmt: skip


def rule_specs(body: dict[str, Any]) -> list[RuleIn]:
    """One Lake rule per DID of a Rucio rule request (`dids`, `copies`, `rse_expression` are required)."""
    for key in ("dids", "copies", "rse_expression"):
        if key not in body:
            raise RucioError("KeyError", f"'{key}' not defined", 400)
    common = {
        "copies": body["copies"], "rse_expression": body["rse_expression"], "weight": body.get("weight"),
        "lifetime": body.get("lifetime"), "grouping": body.get("grouping") or "DATASET",
        "account": body.get("account"), "locked": flag(body.get("locked")),
        "source_replica_expression": body.get("source_replica_expression"),
        "activity": body.get("activity") or None, "purge_replicas": flag(body.get("purge_replicas")),
        "priority": body.get("priority") or 3, "comments": body.get("comment"),
    }  # fmt: skip
    common = {key: value for key, value in common.items() if value is not None}
    try:
        return [RuleIn(scope=did["scope"], name=did["name"], **common) for did in body["dids"]]
    except (ValidationError, KeyError, TypeError) as exc:
        raise RucioError("InvalidReplicationRule", f"invalid rule: {exc}", 409) from exc


@router.post("/rules")
async def add_rules(request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Every rule-creation error is a 409 upstream, except a missing DID (404) and a temporary failure (503)."""
    specs = rule_specs(await json_dict(request))
    try:
        with svc.db.transaction() as conn:
            ids = [rules.add_rule(conn, caller, spec).id for spec in specs]
    except LakeError as exc:
        error = RucioError.from_lake(exc)
        if not isinstance(exc, NotFound | TemporaryFailure):
            if error.status == 400 and error.exception_class == "InvalidObject":
                error.exception_class = "InvalidReplicationRule"
            error.status = 409
        raise error from exc
    return json_response(ids, status=201)


@router.get("/rules")
def list_rules(request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    q = request.query_params
    return json_stream(svc, lambda conn: (rule_dict(r) for r in rules.list_rules(
        conn, q.get("account"), q.get("scope"), q.get("name"), q.get("state"))))  # fmt: skip


@router.get("/rules/{rule_id}")
def get_rule(rule_id: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        return json_response(rule_dict(rules.get_rule(conn, rule_id)))


@router.put("/rules/{rule_id}")
async def update_rule(rule_id: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{"options": {...}}`: lifetime, locked, comment, activity, priority, state=SUSPENDED (or back)."""
    options = (await json_dict(request)).get("options") or {}
    change: dict[str, Any] = {key: options[key] for key in ("locked", "activity", "priority") if key in options}
    if "lifetime" in options:
        change["lifetime"] = -1 if options["lifetime"] is None else options["lifetime"]
    if "comment" in options:
        change["comments"] = options["comment"]
    if "state" in options:
        change["suspended"] = str(options["state"]).upper() == "SUSPENDED"
    try:
        update = RuleUpdate(**change)
    except ValidationError as exc:
        raise RucioError("RucioException", f"invalid rule options: {exc}", 409) from exc
    with svc.db.transaction() as conn:
        rules.update_rule(conn, caller, rule_id, update)
    return Response(status_code=200)


@router.delete("/rules/{rule_id}")
def delete_rule(rule_id: str, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Delete a rule; a locked rule is an `UnsupportedOperation` with status 401, as upstream.

    The body's `purge_replicas` is not used: Lake fixes it when the rule is created.
    """
    with svc.db.transaction() as conn:
        if rules.get_rule(conn, rule_id).locked:
            raise RucioError("UnsupportedOperation", f"The replication rule {rule_id} is locked", 401)
        rules.delete_rule(conn, caller, rule_id)
    return Response(status_code=200)


@router.post("/rules/{rule_id}/move")
async def move_rule(rule_id: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """A child rule on `rse_expression` (201, `[child id]`); the old rule goes once the child is OK.

    `override` values other than null are refused: the child keeps the rule's settings (change them with
    `PUT /rules/{id}` afterwards).
    """
    body = await json_dict(request)
    if not body.get("rse_expression"):
        raise RucioError("KeyError", "'rse_expression' not defined", 400)
    overrides = sorted(key for key, value in (body.get("override") or {}).items() if value is not None)
    if overrides:
        raise RucioError("UnsupportedOperation", f"Lake cannot override {', '.join(overrides)} when moving a rule", 409)
    with svc.db.transaction() as conn:
        child = changes.move_rule(conn, caller, rule_id, body["rse_expression"])
    return json_response([child.id], status=201)


@router.post("/rules/{rule_id}/reduce")
async def reduce_rule(rule_id: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Fewer copies in place (Lake keeps the rule id): 200 with `[rule id]`, as the client expects."""
    body = await json_dict(request)
    if "copies" not in body:
        raise RucioError("KeyError", "'copies' not defined", 400)
    if body.get("exclude_expression"):
        raise RucioError("UnsupportedOperation", "Lake cannot exclude RSEs when reducing a rule", 409)
    try:
        copies = int(body["copies"])
    except (TypeError, ValueError) as exc:
        raise RucioError("InvalidObject", f"copies must be an integer, not {body['copies']!r}", 400) from exc
    with svc.db.transaction() as conn:
        changes.reduce_rule(conn, caller, rule_id, copies)
    return json_response([rule_id])


@router.get("/rules/{rule_id}/locks")
def rule_locks(rule_id: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    return json_stream(svc, lambda conn: (lock_dict(lock) for lock in rules.rule_locks(conn, rule_id)))


@router.post("/traces", dependencies=[Depends(public)])
async def traces(request: Request) -> Response:
    """Client traces are accepted and discarded; public, as the client sends them without a token."""
    await request.body()
    return created()
