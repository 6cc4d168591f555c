"""Replication rules in Rucio's dialect: add (201 + list of ids), show, update, delete, move, reduce, locks; traces."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from lake.api.deps import ServicesDep, public
from lake.api.rucio import bodies
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.bodies import parse
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import created, json_body, json_response, json_stream
from lake.core.errors import LakeError, NotFound, TemporaryFailure
from lake.core.replication import LockOut, RuleIn, RuleOut, RuleUpdate
from lake.logic.rules import changes, rules

router = APIRouter()

# Rucio rule options Lake has no use for (accepted and ignored).
IGNORED_OPTIONS = ("notify", "ignore_availability", "ask_approval", "asynchronous", "delay_injection", "meta")


def rule_dict(rule: RuleOut) -> dict[str, Any]:
    """A rule with every key of upstream's rule dictionary (fields Lake does not have are null)."""
    return {
        "id": rule.id,
        "subscription_id": None,
        "account": rule.account,
        "scope": rule.scope,
        "name": rule.name,
        "did_type": rule.did_type,
        "state": rule.state.value,
        "error": rule.error,
        "rse_expression": rule.rse_expression,
        "copies": rule.copies,
        "expires_at": rule.expires_at,
        "weight": rule.weight,
        "locked": rule.locked,
        "locks_ok_cnt": rule.locks_ok_cnt,
        "locks_replicating_cnt": rule.locks_replicating_cnt,
        "locks_stuck_cnt": rule.locks_stuck_cnt,
        "source_replica_expression": rule.source_replica_expression,
        "activity": rule.activity,
        "grouping": rule.grouping.value,
        "notification": "NO",
        "stuck_at": None,
        "purge_replicas": rule.purge_replicas,
        "ignore_availability": False,
        "ignore_account_limit": False,
        "priority": rule.priority,
        "comments": rule.comments,
        "child_rule_id": rule.child_rule_id,
        "eol_at": None,
        "split_container": False,
        "meta": None,
        "bytes": None,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def lock_dict(lock: LockOut) -> dict[str, Any]:
    return {
        "rule_id": lock.rule_id,
        "scope": lock.scope,
        "name": lock.name,
        "rse": lock.rse,
        "rse_id": None,
        "state": lock.state.value,
        "bytes": lock.bytes,
    }


def rule_specs(body: bodies.RuleRequest) -> list[RuleIn]:
    """One Lake rule per DID of a Rucio rule request."""
    common = {
        "copies": body.copies,
        "rse_expression": body.rse_expression,
        "weight": body.weight,
        "lifetime": body.lifetime,
        "grouping": body.grouping or "DATASET",
        "account": body.account,
        "locked": body.locked,
        "source_replica_expression": body.source_replica_expression,
        "activity": body.activity or None,
        "purge_replicas": body.purge_replicas,
        "priority": body.priority or 3,
        "comments": body.comment,
    }
    common = {key: value for key, value in common.items() if value is not None}
    return [parse(RuleIn, {"scope": did.scope, "name": did.name, **common}) for did in body.dids]


def rule_creation_error(error: RucioError | LakeError) -> RucioError:
    """As upstream, every error of a rule's creation is a 409 (`InvalidReplicationRule` for an invalid rule),
    except a missing DID (404) and a temporary failure (503); a body that is not a JSON object or misses a key is
    refused before, with 400 (upstream's `json_parameters` and `param_get`)."""
    if isinstance(error, RucioError):
        if error.exception_class != "InvalidObject":
            return error
        return RucioError("InvalidReplicationRule", error.message, 409)
    rucio = RucioError.from_lake(error)
    if not isinstance(error, NotFound | TemporaryFailure):
        if rucio.status == 400 and rucio.exception_class == "InvalidObject":
            rucio.exception_class = "InvalidReplicationRule"
        rucio.status = 409
    return rucio


@router.post("/rules")
async def add_rules(request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    raw = await json_body(request)
    try:
        specs = rule_specs(parse(bodies.RuleRequest, raw))
        with svc.db.transaction() as conn:
            ids = [rules.add_rule(conn, caller, spec).id for spec in specs]
    except (RucioError, LakeError) as exc:
        raise rule_creation_error(exc) from exc
    return json_response(ids, status=201)


@router.get("/rules")
def list_rules(request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    q = request.query_params
    return json_stream(
        svc,
        lambda conn: (
            rule_dict(r)
            for r in rules.list_rules(conn, q.get("account"), q.get("scope"), q.get("name"), q.get("state"))
        ),
    )


@router.get("/rules/{rule_id}")
def get_rule(rule_id: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        return json_response(rule_dict(rules.get_rule(conn, rule_id)))


@router.put("/rules/{rule_id}")
async def update_rule(rule_id: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{"options": {...}}`: lifetime, locked, comment, activity, priority, state=SUSPENDED (or back)."""
    options = parse(bodies.RuleChange, await json_body(request)).options
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
    body = parse(bodies.RuleMove, await json_body(request))
    if not body.rse_expression:
        raise RucioError("KeyError", "'rse_expression' not defined", 400)
    overrides = sorted(key for key, value in (body.override or {}).items() if value is not None)
    if overrides:
        raise RucioError("UnsupportedOperation", f"Lake cannot override {', '.join(overrides)} when moving a rule", 409)
    with svc.db.transaction() as conn:
        child = changes.move_rule(conn, caller, rule_id, body.rse_expression)
    return json_response([child.id], status=201)


@router.post("/rules/{rule_id}/reduce")
async def reduce_rule(rule_id: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """Fewer copies in place (Lake keeps the rule id): 200 with `[rule id]`, as the client expects."""
    body = parse(bodies.RuleReduce, await json_body(request))
    if body.exclude_expression:
        raise RucioError("UnsupportedOperation", "Lake cannot exclude RSEs when reducing a rule", 409)
    with svc.db.transaction() as conn:
        changes.reduce_rule(conn, caller, rule_id, body.copies)
    return json_response([rule_id])


@router.get("/rules/{rule_id}/locks")
def rule_locks(rule_id: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    return json_stream(svc, lambda conn: (lock_dict(lock) for lock in rules.rule_locks(conn, rule_id)))


@router.post("/traces", dependencies=[Depends(public)])
async def traces(request: Request) -> Response:
    """Client traces are accepted and discarded; public, as the client sends them without a token."""
    await request.body()
    return created()
