"""Account limits and usage in Rucio's dialect: local limits per RSE, global limits per RSE expression.

Lake's semantics differ from upstream in one point: an RSE without a limit is unlimited (upstream: no
quota). Usage rows therefore report such RSEs with an infinite limit, sent as the JSON token `Infinity`,
which is what upstream sends for its own infinite limits and what the client's parser and the CLI's
`account limit list` read back as a float. Setting a limit of -1 (`--bytes infinity`) removes the limit.
A "global" limit whose expression is a single RSE name is stored as that RSE's local limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from lake.api.deps import ServicesDep
from lake.api.rucio.auth import RucioCallerDep
from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import STREAM, created, json_dict, json_response
from lake.core.replication import LimitIn, UsageOut
from lake.logic.access import admin_helpers
from lake.logic.auth import accounts
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import rses
from lake.logic.rules import quotas
from lake.logic.services import Services

router = APIRouter()


def usage_stream(rows: Iterable[dict[str, Any]]) -> Response:
    """A JSON stream that may hold infinite limits (`Infinity`, as upstream's serialiser writes them)."""
    return Response("".join(json.dumps(row) + "\n" for row in rows), media_type=STREAM)


def usage_row(usage: UsageOut, key: str, rse_id: str | None = None) -> dict[str, Any]:
    limit = math.inf if usage.bytes_limit is None else usage.bytes_limit
    row: dict[str, Any] = {
        key: usage.rse,
        "bytes": usage.bytes,
        "files": usage.files,
        "bytes_limit": limit,
        "bytes_remaining": limit - usage.bytes,
    }
    return row | ({"rse_id": rse_id} if key == "rse" else {})


async def _set(svc: Services, caller: Caller, account: str, expression: str, request: Request) -> None:
    body = await json_dict(request)
    if "bytes" not in body:
        raise RucioError("KeyError", "'bytes' not defined", 400)
    try:
        limit = LimitIn(rse_expression=expression, bytes=int(body["bytes"]))
    except (TypeError, ValueError, ValidationError) as exc:
        raise RucioError("InvalidObject", f"invalid limit: {exc}", 400) from exc
    with svc.db.transaction() as conn:
        quotas.set_limit(conn, caller, account, limit)


@router.post("/accounts/{account}/limits/local/{rse}")
async def set_local_limit(
    account: str, rse: str, request: Request, caller: RucioCallerDep, svc: ServicesDep
) -> Response:
    """`{"bytes": n}` on one RSE (404 `RSENotFound` for an unknown one); -1 removes the limit."""
    with svc.db.transaction() as conn:
        rses.rse_id(conn, rse)
    await _set(svc, caller, account, rse, request)
    return created()


@router.post("/accounts/{account}/limits/global/{expression:path}")
async def set_global_limit(
    account: str, expression: str, request: Request, caller: RucioCallerDep, svc: ServicesDep
) -> Response:
    await _set(svc, caller, account, expression, request)
    return created()


@router.delete("/accounts/{account}/limits/local/{rse}")
@router.delete("/accounts/{account}/limits/global/{rse:path}")
def delete_limit(account: str, rse: str, caller: RucioCallerDep, svc: ServicesDep) -> Response:
    with svc.db.transaction() as conn:
        quotas.set_limit(conn, caller, account, LimitIn(rse_expression=rse, bytes=-1))
    return Response(status_code=200)


@router.get("/accounts/{account}/limits/local")
def local_limits(account: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{RSE: bytes}`."""
    with svc.db.transaction() as conn:
        accounts.get_account(conn, account)
        return json_response({x.rse_expression: x.bytes for x in quotas.list_limits(conn, account) if x.is_local})


@router.get("/accounts/{account}/limits/local/{rse}")
def local_limit(account: str, rse: str, _caller: RucioCallerDep, svc: ServicesDep) -> Response:
    """`{RSE: bytes}`, or `{RSE: null}` without a limit."""
    with svc.db.transaction() as conn:
        accounts.get_account(conn, account)
        rses.rse_id(conn, rse)
        found = [x.bytes for x in quotas.list_limits(conn, account) if x.is_local and x.rse_expression == rse]
    return json_response({rse: found[0] if found else None})


@router.get("/accounts/{account}/limits/global")
@router.get("/accounts/{account}/limits/global/{expression:path}")
def global_limits(account: str, _caller: RucioCallerDep, svc: ServicesDep, expression: str | None = None) -> Response:
    """`{expression: {resolved_rses, resolved_rse_ids, limit}}`, for every global limit or the one asked for."""
    with svc.db.transaction() as conn:
        accounts.get_account(conn, account)
        names = {rse.id: rse.name for rse in rses.list_rses(conn)}
        limits = {
            limit.expression: {
                "resolved_rses": sorted(names[i] for i in limit.rse_ids),
                "resolved_rse_ids": sorted(limit.rse_ids),
                "limit": limit.bytes,
            }
            for limit in quotas.Quota.load(conn, account).limits
            if not limit.is_local
        }
    if expression is not None:
        return json_response({expression: limits.get(expression)})
    return json_response(limits)


@router.get("/accounts/{account}/usage/local")
@router.get("/accounts/{account}/usage/local/{rse}")
def local_usage(account: str, _caller: RucioCallerDep, svc: ServicesDep, rse: str | None = None) -> Response:
    """`{rse_id, rse, bytes, files, bytes_limit, bytes_remaining}` per RSE with locks or a local limit."""
    with svc.db.transaction() as conn:
        ids = {info.name: info.id for info in rses.list_rses(conn)}
        usage = admin_helpers.local_usage(conn, account)
        if rse is not None:
            rses.rse_id(conn, rse)
            usage = [u for u in usage if u.rse == rse] or [UsageOut(account=account, rse=rse, files=0, bytes=0)]
    return usage_stream(usage_row(u, "rse", ids.get(u.rse)) for u in usage)


@router.get("/accounts/{account}/usage/global")
@router.get("/accounts/{account}/usage/global/{expression:path}")
def global_usage(account: str, _caller: RucioCallerDep, svc: ServicesDep, expression: str | None = None) -> Response:
    """`{rse_expression, bytes, files, bytes_limit, bytes_remaining}` per global limit."""
    with svc.db.transaction() as conn:
        usage = admin_helpers.global_usage(conn, account)
    if expression is not None:
        usage = [u for u in usage if u.rse == expression]
    return usage_stream(usage_row(u, "rse_expression") for u in usage)
