"""Client side of WLCG HTTP third-party copy: reading the destination's performance-marker stream."""

from __future__ import annotations

from collections.abc import Iterable

from lake.core.errors import StorageError
from lake.storage.base import Progress

_BYTES_FIELD = "stripe bytes transferred:"


def read_copy_stream(lines: Iterable[str], progress: Progress | None = None) -> int:
    """Follow perf markers until `success:` (returns bytes transferred) or `failure:` (raises)."""
    transferred = 0
    for raw in lines:
        line = raw.strip()
        lowered = line.lower()
        if lowered.startswith(_BYTES_FIELD):
            value = line[len(_BYTES_FIELD) :].strip()
            transferred = int(value) if value.isdigit() else transferred
            if progress is not None:
                progress(transferred)
        elif lowered.startswith("success:"):
            return transferred
        elif lowered.startswith("failure:"):
            raise StorageError(f"third-party copy failed: {line[len('failure:') :].strip()}")
    raise StorageError("third-party copy: the destination closed the stream without a result")
