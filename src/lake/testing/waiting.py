"""Polling for tests: wait until a condition holds, failing (or answering falsy) after a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(condition: Callable[[], T], timeout: float = 10.0, step: float = 0.02) -> T:
    """Call `condition` every `step` seconds until it answers something truthy, for at most `timeout` seconds;
    its last answer (falsy when time ran out)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() <= deadline:
        time.sleep(step)
    return value


def wait_for(condition: Callable[[], T], timeout: float = 10.0, step: float = 0.02, what: str = "the condition") -> T:
    """Like `eventually`, but an AssertionError naming `what` when time runs out; else the truthy answer."""
    value = eventually(condition, timeout, step)
    if not value:
        raise AssertionError(f"timed out waiting for {what}")
    return value
