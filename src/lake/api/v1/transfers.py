"""Transfers, RSE usage, account limits and usage, and the event log (monitoring reads and quotas)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from lake.api.deps import CallerDep, Limit, ServicesDep, ndjson
from lake.api.openapi import ndjson_of
from lake.core.models import BIGINT_MAX
from lake.core.monitoring import LinkLimitOut, RSEUsageOut
from lake.core.replication import EventOut, LimitIn, LimitOut, TransferOut, UsageOut
from lake.logic.monitoring import events, transfers
from lake.logic.rules import quotas
from lake.logic.transfers import optimizer

router = APIRouter()
SinceId = Annotated[int, Query(ge=0, le=BIGINT_MAX, description="resume after this event")]


@router.get("/v1/transfers", **ndjson_of(TransferOut))
def list_transfers(
    _caller: CallerDep,
    svc: ServicesDep,
    state: str | None = None,
    rule_id: str | None = None,
    scope: str | None = None,
    name: str | None = None,
    rse: str | None = None,
    limit: Limit = transfers.DEFAULT_LIMIT,
) -> StreamingResponse:
    """Transfers newest first; `rse` matches either end of the link."""
    return ndjson(svc, lambda conn: transfers.list_transfers(conn, state, rule_id, scope, name, rse, limit))


@router.get("/v1/transfers/links", **ndjson_of(LinkLimitOut))
def list_links(_caller: CallerDep, svc: ServicesDep) -> StreamingResponse:
    """Links with the concurrency limit the optimizer last decided and the throughput it saw, newest first."""
    return ndjson(svc, optimizer.list_links)


@router.get("/v1/rses/{rse}/usage")
def rse_usage(rse: str, _caller: CallerDep, svc: ServicesDep) -> RSEUsageOut:
    with svc.db.transaction() as conn:
        return transfers.rse_usage(conn, rse)


@router.get("/v1/accounts/{account}/limits", **ndjson_of(LimitOut))
def list_limits(account: str, _caller: CallerDep, svc: ServicesDep) -> StreamingResponse:
    return ndjson(svc, lambda conn: iter(quotas.list_limits(conn, account)))


@router.put("/v1/accounts/{account}/limits")
def set_limit(account: str, limit: LimitIn, caller: CallerDep, svc: ServicesDep) -> LimitOut:
    """Set (or with bytes=-1 remove) a limit on an RSE or an RSE expression (admin)."""
    with svc.db.transaction() as conn:
        return quotas.set_limit(conn, caller, account, limit)


@router.get("/v1/accounts/{account}/usage", **ndjson_of(UsageOut))
def account_usage(account: str, _caller: CallerDep, svc: ServicesDep) -> StreamingResponse:
    return ndjson(svc, lambda conn: quotas.account_usage(conn, account))


@router.get("/v1/events", **ndjson_of(EventOut))
def list_events(
    _caller: CallerDep,
    svc: ServicesDep,
    kind: str | None = None,
    rule_id: str | None = None,
    since_id: SinceId = 0,
    limit: Limit = None,
) -> StreamingResponse:
    """Events in order; `kind` takes `*` wildcards (`transfer.*`), `since_id` resumes after a seen event."""
    return ndjson(svc, lambda conn: events.list_events(conn, kind, rule_id, since_id, limit))
