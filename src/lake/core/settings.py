"""Typed settings, read once at each entry point and passed explicitly (env prefix LAKE_, plus a TOML file).

Precedence: constructor arguments > environment (LAKE_*) > the TOML file named by LAKE_CONFIG
(default `<data_dir>/lake.toml` is not read implicitly; name it) > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
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
    root_password: str | None = None
    user_account: str = "alice"
    user_password: str | None = None
    key_algorithm: str = "ES256"

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

    def origin(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"


class ClientSettings(_LakeSettingsBase):
    """What the Python client and the CLI need: where the lake is and the saved token."""

    url: str = "http://127.0.0.1:8400"
    token: str | None = None
    account: str | None = None
    token_file: Path = Field(default_factory=lambda: Path.home() / ".config" / "lake" / "token")
    timeout: float = 60.0
    verify_tls: bool | str = True

    def stored_token(self) -> str | None:
        if self.token:
            return self.token
        if self.token_file.is_file():
            return self.token_file.read_text().strip() or None
        return None


def settings_dump(settings: BaseSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json")
