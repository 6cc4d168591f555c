"""Client side of WLCG HTTP third-party copy: the request headers of both modes and the perf-marker stream.

Pull: `COPY` to the destination with `Source: <url>`; the destination GETs the source. Push: `COPY` to the
source with `Destination: <url>`; the source PUTs to the destination. In both, `TransferHeaderAuthorization:
Bearer <token>` is forwarded by the server receiving the COPY to the other side as `Authorization` (the
source's read token for pull, the destination's create token for push), and `Credential: none` declines
proxy delegation (XrdHttpTPC 5.5.3 refuses gfal2's default `gridsite` with 400).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from lake.core.errors import StorageError
from lake.storage.base import Progress

_BYTES_FIELD = "stripe bytes transferred:"
RemoteHeader = Literal["Source", "Destination"]


def copy_headers(remote: RemoteHeader, remote_url: str, remote_token: str | None, overwrite: bool) -> dict[str, str]:
    """The COPY headers naming the other side (`Source` for pull, `Destination` for push) and its token."""
    headers = {remote: remote_url, "Overwrite": "T" if overwrite else "F", "Credential": "none"}
    if remote_token:
        headers["TransferHeaderAuthorization"] = f"Bearer {remote_token}"
    return headers


def read_copy_stream(lines: Iterable[str], progress: Progress | None = None) -> int:
    """Follow perf markers until `success:` (returns bytes transferred) or `failure:` (raises)."""
    transferred = 0
    for raw in lines:
        line = raw.strip()
        lowered = line.lower()
        if lowered.startswith(_BYTES_FIELD):
            value = line[len(_BYTES_FIELD) :].strip()
            transferred = int(value) if value.isdigit() else transferred
            if progress is not None:
                progress(transferred)
        elif lowered.startswith("success:"):
            return transferred
        elif lowered.startswith("failure:"):
            raise StorageError(f"third-party copy failed: {line[len('failure:') :].strip()}")
    raise StorageError("third-party copy: the server closed the stream without a result")
