"""A daemon loop outlives a database outage: it backs off (capped, exponential), logs the outage once instead of a
traceback per iteration, and resumes its work when the database returns."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from lake.core.errors import DatabaseUnavailable
from lake.daemons import runner
from lake.daemons.base import Daemon, DaemonContext
from lake.daemons.runner import Backoff, run_daemon
from lake.db.engine import Database
from lake.logic.heartbeats import live_instances

REFUSING = "postgresql://lake:lake@127.0.0.1:1/lake"


def test_backoff_doubles_up_to_its_cap_with_jitter():
    spec = Daemon(name="d", interval=0.5, run_once=lambda ctx: False)
    backoff = Backoff(spec, DaemonContext(services=None, instance="i"))  # type: ignore[arg-type]
    waits = [backoff.failed() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(0.75 * top <= wait <= top for wait, top in zip(waits, ceilings, strict=True)), waits
    backoff.succeeded()
    assert backoff.failed() <= 1  # a new outage starts again from the first step
    slow = Backoff(Daemon(name="s", interval=120, run_once=lambda ctx: False), backoff.ctx)
    assert max(slow.failed() for _ in range(10)) > 30  # never retries more often than its own interval at the cap


def test_a_daemon_backs_off_while_the_database_is_away_and_resumes(services, monkeypatch, caplog):
    monkeypatch.setattr(runner, "BACKOFF_FIRST", 0.02)
    monkeypatch.setattr(runner, "BACKOFF_CAP", 0.2)
    caplog.set_level(logging.INFO, logger="lake")
    iterations: list[float] = []
    worked = threading.Event()

    def run_once(ctx: DaemonContext) -> bool:
        with ctx.services.db.transaction() as conn:
            live_instances(conn, "probe")
        worked.set()
        return False

    up, down = services.db, Database(REFUSING)
    original_iterate = runner._iterate

    def counting(spec: Daemon, ctx: DaemonContext, beaten: Callable[[], None]) -> bool:
        iterations.append(time.monotonic())
        return original_iterate(spec, ctx, beaten)

    monkeypatch.setattr(runner, "_iterate", counting)
    monkeypatch.setattr(services, "db", down)
    stop = threading.Event()
    probe = Daemon(name="probe", interval=0.01, run_once=run_once)
    thread = threading.Thread(target=run_daemon, args=(probe, services), kwargs={"stop": stop, "instance": "p"})
    thread.start()
    try:
        time.sleep(1.0)
        assert not worked.is_set()
        during = len(iterations)
        services.db = up
        assert worked.wait(5), "the daemon did not resume"
    finally:
        stop.set()
        thread.join(10)
        down.dispose()
    gaps = [b - a for a, b in zip(iterations, iterations[1:during], strict=False)]
    assert 4 <= during <= 12 and gaps[-1] > 5 * gaps[0], gaps  # backing off, not spinning at the 0.01 s interval
    mine = [r for r in caplog.records if r.name == "lake.daemons.runner" and "probe" in r.getMessage()]
    assert [r.levelno for r in mine if "database" in r.getMessage()] == [logging.WARNING, logging.INFO]
    assert not [r for r in caplog.records if r.exc_info], "an outage must not log tracebacks"


def test_a_single_iteration_still_raises_when_the_database_is_away(services, monkeypatch):
    """`lake daemon --once` reports the outage to its caller instead of waiting for the database."""
    monkeypatch.setattr(services, "db", Database(REFUSING))
    probe = Daemon(name="probe", interval=1, run_once=lambda ctx: False)
    with pytest.raises(DatabaseUnavailable):
        run_daemon(probe, services, once=True, instance="p")
    services.db.dispose()
