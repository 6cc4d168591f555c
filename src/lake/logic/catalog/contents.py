"""The DID graph: attach and detach (open/closed, type and cycle rules), content, parents, files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, and_, delete, func, select, tuple_, update

from lake.core.clock import utcnow
from lake.core.errors import AlreadyExists, ClosedCollection, DIDNotFound, InvalidInput, UnsupportedOperation
from lake.core.models import DIDOut, DIDRef, DIDType, FileIn
from lake.db import did_updates
from lake.db import schema as t
from lake.db.bulk import insert_rows, present_keys, rows_by_key
from lake.logic.auth.permissions import Caller, require_scope_writer
from lake.logic.catalog.dids import did_out, get_row

CHUNK = 500


class ChildLike(Protocol):
    """What a content row copies from its child: a `dids` row or a `Child`."""

    scope: str
    name: str
    did_type: str
    bytes: int | None
    adler32: str | None
    md5: str | None


@dataclass
class Child:
    """A file about to be attached whose DID row is not at hand (its caller knows it exists)."""

    scope: str
    name: str
    did_type: str
    bytes: int | None
    adler32: str | None
    md5: str | None


def attach(conn: Connection, caller: Caller, parent: DIDRef, children: Sequence[DIDRef]) -> int:
    """Attach DIDs to an open collection: files into datasets, datasets/containers into containers."""
    row = get_row(conn, parent.scope, parent.name)
    require_scope_writer(conn, caller, parent.scope)
    _check_collection_open(row)
    child_rows = _existing_children(conn, children)
    allowed = (
        {DIDType.FILE.value}
        if row.did_type == DIDType.DATASET.value
        else {DIDType.DATASET.value, DIDType.CONTAINER.value}
    )
    for child in child_rows:
        if child.did_type not in allowed:
            raise InvalidInput(
                f"a {row.did_type.lower()} cannot contain the {child.did_type.lower()} '{child.scope}:{child.name}'"
            )
    if row.did_type == DIDType.CONTAINER.value:
        _check_no_cycle(conn, parent, child_rows)
    return attach_rows(conn, parent, child_rows)


def attach_files(
    conn: Connection, caller: Caller, dataset: DIDRef, files: Sequence[FileIn], unattached: bool = False
) -> int:
    """Attach files known to exist (objects with scope, name, bytes, adler32, md5) to an open dataset.

    `unattached=True` says the caller already checked that none is in the dataset (skips that lookup).
    """
    row = get_row(conn, dataset.scope, dataset.name)
    require_scope_writer(conn, caller, dataset.scope)
    _check_collection_open(row)
    if row.did_type != DIDType.DATASET.value:
        raise InvalidInput(
            f"files can only be attached to a dataset, not to the container '{dataset.scope}:{dataset.name}'"
        )
    children = [Child(f.scope, f.name, DIDType.FILE.value, f.bytes, f.adler32, f.md5) for f in files]
    return attach_rows(conn, dataset, children, check_attached=not unattached)


def attach_rows(conn: Connection, parent: DIDRef, child_rows: Sequence[ChildLike], check_attached: bool = True) -> int:
    """Insert content rows (no type checks) and grow the parent's length and bytes."""
    already = _attached_subset(conn, parent, [(c.scope, c.name) for c in child_rows]) if check_attached else set()
    if already:
        scope, name = next(iter(already))
        raise AlreadyExists(f"'{scope}:{name}' is already attached to '{parent.scope}:{parent.name}'")
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "scope": parent.scope,
            "name": parent.name,
            "child_scope": c.scope,
            "child_name": c.name,
            "child_type": c.did_type,
            "bytes": c.bytes,
            "adler32": c.adler32,
            "md5": c.md5,
            "created_at": now,
        }
        for c in child_rows
    ]
    if rows:
        insert_rows(conn, t.contents, rows)
        _grow(conn, parent, len(rows), sum(c.bytes or 0 for c in child_rows))
        note_update(conn, parent, "ATTACH")
    return len(rows)


def _grow(conn: Connection, parent: DIDRef, files: int, size: int) -> None:
    """Add to a collection's length and bytes (incremental: no recount of large datasets)."""
    d = t.dids.c
    conn.execute(
        update(t.dids)
        .where(d.scope == parent.scope, d.name == parent.name)
        .values(length=func.coalesce(d.length, 0) + files, bytes=func.coalesce(d.bytes, 0) + size, updated_at=utcnow())
    )


def note_update(conn: Connection, did: DIDRef, action: str) -> None:
    """Queue the change for the rule evaluator, which adjusts the locks of rules on the DID and above it."""
    did_updates.note(conn, did.scope, did.name, action, utcnow())


def detach(conn: Connection, caller: Caller, parent: DIDRef, children: Sequence[DIDRef]) -> int:
    row = get_row(conn, parent.scope, parent.name)
    require_scope_writer(conn, caller, parent.scope)
    _check_collection_open(row)
    if row.monotonic:
        raise UnsupportedOperation(f"'{parent.scope}:{parent.name}' is monotonic: content can only grow")
    keys = [(c.scope, c.name) for c in children]
    missing = set(keys) - _attached_subset(conn, parent, keys)
    if missing:
        scope, name = sorted(missing)[0]
        raise DIDNotFound(f"'{scope}:{name}' is not attached to '{parent.scope}:{parent.name}'")
    for start in range(0, len(keys), CHUNK):
        conn.execute(
            delete(t.contents).where(
                t.contents.c.scope == parent.scope,
                t.contents.c.name == parent.name,
                tuple_(t.contents.c.child_scope, t.contents.c.child_name).in_(keys[start : start + CHUNK]),
            )
        )
    refresh_size(conn, parent)
    note_update(conn, parent, "DETACH")
    return len(keys)


def _check_collection_open(row: Any) -> None:
    if row.did_type == DIDType.FILE.value:
        raise InvalidInput(f"'{row.scope}:{row.name}' is a file and has no content")
    if not row.is_open:
        raise ClosedCollection(f"'{row.scope}:{row.name}' is closed: its content cannot change")


def _existing_children(conn: Connection, children: Sequence[DIDRef]) -> list[Any]:
    keys = list(dict.fromkeys((c.scope, c.name) for c in children))
    d = t.dids.c
    found = rows_by_key(conn, (d.scope, d.name, d.did_type, d.bytes, d.adler32, d.md5), d.scope, d.name, keys)
    for key in keys:
        if key not in found:
            raise DIDNotFound(f"DID '{key[0]}:{key[1]}' does not exist")
    return [found[k] for k in keys]


def _attached_subset(conn: Connection, parent: DIDRef, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    c = t.contents.c
    return present_keys(conn, c.child_scope, c.child_name, keys, c.scope == parent.scope, c.name == parent.name)


def _check_no_cycle(conn: Connection, parent: DIDRef, child_rows: Sequence[Any]) -> None:
    """A container may not contain itself or any of its ancestors."""
    ancestors = {(parent.scope, parent.name)} | {(p.scope, p.name) for p in ancestors_of(conn, parent)}
    for child in child_rows:
        if (child.scope, child.name) in ancestors:
            raise UnsupportedOperation(
                f"attaching '{child.scope}:{child.name}' to '{parent.scope}:{parent.name}' would make a cycle"
            )


def refresh_size(conn: Connection, parent: DIDRef) -> None:
    """Recompute a collection's length and bytes from its content rows."""
    totals = select(func.count(), func.coalesce(func.sum(t.contents.c.bytes), 0)).where(
        t.contents.c.scope == parent.scope, t.contents.c.name == parent.name
    )
    length, size = conn.execute(totals).one()
    conn.execute(
        update(t.dids)
        .where(t.dids.c.scope == parent.scope, t.dids.c.name == parent.name)
        .values(length=length, bytes=size, updated_at=utcnow())
    )


def _tree(root: DIDRef, upward: bool = False) -> Any:
    """A recursive CTE of all DIDs below (or above) a root; UNION removes DAG duplicates."""
    c = t.contents.c
    near, far = (
        ((c.child_scope, c.child_name), (c.scope, c.name))
        if upward
        else ((c.scope, c.name), (c.child_scope, c.child_name))
    )
    base = select(far[0].label("scope"), far[1].label("name")).where(near[0] == root.scope, near[1] == root.name)
    tree = base.cte("tree", recursive=True)
    step = select(far[0], far[1]).join(tree, and_(near[0] == tree.c.scope, near[1] == tree.c.name))
    return tree.union(step)


def _dids_in(tree: Any, did_type: DIDType | None = None) -> Any:
    query = select(t.dids).join(tree, and_(t.dids.c.scope == tree.c.scope, t.dids.c.name == tree.c.name))
    if did_type is not None:
        query = query.where(t.dids.c.did_type == did_type.value)
    return query


def list_content(conn: Connection, ref: DIDRef, recursive: bool = False) -> Iterator[DIDOut]:
    row = get_row(conn, ref.scope, ref.name)
    if row.did_type == DIDType.FILE.value:
        return
    if recursive:
        query = _dids_in(_tree(ref))
    else:
        query = (
            select(t.dids)
            .join(
                t.contents, and_(t.dids.c.scope == t.contents.c.child_scope, t.dids.c.name == t.contents.c.child_name)
            )
            .where(t.contents.c.scope == ref.scope, t.contents.c.name == ref.name)
        )
    for child in conn.execute(query):
        yield did_out(child)


def ancestors_of(conn: Connection, ref: DIDRef) -> list[DIDOut]:
    return [did_out(r) for r in conn.execute(_dids_in(_tree(ref, upward=True)))]


def list_parents(conn: Connection, ref: DIDRef) -> Iterator[DIDOut]:
    get_row(conn, ref.scope, ref.name)
    query = (
        select(t.dids)
        .join(t.contents, and_(t.dids.c.scope == t.contents.c.scope, t.dids.c.name == t.contents.c.name))
        .where(t.contents.c.child_scope == ref.scope, t.contents.c.child_name == ref.name)
    )
    for parent in conn.execute(query):
        yield did_out(parent)


def files_query(conn: Connection, ref: DIDRef) -> Any:
    """A select of the `dids` rows of every file at or below a DID (direct join for datasets)."""
    row = get_row(conn, ref.scope, ref.name)
    if row.did_type == DIDType.FILE.value:
        return select(t.dids).where(t.dids.c.scope == ref.scope, t.dids.c.name == ref.name)
    if row.did_type == DIDType.DATASET.value:
        return (
            select(t.dids)
            .join(
                t.contents, and_(t.dids.c.scope == t.contents.c.child_scope, t.dids.c.name == t.contents.c.child_name)
            )
            .where(t.contents.c.scope == ref.scope, t.contents.c.name == ref.name)
        )
    return _dids_in(_tree(ref), DIDType.FILE)


def file_keys_query(conn: Connection, ref: DIDRef) -> Any:
    """A select of (scope, name) of every file at or below a DID, without touching `dids` for datasets."""
    row = get_row(conn, ref.scope, ref.name)
    c = t.contents.c
    if row.did_type == DIDType.FILE.value:
        return select(t.dids.c.scope, t.dids.c.name).where(t.dids.c.scope == ref.scope, t.dids.c.name == ref.name)
    if row.did_type == DIDType.DATASET.value:
        return select(c.child_scope.label("scope"), c.child_name.label("name")).where(
            c.scope == ref.scope, c.name == ref.name
        )
    return files_query(conn, ref).with_only_columns(t.dids.c.scope, t.dids.c.name)


def list_files(conn: Connection, ref: DIDRef) -> Iterator[DIDOut]:
    for row in conn.execute(files_query(conn, ref)):
        yield did_out(row)
