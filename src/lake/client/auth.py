"""Login, identity and accounts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lake.client.base import BaseClient
from lake.core.models import AccountIn, AccountOut, IdentityOut, OidcIdentityIn, PasswordLogin, TokenOut


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

    def whoami(self) -> AccountOut:
        return self._get_model(AccountOut, "/v1/auth/whoami")

    def add_account(self, account: AccountIn) -> AccountOut:
        return self._send_model("POST", "/v1/accounts", account, AccountOut)

    def list_accounts(self) -> Iterator[AccountOut]:
        return self._ndjson(AccountOut, "/v1/accounts")

    def get_account(self, name: str) -> AccountOut:
        return self._get_model(AccountOut, f"/v1/accounts/{name}")

    def add_oidc_identity(self, account: str, issuer: str, subject: str) -> IdentityOut:
        """Map a trusted external issuer's subject to `account` (admin)."""
        body = OidcIdentityIn(issuer=issuer, subject=subject)
        return self._send_model("POST", f"/v1/accounts/{account}/identities", body, IdentityOut)

    def add_oauth_client(self, account: str, scopes: list[str], audiences: list[str]) -> dict[str, Any]:
        """Register an OAuth client for `account` (admin); the answer holds the secret, shown only once."""
        body = {"account": account, "scopes": scopes, "audiences": audiences}
        return self._request("POST", "/v1/oauth/clients", json=body)  # type: ignore[no-any-return]

    def list_oauth_clients(self) -> list[dict[str, Any]]:
        """The registered OAuth clients (admin), without secrets."""
        return self._request("GET", "/v1/oauth/clients")  # type: ignore[no-any-return]
