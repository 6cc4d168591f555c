"""The shared daemon runner: loop, heartbeats, partitions, graceful stop, discovery, `lake daemon` and `lake up`."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from types import ModuleType

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

import lake.daemons
from lake.cli.main import app
from lake.core.clock import utcnow
from lake.core.errors import NotFound
from lake.core.partition import Partition
from lake.daemons.base import Daemon, DaemonContext
from lake.daemons.registry import all_daemons
from lake.daemons.runner import instance_id, run_daemon, run_daemons, select_daemons, start_in_threads
from lake.db.schema_replication import heartbeats
from lake.logic.heartbeats import beat, die, live_instances
from lake.testing import waiting
from lake.testing.server import running_lake

wait_until = partial(waiting.wait_for, timeout=5.0, step=0.01)


@dataclass
class Probe:
    """A test daemon's body: reports work for the first `busy` calls, raises for the first `failing` calls."""

    busy: int = 0
    failing: int = 0
    calls: int = 0
    seen: dict[str, Partition] = field(default_factory=dict)
    live: list[list[str]] = field(default_factory=list)

    def run_once(self, ctx: DaemonContext) -> bool:
        with ctx.services.db.transaction() as conn:
            self.live.append([hb.instance for hb in live_instances(conn, "probe")])
        self.seen[ctx.instance] = ctx.partition
        self.calls += 1  # last, so that a test waiting on `calls` sees what this iteration recorded
        if self.calls <= self.failing:
            raise RuntimeError(f"bad iteration {self.calls}")
        return self.calls <= self.busy

    def daemon(self, interval: float = 60.0) -> Daemon:
        return Daemon(name="probe", interval=interval, run_once=self.run_once, description="counts iterations")


STARTED: list[tuple[threading.Thread, threading.Event]] = []


@pytest.fixture(autouse=True)
def _stop_every_thread_a_test_started() -> Iterator[None]:
    """A failed assertion must not leave a daemon thread beating into the next test's database (or keep pytest
    from exiting): every thread a test started is stopped and joined when the test ends, pass or fail."""
    yield
    while STARTED:
        thread, stop = STARTED.pop()
        stop.set()
        thread.join(timeout=10)


def in_thread(spec: Daemon, services, stop: threading.Event, instance: str | None = None) -> threading.Thread:
    kwargs = {"stop": stop, "instance": instance}
    thread = threading.Thread(target=run_daemon, args=(spec, services), kwargs=kwargs, daemon=True)
    STARTED.append((thread, stop))
    thread.start()
    return thread


def probe_heartbeats(services) -> list[str]:
    with services.db.transaction() as conn:
        return [hb.instance for hb in live_instances(conn, "probe")]


def test_once_runs_one_iteration_and_reports_whether_it_worked(services):
    probe = Probe(busy=1)
    assert run_daemon(probe.daemon(), services, once=True) is True
    assert run_daemon(probe.daemon(), services, once=True) is False
    assert probe.calls == 2


def test_once_lets_the_exception_through_and_still_leaves(services):
    probe = Probe(failing=1)
    with pytest.raises(RuntimeError, match="bad iteration 1"):
        run_daemon(probe.daemon(), services, once=True)
    assert probe_heartbeats(services) == []


def test_after_work_the_loop_goes_again_at_once_and_stop_interrupts_the_sleep(services):
    probe, stop = Probe(busy=5), threading.Event()
    thread = in_thread(probe.daemon(interval=60), services, stop)
    wait_until(lambda: probe.calls == 6, timeout=3)  # five working iterations without sleeping, then idle
    started = time.monotonic()
    stop.set()
    thread.join(timeout=2)
    assert not thread.is_alive() and time.monotonic() - started < 1
    assert probe.calls == 6


def test_a_failing_iteration_is_logged_and_the_loop_goes_on(services, caplog):
    probe, stop = Probe(failing=2), threading.Event()
    with caplog.at_level(logging.ERROR, logger="lake.daemons.runner"):
        thread = in_thread(probe.daemon(interval=0.01), services, stop)
        wait_until(lambda: probe.calls >= 4)
        assert thread.is_alive()
        stop.set()
        thread.join(timeout=2)
    failures = [record for record in caplog.records if "iteration failed" in record.getMessage()]
    assert len(failures) == 2 and all(record.exc_info for record in failures)


def test_the_heartbeat_exists_while_running_and_is_removed_on_stop(services):
    probe, stop = Probe(), threading.Event()
    thread = in_thread(probe.daemon(interval=0.01), services, stop, instance="host:1:1")
    wait_until(lambda: probe.calls >= 1)
    assert probe.live[0] == ["host:1:1"]
    stop.set()
    thread.join(timeout=2)
    assert probe_heartbeats(services) == []


def test_the_default_instance_is_host_pid_and_thread(services):
    probe = Probe()
    run_daemon(probe.daemon(), services, once=True)
    assert list(probe.seen) == [instance_id()]
    assert instance_id() == f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}"


def test_two_instances_split_the_work_in_two(services):
    probe, stop = Probe(), threading.Event()
    threads = [in_thread(probe.daemon(interval=0.01), services, stop, instance=name) for name in ("b", "a")]
    expected = {"a": Partition(0, 2), "b": Partition(1, 2)}
    wait_until(lambda: probe.seen == expected)
    stop.set()
    for thread in threads:
        thread.join(timeout=2)
    assert probe_heartbeats(services) == []


def test_a_stale_instance_is_dropped_from_the_count(services):
    now = utcnow()
    with services.db.transaction() as conn:
        beats = [("a-dead", now - timedelta(seconds=120)), ("c-live", now)]
        rows = [{"daemon": "probe", "instance": i, "updated_at": t, "started_at": t} for i, t in beats]
        conn.execute(insert(heartbeats), rows)
    probe = Probe()
    run_daemon(probe.daemon(interval=1), services, once=True, instance="b")
    assert probe.seen == {"b": Partition(0, 2)}
    assert probe_heartbeats(services) == ["c-live"]


def test_beat_keeps_started_at_and_counts_each_daemon_separately(services):
    with services.db.transaction() as conn:
        assert beat(conn, "probe", "x") == Partition(0, 1)
        first = live_instances(conn, "probe")[0]
        assert beat(conn, "other", "a") == Partition(0, 1)
        assert beat(conn, "probe", "w") == Partition(0, 2)
        assert beat(conn, "probe", "x") == Partition(1, 2)
        again = live_instances(conn, "probe")[1]
        assert again.started_at == first.started_at and again.updated_at >= first.updated_at
        die(conn, "probe", "w")
        assert [(hb.daemon, hb.instance) for hb in live_instances(conn)] == [("other", "a"), ("probe", "x")]


def test_the_dead_threshold_is_per_daemon(services):
    old = utcnow() - timedelta(seconds=30)
    with services.db.transaction() as conn:
        conn.execute(insert(heartbeats).values(daemon="slow", instance="s", updated_at=old, started_at=old))
        assert beat(conn, "fast", "f", dead_after=10) == Partition(0, 1)
        assert beat(conn, "slow", "t", dead_after=60) == Partition(1, 2)
        assert beat(conn, "slow", "t", dead_after=10) == Partition(0, 1)


FAKE_DAEMON = """
from lake.daemons.base import Daemon

CALLS = []
FAIL = False


def run_once(ctx):
    CALLS.append((ctx.instance, ctx.greedy))
    if FAIL:
        raise RuntimeError("fake failure")
    return False


DAEMON = Daemon(name="zz_fake", interval=0.02, run_once=run_once, description="a daemon only the tests know")
"""


@pytest.fixture
def fake_daemon(tmp_path, monkeypatch) -> Iterator[ModuleType]:
    """A daemon module that exists only for this test, found by the registry like any other."""
    folder = tmp_path / "more_daemons"
    folder.mkdir()
    (folder / "zz_fake_daemon.py").write_text(FAKE_DAEMON)
    monkeypatch.setattr(lake.daemons, "__path__", [*lake.daemons.__path__, str(folder)])
    importlib.invalidate_caches()
    yield importlib.import_module("lake.daemons.zz_fake_daemon")
    sys.modules.pop("lake.daemons.zz_fake_daemon", None)


def test_the_registry_finds_every_module_that_declares_a_daemon(fake_daemon):
    registry = all_daemons()
    assert registry["zz_fake"] is fake_daemon.DAEMON
    assert all(isinstance(spec, Daemon) and spec.name == name for name, spec in registry.items())
    assert list(registry) == sorted(registry)
    assert select_daemons(["zz_fake"]) == [fake_daemon.DAEMON]
    assert fake_daemon.DAEMON in select_daemons([])
    with pytest.raises(NotFound, match="nope"):
        select_daemons(["zz_fake", "nope"])


def test_run_daemons_once_reports_failures_in_its_exit_code(fake_daemon, settings):
    assert run_daemons(settings, ["zz_fake"], once=True, greedy=True) == 0
    assert fake_daemon.CALLS[0][1] is True
    fake_daemon.FAIL = True
    assert run_daemons(settings, ["zz_fake"], once=True) == 1


def test_run_daemons_stops_on_sigterm_with_exit_code_zero(fake_daemon, settings, services):
    def terminate_after_a_few_iterations() -> None:
        wait_until(lambda: len(fake_daemon.CALLS) >= 3)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=terminate_after_a_few_iterations, daemon=True).start()
    assert run_daemons(settings, ["zz_fake"]) == 0
    assert signal.getsignal(signal.SIGTERM) == previous
    with services.db.transaction() as conn:
        assert live_instances(conn) == []


def test_start_in_threads_runs_each_daemon_until_stopped(fake_daemon, services):
    probe, stop = Probe(), threading.Event()
    threads = start_in_threads(services, [probe.daemon(interval=0.01), fake_daemon.DAEMON], stop)
    STARTED.extend((thread, stop) for thread in threads)
    assert [thread.name for thread in threads] == ["daemon-probe", "daemon-zz_fake"]
    wait_until(lambda: probe.calls >= 2 and len(fake_daemon.CALLS) >= 2)
    stop.set()
    for thread in threads:
        thread.join(timeout=2)
        assert not thread.is_alive()


def test_lake_daemon_lists_and_runs_once(fake_daemon, settings, monkeypatch):
    monkeypatch.setenv("LAKE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LAKE_DATABASE_URL", settings.resolved_database_url())
    runner = CliRunner()
    listed = runner.invoke(app, ["daemon", "--list"])
    assert listed.exit_code == 0 and "zz_fake" in listed.stdout and "only the tests know" in listed.stdout
    assert runner.invoke(app, ["daemon", "zz_fake", "--once"]).exit_code == 0
    assert len(fake_daemon.CALLS) == 1
    unknown = runner.invoke(app, ["daemon", "no_such_daemon", "--once"])
    assert unknown.exit_code == 1 and "no_such_daemon" in unknown.output


def test_lake_up_runs_the_daemons_until_it_stops(fake_daemon, tmp_path):
    with running_lake(tmp_path / "on", endpoints=1) as lake_on:
        wait_until(lambda: len(fake_daemon.CALLS) >= 2)
        assert "zz_fake" in lake_on.lake.banner()
    calls = len(fake_daemon.CALLS)
    time.sleep(0.1)
    assert len(fake_daemon.CALLS) == calls
    with running_lake(tmp_path / "off", endpoints=1, daemons=False):
        time.sleep(0.1)
    assert len(fake_daemon.CALLS) == calls
