"""The endpoint's view of its directory: safe path mapping and file metadata.

A request path is split into segments, each percent-decoded once; `..`, encoded slashes and NULs are
refused (syntax only: nothing is looked up). The canonical URL path is what token scopes are matched
against; only once the token may act on it does `Store.check` look at the disk: Lake's internal files are
invisible and the resolved path (symlinks followed) must stay under the root.
"""

from __future__ import annotations

import os
import stat as stat_module
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from lake.core.errors import FileNotFoundOnStorage, InvalidInput, PermissionDenied
from lake.storage import localfs

_SAFE = "!$&'()*+,;=:@~"


@dataclass(frozen=True)
class Target:
    """A request's object: canonical URL path (for scopes and hrefs) and the file-system path."""

    url_path: str
    fs_path: Path
    internal: bool = False  # names one of Lake's temporary files: never served

    @property
    def dir_scope_path(self) -> str:
        """The path with directory semantics (trailing slash) for directory operations."""
        return self.url_path if self.url_path.endswith("/") else self.url_path + "/"


def decode_segments(raw_path: str) -> list[str]:
    """Percent-decode each segment once; refuse traversal and anything that could alias another path."""
    segments = []
    for raw in raw_path.split("/"):
        if raw in ("", "."):
            continue
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidInput("path is not valid UTF-8") from exc
        if segment in ("..", ".") or "/" in segment or "\0" in segment:
            raise InvalidInput("path traversal or encoded separator refused")
        segments.append(segment)
    return segments


class Store:
    """The served directory tree."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def target(self, raw_path: str) -> Target:
        """Map a raw (percent-encoded) request path to a Target under the root (no disk access), or raise."""
        segments = decode_segments(raw_path)
        url_path = "/" + "/".join(quote(segment, safe=_SAFE) for segment in segments)
        internal = any(localfs.is_internal(segment) for segment in segments)
        return Target(url_path=url_path, fs_path=self.root.joinpath(*segments), internal=internal)

    def check(self, target: Target) -> None:
        """Refuse internal files (as absent) and paths whose symlinks lead out of the root."""
        if target.internal:
            raise FileNotFoundOnStorage("no such file")
        real = os.path.realpath(target.fs_path)
        if real != str(self.root) and not real.startswith(str(self.root) + os.sep):
            raise PermissionDenied("path leaves the storage root")


def stat_or_none(path: Path) -> os.stat_result | None:
    """os.stat, or None if nothing is there."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def is_dir(info: os.stat_result) -> bool:
    return stat_module.S_ISDIR(info.st_mode)


def require_existing(path: Path) -> os.stat_result:
    """Stat a file or directory, or raise FileNotFoundOnStorage."""
    info = stat_or_none(path)
    if info is None:
        raise FileNotFoundOnStorage("no such file")
    return info
