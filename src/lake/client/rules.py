"""Replication rules, transfers, RSE usage, account limits and usage, and the event log."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from lake.client.base import BaseClient
from lake.core.monitoring import LinkLimitOut, RSEUsageOut
from lake.core.replication import (
    EventOut,
    LimitIn,
    LimitOut,
    LockOut,
    RuleIn,
    RuleMove,
    RuleOut,
    RuleReduce,
    RuleUpdate,
    TransferOut,
    UsageOut,
)


def _rule(rule_id: str) -> str:
    return f"/v1/rules/{quote(rule_id, safe='')}"


def _account(account: str) -> str:
    return f"/v1/accounts/{quote(account, safe='')}"


class RuleMixin(BaseClient):
    """Routes under /v1/rules, /v1/transfers, /v1/events and the usage and limits of RSEs and accounts."""

    def add_rule(self, spec: RuleIn) -> RuleOut:
        """Ask for copies of a DID on RSEs matching an expression; the lake makes and keeps them."""
        return self._send_model("POST", "/v1/rules", spec, RuleOut)

    def list_rules(
        self, account: str | None = None, scope: str | None = None, name: str | None = None, state: str | None = None
    ) -> Iterator[RuleOut]:
        params = {"account": account, "scope": scope, "name": name, "state": state}
        return self._ndjson(RuleOut, "/v1/rules", params)

    def get_rule(self, rule_id: str) -> RuleOut:
        return self._get_model(RuleOut, _rule(rule_id))

    def update_rule(self, rule_id: str, change: RuleUpdate) -> RuleOut:
        """Change lifetime, lock, priority, activity, comments, or suspend/resume (only the fields given)."""
        return self._send_model("PATCH", _rule(rule_id), change, RuleOut)

    def delete_rule(self, rule_id: str, force: bool = False) -> None:
        self._request("DELETE", _rule(rule_id), params={"force": "true"} if force else None)

    def reduce_rule(self, rule_id: str, copies: int) -> RuleOut:
        """Keep fewer copies: the surplus locks are released."""
        return self._send_model("POST", f"{_rule(rule_id)}/reduce", RuleReduce(copies=copies), RuleOut)

    def move_rule(self, rule_id: str, rse_expression: str) -> RuleOut:
        """Move a rule's data to other RSEs: a child rule replicates first, then the old one goes."""
        body = RuleMove(rse_expression=rse_expression)
        return self._send_model("POST", f"{_rule(rule_id)}/move", body, RuleOut)

    def rule_locks(self, rule_id: str) -> Iterator[LockOut]:
        return self._ndjson(LockOut, f"{_rule(rule_id)}/locks")

    def list_transfers(
        self, state: str | None = None, rule_id: str | None = None, rse: str | None = None, limit: int | None = None
    ) -> Iterator[TransferOut]:
        """Transfers newest first; `rse` matches the source or the destination."""
        params = {"state": state, "rule_id": rule_id, "rse": rse, "limit": limit}
        return self._ndjson(TransferOut, "/v1/transfers", params)

    def list_links(self) -> Iterator[LinkLimitOut]:
        """Links with their optimized concurrency limit and last throughput."""
        return self._ndjson(LinkLimitOut, "/v1/transfers/links")

    def rse_usage(self, rse: str) -> RSEUsageOut:
        return self._get_model(RSEUsageOut, f"/v1/rses/{quote(rse, safe='')}/usage")

    def list_limits(self, account: str) -> Iterator[LimitOut]:
        return self._ndjson(LimitOut, f"{_account(account)}/limits")

    def set_limit(self, account: str, rse_expression: str, bytes_: int) -> LimitOut:
        """Limit an account on an RSE (local) or an RSE expression (global); -1 removes the limit (admin)."""
        body = LimitIn(rse_expression=rse_expression, bytes=bytes_)
        return self._send_model("PUT", f"{_account(account)}/limits", body, LimitOut)

    def account_usage(self, account: str) -> Iterator[UsageOut]:
        return self._ndjson(UsageOut, f"{_account(account)}/usage")

    def list_events(
        self, kind: str | None = None, rule_id: str | None = None, since_id: int = 0, limit: int | None = None
    ) -> Iterator[EventOut]:
        params = {"kind": kind, "rule_id": rule_id, "since_id": since_id or None, "limit": limit}
        return self._ndjson(EventOut, "/v1/events", params)
