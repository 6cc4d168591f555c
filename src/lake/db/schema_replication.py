"""The replication tables: rules, locks, transfer requests, quotas, events, daemon heartbeats, link limits."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text

from lake.db.schema_base import DID_NAME, SCOPE, metadata

rules = Table(
    "rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account", String(25), nullable=False),
    Column("scope", SCOPE, nullable=False),
    Column("name", DID_NAME, nullable=False),
    Column("did_type", String(10), nullable=False),
    Column("rse_expression", String(3000), nullable=False),
    Column("copies", Integer, nullable=False),
    Column("grouping", String(10), nullable=False),
    Column("weight", String(255)),
    Column("locked", Boolean, nullable=False, default=False),
    Column("activity", String(50), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("source_replica_expression", String(3000)),
    Column("purge_replicas", Boolean, nullable=False, default=False),
    Column("ignore_account_limit", Boolean, nullable=False, default=False),
    Column("state", String(16), nullable=False),
    Column("locks_ok_cnt", Integer, nullable=False, default=0),
    Column("locks_replicating_cnt", Integer, nullable=False, default=0),
    Column("locks_stuck_cnt", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("stuck_at", DateTime),
    Column("expires_at", DateTime),
    Column("child_rule_id", String(32)),
    Column("comments", String(255)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_rules_did", "scope", "name"),
    Index("ix_rules_state", "state"),
    Index("ix_rules_expires_at", "expires_at"),
)

locks = Table(
    "locks",
    metadata,
    Column("rule_id", String(32), primary_key=True),
    Column("scope", SCOPE, primary_key=True),
    Column("name", DID_NAME, primary_key=True),
    Column("rse_id", String(32), primary_key=True),
    Column("account", String(25), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("repair_cnt", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_locks_replica", "scope", "name", "rse_id"),
    Index("ix_locks_account_rse", "account", "rse_id"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("scope", SCOPE, nullable=False),
    Column("name", DID_NAME, nullable=False),
    Column("dest_rse_id", String(32), nullable=False),
    Column("source_rse_id", String(32)),
    Column("hop_of", String(32), comment="the transfer this hop feeds, for multihop"),
    Column("rule_id", String(32)),
    Column("state", String(16), nullable=False),
    Column("activity", String(50), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("adler32", String(8)),
    Column("md5", String(32)),
    Column("source_replica_expression", String(3000)),
    Column("attempt", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=3),
    Column("retry_after", DateTime),
    Column("bucket", Integer, nullable=False, default=0, comment="crc32(id) % 1024, for hash partitioning"),
    Column("worker", String(255)),
    Column("mode", String(16)),
    Column("error_category", String(32)),
    Column("error", Text),
    Column("created_at", DateTime, nullable=False),
    Column("submitted_at", DateTime),
    Column("finished_at", DateTime),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_transfers_state", "state", "retry_after"),
    Index("ix_transfers_replica", "scope", "name", "dest_rse_id"),
    Index("ix_transfers_hop_of", "hop_of"),
    Index("ix_transfers_rule_id", "rule_id"),
    Index("ix_transfers_finished", "state", "finished_at"),  # the link optimizer's window of finished copies
)

account_limits = Table(
    "account_limits",
    metadata,
    Column("account", String(25), primary_key=True),
    Column("rse_expression", String(3000), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("is_local", Boolean, nullable=False, comment="a single RSE (local) or an RSE expression (global)"),
)

updated_dids = Table(
    "updated_dids",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", SCOPE, nullable=False),
    Column("name", DID_NAME, nullable=False),
    Column("action", String(10), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("scope", SCOPE),
    Column("name", DID_NAME),
    Column("rule_id", String(32)),
    Column("transfer_id", String(32)),
    Column("source_rse", String(255)),
    Column("dest_rse", String(255)),
    Column("bytes", BigInteger),
    Column("duration", Float),
    Column("activity", String(50)),
    Column("error_category", String(32)),
    Column("message", Text),
    Column("payload", JSON),
    Index("ix_events_kind_time", "kind", "created_at"),
)

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("daemon", String(64), primary_key=True),
    Column("instance", String(255), primary_key=True),
    Column("updated_at", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=False),
)

link_limits = Table(
    "link_limits",
    metadata,
    Column("source_rse_id", String(32), primary_key=True),
    Column("dest_rse_id", String(32), primary_key=True),
    Column("limit", Integer, nullable=False, comment="concurrent transfers the claim step allows on this link"),
    Column("previous_limit", Integer, comment="the limit before the last decision, to step back to"),
    Column("throughput", Float, nullable=False, comment="bytes/s while busy, in the window of the last decision"),
    Column("files", Float, nullable=False, comment="files/s while busy, in the same window"),
    Column("successes", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("decided_at", DateTime, nullable=False),
)
