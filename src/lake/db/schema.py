"""The catalog schema (SQLAlchemy Core). The database is the state machine: every row is a fact.

The tables are in three modules sharing one `metadata` (lake.db.schema_base): the catalog's here, the policy
engine's in schema_replication, authentication's in schema_auth; importing this module completes `metadata`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from lake.db import schema_auth as _auth_tables  # noqa: F401 - groups, storage policies, device codes
from lake.db import schema_replication as _policy_tables  # noqa: F401 - rules, locks, transfers, events...
from lake.db.schema_base import DID_NAME, SCOPE
from lake.db.schema_base import metadata as metadata  # the complete one, once this module is imported

accounts = Table(
    "accounts",
    metadata,
    Column("name", String(25), primary_key=True),
    Column("type", String(10), nullable=False),
    Column("status", String(10), nullable=False, default="ACTIVE"),
    Column("email", String(255)),
    Column("created_at", DateTime, nullable=False),
)

account_attrs = Table(
    "account_attrs",
    metadata,
    Column("account", String(25), ForeignKey("accounts.name"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", String(255)),
)

identities = Table(
    "identities",
    metadata,
    Column("identity", String(255), primary_key=True),
    Column("type", String(10), primary_key=True),
    Column("account", String(25), ForeignKey("accounts.name"), primary_key=True),
    Column("password_hash", String(255)),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
)

scopes = Table(
    "scopes",
    metadata,
    Column("name", SCOPE, primary_key=True),
    Column("account", String(25), ForeignKey("accounts.name"), nullable=False),
    Column("status", String(10), nullable=False, default="OPEN"),
    Column("created_at", DateTime, nullable=False),
)

dids = Table(
    "dids",
    metadata,
    Column("scope", SCOPE, primary_key=True),
    Column("name", DID_NAME, primary_key=True),
    Column("did_type", String(10), nullable=False),
    Column("account", String(25), nullable=False),
    Column("is_open", Boolean),
    Column("monotonic", Boolean, nullable=False, default=False),
    Column("bytes", BigInteger),
    Column("length", BigInteger),
    Column("adler32", String(8)),
    Column("md5", String(32)),
    Column("availability", String(10), nullable=False, default="AVAILABLE"),
    Column("expired_at", DateTime),
    Column("closed_at", DateTime),
    Column("accessed_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

deleted_dids = Table(
    "deleted_dids",
    metadata,
    Column("scope", SCOPE, primary_key=True),
    Column("name", DID_NAME, primary_key=True),
    Column("did_type", String(10), nullable=False),
    Column("deleted_at", DateTime, nullable=False),
)

did_meta = Table(
    "did_meta",
    metadata,
    Column("scope", SCOPE, primary_key=True),
    Column("name", DID_NAME, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text),
    Column("value_num", Float),
    Column("value_json", JSON),
    Index("ix_did_meta_key_value", "key", "value"),
    Index("ix_did_meta_key_num", "key", "value_num"),
)

contents = Table(
    "contents",
    metadata,
    Column("scope", SCOPE, primary_key=True),
    Column("name", DID_NAME, primary_key=True),
    Column("child_scope", SCOPE, primary_key=True),
    Column("child_name", DID_NAME, primary_key=True),
    Column("child_type", String(10), nullable=False),
    Column("bytes", BigInteger),
    Column("adler32", String(8)),
    Column("md5", String(32)),
    Column("created_at", DateTime, nullable=False),
    Index("ix_contents_child", "child_scope", "child_name"),
)

rses = Table(
    "rses",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("rse_type", String(10), nullable=False),
    Column("deterministic", Boolean, nullable=False),
    Column("volatile", Boolean, nullable=False),
    Column("availability_read", Boolean, nullable=False, default=True),
    Column("availability_write", Boolean, nullable=False, default=True),
    Column("availability_delete", Boolean, nullable=False, default=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
)

rse_attrs = Table(
    "rse_attrs",
    metadata,
    Column("rse_id", String(32), ForeignKey("rses.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", JSON),
)

rse_protocols = Table(
    "rse_protocols",
    metadata,
    Column("rse_id", String(32), ForeignKey("rses.id"), primary_key=True),
    Column("scheme", String(32), primary_key=True),
    Column("hostname", String(255), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("prefix", String(1024), nullable=False),
    Column("impl", String(255), nullable=False),
    Column("domains", JSON, nullable=False),
    Column("extended_attributes", JSON),
)

distances = Table(
    "distances",
    metadata,
    Column("src_rse_id", String(32), ForeignKey("rses.id"), primary_key=True),
    Column("dest_rse_id", String(32), ForeignKey("rses.id"), primary_key=True),
    Column("distance", Integer, nullable=False),
)

replicas = Table(
    "replicas",
    metadata,
    Column("rse_id", String(32), ForeignKey("rses.id"), primary_key=True),
    Column("scope", SCOPE, primary_key=True),
    Column("name", DID_NAME, primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("adler32", String(8)),
    Column("md5", String(32)),
    Column("path", String(1024)),
    Column("state", String(24), nullable=False),
    Column("lock_cnt", Integer, nullable=False, default=0),
    Column("tombstone", DateTime),
    Column("accessed_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_replicas_did", "scope", "name"),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("secret_hash", String(255), nullable=False, comment="scrypt hash; the secret is shown once"),
    Column("account", String(25), ForeignKey("accounts.name"), nullable=False),
    Column("scopes", Text, nullable=False, comment="space-separated scopes the client may request"),
    Column("audiences", Text, nullable=False, comment="space-separated audiences the client may request"),
    Column("status", String(10), nullable=False, default="ACTIVE"),
    Column("created_at", DateTime, nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True, comment="sha256 of the opaque token; never the token"),
    Column("account", String(25), ForeignKey("accounts.name"), nullable=False),
    Column("client_id", String(64), comment="the client it is bound to; NULL for a public password login"),
    Column("scopes", Text, nullable=False),
    Column("audiences", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Index("ix_refresh_tokens_account", "account"),
)
