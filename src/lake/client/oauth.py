"""OAuth2 logins and tokens: the device flow (RFC 8628), the password grant with a refresh token, and token
exchange (RFC 8693) for narrower tokens."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from lake.client.base import TOKEN_PATH, BaseClient
from lake.core.errors import InvalidInput, LakeError, PermissionDenied, Unauthenticated, Unavailable

DEVICE_PATH = "/v1/oauth/device_authorization"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
# What `lake login` asks for: the API, a refresh token, and reading anywhere (narrowed later by `lake token`).
LOGIN_SCOPES = ("lake.api", "offline_access", "storage.read:/")
SLOW_DOWN_STEP = 5


@dataclass(frozen=True)
class DeviceCode:
    """What the user must do to approve a device login, and how to poll for it."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class Login:
    """The outcome of a login: the account the saved token acts as, and for how long."""

    account: str
    expires_in: int
    scope: str
    refresh: bool


class OAuthError(Exception):
    """An OAuth error answer (`error` code and description) the caller may act on."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


def _login_error(err: OAuthError) -> LakeError:
    """The LakeError a failed grant stands for (never parsed from text: chosen by the RFC error code)."""
    if err.error in ("invalid_scope", "invalid_target", "access_denied"):
        return PermissionDenied(err.description)
    if err.error in ("invalid_grant", "invalid_client", "expired_token"):
        return Unauthenticated(err.description)
    return InvalidInput(f"{err.error}: {err.description}")


class OAuthMixin(BaseClient):
    """Routes under /v1/oauth used by `lake login` and `lake token`."""

    def _oauth(self, path: str, form: dict[str, str], auth: tuple[str, str] | None = None) -> dict[str, Any]:
        """POST a form to an OAuth endpoint; an error answer raises OAuthError with its RFC code."""
        try:
            response = self.http.post(path, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach {self.settings.url}: {exc}") from exc
        body = response.json() if response.content else {}
        if not response.is_success:
            if isinstance(body, dict) and "error" in body:
                raise OAuthError(body["error"], body.get("error_description", ""))
            raise Unavailable(f"HTTP {response.status_code} from {path}")
        return body  # type: ignore[no-any-return]

    def _keep(self, body: dict[str, Any]) -> Login:
        """Use and save the tokens of a successful grant."""
        self.token = body["access_token"]
        self.save_token(body["access_token"], body.get("refresh_token"))
        account = jwt.decode(body["access_token"], options={"verify_signature": False})["sub"]
        return Login(account, int(body["expires_in"]), body.get("scope", ""), "refresh_token" in body)

    def password_login(
        self, username: str, password: str, account: str | None = None, scopes: Sequence[str] = LOGIN_SCOPES
    ) -> Login:
        """Password grant asking for a refresh token too; both tokens are saved (mode 0600)."""
        form = {"grant_type": "password", "username": username, "password": password, "scope": " ".join(scopes)}
        form |= {"account": account} if account else {}
        try:
            return self._keep(self._oauth(TOKEN_PATH, form))
        except OAuthError as err:
            raise _login_error(err) from None

    def start_device_login(self, scopes: Sequence[str] = LOGIN_SCOPES) -> DeviceCode:
        """Ask for a device code and the user code to approve at the verification URI."""
        try:
            body = self._oauth(DEVICE_PATH, {"scope": " ".join(scopes)})
        except OAuthError as err:
            raise _login_error(err) from None
        return DeviceCode(**{name: body[name] for name in DeviceCode.__dataclass_fields__})

    def finish_device_login(self, code: DeviceCode, sleep: Callable[[float], None] = time.sleep) -> Login:
        """Poll at the server's interval (slower after `slow_down`) until the user approves, denies or it expires."""
        interval, deadline = code.interval, time.monotonic() + code.expires_in
        form = {"grant_type": DEVICE_GRANT, "device_code": code.device_code}
        while time.monotonic() < deadline:
            sleep(interval)
            try:
                return self._keep(self._oauth(TOKEN_PATH, form))
            except OAuthError as err:
                if err.error == "slow_down":
                    interval += SLOW_DOWN_STEP
                elif err.error != "authorization_pending":
                    raise _login_error(err) from None
        raise Unauthenticated("the device code expired before it was approved: run `lake login` again")

    def exchange_token(
        self, scopes: Sequence[str], audiences: Sequence[str], refresh_client: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """RFC 8693: trade the current token for a narrower one (or, for a client, for a refresh token)."""
        self._fresh_headers()
        if not self.token:
            raise Unauthenticated("not logged in: run `lake login`")
        form = {
            "grant_type": EXCHANGE_GRANT,
            "subject_token": self.token,
            "subject_token_type": ACCESS_TYPE,
            "requested_token_type": REFRESH_TYPE if refresh_client else ACCESS_TYPE,
        }
        form |= {"scope": " ".join(scopes)} if scopes else {}
        form |= {"audience": " ".join(audiences)} if audiences else {}
        try:
            return self._oauth(TOKEN_PATH, form, auth=refresh_client)
        except OAuthError as err:
            raise _login_error(err) from None

    def current_token(self) -> str:
        """The access token in use, renewed first if it expired and a refresh token was saved."""
        self._fresh_headers()
        if not self.token:
            raise Unauthenticated("not logged in: run `lake login`")
        return self.token
