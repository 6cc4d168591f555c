"""The dialect's wire formats: RFC-1123 dates, JSON streams, `Created` bodies, raw JSON bodies, filters."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Connection

from lake.api.rucio.errors import RucioError
from lake.api.streaming import stream_lines
from lake.core.filters import MAX_LENGTH as MAX_FILTER_LENGTH
from lake.core.filters import Filters, filters_from_dicts
from lake.logic.services import Services

STREAM = "application/x-json-stream"
# Query arguments of DID search that are options, not equality filters.
SEARCH_OPTIONS = frozenset({"type", "long", "recursive", "limit", "filters"})


def rfc1123(moment: datetime | None) -> str | None:
    """`Thu, 01 Jan 2026 10:00:00 UTC`: the client turns any string ending in ' UTC' back into a datetime."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%a, %d %b %Y %H:%M:%S UTC")


def wire(value: Any) -> Any:
    """A JSON-ready copy: datetimes as RFC-1123, enums by name, containers converted recursively."""
    if isinstance(value, datetime):
        return rfc1123(value)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, Mapping):
        return {key: wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [wire(item) for item in value]
    return value


def json_response(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(wire(value)), status_code=status, media_type="application/json")


def created() -> Response:
    """Rucio's answer to a creation: 201 with the literal body `Created`."""
    return Response("Created", status_code=201, media_type="text/plain")


def json_stream(svc: Services, produce: Callable[[Connection], Iterator[Any]]) -> StreamingResponse:
    """A listing as `application/x-json-stream`, one value per line, streamed from the database (errors before
    the first item still become Rucio errors)."""
    return stream_lines(svc, produce, _line, STREAM)


def _line(item: Any) -> bytes:
    return orjson.dumps(wire(item)) + b"\n"


def stream_of(items: Iterable[Any]) -> Response:
    """A small, already computed listing as a JSON stream."""
    body = b"".join(_line(item) for item in items)
    return Response(body, media_type=STREAM)


async def json_body(request: Request, default: Any = None) -> Any:
    """The raw body parsed as JSON whatever the content type (the client sends none); empty -> default."""
    raw = await request.body()
    if not raw.strip():
        return {} if default is None else default
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RucioError("ValueError", "cannot decode json parameter dictionary", 400) from exc


async def json_dict(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise RucioError("TypeError", "body must be a json dictionary", 400)
    return body


def flag(value: Any, default: bool = False) -> bool:
    """Rucio booleans: true/false (any case), 1/0, or JSON booleans."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def search_filters(filters: str | None, query: Mapping[str, str]) -> Filters:
    """The Python-repr `filters` argument (a list of AND-dicts), or else every extra query argument."""
    if filters is None:
        extra = {key: value for key, value in query.items() if key not in SEARCH_OPTIONS}
        return filters_from_dicts([extra]) if extra else []
    if len(filters) > MAX_FILTER_LENGTH:
        raise RucioError("DIDFilterSyntaxError", f"filters is longer than {MAX_FILTER_LENGTH} characters", 400)
    try:
        groups = ast.literal_eval(filters)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise RucioError("DIDFilterSyntaxError", f"filters is not a Python literal: {filters!r}", 400) from exc
    if not isinstance(groups, list | dict):
        raise RucioError("DIDFilterSyntaxError", "filters must be a list of dictionaries", 400)
    parsed = filters_from_dicts(groups)
    return [] if any(not group for group in parsed) else parsed  # an empty AND-group matches everything


def filters_text(groups: Filters) -> str | None:
    """The same filters in Lake's text syntax (`k=v,k2>=3;k3=x*`), for the native search query builder."""
    if not groups:
        return None
    texts = []
    for group in groups:
        terms = []
        for term in group:
            value = ("true" if term.value else "false") if isinstance(term.value, bool) else str(term.value)
            if any(char in value for char in ",;=!<>"):
                raise RucioError("DIDFilterSyntaxError", f"unsupported character in filter value {value!r}", 400)
            terms.append(f"{term.key}{term.op}{value}")
        texts.append(",".join(terms))
    return ";".join(texts)
