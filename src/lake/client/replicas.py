"""Replicas and the raw upload/download routes (the orchestration lives in upload.py/download.py)."""

from __future__ import annotations

from collections.abc import Iterator

from lake.client.base import BaseClient, did_path
from lake.core.models import (
    DownloadFile,
    RegisterFilesIn,
    RegisterFilesOut,
    ReplicaOut,
    ReplicaState,
    UploadDone,
    UploadRequest,
    UploadResult,
    UploadTicket,
)


class ReplicaMixin(BaseClient):
    """Routes under /v1/replicas, /v1/uploads and /v1/downloads."""

    def register_files(self, request: RegisterFilesIn) -> RegisterFilesOut:
        """Register files already on storage, with their replicas on one RSE."""
        return self._send_model("POST", "/v1/replicas/register", request, RegisterFilesOut)

    def list_replicas(
        self,
        scope: str,
        name: str,
        rse_expression: str | None = None,
        state: ReplicaState | str | None = None,
        site: str | None = None,
    ) -> Iterator[ReplicaOut]:
        """Replicas of a file, or of every file below a collection; with `site`, URLs through its caches first."""
        params = {"rse_expression": rse_expression, "state": str(state) if state else None, "site": site}
        return self._ndjson(ReplicaOut, f"/v1/replicas/{did_path(scope, name)}", params)

    def request_upload(self, request: UploadRequest) -> UploadTicket:
        return self._send_model("POST", "/v1/uploads", request, UploadTicket)

    def complete_upload(self, done: UploadDone) -> list[UploadResult]:
        data = self._request("POST", "/v1/uploads/complete", json=done.model_dump(mode="json", exclude_none=True))
        return [UploadResult.model_validate(item) for item in data]

    def list_downloads(
        self, scope: str, name: str, rse_expression: str | None = None, site: str | None = None
    ) -> Iterator[DownloadFile]:
        """The files of a DID with their sources, best first (the site's caches first), each with a read token."""
        path = f"/v1/downloads/{did_path(scope, name)}"
        return self._ndjson(DownloadFile, path, {"rse_expression": rse_expression, "site": site})
