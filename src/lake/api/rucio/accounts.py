"""Accounts and scopes in Rucio's dialect: whoami (303), account info, scopes, attributes, usage, rules."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from lake.api.deps import ServicesDep
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import json_response, json_stream, stream_of
from lake.api.rucio.rules import rule_dict
from lake.core.models import AccountOut
from lake.logic.auth import accounts
from lake.logic.catalog import rses, scopes
from lake.logic.rules import quotas, rules

router = APIRouter()


def account_dict(account: AccountOut) -> dict[str, object]:
    """Upstream's account dictionary (Lake keeps no suspension, deletion or timestamps for accounts)."""
    return {
        "account": account.name, "account_type": account.type.value, "status": account.status,
        "email": account.email, "suspended_at": None, "deleted_at": None, "created_at": None, "updated_at": None,
    }  # fmt: skip


@router.get("/accounts/whoami")
def whoami(caller: RucioCallerDep) -> Response:
    """303 with a relative Location, which the client follows to the account's own page."""
    return RedirectResponse(caller.account, status_code=303)


@router.get("/accounts/{account}")
def get_account(account: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        return json_response(account_dict(accounts.get_account(conn, account)))


@router.get("/accounts/{account}/scopes")
def account_scopes(account: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """The account's scope names; 404 ScopeNotFound when it has none, as upstream."""
    with svc.db.transaction() as conn:
        accounts.get_account(conn, account)
        names = [s.name for s in scopes.list_scopes(conn, account)]
    if not names:
        raise RucioError("ScopeNotFound", f"no scopes found for account ID '{account}'", 404)
    return json_response(names)


@router.get("/accounts/{account}/attr")
def account_attributes(account: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """One JSON list `[{key, value}]` (the download client reads element 0); Lake's only attribute is `admin`."""
    with svc.db.transaction() as conn:
        accounts.get_account(conn, account)
        admin = accounts.is_admin(conn, account)
    return json_response([{"key": "admin", "value": True}] if admin else [])


@router.get("/accounts/{account}/usage/local")
def local_usage(account: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        ids = {rse.name: rse.id for rse in rses.list_rses(conn)}
        usage = [
            {"rse_id": ids.get(u.rse), "rse": u.rse, "bytes": u.bytes, "files": u.files,
             "bytes_limit": u.bytes_limit, "bytes_remaining": u.bytes_remaining}
            for u in quotas.account_usage(conn, account)
        ]  # fmt: skip
    return stream_of(usage)


@router.get("/accounts/{account}/limits/local")
def local_limits(account: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        accounts.get_account(conn, account)
        limits = {x.rse_expression: x.bytes for x in quotas.list_limits(conn, account) if x.is_local}
    return json_response(limits)


@router.get("/accounts/{account}/rules")
def account_rules(account: str, request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    q = request.query_params
    return json_stream(svc, lambda conn: (rule_dict(r) for r in rules.list_rules(
        conn, account, q.get("scope"), q.get("name"), q.get("state"))))  # fmt: skip


@router.get("/scopes")
def list_scopes(_caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """All scope names as one JSON array."""
    with svc.db.transaction() as conn:
        return json_response([s.name for s in scopes.list_scopes(conn)])


@router.get("/scopes/owner")
def scope_owners(_caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`[{scope, account}]` (the CLI's `scope list` needs it)."""
    with svc.db.transaction() as conn:
        return json_response([{"scope": s.name, "account": s.account} for s in scopes.list_scopes(conn)])
