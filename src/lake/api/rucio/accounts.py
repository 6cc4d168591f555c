"""Accounts and scopes in Rucio's dialect: whoami (303), account info, scopes, rules (admin calls: `admin_accounts`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from lake.api.deps import ServicesDep
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import json_response, json_stream
from lake.api.rucio.rules import rule_dict
from lake.core.models import AccountOut
from lake.logic.auth import accounts
from lake.logic.catalog import scopes
from lake.logic.rules import rules

router = APIRouter()


def account_dict(account: AccountOut) -> dict[str, object]:
    """Upstream's account dictionary (Lake keeps no suspension, deletion or timestamps for accounts)."""
    return {
        "account": account.name,
        "account_type": account.type.value,
        "status": account.status,
        "email": account.email,
        "suspended_at": None,
        "deleted_at": None,
        "created_at": None,
        "updated_at": None,
    }


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


@router.get("/accounts/{account}/rules")
def account_rules(account: str, request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    q = request.query_params
    return json_stream(
        svc,
        lambda conn: (
            rule_dict(r) for r in rules.list_rules(conn, account, q.get("scope"), q.get("name"), q.get("state"))
        ),
    )


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
