"""Factories for logic tests: RSEs with protocols, files with replicas, datasets, in one transaction."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from sqlalchemy import Connection

from lake.core.models import DIDIn, DIDRef, DIDType, FileIn, ProtocolIn, RegisterFilesIn, RSEIn
from lake.logic.auth.policy import Caller
from lake.logic.catalog import dids, replicas, rses

ROOT = Caller(account="root", admin=True)
ALICE = Caller(account="alice", admin=False)


def add_rses(conn: Connection, spec: dict[str, dict[str, object]], port: int = 9000) -> None:
    """RSEs by name -> attributes, each with an http protocol (fake host: logic tests do no I/O)."""
    for i, (name, attributes) in enumerate(spec.items()):
        rses.add_rse(conn, ROOT, RSEIn(name=name, attributes=attributes))
        rses.add_protocol(conn, ROOT, name, ProtocolIn(scheme="http", hostname="127.0.0.1", port=port + i))


def file_in(name: str, size: int = 100, scope: str = "user.alice") -> FileIn:
    return FileIn(scope=scope, name=name, bytes=size, adler32=f"{zlib.adler32(name.encode()):08x}")


def add_dataset(conn: Connection, name: str, files: Sequence[str], rse: str, caller: Caller = ALICE,
                size: int = 100) -> DIDRef:  # fmt: skip
    """A dataset of files with AVAILABLE replicas on one RSE."""
    dids.add_collection(conn, caller, DIDIn(scope="user.alice", name=name, type=DIDType.DATASET))
    ref = DIDRef(scope="user.alice", name=name)
    request = RegisterFilesIn(rse=rse, files=[file_in(f, size) for f in files], dataset=ref)
    replicas.register_files(conn, caller, request)
    return ref
