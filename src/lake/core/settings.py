"""Typed settings, read once at each entry point and passed explicitly (env prefix LAKE_, plus a TOML file).

Precedence: constructor arguments > environment (LAKE_*) > the TOML file named by LAKE_CONFIG
(default `<data_dir>/lake.toml` is not read implicitly; name it) > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _toml_file() -> Path | None:
    name = os.environ.get("LAKE_CONFIG")
    return Path(name) if name else None


class _LakeSettingsBase(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAKE_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_file()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


class TrustedIssuerSettings(BaseModel):
    """An external OIDC issuer whose tokens Lake accepts (keys from its discovery document over verified https).

    Its `sub`+`iss` map to a Lake account through an OIDC identity (`lake account add-identity`).
    """

    issuer: str = Field(description="the issuer URL exactly as in its tokens' `iss`; https only")
    ca_file: Path | None = Field(default=None, description="extra CA bundle to verify its TLS (beside the system's)")
    audiences: list[str] = Field(default_factory=list, description="accepted `aud` values; default Lake's API audience")
    scopes: list[str] = Field(
        default_factory=lambda: ["lake.api", "storage.read:/", "storage.stage:/"],
        description="the scopes Lake honours in this issuer's tokens (storage ones by path); others are ignored",
    )

    @field_validator("issuer")
    @classmethod
    def _https_only(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"a trusted issuer must be an https URL without query or fragment, not {value!r}")
        return value


class LimitSettings(BaseModel):
    """What one client may send the API (docs/security.md#limits); `LAKE_LIMITS` takes them as JSON."""

    max_json_bytes: int = Field(default=1024**2, gt=0, description="largest request body of an ordinary route")
    max_bulk_bytes: int = Field(default=16 * 1024**2, gt=0, description="largest body of a bulk route (file lists)")
    max_items: int = Field(default=10_000, gt=0, description="most files or DIDs in one bulk call")
    body_timeout: float = Field(default=60, gt=0, description="seconds a client has to send its whole body")
    login_failures_per_account: int = Field(default=5, gt=0, description="failed password logins before 429")
    login_failures_per_address: int = Field(default=20, gt=0, description="the same, per client address")
    login_window: float = Field(default=300, gt=0, description="seconds a failed login counts")


class ServerSettings(_LakeSettingsBase):
    """What the API, the daemons and `lake up` need."""

    data_dir: Path = Field(default=Path("lake-data"), description="where the embedded lake keeps its state")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = 8400
    public_url: str | None = Field(default=None, description="URL clients use; default http://host:port")
    token_lifetime: int = 3600
    storage_token_lifetime: int = 900
    endpoint_count: int = 4
    endpoint_base_port: int = 8401
    endpoint_tls: bool = Field(default=True, description="built-in endpoints also serve https (CA in data_dir/pki)")
    endpoint_tls_port_offset: int = Field(default=100, description="added to an endpoint's http port: its https port")
    cache: bool = Field(default=True, description="run a read-through cache at the second site, in front of the first")
    cache_max_bytes: int = Field(default=1024**3, gt=0, description="the built-in cache's LRU size limit")
    root_password: str | None = None
    user_account: str = "alice"
    user_password: str | None = None
    key_algorithm: str = "ES256"
    trusted_issuers: list[TrustedIssuerSettings] = Field(
        default_factory=list,
        description="external OIDC issuers whose tokens Lake accepts (JSON list in LAKE_TRUSTED_ISSUERS)",
    )
    limits: LimitSettings = Field(default_factory=LimitSettings)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'lake.db'}"

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def issuer(self) -> str:
        return self.resolved_public_url()

    @property
    def api_audience(self) -> str:
        return self.resolved_public_url()


class EndpointSettings(_LakeSettingsBase):
    """One built-in storage endpoint: a directory served over HTTP/WebDAV with token checks."""

    model_config = SettingsConfigDict(env_prefix="LAKE_ENDPOINT_", extra="ignore")

    root: Path = Path("lake-data/storage")
    host: str = "127.0.0.1"
    port: int = 8401
    audience: str | None = Field(default=None, description="accepted token audience; default the origin")
    issuer: str = "http://127.0.0.1:8400"
    jwks_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    stale_upload_seconds: float = Field(
        default=6 * 3600, gt=0, description="the longest an upload may stall: idler temporary files of others go"
    )
    temp_sweep_seconds: float = Field(default=600, gt=0, description="how often abandoned temporary files are removed")

    def origin(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"


class CacheSettings(_LakeSettingsBase):
    """A Lake-native read-through cache: one directory in front of one origin endpoint, LRU by total size."""

    model_config = SettingsConfigDict(env_prefix="LAKE_CACHE_", extra="ignore")

    root: Path = Path("lake-data/cache")
    origin_url: str = Field(default="http://127.0.0.1:8401", description="the endpoint this cache reads through")
    max_bytes: int = Field(default=10 * 1024**3, gt=0, description="LRU eviction keeps the cache under this size")
    host: str = "127.0.0.1"
    port: int = 8450
    audience: str | None = Field(default=None, description="accepted token audience; default the cache's origin")
    issuer: str = "http://127.0.0.1:8400"
    jwks_url: str | None = None
    verify_tls: bool | str = Field(default=True, description="how the cache checks the origin's certificate")
    stale_upload_seconds: float = Field(
        default=6 * 3600, gt=0, description="the longest a fill may stall: idler temporary files of others go"
    )
    temp_sweep_seconds: float = Field(default=600, gt=0, description="how often abandoned temporary files are removed")

    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"


class ClientSettings(_LakeSettingsBase):
    """What the Python client and the CLI need: where the lake is and the saved token."""

    url: str = "http://127.0.0.1:8400"
    token: str | None = None
    account: str | None = None
    token_file: Path = Field(default_factory=lambda: Path.home() / ".config" / "lake" / "token")
    refresh_token_file: Path | None = Field(default=None, description="default: the token file + `.refresh`")
    timeout: float = 60.0
    verify_tls: bool | str = True
    site: str | None = Field(default=None, description="the client's site: downloads prefer that site's cache")

    def stored_token(self) -> str | None:
        if self.token:
            return self.token
        if self.token_file.is_file():
            return self.token_file.read_text().strip() or None
        return None

    @property
    def refresh_file(self) -> Path:
        """Where the refresh token of `lake login` is kept, next to the access token by default."""
        return self.refresh_token_file or self.token_file.with_name(self.token_file.name + ".refresh")

    def stored_refresh_token(self) -> str | None:
        """The refresh token that renews the access token without a password, if one was saved."""
        path = self.refresh_file
        return (path.read_text().strip() or None) if path.is_file() else None


def settings_dump(settings: BaseSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json")
