"""Tokens in tests: minting from a test issuer's key store, and reading claims without verifying them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import jwt

from lake.logic.auth.keystore import KeyStore
from lake.testing.endpoint import TEST_ISSUER


class Minter(Protocol):
    """mint(scopes..., audience=<url or urls>, issuer=..., lifetime=...) -> a signed WLCG token."""

    def __call__(self, *scopes: str, audience: str | Sequence[str], issuer: str = ..., lifetime: int = ...) -> str: ...


def minter(keystore: KeyStore, issuer: str = TEST_ISSUER, subject: str = "tester") -> Minter:
    """A Minter signing with `keystore` as `issuer` (by default the one test endpoints trust) for `subject`."""
    default_issuer = issuer

    def mint(*scopes: str, audience: str | Sequence[str], issuer: str = default_issuer, lifetime: int = 600) -> str:
        return keystore.mint(issuer, subject, audience, list(scopes), lifetime)

    return mint


def claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified: for tests that check what a token says, not who signed it."""
    return dict(jwt.decode(token, options={"verify_signature": False}))
