"""Models of monitoring reads shared by API and client: what an RSE holds, per replica state; link limits."""

from __future__ import annotations

from lake.core.models import Model, Timestamp


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


class LinkLimitOut(Model):
    """A link's concurrency limit as the optimizer last decided it, and what it saw in that window."""

    source_rse: str
    dest_rse: str
    limit: int
    throughput: float  # bytes/s while busy
    files_per_second: float
    successes: int
    failures: int
    decided_at: Timestamp
