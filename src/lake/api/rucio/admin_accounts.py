"""Account administration in Rucio's dialect: accounts, userpass identities, account attributes, scopes.

What `rucio account add`, `rucio account identity add`, `rucio account attribute set` and `rucio scope add`
call. Creations answer 201 `Created`; only administrators may create (401 `AccessDenied` otherwise, as
upstream). Identity types other than userpass are refused (409 `UnsupportedOperation`): Lake cannot log
them in.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from lake.api.deps import ServicesDep
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import created, json_dict, json_response, stream_of
from lake.core.models import AccountIn, AccountType, ScopeIn
from lake.logic.access import admin_helpers
from lake.logic.auth import accounts
from lake.logic.catalog import scopes

router = APIRouter()

# Query arguments of `GET /accounts/` that are not attribute filters.
LIST_OPTIONS = ("account_type", "identity")


def attribute_value(value: str | None) -> Any:
    """Attribute values as upstream returns them: `True`/`False` as booleans, anything else as stored."""
    if value is not None and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


@router.get("/accounts")
def list_accounts(request: Request, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{account, type, email}` per line, filtered by `account_type`, `identity` and attribute equality."""
    q = request.query_params
    wanted = {key: value.lower() for key, value in q.items() if key not in LIST_OPTIONS}
    found = []
    with svc.db.transaction() as conn:
        for account in accounts.list_accounts(conn):
            if q.get("account_type") and account.type.value != q["account_type"].upper():
                continue
            if q.get("identity") and q["identity"] not in {
                i["identity"] for i in admin_helpers.list_identities(conn, account.name)
            }:
                continue
            attributes = admin_helpers.account_attributes(conn, account.name)
            if any(str(attributes.get(key)).lower() != value for key, value in wanted.items()):
                continue
            found.append({"account": account.name, "type": account.type.value, "email": account.email})
    return stream_of(found)


@router.post("/accounts/{account}")
async def add_account(account: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{"type": USER|GROUP|SERVICE, "email": ...}`; 409 `Duplicate` if the account exists."""
    body = await json_dict(request)
    try:
        spec = AccountIn(name=account, type=AccountType(str(body.get("type", "USER")).upper()), email=body.get("email"))
    except (ValueError, ValidationError) as exc:
        raise RucioError("InvalidObject", f"invalid account: {exc}", 400) from exc
    with svc.db.transaction() as conn:
        accounts.add_account(conn, caller, spec)
    return created()


@router.get("/accounts/{account}/identities")
def list_identities(account: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        return stream_of(admin_helpers.list_identities(conn, account))


@router.post("/accounts/{account}/identities")
async def add_identity(account: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{"identity", "authtype", "email", "default", "password"}` (userpass only)."""
    body = await json_dict(request)
    for key in ("identity", "authtype"):
        if not body.get(key):
            raise RucioError("KeyError", f"'{key}' not defined", 400)
    with svc.db.transaction() as conn:
        admin_helpers.add_identity(conn, caller, account, body["identity"], body["authtype"], body.get("password"))
    return created()


@router.get("/accounts/{account}/attr")
def account_attributes(account: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """One JSON list `[{key, value}]` (the download client reads element 0 and looks for `admin`)."""
    with svc.db.transaction() as conn:
        attributes = admin_helpers.account_attributes(conn, account)
    return json_response([{"key": key, "value": attribute_value(value)} for key, value in attributes.items()])


@router.post("/accounts/{account}/attr/{key}")
async def add_attribute(account: str, key: str, request: Request, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    body = await json_dict(request)
    if "value" not in body:
        raise RucioError("KeyError", "'value' not defined", 400)
    with svc.db.transaction() as conn:
        admin_helpers.set_account_attribute(conn, caller, account, key, str(body["value"]))
    return created()


@router.delete("/accounts/{account}/attr/{key}")
def delete_attribute(account: str, key: str, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        admin_helpers.delete_account_attribute(conn, caller, account, key)
    return Response(status_code=200)


@router.post("/accounts/{account}/scopes/{scope}")
def add_scope(account: str, scope: str, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """A new scope owned by `account`; 409 `Duplicate` if it exists, 404 `AccountNotFound`."""
    with svc.db.transaction() as conn:
        scopes.add_scope(conn, caller, ScopeIn(name=scope, account=account))
    return created()
