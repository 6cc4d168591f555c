"""The storage protocol: one small abstract interface that every backend (file, http/davs, ...) implements.

Backends raise only `lake.core.errors` (FileNotFoundOnStorage, PermissionDenied, AlreadyExists,
Unavailable, StorageError...), so callers never see a protocol's native exceptions.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from lake.core.errors import FileNotFoundOnStorage, UnsupportedOperation

ChecksumAlgorithm = Literal["adler32", "md5"]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class StatResult:
    """What a stat or a listing entry reports; `name` is set for listing entries only."""

    size: int
    is_dir: bool
    mtime: float | None = None
    name: str = ""


@dataclass(frozen=True)
class WriteResult:
    """Bytes written and their adler32, computed while the data streamed."""

    size: int
    adler32: str


@dataclass(frozen=True)
class CopyResult:
    """Outcome of a successful third-party copy."""

    bytes_transferred: int


class StorageBackend(ABC):
    """A storage protocol. The bearer token (if any) is given at construction or via `with_token`."""

    schemes: tuple[str, ...] = ()

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def with_token(self, token: str | None) -> StorageBackend:
        """A shallow copy using another token (connections are shared, so this is cheap)."""
        clone = copy.copy(self)
        clone.token = token
        return clone

    @abstractmethod
    def stat(self, url: str) -> StatResult:
        """Size, type and modification time of a file or directory."""

    @abstractmethod
    def listdir(self, url: str) -> list[StatResult]:
        """The entries of a directory (with `name`), internal temporary files excluded."""

    @abstractmethod
    def read(self, url: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream `length` bytes (default: to the end) starting at `offset`."""

    @abstractmethod
    def write(
        self, url: str, chunks: Iterable[bytes], size: int | None = None, *, overwrite: bool = False
    ) -> WriteResult:
        """Store a file from chunks, creating parents; visible only once complete.

        With `overwrite=False` an existing file raises AlreadyExists. A `size` that does not match the
        data raises InvalidInput and leaves nothing behind.
        """

    @abstractmethod
    def delete(self, url: str) -> None:
        """Remove a file or an empty directory."""

    @abstractmethod
    def checksum(self, url: str, algorithm: ChecksumAlgorithm = "adler32") -> str:
        """The file's checksum as hex (adler32: 8 digits, md5: 32 digits)."""

    @abstractmethod
    def mkdir(self, url: str) -> None:
        """Create a directory and its missing parents; an existing directory is fine."""

    def exists(self, url: str) -> bool:
        """Whether something exists at `url` (built on stat)."""
        try:
            self.stat(url)
        except FileNotFoundOnStorage:
            return False
        return True

    def third_party_copy(
        self,
        source_url: str,
        dest_url: str,
        source_token: str | None = None,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> CopyResult:
        """Have the destination pull `source_url` directly (optional capability)."""
        raise UnsupportedOperation(f"{type(self).__name__} cannot do third-party copies")

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections (no-op for backends that hold none)."""

    def __enter__(self) -> StorageBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
