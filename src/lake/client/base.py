"""Transport for the Lake client: one httpx.Client, bearer auth, error mapping and NDJSON streaming."""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
import jwt
from pydantic import BaseModel

from lake.core.errors import (
    ERRORS_BY_CODE,
    LakeError,
    TemporaryFailure,
    Unavailable,
    error_from_dict,
)
from lake.core.settings import ClientSettings

M = TypeVar("M", bound=BaseModel)
TOKEN_PATH = "/v1/oauth/token"
RENEW_MARGIN = 30  # seconds: renew an access token this close to its expiry before using it

_ERRORS_BY_STATUS: dict[int, str] = {
    400: "InvalidInput",
    401: "Unauthenticated",
    403: "PermissionDenied",
    404: "NotFound",
    409: "Conflict",
    413: "QuotaExceeded",
    422: "ChecksumMismatch",
    502: "StorageError",
    503: "Unavailable",
}


def did_path(scope: str, name: str) -> str:
    """`scope/name` quoted for a URL path; `/` in names is kept (routes take `{name:path}`)."""
    return f"{quote(scope, safe='')}/{quote(name, safe='/')}"


def error_from_response(response: httpx.Response) -> LakeError:
    """The LakeError a non-2xx response stands for: from its `code` if the body has one, else its status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        return error_from_dict(body, response.status_code)
    code = _ERRORS_BY_STATUS.get(response.status_code)
    cls = ERRORS_BY_CODE[code] if code else (TemporaryFailure if response.status_code >= 500 else LakeError)
    text = response.text[:200] if response.text else response.reason_phrase
    return cls(f"HTTP {response.status_code} from {response.request.url}: {text}")


def raise_for_response(response: httpx.Response) -> None:
    """Raise the LakeError of a non-2xx response (reading a streamed body first)."""
    if response.is_success:
        return
    if not response.is_closed:
        response.read()
    raise error_from_response(response)


def expires_within(token: str, seconds: float) -> bool:
    """Whether a JWT's `exp` is less than `seconds` away (read unverified: only to decide when to renew)."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return False
    return isinstance(exp, int | float) and exp - time.time() < seconds


def write_private(path: Path, text: str) -> None:
    """Write a secret to a file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(text + "\n")
    os.chmod(path, 0o600)


def _verify(value: bool | str) -> bool | ssl.SSLContext:
    if isinstance(value, str):
        return ssl.create_default_context(cafile=value)
    return value


class BaseClient:
    """Holds the API connection, the token and a separate connection for storage endpoints."""

    def __init__(self, settings: ClientSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.token: str | None = settings.stored_token()
        self._owns_http = http is None
        self.http = http or httpx.Client(
            base_url=settings.url.rstrip("/"),
            timeout=httpx.Timeout(settings.timeout),
            verify=_verify(settings.verify_tls),
        )
        self._storage_http: httpx.Client | None = None

    @property
    def storage_http(self) -> httpx.Client:
        """The connection used for PUT/GET on storage PFNs (absolute URLs, storage tokens)."""
        if self._storage_http is None:
            self._storage_http = httpx.Client(
                timeout=httpx.Timeout(self.settings.timeout),
                verify=_verify(self.settings.verify_tls),
                follow_redirects=True,
            )
        return self._storage_http

    @storage_http.setter
    def storage_http(self, client: httpx.Client) -> None:
        self._storage_http = client

    def close(self) -> None:
        if self._owns_http:
            self.http.close()
        if self._storage_http is not None:
            self._storage_http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def save_token(self, token: str, refresh_token: str | None = None) -> None:
        """Write the access token (and a refresh token, if given) where the settings find them, mode 0600."""
        write_private(self.settings.token_file, token)
        if refresh_token is not None:
            write_private(self.settings.refresh_file, refresh_token)

    def renew_token(self) -> bool:
        """Get a new access token with the saved refresh token (no password); False if there is none or it failed."""
        refresh = self.settings.stored_refresh_token()
        if refresh is None:
            return False
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        try:
            response = self.http.post(TOKEN_PATH, data=form)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach {self.settings.url}: {exc}") from exc
        if not response.is_success:
            return False
        self.token = response.json()["access_token"]
        self.save_token(self.token)
        return True

    def _fresh_headers(self) -> dict[str, str]:
        """The bearer header, renewing first an access token that has expired (or nearly) if a refresh token allows."""
        if self.token and expires_within(self.token, RENEW_MARGIN):
            self.renew_token()
        return self._headers()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request and return its decoded JSON body (None when empty); a 401 renews the token once."""
        try:
            response = self.http.request(method, path, headers=self._fresh_headers(), **kwargs)
            if response.status_code == 401 and self.renew_token():
                response = self.http.request(method, path, headers=self._headers(), **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach {self.settings.url}: {exc}") from exc
        raise_for_response(response)
        return response.json() if response.content else None

    def _get_model(self, model: type[M], path: str, **kwargs: Any) -> M:
        return model.model_validate(self._request("GET", path, **kwargs))

    def _send_model(self, method: str, path: str, body: BaseModel, model: type[M]) -> M:
        data = self._request(method, path, json=body.model_dump(mode="json", exclude_none=True))
        return model.model_validate(data)

    def _ndjson(self, model: type[M], path: str, params: dict[str, Any] | None = None) -> Iterator[M]:
        """Stream an NDJSON list, yielding one parsed model per line as it arrives."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            with self.http.stream("GET", path, params=query, headers=self._fresh_headers()) as response:
                raise_for_response(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield model.model_validate(json.loads(line))
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach {self.settings.url}: {exc}") from exc
