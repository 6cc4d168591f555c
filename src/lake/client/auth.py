"""Login, identity and accounts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from lake.client.base import BaseClient
from lake.core.models import AccountIn, AccountOut, PasswordLogin, TokenOut


class AuthMixin(BaseClient):
    """Routes under /v1/auth and /v1/accounts."""

    def ping(self) -> dict[str, Any]:
        return self._request("GET", "/v1/ping")

    def login(self, username: str, password: str, account: str | None = None) -> TokenOut:
        """Get a token with a password, use it from now on and save it to the token file (mode 0600)."""
        body = PasswordLogin(username=username, password=password, account=account)
        token = self._send_model("POST", "/v1/auth/token", body, TokenOut)
        self.token = token.access_token
        self.save_token(token.access_token)
        return token

    def save_token(self, token: str) -> None:
        """Write the token where `ClientSettings.stored_token` finds it, readable by the owner only."""
        path = self.settings.token_file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(token + "\n")
        os.chmod(path, 0o600)

    def whoami(self) -> AccountOut:
        return self._get_model(AccountOut, "/v1/auth/whoami")

    def add_account(self, account: AccountIn) -> AccountOut:
        return self._send_model("POST", "/v1/accounts", account, AccountOut)

    def list_accounts(self) -> Iterator[AccountOut]:
        return self._ndjson(AccountOut, "/v1/accounts")

    def get_account(self, name: str) -> AccountOut:
        return self._get_model(AccountOut, f"/v1/accounts/{name}")

    def add_oauth_client(self, account: str, scopes: list[str], audiences: list[str]) -> dict[str, Any]:
        """Register an OAuth client for `account` (admin); the answer holds the secret, shown only once."""
        body = {"account": account, "scopes": scopes, "audiences": audiences}
        return self._request("POST", "/v1/oauth/clients", json=body)  # type: ignore[no-any-return]
