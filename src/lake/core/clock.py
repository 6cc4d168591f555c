"""One notion of now: naive UTC datetimes, as stored in the catalog."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
