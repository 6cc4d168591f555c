"""DID search: filters (an OR of AND-groups of terms) translated into one SQL query."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, and_, exists, false, or_, select, true

from lake.core.errors import InvalidFilter
from lake.core.filters import Term, parse_filters
from lake.core.models import DIDOut, DIDType
from lake.core.names import validate_scope
from lake.db import schema as t
from lake.logic.catalog.dids import did_out
from lake.logic.catalog.meta import text_of


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _compare(column: Any, term: Term, value: Any) -> Any:
    if term.is_wildcard:
        matched = column.like(_like(str(value)), escape="\\")
        return matched if term.op == "=" else ~matched
    operators = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        ">": column.__gt__,
        "<=": column.__le__,
        ">=": column.__ge__,
    }
    return operators[term.op](value)


def _did_column_condition(term: Term) -> Any:
    if term.key == "type":
        wanted = str(term.value).upper()
        if wanted not in DIDType.__members__:
            raise InvalidFilter(f"unknown DID type '{term.value}' (FILE, DATASET or CONTAINER)")
        return _compare(t.dids.c.did_type, term, wanted)
    return _compare(t.dids.c.name, term, str(term.value))


def _meta_condition(term: Term) -> Any:
    m = t.did_meta.c
    numeric = isinstance(term.value, int | float) and not isinstance(term.value, bool)
    column, value = (m.value_num, float(term.value)) if numeric else (m.value, text_of(term.value))
    return exists().where(
        m.scope == t.dids.c.scope, m.name == t.dids.c.name, m.key == term.key, _compare(column, term, value)
    )


def _group_condition(group: list[Term]) -> Any:
    conditions = [_did_column_condition(x) if x.is_did_column else _meta_condition(x) for x in group]
    return and_(true(), *conditions)


def search_query(scope: str, filter_text: str | None, did_type: str | None = None, limit: int | None = None) -> Any:
    validate_scope(scope)
    groups = parse_filters(filter_text)
    query = select(t.dids).where(t.dids.c.scope == scope)
    if groups:
        query = query.where(or_(false(), *[_group_condition(g) for g in groups]))
    if did_type and did_type.upper() not in ("ALL", ""):
        kinds = (
            [DIDType.DATASET.value, DIDType.CONTAINER.value] if did_type.upper() == "COLLECTION" else [did_type.upper()]
        )
        if not set(kinds) <= set(DIDType.__members__):
            raise InvalidFilter(f"unknown DID type '{did_type}' (file, dataset, container, collection or all)")
        query = query.where(t.dids.c.did_type.in_(kinds))
    query = query.order_by(t.dids.c.name)
    return query.limit(limit) if limit else query


def search(
    conn: Connection, scope: str, filter_text: str | None, did_type: str | None = None, limit: int | None = None
) -> Iterator[DIDOut]:
    for row in conn.execute(search_query(scope, filter_text, did_type, limit)):
        yield did_out(row)
