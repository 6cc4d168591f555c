"""Scopes, DIDs, collections and metadata."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from lake.client.base import BaseClient, did_path
from lake.core.models import (
    AttachIn,
    DIDIn,
    DIDOut,
    DIDRef,
    DIDType,
    MetaIn,
    ScopeIn,
    ScopeOut,
    StatusIn,
)


class CatalogMixin(BaseClient):
    """Routes under /v1/scopes, /v1/dids, /v1/search, /v1/contents, /v1/meta and friends."""

    def add_scope(self, name: str, account: str | None = None) -> ScopeOut:
        return self._send_model("POST", "/v1/scopes", ScopeIn(name=name, account=account), ScopeOut)

    def list_scopes(self, account: str | None = None) -> Iterator[ScopeOut]:
        return self._ndjson(ScopeOut, "/v1/scopes", {"account": account})

    def add_did(self, did: DIDIn) -> DIDOut:
        """Create a dataset or a container."""
        return self._send_model("POST", "/v1/dids", did, DIDOut)

    def get_did(self, scope: str, name: str, meta: bool = False) -> DIDOut:
        params = {"meta": "true"} if meta else None
        return self._get_model(DIDOut, f"/v1/dids/{did_path(scope, name)}", params=params)

    def search_dids(
        self,
        scope: str,
        filter: str | None = None,
        type: DIDType | str | None = None,
        limit: int | None = None,
    ) -> Iterator[DIDOut]:
        """DIDs of a scope matching a filter (see docs/api.md for the syntax)."""
        params = {"filter": filter, "type": str(type) if type else None, "limit": limit}
        return self._ndjson(DIDOut, f"/v1/search/{quote(scope, safe='')}", params)

    def list_content(self, scope: str, name: str, recursive: bool = False) -> Iterator[DIDOut]:
        params = {"recursive": "true"} if recursive else None
        return self._ndjson(DIDOut, f"/v1/contents/{did_path(scope, name)}", params)

    def attach(self, scope: str, name: str, dids: Sequence[DIDRef]) -> int:
        """Attach DIDs to a collection; returns how many were attached."""
        body = AttachIn(dids=list(dids)).model_dump(mode="json")
        return int(self._request("POST", f"/v1/contents/{did_path(scope, name)}", json=body)["attached"])

    def detach(self, scope: str, name: str, dids: Sequence[DIDRef]) -> int:
        body = AttachIn(dids=list(dids)).model_dump(mode="json")
        return int(self._request("POST", f"/v1/detach/{did_path(scope, name)}", json=body)["detached"])

    def list_parents(self, scope: str, name: str) -> Iterator[DIDOut]:
        return self._ndjson(DIDOut, f"/v1/parents/{did_path(scope, name)}")

    def list_files(self, scope: str, name: str) -> Iterator[DIDOut]:
        """Every file below a DID, recursively."""
        return self._ndjson(DIDOut, f"/v1/files/{did_path(scope, name)}")

    def set_status(self, scope: str, name: str, open: bool) -> DIDOut:
        return self._send_model("PUT", f"/v1/status/{did_path(scope, name)}", StatusIn(open=open), DIDOut)

    def close_did(self, scope: str, name: str) -> DIDOut:
        return self.set_status(scope, name, open=False)

    def get_meta(self, scope: str, name: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/meta/{did_path(scope, name)}")

    def set_meta(self, scope: str, name: str, meta: dict[str, Any]) -> dict[str, Any]:
        """Merge keys into a DID's metadata; returns the whole metadata."""
        body = MetaIn(meta=meta).model_dump(mode="json")
        return self._request("POST", f"/v1/meta/{did_path(scope, name)}", json=body)
