"""Throttling of failed password logins, per account name and per client address (answered 429 + Retry-After).

Every password route (`/v1/auth/token`, the OAuth password grant, the device login page, Rucio's
`/auth/userpass`) runs its check in `LoginThrottle.attempt`: a name or address with too many failures in the
sliding window is refused before the password is even hashed (so guessing costs no server CPU either), and
the correct password is refused too until the window has passed (else throttling would not slow guessing).
A success clears the account's failures, not the address's.

The counts live in this process's memory: with N API processes a guesser gets at most N times the budget.
They are bounded (`MAX_KEYS` names and addresses; expired ones go first, then the oldest).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from lake.core.errors import TooManyRequests, Unauthenticated
from lake.core.settings import LimitSettings

MAX_KEYS = 100_000


def wrong_password(error: BaseException) -> bool:
    """The default reading of a login's failure: a refused password or account."""
    return isinstance(error, Unauthenticated)


@dataclass
class LoginThrottle:
    """Sliding-window failure counts; thread-safe (sync routes run in a thread pool)."""

    per_account: int = 5
    per_address: int = 20
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> LoginThrottle:
        return cls(limits.login_failures_per_account, limits.login_failures_per_address, limits.login_window)

    @contextmanager
    def attempt(
        self, username: str, address: str, failed: Callable[[BaseException], bool] = wrong_password
    ) -> Iterator[None]:
        """Refuse (TooManyRequests) if throttled, else run the login and count it if it fails as `failed` says."""
        keys = (f"account:{username}", self.per_account), (f"address:{address}", self.per_address)
        self._check(keys)
        try:
            yield
        except BaseException as error:
            if failed(error):
                self._count([key for key, _limit in keys])
            raise
        with self._lock:
            self._failures.pop(keys[0][0], None)

    def _check(self, keys: tuple[tuple[str, int], ...]) -> None:
        now = self.clock()
        with self._lock:
            waits = [self._wait(key, limit, now) for key, limit in keys]
        wait = max(waits)
        if wait > 0:
            raise TooManyRequests(
                f"too many failed logins; retry in {math.ceil(wait)} s", retry_after=max(1, math.ceil(wait))
            )

    def _wait(self, key: str, limit: int, now: float) -> float:
        """Seconds until `key` may try again (0: now); drops its expired failures."""
        times = self._failures.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0.0
        return times[-limit] + self.window - now if len(times) >= limit else 0.0

    def _count(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._failures.pop(key, None) or deque()
                times.append(now)
                self._failures[key] = times  # re-inserted: the dict's order is last-failure order
            if len(self._failures) > MAX_KEYS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        """Drop expired keys, then the least recently failed ones, down to MAX_KEYS."""
        for key in [key for key, times in self._failures.items() if times[-1] <= now - self.window]:
            del self._failures[key]
        while len(self._failures) > MAX_KEYS:
            del self._failures[next(iter(self._failures))]
