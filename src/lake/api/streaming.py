"""The one streamer of listings, for both dialects: one value per line, produced from `Database.streaming()` (a
server-side cursor on PostgreSQL) in constant memory, in chunks of `LINES_PER_CHUNK` lines.

The first item is produced before the response starts, so an error there (no such DID, no permission, the
database away) still becomes an HTTP error in the dialect's format; after it, an error ends the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy import Connection

from lake.logic.services import Services

LINES_PER_CHUNK = 1000


def stream_lines(
    svc: Services, produce: Callable[[Connection], Iterator[Any]], encode: Callable[[Any], bytes], media_type: str
) -> StreamingResponse:
    """`produce(conn)` yields the items, `encode(item)` makes one line of each (newline included)."""
    stack = ExitStack()
    try:
        conn = stack.enter_context(svc.db.streaming())
        items = produce(conn)
        first = next(items, None)
    except BaseException:
        stack.close()
        raise
    return StreamingResponse(_chunks(stack, first, items, encode), media_type=media_type)


def _chunks(stack: ExitStack, first: Any, items: Iterator[Any], encode: Callable[[Any], bytes]) -> Iterator[bytes]:
    with stack:
        if first is None:
            return
        chunk = [encode(first)]
        for item in items:
            chunk.append(encode(item))
            if len(chunk) >= LINES_PER_CHUNK:
                yield b"".join(chunk)
                chunk = []
        yield b"".join(chunk)
