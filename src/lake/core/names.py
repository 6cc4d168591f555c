"""Name rules for accounts, scopes, DIDs, RSEs and attribute keys (Rucio's generic schema).

Every validator returns the name unchanged when it is valid and raises `InvalidName` saying what is
wrong otherwise, so adapters can write `scope = validate_scope(text)`.
"""

from __future__ import annotations

import re

from lake.core.errors import InvalidName

ACCOUNT_MAX = 25
SCOPE_MAX = 25
DID_NAME_MAX = 250
ATTRIBUTE_KEY_MAX = 255

_ACCOUNT = re.compile(r"[a-z0-9_-]+")
_SCOPE = re.compile(r"[a-zA-Z0-9_.-]+")
_DID_NAME = re.compile(r"[/A-Za-z0-9][/A-Za-z0-9._-]*")
_RSE_NAME = re.compile(r"[A-Z0-9]+(?:[_-][A-Z0-9]+)*")
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def _check(kind: str, name: object, pattern: re.Pattern[str], rule: str, max_length: int | None) -> str:
    """Raise InvalidName naming `kind` and the broken rule unless `name` is a conforming string."""
    if not isinstance(name, str):
        raise InvalidName(f"{kind} must be a string, not {type(name).__name__}", name=repr(name))
    if not name:
        raise InvalidName(f"{kind} must not be empty", name=name)
    if max_length is not None and len(name) > max_length:
        raise InvalidName(f"{kind} {name!r} is too long: {len(name)} characters, limit {max_length}", name=name)
    if not pattern.fullmatch(name):
        raise InvalidName(f"invalid {kind} {name!r}: {rule}", name=name)
    return name


def validate_account(name: str) -> str:
    """An account: 1-25 characters of lower-case letters, digits, '-' and '_'."""
    rule = "only lower-case letters, digits, '-' and '_' are allowed"
    return _check("account name", name, _ACCOUNT, rule, ACCOUNT_MAX)


def validate_scope(name: str) -> str:
    """A scope: 1-25 characters of letters, digits, '_', '-' and '.' (e.g. `user.jdoe`)."""
    rule = "only letters, digits, '_', '-' and '.' are allowed"
    _check("scope", name, _SCOPE, rule, SCOPE_MAX)
    if name in (".", ".."):
        raise InvalidName(f"invalid scope {name!r}: scopes become storage paths", name=name)
    return name


def validate_did_name(name: str) -> str:
    """A DID name: up to 250 characters of letters, digits, '/', '.', '-', '_', not starting with '.-_'."""
    rule = "it must start with a letter, a digit or '/' and contain only letters, digits, '/', '.', '-', '_'"
    _check("DID name", name, _DID_NAME, rule, DID_NAME_MAX)
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        raise InvalidName(
            f"invalid DID name {name!r}: names become storage paths, so '/'-separated parts must not be empty, "
            "'.' or '..'",
            name=name,
        )
    return name


def validate_rse_name(name: str) -> str:
    """An RSE name: upper-case letters and digits in groups joined by single '-' or '_'."""
    rule = "use upper-case letters and digits, in groups joined by single '-' or '_' (e.g. CERN-EOSPILOT)"
    return _check("RSE name", name, _RSE_NAME, rule, None)


def validate_attribute_key(key: str) -> str:
    """An attribute key usable in RSE expressions and filters: letters, digits, '.', '-', '_'."""
    rule = "it must start with a letter, a digit or '_' and contain only letters, digits, '.', '-', '_'"
    return _check("attribute key", key, _ATTRIBUTE_KEY, rule, ATTRIBUTE_KEY_MAX)


def parse_did(did: str) -> tuple[str, str]:
    """Split `scope:name` at the first colon and validate both parts."""
    if not isinstance(did, str) or ":" not in did:
        raise InvalidName(f"DID {did!r} must be written as 'scope:name'", name=repr(did))
    scope, _, name = did.partition(":")
    return validate_scope(scope), validate_did_name(name)
