"""Hash partitioning of work: a stable bucket per work item, stored in its row so SQL can partition."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import true

BUCKETS = 1024


def bucket_of(key: str) -> int:
    return zlib.crc32(key.encode()) % BUCKETS


@dataclass(frozen=True)
class Partition:
    """This instance's share of the work: keys whose hash modulo `total` equals `index`."""

    index: int = 0
    total: int = 1

    def owns(self, key: str) -> bool:
        return self.total <= 1 or bucket_of(key) % self.total == self.index

    def sql(self, bucket_column: Any) -> Any:
        """A WHERE clause selecting this instance's rows by their stored bucket."""
        return true() if self.total <= 1 else (bucket_column % self.total) == self.index
