"""The long-lived objects a Lake process shares: database, signing keys, token issuer, validator, external issuers,
the login throttle."""

from __future__ import annotations

from dataclasses import dataclass, field

from lake.core.settings import ServerSettings
from lake.core.tokens import TokenValidator
from lake.db.engine import Database
from lake.db.migrate import upgrade
from lake.logic.auth.external import ExternalIssuers
from lake.logic.auth.issuer import TokenIssuer
from lake.logic.auth.keystore import KeyStore
from lake.logic.auth.throttle import LoginThrottle


@dataclass
class Services:
    settings: ServerSettings
    db: Database
    keystore: KeyStore
    issuer: TokenIssuer
    validator: TokenValidator
    external: ExternalIssuers
    throttle: LoginThrottle = field(default_factory=LoginThrottle)  # failed password logins

    @classmethod
    def from_settings(cls, settings: ServerSettings, migrate: bool = True) -> Services:
        """Build everything once at an entry point; migrations run first so the schema is current."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_database_url()
        if migrate:
            upgrade(url)
        keystore = KeyStore.load_or_create(settings.data_dir / "keys", algorithm=settings.key_algorithm)
        issuer = TokenIssuer(
            keystore=keystore,
            issuer=settings.issuer,
            api_audience=settings.api_audience,
            lifetime=settings.token_lifetime,
            storage_lifetime=settings.storage_token_lifetime,
        )
        external = ExternalIssuers(settings.trusted_issuers, settings.api_audience)
        if settings.issuer in external.settings:
            raise ValueError(f"Lake's own issuer {settings.issuer} cannot also be a trusted external issuer")
        validator = TokenValidator(
            {settings.issuer: keystore.keyset, **external.key_sources()},
            audiences=[settings.api_audience],
            issuer_audiences=external.audiences(),
        )
        return cls(
            settings, Database(url), keystore, issuer, validator, external, LoginThrottle.from_settings(settings.limits)
        )

    def close(self) -> None:
        self.db.dispose()
