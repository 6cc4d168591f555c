"""RSEs, their attributes and protocols, and distances between them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from lake.client.base import BaseClient
from lake.core.models import AttributeIn, DistanceIn, DistanceOut, ProtocolIn, RSEIn, RSEOut, RSEUpdate


def _rse(name: str) -> str:
    return f"/v1/rses/{quote(name, safe='')}"


class RSEMixin(BaseClient):
    """Routes under /v1/rses and /v1/distances."""

    def list_rses(self, expression: str | None = None) -> Iterator[RSEOut]:
        return self._ndjson(RSEOut, "/v1/rses", {"expression": expression})

    def get_rse(self, name: str) -> RSEOut:
        return self._get_model(RSEOut, _rse(name))

    def add_rse(self, rse: RSEIn) -> RSEOut:
        return self._send_model("POST", "/v1/rses", rse, RSEOut)

    def update_rse(self, name: str, update: RSEUpdate) -> RSEOut:
        """Change availability flags (only the fields given)."""
        return self._send_model("PATCH", _rse(name), update, RSEOut)

    def set_rse_attribute(self, name: str, key: str, value: Any) -> RSEOut:
        body = AttributeIn(value=value).model_dump(mode="json")
        data = self._request("PUT", f"{_rse(name)}/attributes/{quote(key, safe='')}", json=body)
        return RSEOut.model_validate(data)

    def delete_rse_attribute(self, name: str, key: str) -> RSEOut:
        data = self._request("DELETE", f"{_rse(name)}/attributes/{quote(key, safe='')}")
        return RSEOut.model_validate(data)

    def add_protocol(self, name: str, protocol: ProtocolIn) -> RSEOut:
        return self._send_model("POST", f"{_rse(name)}/protocols", protocol, RSEOut)

    def delete_protocol(self, name: str, scheme: str) -> RSEOut:
        data = self._request("DELETE", f"{_rse(name)}/protocols/{quote(scheme, safe='')}")
        return RSEOut.model_validate(data)

    def set_distance(self, source: str, destination: str, distance: int) -> DistanceOut:
        body = DistanceIn(source=source, destination=destination, distance=distance)
        return self._send_model("PUT", "/v1/distances", body, DistanceOut)

    def list_distances(self, source: str | None = None, destination: str | None = None) -> Iterator[DistanceOut]:
        return self._ndjson(DistanceOut, "/v1/distances", {"source": source, "destination": destination})
