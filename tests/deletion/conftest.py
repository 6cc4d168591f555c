"""Deletion tests: RSEs whose delete protocol is an in-memory storage (`mem://`) that records what it is asked."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pytest

from lake.core.errors import FileNotFoundOnStorage, LakeError
from lake.core.models import ProtocolIn
from lake.storage.base import StatResult, StorageBackend, WriteResult
from lake.storage.registry import register_backend
from lake.testing.factories import add_rses


@dataclass
class MemoryStore:
    """What the fake storage holds and saw: files present, DELETE calls with their token, injected failures."""

    files: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    tokens: list[str | None] = field(default_factory=list)
    failure: LakeError | None = None


STORE = MemoryStore()


class MemoryBackend(StorageBackend):
    """Only DELETE is needed by the reaper; the rest of the interface is deliberately unsupported."""

    schemes = ("mem",)

    def delete(self, url: str) -> None:
        STORE.tokens.append(self.token)
        if STORE.failure is not None:
            raise STORE.failure
        if url not in STORE.files:
            raise FileNotFoundOnStorage(url)
        STORE.files.discard(url)
        STORE.deleted.append(url)

    def stat(self, url: str) -> StatResult:
        raise NotImplementedError

    def listdir(self, url: str) -> list[StatResult]:
        raise NotImplementedError

    def read(self, url: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        raise NotImplementedError

    def write(self, url: str, chunks: Iterable[bytes], size: int | None = None, *, overwrite: bool = False
              ) -> WriteResult:  # fmt: skip
        raise NotImplementedError

    def checksum(self, url: str, algorithm: str = "adler32") -> str:  # type: ignore[override]
        raise NotImplementedError

    def mkdir(self, url: str) -> None:
        raise NotImplementedError


register_backend("mem", MemoryBackend)


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    STORE.files.clear()
    STORE.deleted.clear()
    STORE.tokens.clear()
    STORE.failure = None
    yield STORE


def _add_mem_rses(conn, spec: dict[str, dict[str, object]]) -> None:
    add_rses(conn, spec, protocol=lambda name, _port: ProtocolIn(scheme="mem", hostname=name.lower(), port=1))


@pytest.fixture
def add_mem_rses():
    """Add RSEs by name -> attributes, each with a `mem://<name>:1/` protocol."""
    return _add_mem_rses


def token_scopes(token: str) -> list[str]:
    """The scopes of a JWT (unverified: the test only checks what the reaper asked for)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["scope"].split()


@pytest.fixture
def scopes_of():
    return token_scopes
