"""Request and response models shared by the API and the client: the contract, typed once."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


class DIDType(StrEnum):
    FILE = "FILE"
    DATASET = "DATASET"
    CONTAINER = "CONTAINER"


class ReplicaState(StrEnum):
    AVAILABLE = "AVAILABLE"
    UNAVAILABLE = "UNAVAILABLE"
    COPYING = "COPYING"
    BEING_DELETED = "BEING_DELETED"
    BAD = "BAD"
    TEMPORARY_UNAVAILABLE = "TEMPORARY_UNAVAILABLE"


class AccountType(StrEnum):
    USER = "USER"
    GROUP = "GROUP"
    SERVICE = "SERVICE"


class RSEType(StrEnum):
    DISK = "DISK"
    TAPE = "TAPE"


# What the catalog can store: 64-bit integers (SQLite INTEGER, PostgreSQL BIGINT), and expiry dates within
# datetime's range (a lifetime of at most a century).
BIGINT_MAX = 2**63 - 1
MAX_LIFETIME = 100 * 365 * 86400


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The catalog keeps naive UTC datetimes; on the wire they say so (`...Z`), as RFC 3339 `date-time` needs. Only
# the fields that carry one pay for it (the streamed listings get the same from orjson, see `api.deps.ndjson`).
Timestamp = Annotated[datetime, PlainSerializer(_as_utc, return_type=datetime, when_used="json")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- accounts and auth -------------------------------------------------------------------------------


class AccountIn(Model):
    name: str
    type: AccountType = AccountType.USER
    email: str | None = None
    password: str | None = Field(default=None, description="adds a userpass identity for the account")


class AccountOut(Model):
    name: str
    type: AccountType
    status: str
    email: str | None = None
    admin: bool = False


class OidcIdentityIn(Model):
    """A trusted external issuer's subject, to be mapped to an account."""

    issuer: str
    subject: str


class IdentityOut(Model):
    account: str
    identity: str
    type: str


class PasswordLogin(Model):
    username: str
    password: str
    account: str | None = Field(default=None, description="account to act as; default the identity's")


class TokenOut(Model):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    account: str


# --- scopes and DIDs -----------------------------------------------------------------------------------


class ScopeIn(Model):
    name: str
    account: str | None = Field(default=None, description="owner; default the caller")


class ScopeOut(Model):
    name: str
    account: str
    status: str


class DIDRef(Model):
    scope: str
    name: str


class DIDIn(Model):
    scope: str
    name: str
    type: DIDType
    lifetime: int | None = Field(default=None, le=MAX_LIFETIME, description="seconds until the DID expires")
    meta: dict[str, Any] = Field(default_factory=dict)


class DIDOut(Model):
    scope: str
    name: str
    type: DIDType
    account: str
    is_open: bool | None = None
    bytes: int | None = None
    length: int | None = None
    adler32: str | None = None
    md5: str | None = None
    expired_at: Timestamp | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    meta: dict[str, Any] | None = None


class AttachIn(Model):
    dids: list[DIDRef]


class StatusIn(Model):
    open: bool


class MetaIn(Model):
    meta: dict[str, Any]


class FileIn(Model):
    """A file to register: its identity, size and checksums (adler32 is mandatory)."""

    scope: str
    name: str
    bytes: int = Field(ge=0, le=BIGINT_MAX)
    adler32: str
    md5: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class RegisterFilesIn(Model):
    """Bulk registration: files, their replicas on one RSE and (optionally) attachment to a dataset."""

    rse: str
    files: list[FileIn]
    dataset: DIDRef | None = None
    state: ReplicaState = ReplicaState.AVAILABLE


class RegisterFilesOut(Model):
    files: int
    replicas: int
    attached: int


# --- RSEs ----------------------------------------------------------------------------------------------


class RSEIn(Model):
    name: str
    rse_type: RSEType = RSEType.DISK
    deterministic: bool = True
    volatile: bool = False
    attributes: dict[str, Any] = Field(default_factory=dict)


class RSEUpdate(Model):
    availability_read: bool | None = None
    availability_write: bool | None = None
    availability_delete: bool | None = None


class ProtocolDomains(Model):
    read: int | None = None
    write: int | None = None
    delete: int | None = None
    third_party_copy_read: int | None = None
    third_party_copy_write: int | None = None


class ProtocolIn(Model):
    scheme: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9+.-]*$", description="a URL scheme: root, davs, https, ...")
    hostname: str
    port: int = Field(ge=0, le=65535)
    prefix: str = "/"
    impl: str = "lake.storage.http"
    lan: ProtocolDomains = Field(default_factory=lambda: ProtocolDomains(read=1, write=1, delete=1))
    wan: ProtocolDomains = Field(
        default_factory=lambda: ProtocolDomains(
            read=1, write=1, delete=1, third_party_copy_read=1, third_party_copy_write=1
        )
    )
    extended_attributes: dict[str, Any] | None = None


class ProtocolOut(ProtocolIn):
    pass


class RSEOut(Model):
    id: str
    name: str
    rse_type: RSEType
    deterministic: bool
    volatile: bool
    availability_read: bool
    availability_write: bool
    availability_delete: bool
    lfn2pfn_algorithm: str = "hash"
    attributes: dict[str, Any] = Field(default_factory=dict)
    protocols: list[ProtocolOut] = Field(default_factory=list)


class AttributeIn(Model):
    value: Any


class DistanceIn(Model):
    source: str
    destination: str
    distance: int = Field(ge=0, le=BIGINT_MAX)


class DistanceOut(DistanceIn):
    pass


# --- replicas, upload, download ------------------------------------------------------------------------


class ReplicaOut(Model):
    scope: str
    name: str
    rse: str
    state: ReplicaState
    bytes: int | None = None
    adler32: str | None = None
    md5: str | None = None
    pfn: str | None = None
    cached: bool = Field(default=False, description="on a cache (volatile RSE) or read through one; never a rule copy")


class UploadRequest(Model):
    """Ask to upload files to an RSE: the server registers them COPYING and returns where to PUT them."""

    rse: str
    files: list[FileIn]
    dataset: DIDRef | None = None


class UploadTarget(Model):
    scope: str
    name: str
    pfn: str


class UploadTicket(Model):
    rse: str
    targets: list[UploadTarget]
    token: str = Field(description="bearer token for the storage, storage.create on exactly these paths")
    expires_in: int


class UploadDone(Model):
    """After the PUTs: the server checks size and adler32 on storage, then marks replicas AVAILABLE."""

    rse: str
    files: list[DIDRef]
    dataset: DIDRef | None = None


class UploadResult(Model):
    scope: str
    name: str
    state: ReplicaState
    error: dict[str, Any] | None = None


class SourceReplica(Model):
    rse: str
    pfn: str
    token: str | None = None
    cached_from: str | None = Field(default=None, description="the origin RSE, when `pfn` reads through a cache")


class CachedReplicasIn(Model):
    """Files a cache (volatile RSE) reports it holds, or has evicted."""

    files: list[DIDRef]


class CachedReplicasOut(Model):
    changed: int


class DownloadFile(Model):
    """One file to download and its replicas, best first, each with a read token for its storage."""

    scope: str
    name: str
    bytes: int | None
    adler32: str | None
    md5: str | None = None
    sources: list[SourceReplica]
