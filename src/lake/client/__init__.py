"""The Lake Python client: one class over the native REST API (imports only lake.core)."""

from __future__ import annotations

from lake.client.auth import AuthMixin
from lake.client.catalog import CatalogMixin
from lake.client.download import DownloadResult
from lake.client.groups import GroupMixin
from lake.client.oauth import OAuthMixin
from lake.client.rses import RSEMixin
from lake.client.rules import RuleMixin
from lake.client.transfer import TransferMixin
from lake.client.upload import ProgressCallback


class LakeClient(AuthMixin, OAuthMixin, GroupMixin, CatalogMixin, RSEMixin, RuleMixin, TransferMixin):
    """Talk to a lake: `LakeClient(ClientSettings())`, or pass `http=` (e.g. a Starlette TestClient)."""


__all__ = ["DownloadResult", "LakeClient", "ProgressCallback"]
