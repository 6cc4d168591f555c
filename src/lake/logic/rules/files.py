"""The files a rule covers, grouped as its grouping needs (one group per dataset, all, or per file)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, and_, select

from lake.core.models import DIDRef, DIDType
from lake.core.replication import Grouping
from lake.db import schema as t
from lake.logic.catalog import contents
from lake.logic.catalog.dids import get_row


@dataclass(frozen=True)
class RuleFile:
    scope: str
    name: str
    bytes: int
    adler32: str | None
    md5: str | None


def _files(conn: Connection, query: object) -> list[RuleFile]:
    return [RuleFile(r.scope, r.name, r.bytes or 0, r.adler32, r.md5) for r in conn.execute(query)]  # type: ignore[call-overload]


def _file_rows(keys: object) -> object:
    sub = keys.subquery()  # type: ignore[attr-defined]
    d = t.dids.c
    return select(d.scope, d.name, d.bytes, d.adler32, d.md5).join(
        sub, and_(d.scope == sub.c.scope, d.name == sub.c.name)
    )


def file_groups(conn: Connection, ref: DIDRef, grouping: Grouping) -> Iterator[list[RuleFile]]:
    """Groups of files that must land on the same RSEs: per dataset (DATASET), all (ALL), single (NONE)."""
    row = get_row(conn, ref.scope, ref.name)
    everything = _files(conn, _file_rows(contents.file_keys_query(conn, ref)))
    if grouping == Grouping.NONE:
        yield from ([f] for f in everything)
        return
    if grouping == Grouping.ALL or row.did_type != DIDType.CONTAINER.value:
        if everything:
            yield everything
        return
    placed: set[tuple[str, str]] = set()
    for dataset in _datasets_below(conn, ref):
        group = [f for f in _files(conn, _file_rows(contents.file_keys_query(conn, dataset)))]
        placed.update((f.scope, f.name) for f in group)
        if group:
            yield group
    loose = [f for f in everything if (f.scope, f.name) not in placed]
    if loose:
        yield loose


def _datasets_below(conn: Connection, ref: DIDRef) -> list[DIDRef]:
    return [
        DIDRef(scope=d.scope, name=d.name)
        for d in contents.list_content(conn, ref, recursive=True)
        if d.type == DIDType.DATASET
    ]
