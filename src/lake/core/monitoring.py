"""Models of monitoring reads shared by API and client: what an RSE holds, per replica state."""

from __future__ import annotations

from lake.core.models import Model


class StateUsage(Model):
    state: str
    files: int
    bytes: int


class RSEUsageOut(Model):
    """Files and bytes of the replicas on one RSE, in total and per replica state (from the catalog)."""

    rse: str
    files: int
    bytes: int
    by_state: list[StateUsage]
