"""Storage scopes of the WLCG profile (pure): building them, and matching requests by whole path segment.

`storage.modify` covers `storage.create`; `storage.stage` does not grant reading; pathless or
non-canonical scope paths never grant anything (tokens.md sections 2.4, 2.5 and 5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from lake.core.errors import InvalidToken
from lake.core.tokens import TokenClaims, quote_claim

API_SCOPE = "lake.api"  # the only scope that lets a token act on the API (native and Rucio dialect)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED = re.compile(r"%(2e|2f|5c|[01][0-9a-f]|7f)", re.IGNORECASE)


class StorageOp(StrEnum):
    """Storage operations a `storage.<op>:<path>` scope can grant."""

    READ = "read"
    CREATE = "create"
    MODIFY = "modify"
    STAGE = "stage"


# Profile v1.2+: modify is a strict superset of create; stage does not imply read.
_GRANTS: dict[str, frozenset[StorageOp]] = {
    "storage.read": frozenset({StorageOp.READ}),
    "storage.create": frozenset({StorageOp.CREATE}),
    "storage.modify": frozenset({StorageOp.MODIFY, StorageOp.CREATE}),
    "storage.stage": frozenset({StorageOp.STAGE}),
}


def _path_problem(path: Any) -> str | None:
    """Why `path` is not a canonical absolute scope path, or None if it is."""
    if not isinstance(path, str) or not path.startswith("/"):
        return "not an absolute path"
    if _CONTROL.search(path):
        return "control character"
    if _ENCODED.search(path):
        return "percent-encoded dot, slash, backslash or control character"
    if "//" in path:
        return "empty segment"
    if any(segment in (".", "..") for segment in path.split("/")):
        return "dot segment"
    return None


def check_scope_path(path: str) -> None:
    """Raise InvalidToken unless `path` is canonical: absolute, no dot or empty segments, no encodings."""
    problem = _path_problem(path)
    if problem:
        raise InvalidToken(f"non-canonical scope path {quote_claim(path)}: {problem}")


def storage_scope(op: StorageOp | str, path: str) -> str:
    """Build `storage.<op>:<path>` for a canonical path (never pathless)."""
    check_scope_path(path)
    return f"storage.{StorageOp(op).value}:{path}"


def _canonical_request(path: Any) -> str | None:
    """Canonicalise a requested path (drop `.` and empty segments); None on `..` or encoded tricks."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    if _CONTROL.search(path) or _ENCODED.search(path):
        return None
    segments = path.split("/")
    if ".." in segments:
        return None
    kept = [segment for segment in segments if segment not in ("", ".")]
    directory = segments[-1] in ("", ".") and bool(kept)
    return "/" + "/".join(kept) + ("/" if directory else "")


def _covers(scope_path: str, request: str) -> bool:
    """Whole-segment match; a scope path ending in `/` covers the directory, not a file of that name."""
    base = scope_path.rstrip("/")
    if request == base:
        return not scope_path.endswith("/")
    return request.startswith(base + "/")


def storage_allowed(scopes: Iterable[str], op: StorageOp | str, path: str) -> bool:
    """Deny by default: True only if a well-formed `storage.*:<path>` scope grants `op` on `path`."""
    wanted = StorageOp(op)
    request = _canonical_request(path)
    if request is None:
        return False
    for scope in scopes:
        name, sep, scope_path = scope.partition(":")
        grants = _GRANTS.get(name)
        if grants is None or not sep or wanted not in grants or _path_problem(scope_path):
            continue
        if _covers(scope_path, request):
            return True
    return False


def claims_allow_storage(claims: TokenClaims, op: StorageOp | str, path: str) -> bool:
    """Whether validated claims grant `op` on `path` (see storage_allowed)."""
    return storage_allowed(claims.scopes, op, path)


def scope_covered(scope: str, granted: Iterable[str]) -> bool:
    """Whether `scope` is within `granted`: storage scopes by operation and path segment, others exactly."""
    granted = list(granted)
    name, sep, path = scope.partition(":")
    op = name.removeprefix("storage.")
    if name.startswith("storage.") and sep:
        return op in set(StorageOp) and storage_allowed(granted, op, path)
    return scope in granted


def scopes_within(scopes: Iterable[str], trusted: Sequence[str]) -> tuple[str, ...]:
    """The part of `scopes` that `trusted` covers: a scope within a trusted one is kept, a wider one is narrowed
    to the trusted scopes it covers (`storage.create:/` trusted only on `/a` becomes `storage.create:/a`)."""
    kept: dict[str, None] = {}
    for scope in scopes:
        if scope_covered(scope, trusted):
            kept[scope] = None
            continue
        kept.update(dict.fromkeys(narrower for narrower in trusted if scope_covered(narrower, [scope])))
    return tuple(kept)
