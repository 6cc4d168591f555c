"""The one daemon loop: heartbeat -> partition -> `run_once`, again at once after work, else after `interval`.

Each iteration first beats in its own short transaction, which yields this instance's hash partition among
the live instances of the daemon; `run_once` then opens its own transaction(s). A failing iteration is logged
and retried after the interval, so a daemon never dies of one bad iteration; stopping lets the current
iteration finish and removes the heartbeat so the other instances take over its share. While the database is
unavailable the loop backs off (capped exponential delay, jittered so instances do not reconnect in step),
logging the outage once when it starts and once when it ends, and resumes as soon as the database answers.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from lake.core.errors import DatabaseUnavailable, NotFound
from lake.core.settings import ServerSettings
from lake.daemons.base import Daemon, DaemonContext
from lake.daemons.registry import all_daemons
from lake.db.engine import is_unavailable
from lake.logic import heartbeats
from lake.logic.services import Services

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0  # seconds before the first retry of an outage; doubles per failed iteration
BACKOFF_CAP = 30.0  # ... up to this (or the daemon's own interval, if longer)


def instance_id() -> str:
    """`hostname:pid:thread-id` of the calling thread: unique per running daemon loop."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}"


def dead_after(spec: Daemon) -> float:
    """Seconds without a beat before an instance counts as dead: long enough to span a few idle sleeps."""
    return max(heartbeats.DEAD_AFTER, 3 * spec.interval)


def run_daemon(
    spec: Daemon,
    services: Services,
    *,
    once: bool = False,
    stop: threading.Event | None = None,
    instance: str | None = None,
    greedy: bool = False,
) -> bool:
    """Run `spec` until `stop` is set (or one iteration with `once`); returns whether the last iteration worked.

    With `once` an exception in `run_once` propagates (a one-shot caller wants to see it); in the loop it is
    logged with its traceback and the loop goes on after the interval.
    """
    ctx = DaemonContext(
        services=services, instance=instance or instance_id(), stop=stop or threading.Event(), greedy=greedy
    )
    log.info("daemon %s started as %s", spec.name, ctx.instance)
    try:
        return _iterate(spec, ctx) if once else _loop(spec, ctx)
    finally:
        _leave(spec, ctx)


def _iterate(spec: Daemon, ctx: DaemonContext, beaten: Callable[[], None] = lambda: None) -> bool:
    """One iteration: beat (own transaction; then `beaten`: the database answered), take the partition, work."""
    with ctx.services.db.transaction() as conn:
        ctx.partition = heartbeats.beat(conn, spec.name, ctx.instance, dead_after=dead_after(spec))
    beaten()
    worked = bool(spec.run_once(ctx))
    log.debug("daemon %s %s partition %s worked=%s", spec.name, ctx.instance, ctx.partition, worked)
    return worked


def database_down(exc: BaseException) -> bool:
    """Whether an iteration failed because the database is unreachable (not because of its own work)."""
    return isinstance(exc, DatabaseUnavailable) or is_unavailable(exc)


class Backoff:
    """The waits of one daemon loop while the database is unavailable, and the two log lines of an outage."""

    def __init__(self, spec: Daemon, ctx: DaemonContext, rng: random.Random | None = None) -> None:
        self.spec, self.ctx, self.rng = spec, ctx, rng or random.Random()
        self.failures = 0
        self.since = 0.0

    def failed(self) -> float:
        """Seconds to wait after a failed iteration: BACKOFF_FIRST, doubling, capped; 75-100% of it (jitter)."""
        if not self.failures:
            self.since = time.monotonic()
            log.warning(
                "daemon %s (%s): the database is unavailable; backing off until it returns",
                self.spec.name,
                self.ctx.instance,
            )
        self.failures += 1
        cap = max(BACKOFF_CAP, self.spec.interval)
        return min(cap, BACKOFF_FIRST * 2 ** min(self.failures - 1, 20)) * self.rng.uniform(0.75, 1.0)

    def succeeded(self) -> None:
        """The database answered (the heartbeat of an iteration was written): the outage, if any, is over."""
        if self.failures:
            log.info(
                "daemon %s (%s): the database is back after %.1f s (%d iterations failed); resuming",
                self.spec.name,
                self.ctx.instance,
                time.monotonic() - self.since,
                self.failures,
            )
            self.failures = 0


def _loop(spec: Daemon, ctx: DaemonContext) -> bool:
    worked = False
    backoff = Backoff(spec, ctx)
    while not ctx.stop.is_set():
        try:
            worked = _iterate(spec, ctx, backoff.succeeded)
        except Exception as exc:
            if database_down(exc):
                ctx.stop.wait(backoff.failed())
                continue
            log.exception("daemon %s (%s): iteration failed; retrying in %s s", spec.name, ctx.instance, spec.interval)
            worked = False
        if not worked:
            ctx.stop.wait(spec.interval)
    return worked


def _leave(spec: Daemon, ctx: DaemonContext) -> None:
    """Remove the heartbeat; if the database is unreachable the row simply goes stale and is dropped later."""
    try:
        with ctx.services.db.transaction() as conn:
            heartbeats.die(conn, spec.name, ctx.instance)
    except Exception as exc:
        log.warning(
            "daemon %s (%s): could not remove its heartbeat", spec.name, ctx.instance, exc_info=not database_down(exc)
        )
    log.info("daemon %s (%s) stopped", spec.name, ctx.instance)


def start_in_threads(
    services: Services, specs: Iterable[Daemon], stop: threading.Event, *, greedy: bool = False
) -> list[threading.Thread]:
    """One running loop per daemon, each in its own (daemonic) thread, all stopped by `stop`."""
    threads = [
        threading.Thread(
            target=run_daemon,
            args=(spec, services),
            kwargs={"stop": stop, "greedy": greedy},
            name=f"daemon-{spec.name}",
            daemon=True,
        )
        for spec in specs
    ]
    for thread in threads:
        thread.start()
    return threads


def join_threads(threads: Iterable[threading.Thread], timeout: float) -> None:
    """Wait up to `timeout` seconds in all for stopped daemon threads; warn about any still busy (left behind)."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("%s did not finish its iteration within %s s; leaving it behind", thread.name, timeout)


def select_daemons(names: Iterable[str]) -> list[Daemon]:
    """The registered daemons with these names (all of them when none are named)."""
    registry = all_daemons()
    names = list(names)
    unknown = sorted(set(names) - set(registry))
    if unknown:
        raise NotFound(f"unknown daemon(s) {', '.join(unknown)}; known: {', '.join(registry) or 'none'}")
    return [registry[name] for name in names] if names else list(registry.values())


def run_daemons(settings: ServerSettings, names: list[str], once: bool = False, greedy: bool = False) -> int:
    """`lake daemon NAME...`: run the named daemons (all when none) until SIGTERM/SIGINT; the exit code."""
    specs = select_daemons(names)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    if not specs:
        log.warning("no daemons are registered in this installation; nothing to run")
        return 0
    services = Services.from_settings(settings)
    try:
        if once:
            return _run_each_once(specs, services, greedy)
        return _run_until_signalled(specs, services, greedy)
    finally:
        services.close()


def _run_each_once(specs: list[Daemon], services: Services, greedy: bool) -> int:
    """One iteration of each daemon in the given order (a pipeline step by step); 1 if any failed."""
    failed = False
    for spec in specs:
        try:
            worked = run_daemon(spec, services, once=True, greedy=greedy)
            log.info("daemon %s: one iteration, work done: %s", spec.name, worked)
        except Exception:
            log.exception("daemon %s: iteration failed", spec.name)
            failed = True
    return 1 if failed else 0


def _run_until_signalled(specs: list[Daemon], services: Services, greedy: bool) -> int:
    """Threads until the first SIGTERM/SIGINT, then let iterations finish; a second signal acts as usual."""
    stop = threading.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping after the current iterations", signal.Signals(signum).name)
        stop.set()
        _restore(previous)

    for sig in signals:
        signal.signal(sig, request_stop)
    try:
        threads = start_in_threads(services, specs, stop, greedy=greedy)
        while not stop.wait(0.5):
            pass
        for thread in threads:
            thread.join()
    finally:
        _restore(previous)
    return 0


def _restore(handlers: dict[signal.Signals, Any]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
