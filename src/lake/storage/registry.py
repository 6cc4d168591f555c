"""Backends by URL scheme: `get_backend(url, token=...)`; `register_backend` adds schemes."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from lake.core.errors import InvalidInput
from lake.storage.base import StorageBackend
from lake.storage.file import FileBackend
from lake.storage.http import HttpBackend

BackendFactory = Callable[..., StorageBackend]
_FACTORIES: dict[str, BackendFactory] = {}


def register_backend(scheme: str, factory: BackendFactory) -> None:
    """Make `get_backend` build `factory(**options)` for URLs of this scheme (replaces an earlier one)."""
    _FACTORIES[scheme.lower()] = factory


def registered_schemes() -> list[str]:
    return sorted(_FACTORIES)


def get_backend(url: str, **options: object) -> StorageBackend:
    """A backend able to handle `url`, built with `options` (e.g. `token=`, `verify=`, `timeout=`)."""
    scheme = urlsplit(url).scheme.lower()
    factory = _FACTORIES.get(scheme)
    if factory is None:
        raise InvalidInput(f"no storage backend for scheme {scheme!r} (known: {', '.join(registered_schemes())})")
    return factory(**options)


def _root_backend(**options: object) -> StorageBackend:
    """RootBackend, imported on first use: loading the XRootD client library is not free."""
    from lake.storage.xrootd import RootBackend

    return RootBackend(**options)  # type: ignore[arg-type]


for _backend in (FileBackend, HttpBackend):
    for _scheme in _backend.schemes:
        register_backend(_scheme, _backend)
for _scheme in ("root", "roots"):
    register_backend(_scheme, _root_backend)
