"""Lake as token issuer: API access tokens for accounts, and narrow storage tokens for exact paths."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from lake.core.scopes import StorageOp, storage_scope
from lake.logic.auth.keystore import KeyStore

MAX_PATH_SCOPES = 16


@dataclass
class TokenIssuer:
    """Mints every token Lake hands out; the keys never leave this object."""

    keystore: KeyStore
    issuer: str
    api_audience: str
    lifetime: int = 3600
    storage_lifetime: int = 900

    def api_token(self, account: str) -> str:
        return self.keystore.mint(self.issuer, account, self.api_audience, ["lake.api"], self.lifetime)

    def storage_token(self, subject: str, audience: str | Sequence[str], op: StorageOp, paths: Iterable[str]) -> str:
        """A token for exactly these storage paths; many paths collapse to their common directory."""
        unique = sorted(set(paths))
        if len(unique) > MAX_PATH_SCOPES:
            unique = [common_directory(unique)]
        scopes = [storage_scope(op, path) for path in unique]
        return self.keystore.mint(self.issuer, subject, audience, scopes, self.storage_lifetime)


def common_directory(paths: list[str]) -> str:
    common = posixpath.commonpath(paths)
    return common if common not in ("", "/") or len(paths) == 1 else "/"


def storage_audience(pfn: str) -> str:
    """The audience a storage endpoint expects: its origin, e.g. https://host:port (davs maps to https)."""
    parts = urlsplit(pfn)
    scheme = {"davs": "https", "dav": "http"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def storage_path(pfn: str) -> str:
    return urlsplit(pfn).path or "/"
