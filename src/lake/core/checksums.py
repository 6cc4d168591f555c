"""Checksums as storage systems and Rucio write them: adler32 as 8 lower-case hex digits, md5 hex."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from pathlib import Path

CHUNK = 4 * 1024 * 1024


def format_adler32(value: int) -> str:
    return f"{value & 0xFFFFFFFF:08x}"


def normalize_adler32(value: str) -> str:
    """Accept any hex spelling ('1A2b', '0x..', unpadded) and return the canonical 8-digit form."""
    text = value.strip().lower().removeprefix("0x")
    return format_adler32(int(text, 16))


class Adler32:
    """Incremental adler32, fed chunk by chunk while data streams through."""

    def __init__(self) -> None:
        self._value = 1

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._value = zlib.adler32(data, self._value)

    def hexdigest(self) -> str:
        return format_adler32(self._value)


def adler32_of_chunks(chunks: Iterable[bytes]) -> str:
    digest = Adler32()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_checksums(path: str | Path, md5: bool = True) -> tuple[int, str, str | None]:
    """Size, adler32 and (optionally) md5 of a local file, read once."""
    adler = Adler32()
    md5_digest = hashlib.md5(usedforsecurity=False) if md5 else None
    size = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            adler.update(chunk)
            if md5_digest is not None:
                md5_digest.update(chunk)
    return size, adler.hexdigest(), md5_digest.hexdigest() if md5_digest else None
