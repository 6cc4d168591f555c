"""Replication rules: add, list, show, update, delete, reduce, move, and a rule's locks."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from lake.api.deps import CallerDep, ServicesDep, ndjson
from lake.api.openapi import ndjson_of
from lake.core.replication import LockOut, RuleIn, RuleMove, RuleOut, RuleReduce, RuleUpdate
from lake.logic.rules import changes, rules

router = APIRouter()


@router.post("/v1/rules", status_code=201)
def add_rule(spec: RuleIn, caller: CallerDep, svc: ServicesDep) -> RuleOut:
    with svc.db.transaction() as conn:
        return rules.add_rule(conn, caller, spec)


@router.get("/v1/rules", **ndjson_of(RuleOut))
def list_rules(
    _caller: CallerDep,
    svc: ServicesDep,
    account: str | None = None,
    scope: str | None = None,
    name: str | None = None,
    state: str | None = None,
) -> StreamingResponse:
    return ndjson(svc, lambda conn: rules.list_rules(conn, account, scope, name, state))


@router.get("/v1/rules/{rule_id}")
def get_rule(rule_id: str, _caller: CallerDep, svc: ServicesDep) -> RuleOut:
    with svc.db.transaction() as conn:
        return rules.get_rule(conn, rule_id)


@router.patch("/v1/rules/{rule_id}")
def update_rule(rule_id: str, change: RuleUpdate, caller: CallerDep, svc: ServicesDep) -> RuleOut:
    with svc.db.transaction() as conn:
        return rules.update_rule(conn, caller, rule_id, change)


@router.delete("/v1/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: str, caller: CallerDep, svc: ServicesDep, force: bool = False) -> Response:
    """Delete a rule (owner or admin); `force` skips the lock check."""
    with svc.db.transaction() as conn:
        rules.delete_rule(conn, caller, rule_id, force=force)
    return Response(status_code=204)


@router.post("/v1/rules/{rule_id}/reduce")
def reduce_rule(rule_id: str, body: RuleReduce, caller: CallerDep, svc: ServicesDep) -> RuleOut:
    with svc.db.transaction() as conn:
        return changes.reduce_rule(conn, caller, rule_id, body.copies)


@router.post("/v1/rules/{rule_id}/move")
def move_rule(rule_id: str, body: RuleMove, caller: CallerDep, svc: ServicesDep) -> RuleOut:
    with svc.db.transaction() as conn:
        return changes.move_rule(conn, caller, rule_id, body.rse_expression)


@router.get("/v1/rules/{rule_id}/locks", **ndjson_of(LockOut))
def rule_locks(rule_id: str, _caller: CallerDep, svc: ServicesDep) -> StreamingResponse:
    return ndjson(svc, lambda conn: rules.rule_locks(conn, rule_id))
