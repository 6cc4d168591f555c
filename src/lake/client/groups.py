"""Admin calls for groups, storage policies and the issuer's signing keys (answers are plain JSON)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from lake.client.base import BaseClient


def _group_path(group: str) -> str:
    return quote("/" + group.strip("/"), safe="/")


class GroupMixin(BaseClient):
    """Routes under /v1/groups, /v1/storage-policies and /v1/keys."""

    def add_group(self, name: str, description: str | None = None) -> dict[str, Any]:
        return self._request("POST", "/v1/groups", json={"name": name, "description": description})  # type: ignore[no-any-return]

    def list_groups(self) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/groups")  # type: ignore[no-any-return]

    def add_group_member(self, group: str, account: str, optional: bool = False) -> dict[str, Any]:
        body = {"account": account, "optional": optional}
        return self._request("POST", f"/v1/groups{_group_path(group)}/members", json=body)  # type: ignore[no-any-return]

    def remove_group_member(self, group: str, account: str) -> None:
        self._request("DELETE", f"/v1/groups{_group_path(group)}/members/{quote(account, safe='')}")

    def add_storage_policy(self, subject: str, scope: str, audience: str = "*") -> dict[str, Any]:
        body = {"subject": subject, "scope": scope, "audience": audience}
        return self._request("POST", "/v1/storage-policies", json=body)  # type: ignore[no-any-return]

    def list_storage_policies(self, subject: str | None = None) -> list[dict[str, Any]]:
        params = {"subject": subject} if subject else {}
        return self._request("GET", "/v1/storage-policies", params=params)  # type: ignore[no-any-return]

    def remove_storage_policy(self, policy_id: int) -> None:
        self._request("DELETE", f"/v1/storage-policies/{policy_id}")

    def list_keys(self) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/keys")  # type: ignore[no-any-return]

    def rotate_keys(self, force: bool = False) -> list[dict[str, Any]]:
        """Promote the next signing key (refused until it was published long enough, unless `force`)."""
        return self._request("POST", "/v1/keys/rotate", params={"force": str(force).lower()})  # type: ignore[no-any-return]
