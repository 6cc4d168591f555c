"""Upload and download as client methods (the work is in upload.py and download.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lake.client.download import DownloadJob, DownloadResult, as_did, run_download
from lake.client.replicas import ReplicaMixin
from lake.client.upload import ProgressCallback, UploadJob, run_upload
from lake.core.models import DIDRef, UploadResult

if TYPE_CHECKING:
    from lake.client import LakeClient


class TransferMixin(ReplicaMixin):
    """upload() and download()."""

    def upload(
        self,
        paths: list[Path],
        rse: str,
        scope: str,
        dataset: str | None = None,
        meta: dict[str, Any] | None = None,
        *,
        parallel: int = 4,
        progress: ProgressCallback | None = None,
    ) -> list[UploadResult]:
        """Upload files (directories recursed) to an RSE, optionally into a dataset (created if missing)."""
        job = UploadJob([Path(p) for p in paths], rse, scope, dataset, dict(meta or {}), parallel, progress)
        return run_upload(self._lake(), job)

    def download(
        self,
        did: DIDRef | str,
        dest_dir: Path | str,
        rse_expression: str | None = None,
        *,
        parallel: int = 4,
        progress: ProgressCallback | None = None,
        site: str | None = None,
    ) -> list[DownloadResult]:
        """Download every file of a DID to `dest_dir/<scope>/<name>`, verified; one result per file.

        `site` (default: the settings' site) puts that site's caches first among the sources."""
        job = DownloadJob(as_did(did), Path(dest_dir), rse_expression, parallel, progress, site or self.settings.site)
        return run_download(self._lake(), job)

    def _lake(self) -> LakeClient:
        return self  # type: ignore[return-value]
