"""The replication models shared by API and client: rules, locks, transfers, quotas, events ("policy" in Lake's
code means a storage policy only)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from lake.core.models import BIGINT_MAX, MAX_LIFETIME, Model, Timestamp


class RuleState(StrEnum):
    REPLICATING = "REPLICATING"
    OK = "OK"
    STUCK = "STUCK"
    SUSPENDED = "SUSPENDED"


class LockState(StrEnum):
    REPLICATING = "REPLICATING"
    OK = "OK"
    STUCK = "STUCK"


class Grouping(StrEnum):
    ALL = "ALL"
    DATASET = "DATASET"
    NONE = "NONE"


class TransferState(StrEnum):
    QUEUED = "QUEUED"
    SUBMITTED = "SUBMITTED"
    WAITING = "WAITING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class ErrorCategory(StrEnum):
    """Why a transfer failed: one category per failure, as operators triage them."""

    SOURCE_MISSING = "SOURCE_MISSING"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    DESTINATION_EXISTS = "DESTINATION_EXISTS"
    AUTH = "AUTH"
    TIMEOUT = "TIMEOUT"
    STORAGE_ERROR = "STORAGE_ERROR"
    NO_PATH = "NO_PATH"


class RuleIn(Model):
    scope: str
    name: str
    copies: int = Field(default=1, ge=1)
    rse_expression: str
    grouping: Grouping = Grouping.DATASET
    weight: str | None = Field(default=None, description="RSE attribute weighting the choice of RSEs")
    lifetime: int | None = Field(default=None, gt=0, le=MAX_LIFETIME, description="seconds until the rule expires")
    locked: bool = False
    activity: str = "User Subscriptions"
    priority: int = Field(default=3, ge=1, le=5)
    source_replica_expression: str | None = None
    purge_replicas: bool = False
    ignore_account_limit: bool = Field(default=False, description="admins only: skip quota checks")
    comments: str | None = None
    account: str | None = Field(default=None, description="owner; default the caller (others: admins only)")


class RuleUpdate(Model):
    lifetime: int | None = Field(
        default=None, le=MAX_LIFETIME, description="new lifetime in seconds from now; -1 removes it"
    )
    locked: bool | None = None
    activity: str | None = None
    priority: int | None = Field(default=None, ge=1, le=5)
    suspended: bool | None = Field(default=None, description="True suspends the rule, False resumes it")
    comments: str | None = None


class RuleReduce(Model):
    copies: int = Field(ge=1)


class RuleMove(Model):
    rse_expression: str


class RuleOut(Model):
    id: str
    account: str
    scope: str
    name: str
    did_type: str
    rse_expression: str
    copies: int
    grouping: Grouping
    weight: str | None = None
    locked: bool
    activity: str
    priority: int
    source_replica_expression: str | None = None
    purge_replicas: bool
    state: RuleState
    locks_ok_cnt: int
    locks_replicating_cnt: int
    locks_stuck_cnt: int
    error: str | None = None
    expires_at: Timestamp | None = None
    child_rule_id: str | None = None
    comments: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class LockOut(Model):
    rule_id: str
    scope: str
    name: str
    rse: str
    state: LockState
    bytes: int


class TransferOut(Model):
    id: str
    scope: str
    name: str
    source_rse: str | None = None
    dest_rse: str
    state: TransferState
    activity: str
    bytes: int
    attempt: int
    mode: str | None = None
    error_category: ErrorCategory | None = None
    error: str | None = None
    rule_id: str | None = None
    created_at: Timestamp
    finished_at: Timestamp | None = None


class LimitIn(Model):
    rse_expression: str = Field(description="an RSE name (local limit) or an RSE expression (global limit)")
    bytes: int = Field(ge=-1, le=BIGINT_MAX, description="-1 means unlimited")


class LimitOut(LimitIn):
    account: str
    is_local: bool


class UsageOut(Model):
    account: str | None = None
    rse: str
    files: int
    bytes: int
    bytes_limit: int | None = None
    bytes_remaining: int | None = None


class EventOut(Model):
    id: int
    created_at: Timestamp
    kind: str
    scope: str | None = None
    name: str | None = None
    rule_id: str | None = None
    transfer_id: str | None = None
    source_rse: str | None = None
    dest_rse: str | None = None
    bytes: int | None = None
    duration: float | None = None
    activity: str | None = None
    error_category: str | None = None
    message: str | None = None
    payload: dict[str, Any] | None = None
