"""Receiving a file: hidden temporary file, adler32 while writing, published only when complete.

Data arrives on the event loop in pieces of up to ~256 KiB; they are collected into ~4 MiB blocks that a
worker thread hashes and writes with one writev while the loop keeps receiving (zlib and os.writev
release the GIL), so PUT uses both cores. md5 is not computed here: at ~0.56 GB/s it would halve upload
speed; it is computed on the first `Want-Digest: md5` and cached like adler32.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from lake.core.checksums import format_adler32
from lake.core.errors import AlreadyExists, ChecksumMismatch, Conflict, InvalidInput, LakeError
from lake.storage import localfs

BLOCK = 4 * 1024 * 1024
INLINE_WRITE = 64 * 1024  # blocks up to this size are written on the event loop


def make_parents(directory: Path) -> None:
    """mkdir -p for the destination's directory; a file in the way is a Conflict."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise Conflict("a file is in the way of the parent directory") from exc
    except OSError as exc:
        raise localfs.os_error(exc, directory.name) from exc


@dataclass(frozen=True)
class Destination:
    """What a write may do where it lands, decided from the token and headers before any byte arrives."""

    existed: bool
    replace: bool  # an existing file may be replaced
    refusal: LakeError  # raised if a file is there at publish time and may not be replaced


class Upload:
    """One file being received. Use `feed` repeatedly, then `commit`; `abort` on any failure."""

    def __init__(self, final: Path) -> None:
        make_parents(final.parent)
        self.final = final
        self.temp = localfs.temp_path(final)
        try:
            self._fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            localfs.discard(self.temp)
            raise localfs.os_error(exc, final.name) from exc
        self._adler = 1
        self.size = 0
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._pending: asyncio.Future[None] | None = None

    async def feed(self, data: bytes) -> None:
        """Add received bytes; a full block goes to the writer thread (at most one block in flight)."""
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered >= BLOCK:
            await self._flush()

    async def _drain(self) -> None:
        """Wait for the block in flight; write errors (disk full...) become Lake errors."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                await pending
            except OSError as exc:
                raise localfs.os_error(exc, self.final.name) from exc

    async def _flush(self) -> None:
        await self._drain()
        if self._chunks:
            chunks, buffered, self._chunks, self._buffered = self._chunks, self._buffered, [], 0
            if buffered <= INLINE_WRITE:  # a small file's only block: a thread hop would cost more than the write
                try:
                    self._write(chunks)
                except OSError as exc:
                    raise localfs.os_error(exc, self.final.name) from exc
                return
            self._pending = asyncio.get_running_loop().run_in_executor(None, self._write, chunks)

    def _write(self, chunks: list[bytes]) -> None:
        """Worker thread: checksum and write one block of chunks (writev: no copy into one buffer)."""
        total = 0
        for chunk in chunks:
            self._adler = zlib.adler32(chunk, self._adler)
            total += len(chunk)
        written = os.writev(self._fd, chunks)
        if written < total:  # short write (rare on files): write the rest the simple way
            rest = memoryview(b"".join(chunks))[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        self.size += total

    async def received(self) -> int:
        """Write out what is buffered and return the size so far (to check it before `commit`)."""
        await self._flush()
        await self._drain()
        return self.size

    async def commit(self, expected: int | None, where: Destination, expected_adler32: str | None = None) -> str:
        """Finish writing, check size (and adler32 if known), cache the checksum, publish; returns adler32."""
        await self.received()
        os.close(self._fd)
        self._fd = -1
        if expected is not None and self.size != expected:
            raise InvalidInput(f"received {self.size} bytes, Content-Length said {expected}")
        adler32 = format_adler32(self._adler)
        if expected_adler32 is not None and adler32 != expected_adler32:
            raise ChecksumMismatch(f"received data has adler32 {adler32}, the source said {expected_adler32}")
        localfs.store_checksums(self.temp, {"adler32": adler32})
        try:
            localfs.publish(self.temp, self.final, where.replace)
        except AlreadyExists as exc:  # created meanwhile by someone else
            raise where.refusal from exc
        return adler32

    async def abort(self) -> None:
        """Drop everything written so far; nothing becomes visible."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        localfs.discard(self.temp)
