"""Identity tables beyond accounts: groups (feeding `wlcg.groups`), storage policies and device-code logins."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from lake.db.schema_base import metadata

groups = Table(
    "groups",
    metadata,
    Column("name", String(128), primary_key=True, comment="WLCG group path, e.g. /escape/cta"),
    Column("description", String(255)),
    Column("created_at", DateTime, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_name", String(128), ForeignKey("groups.name"), primary_key=True),
    Column("account", String(25), ForeignKey("accounts.name"), primary_key=True),
    Column("optional", Boolean, nullable=False, default=False, comment="asserted only when requested"),
    Column("created_at", DateTime, nullable=False),
    Index("ix_group_members_account", "account"),
)

storage_policies = Table(
    "storage_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(160), nullable=False, comment="account:<name> or group:</path>"),
    Column("scope", String(1024), nullable=False, comment="a storage.* scope with its path, e.g. storage.read:/a"),
    Column("audience", String(255), nullable=False, comment="an audience the scope may be issued for, or *"),
    Column("created_at", DateTime, nullable=False),
    Index("ix_storage_policies_subject", "subject"),
)

device_codes = Table(
    "device_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True, comment="sha256 of the device code; never the code"),
    Column("user_code", String(16), nullable=False, unique=True),
    Column("client_id", String(64)),
    Column("scopes", Text, nullable=False),
    Column("audiences", Text, nullable=False),
    Column("account", String(25), ForeignKey("accounts.name"), comment="set when a user approves"),
    Column("status", String(10), nullable=False, comment="PENDING, APPROVED, DENIED or USED"),
    Column("interval", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("last_polled_at", DateTime),
)
