"""Factories for logic tests: RSEs with protocols, files with replicas, datasets, in one transaction."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Connection

from lake.core.models import DIDIn, DIDRef, DIDType, FileIn, ProtocolIn, RegisterFilesIn, RSEIn
from lake.logic.auth.permissions import Caller
from lake.logic.catalog import dids, replicas, rses
from lake.testing.accounts import ALICE as ALICE
from lake.testing.accounts import ROOT as ROOT

Sites = Mapping[str, Mapping[str, object]]

GRID_SITES: Sites = {
    "CERN-DISK": {"country": "CH", "tier": 0},
    "DESY-DISK": {"country": "DE", "tier": 1},
    "KIT-DISK": {"country": "DE", "tier": 1},
    "PIC-DISK": {"country": "ES", "tier": 1},
}
"""A tier-0 and three tier-1 sites in three countries: what most placement tests ask `tier=1` or `country=DE` of."""


def add_rses(
    conn: Connection,
    spec: Sites,
    port: int = 9000,
    hostname: str = "127.0.0.1",
    protocol: Callable[[str, int], ProtocolIn] | None = None,
) -> None:
    """RSEs by name -> attributes, each with one protocol: `protocol(name, port + index)`, by default http on
    `hostname` (a fake host: logic tests do no I/O)."""
    for i, (name, attributes) in enumerate(spec.items()):
        rses.add_rse(conn, ROOT, RSEIn(name=name, attributes=dict(attributes)))
        if protocol is None:
            rses.add_protocol(conn, ROOT, name, ProtocolIn(scheme="http", hostname=hostname, port=port + i))
        else:
            rses.add_protocol(conn, ROOT, name, protocol(name, port + i))


def adler32(data: bytes) -> str:
    """The adler32 of `data` as the catalog spells it (8 hex digits), computed here rather than by lake.core."""
    return f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"


def seeded_bytes(name: str, size: int) -> bytes:
    """`size` pseudo-random bytes seeded by `name`: a file's content, the same in every run."""
    return random.Random(name).randbytes(size)


def file_in(name: str, size: int = 100, scope: str = "user.alice") -> FileIn:
    return FileIn(scope=scope, name=name, bytes=size, adler32=f"{zlib.adler32(name.encode()):08x}")


def rucio_file(name: str, scope: str = "user.alice") -> dict[str, object]:
    """A file as a Rucio client describes it, whose content is its own name (`bytes` and `adler32` of `name`)."""
    data = name.encode()
    return {"scope": scope, "name": name, "bytes": len(data), "adler32": f"{zlib.adler32(data):08x}"}


def add_dataset(
    conn: Connection, name: str, files: Sequence[str], rse: str, caller: Caller = ALICE, size: int = 100
) -> DIDRef:
    """A dataset of files with AVAILABLE replicas on one RSE."""
    dids.add_collection(conn, caller, DIDIn(scope="user.alice", name=name, type=DIDType.DATASET))
    ref = DIDRef(scope="user.alice", name=name)
    request = RegisterFilesIn(rse=rse, files=[file_in(f, size) for f in files], dataset=ref)
    replicas.register_files(conn, caller, request)
    return ref
