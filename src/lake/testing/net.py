"""Loopback networking for tests: free ports, whether a port answers, and uvicorn servers in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import uvicorn

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's pick; free until someone binds it)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def free_ports(count: int, exclude: Collection[int] = ()) -> list[int]:
    """`count` consecutive free loopback ports (the endpoints use base+index), none of them in `exclude`."""
    for _ in range(50):
        base = free_port()
        candidates = range(base, base + count)
        if base + count < 65535 and not set(candidates) & set(exclude) and all(map(_is_free, candidates)):
            return list(candidates)
    raise RuntimeError("no free port range found")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def accepts(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on `host:port` (within `timeout` seconds)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_refused(port: int, what: str, timeout: float = 10.0, connect_timeout: float = 0.5) -> None:
    """Wait until the loopback `port` refuses connections (a server stopped); AssertionError "`what` did not
    stop" after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not accepts(port, timeout=connect_timeout):
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not stop")


@contextmanager
def serving(server: uvicorn.Server, what: str, timeout: float = 10.0) -> Iterator[uvicorn.Server]:
    """Run `server` in a daemon thread until the block ends, entering once it has started (RuntimeError "`what`
    did not start" if it dies or takes longer than `timeout` seconds); then stop it and join the thread."""
    thread = threading.Thread(target=server.run, name=what, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
