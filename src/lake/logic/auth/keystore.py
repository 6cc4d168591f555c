"""The issuer's signing keys with rotation states, published as a JWKS, minting WLCG-profile tokens.

Each key is a PEM file in one directory (see `keyfiles`); `keys.json` beside them records its state, so
every process sharing the directory agrees (each re-reads the file when it changes):

- *next*: published in the JWKS but not signing yet, so validators cache it before it is used;
- *current*: the one key that signs;
- *retired*: signed before; published until `retired_at + retention` (the longest token lifetime plus
  validators' leeway), then removed with its file, so no key disappears while a token it signed is valid.

`rotate()` promotes next to current, retires the old current and creates a new next (tokens.md 2.7/2.8:
publish a key before it signs, keep old keys until their tokens expire). A directory with PEM files only
(older Lake) still loads: the newest key of the algorithm becomes current, the others retired.
"""

from __future__ import annotations

import fcntl
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import jwt

from lake.core.errors import Conflict, InvalidInput, InvalidToken
from lake.core.scopes import check_scope_path
from lake.core.tokens import MAX_TOKEN_SIZE, WLCG_VERSION, KeySet
from lake.logic.auth.keyfiles import KEY_FILE, SigningKey, load_key, public_jwk, write_key, write_private

log = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "RS256")
MAX_LIFETIME = 6 * 3600  # profile: access tokens at most 6 h
NBF_BACKDATE = 60  # profile: nbf backdated ~60 s for clock skew
RETENTION = MAX_LIFETIME + 120  # a retired key outlives every token it signed (plus validators' exp leeway)
PUBLISH_AHEAD = 6 * 3600  # profile: validators refresh cached keys at least every 6 h
NEXT, CURRENT, RETIRED = "next", "current", "retired"
STATE_FILE = "keys.json"
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "wlcg.ver", "scope", "wlcg.groups"})
GROUP_PATH = re.compile(r"(/[a-zA-Z0-9][a-zA-Z0-9_.-]*)+")


@dataclass(frozen=True)
class KeyRecord:
    """A key's rotation state; times are Unix seconds."""

    kid: str
    state: str
    created_at: float
    retired_at: float | None = None

    @property
    def algorithm(self) -> str:
        return self.kid.split("-")[0].upper()

    def published_until(self, retention: float) -> float | None:
        """When a retired key leaves the JWKS; None while it is next or current."""
        return None if self.retired_at is None else self.retired_at + retention


def _checked_scopes(scopes: Sequence[str]) -> str:
    """Space-separated scopes; storage scopes must carry a canonical path (never pathless)."""
    for scope in scopes:
        if not isinstance(scope, str) or scope.split() != [scope]:
            raise InvalidInput(f"cannot issue scope {scope!r}: not a single scope")
        name, sep, path = scope.partition(":")
        if name.startswith("storage."):
            if not sep:
                raise InvalidInput(f"cannot issue pathless storage scope {scope!r}")
            try:
                check_scope_path(path)
            except InvalidToken as err:
                raise InvalidInput(f"cannot issue scope {scope!r}: {err.message}") from None
    return " ".join(scopes)


def _checked_groups(groups: Sequence[str]) -> list[str]:
    """WLCG group names (`/vo/sub`), in order, without duplicates."""
    for group in groups:
        if not isinstance(group, str) or not GROUP_PATH.fullmatch(group):
            raise InvalidInput(f"cannot issue group {group!r}: not a WLCG group path")
    return list(dict.fromkeys(groups))


def _audience_claim(audience: str | Sequence[str]) -> str | list[str]:
    """An explicit audience is mandatory: one string, or a non-empty list of strings."""
    values = [audience] if isinstance(audience, str) else list(audience)
    if not values or not all(isinstance(value, str) and value for value in values):
        raise InvalidInput("a token needs an explicit audience")
    return values[0] if len(values) == 1 else values


class KeyStore:
    """The issuer's keys in a directory: one current key signs; next, current and unexpired retired keys are
    published. `clock` (Unix seconds) is injectable for tests."""

    def __init__(
        self, directory: Path, algorithm: str, clock: Callable[[], float] = time.time, retention: float = RETENTION
    ) -> None:
        self.directory = Path(directory)
        self.algorithm = algorithm
        self.retention = retention
        self._clock = clock
        self._records: list[KeyRecord] = []  # oldest first
        self._keys: dict[str, SigningKey] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.RLock()

    @classmethod
    def load_or_create(
        cls, directory: Path, algorithm: str = "ES256", clock: Callable[[], float] = time.time
    ) -> KeyStore:
        """Load the keys in `directory` (creating it, a current and a next key as needed)."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"signing algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
        store = cls(directory, algorithm, clock)
        store.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with store._exclusive():
            records = store._read_state() if (store.directory / STATE_FILE).exists() else store._from_pem_files()
            store._save(store._completed(records))
        return store

    # --- state on disk -------------------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise state changes across threads and processes sharing the directory."""
        with self._lock, open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_state(self) -> list[KeyRecord]:
        path = self.directory / STATE_FILE
        stat = path.stat()
        records = [KeyRecord(**entry) for entry in json.loads(path.read_text())["keys"]]
        self._stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        for record in records:
            if record.kid not in self._keys:
                self._keys[record.kid] = load_key(self.directory / f"{record.kid}.pem")
        self._records = records
        return records

    def _from_pem_files(self) -> list[KeyRecord]:
        """An older directory (PEM files only): the newest key of the algorithm is current, the rest retired."""
        paths = [path for path in self.directory.iterdir() if KEY_FILE.fullmatch(path.name)]
        paths.sort(key=lambda path: (path.stat().st_mtime_ns, path.name))
        keys = [load_key(path) for path in paths]
        self._keys.update((key.kid, key) for key in keys)
        now = self._clock()
        newest = next((key.kid for key in reversed(keys) if key.algorithm == self.algorithm), None)
        return [
            KeyRecord(key.kid, CURRENT if key.kid == newest else RETIRED, now, None if key.kid == newest else now)
            for key in keys
        ]

    def _save(self, records: list[KeyRecord]) -> None:
        """Write the state atomically, then remove files of keys no longer listed."""
        document = {"keys": [asdict(record) for record in records]}
        write_private(self.directory / STATE_FILE, json.dumps(document, indent=1).encode())
        kept = {record.kid for record in records}
        for kid in set(self._keys) - kept:
            (self.directory / f"{kid}.pem").unlink(missing_ok=True)
            del self._keys[kid]
        stat = (self.directory / STATE_FILE).stat()
        self._stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        self._records = records

    def _new(self, state: str) -> KeyRecord:
        signing = write_key(self.directory, self.algorithm)
        self._keys[signing.kid] = signing
        return KeyRecord(signing.kid, state, self._clock())

    def _completed(self, records: list[KeyRecord]) -> list[KeyRecord]:
        """Drop expired retired keys; make sure a current key of the algorithm and a next key exist."""
        now = self._clock()
        records = [r for r in records if r.state != RETIRED or now < (r.published_until(self.retention) or now)]
        current = next((r for r in records if r.state == CURRENT), None)
        if current is not None and current.algorithm != self.algorithm:
            log.warning(
                "signing algorithm changed to %s: the new key signs without being published ahead", self.algorithm
            )
            records = [
                replace(r, state=RETIRED, retired_at=now) if r is current else r for r in records if r.state != NEXT
            ]
            current = None
        if current is None:
            records = [r for r in records if r.state != NEXT]  # a next key of the old algorithm never signed
            records.append(self._new(CURRENT))
        if not any(r.state == NEXT for r in records):
            records.append(self._new(NEXT))
        return records

    def _refresh(self) -> None:
        """Re-read the state if another process (or this one) changed it."""
        try:
            stat = (self.directory / STATE_FILE).stat()
        except FileNotFoundError:
            return
        if (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._stamp:
            with self._lock:
                self._read_state()

    # --- public interface ------------------------------------------------------------------------------------

    def records(self) -> list[KeyRecord]:
        """Every key with its state (oldest first)."""
        self._refresh()
        return list(self._records)

    def _with_state(self, state: str) -> SigningKey:
        return self._keys[next(r.kid for r in self.records() if r.state == state)]

    @property
    def current(self) -> SigningKey:
        """The key that signs."""
        return self._with_state(CURRENT)

    @property
    def next(self) -> SigningKey:
        """The key published ahead: it signs after the next rotation."""
        return self._with_state(NEXT)

    def rotate(self, min_published: float = 0) -> str:
        """Promote next to current (retiring the old current), publish a new next; return the signing kid.

        `min_published` refuses (Conflict) while the next key has been published for less than that many
        seconds, so validators' key caches have seen it before it signs (admin commands use PUBLISH_AHEAD).
        """
        with self._exclusive():
            now = self._clock()
            records = self._read_state()
            upcoming = next(r for r in records if r.state == NEXT)
            if now - upcoming.created_at < min_published:
                wait = int(min_published - (now - upcoming.created_at))
                raise Conflict(f"next key {upcoming.kid} has been published for too short a time: {wait} s to go")
            promoted = {
                CURRENT: lambda r: replace(r, state=RETIRED, retired_at=now),
                NEXT: lambda r: replace(r, state=CURRENT),
            }
            records = [promoted.get(r.state, lambda r: r)(r) for r in records]
            self._save(self._completed(records))
            return upcoming.kid

    def jwks(self) -> dict[str, Any]:
        """The public JWKS for `/.well-known`: next, current, then retired keys still within retention."""
        now = self._clock()
        order = {NEXT: 0, CURRENT: 1, RETIRED: 2}
        published = [r for r in self.records() if r.state != RETIRED or now < (r.published_until(self.retention) or 0)]
        published.sort(key=lambda r: (order[r.state], -(r.retired_at or 0)))
        return {"keys": [public_jwk(self._keys[r.kid]) for r in published]}

    def keyset(self) -> KeySet:
        """The verification keys, built from the published JWKS exactly as a remote validator would."""
        return KeySet.from_jwks(self.jwks())

    def mint(
        self,
        issuer: str,
        subject: str,
        audience: str | Sequence[str],
        scopes: Sequence[str],
        lifetime: int,
        groups: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign a WLCG-profile access token with the current key (explicit audience, nbf backdated 60 s)."""
        if not 0 < lifetime <= MAX_LIFETIME:
            raise InvalidInput(f"token lifetime must be 1..{MAX_LIFETIME} seconds, not {lifetime}")
        if not issuer or not subject:
            raise InvalidInput("a token needs an issuer and a subject")
        clash = RESERVED_CLAIMS.intersection(extra or {})
        if clash:
            raise InvalidInput(f"extra claims may not override {sorted(clash)}")
        now = int(self._clock())
        claims: dict[str, Any] = dict(extra or {})
        claims.update(iss=issuer, sub=subject, aud=_audience_claim(audience))
        claims.update(iat=now, nbf=now - NBF_BACKDATE, exp=now + lifetime, jti=str(uuid.uuid4()))
        claims["wlcg.ver"] = WLCG_VERSION
        if scopes:
            claims["scope"] = _checked_scopes(scopes)
        if groups:
            claims["wlcg.groups"] = _checked_groups(groups)
        signing = self.current
        token = jwt.encode(claims, signing.key, algorithm=signing.algorithm, headers={"kid": signing.kid, "typ": "JWT"})
        if len(token) > MAX_TOKEN_SIZE:
            raise InvalidInput(f"token would be {len(token)} characters, over {MAX_TOKEN_SIZE}: fewer scopes")
        return token
