"""LFN -> PFN for deterministic RSEs, byte for byte as Rucio clients compute it.

Rucio clients build upload PFNs themselves (`RSEDeterministicTranslation` and
`RSEProtocol.lfns2pfns` upstream), so the server must produce exactly the same strings.
"""

from __future__ import annotations

import hashlib

from lake.core.errors import InvalidInput

ALGORITHMS = ("hash", "identity")
DEFAULT_ALGORITHM = "hash"


def _scope_path(scope: str) -> str:
    """User and group scopes (any scope starting with 'user' or 'group') become nested directories."""
    if scope.startswith(("user", "group")):
        return scope.replace(".", "/")
    return scope


def lfn2path(scope: str, name: str, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """The path of `scope:name` below a protocol prefix; `default` means `hash`, as upstream."""
    if algorithm in ("hash", "default"):
        digest = hashlib.md5(f"{scope}:{name}".encode()).hexdigest()
        return f"{_scope_path(scope)}/{digest[0:2]}/{digest[2:4]}/{name}"
    if algorithm == "identity":
        return f"{_scope_path(scope)}/{name}"
    raise InvalidInput(f"unknown lfn2pfn algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")


def scope_directory(scope: str) -> str:
    """The directory (below the prefix) holding every file of a scope, for both algorithms."""
    return _scope_path(scope)


def normalize_prefix(prefix: str) -> str:
    """A protocol prefix with exactly the leading and trailing '/' Rucio adds when missing."""
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    if not prefix.endswith("/"):
        prefix += "/"
    return prefix


def build_pfn(scheme: str, hostname: str, port: int, prefix: str, path: str) -> str:
    """`scheme://hostname:port` + normalised prefix + path; the port is always written.

    A leading '/' on the path is dropped, as upstream does for stored (non-deterministic) paths.
    """
    relative = path[1:] if path.startswith("/") else path
    return f"{scheme}://{hostname}:{port}{normalize_prefix(prefix)}{relative}"
