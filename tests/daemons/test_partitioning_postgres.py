"""Several instances of one daemon on a real PostgreSQL share 1,000 work items: each is processed exactly once.

The items live in a scratch table with a stored bucket; each instance selects its partition (`Partition.sql`)
and claims a batch with a conditional UPDATE, logging what it processed in a second table without any
uniqueness, so double processing would show. Run as threads and as separate processes (`python THIS_FILE`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update

from lake.core.partition import bucket_of
from lake.core.settings import ServerSettings
from lake.daemons.base import Daemon, DaemonContext
from lake.daemons.runner import run_daemon
from lake.db.engine import make_unpooled_engine
from lake.logic.heartbeats import live_instances
from lake.logic.services import Services
from lake.testing import waiting

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("LAKE_TEST_DATABASE_URL"), reason="needs LAKE_TEST_DATABASE_URL"),
]

ITEMS = 1000
BATCH = 20
scratch = MetaData()
items = Table(
    "test_partition_items",
    scratch,
    Column("id", String(32), primary_key=True),
    Column("bucket", Integer, nullable=False),
    Column("state", String(8), nullable=False),
    Column("owner", String(255)),
)
processed = Table(
    "test_partition_log", scratch, Column("item_id", String(32), nullable=False), Column("instance", String(255))
)


def process_a_batch(ctx: DaemonContext) -> bool:
    """Claim up to BATCH new items of this partition (conditional UPDATE) and log each claimed one."""
    with ctx.services.db.transaction() as conn:
        wanted = select(items.c.id).where(items.c.state == "new", ctx.partition.sql(items.c.bucket)).limit(BATCH)
        claimed = conn.execute(
            update(items)
            .where(items.c.id.in_(wanted.scalar_subquery()), items.c.state == "new")
            .values(state="done", owner=ctx.instance)
            .returning(items.c.id)
        ).scalars()
        rows = [{"item_id": item_id, "instance": ctx.instance} for item_id in claimed]
        if rows:
            conn.execute(insert(processed), rows)
    time.sleep(0.005)  # stands for the real work, so the instances overlap in time
    return bool(rows)


PARTITIONED = Daemon(name="partition_test", interval=0.05, run_once=process_a_batch)


@pytest.fixture
def scratch_tables(services: Services) -> Iterator[None]:
    engine = make_unpooled_engine(services.db.url)
    scratch.drop_all(engine)
    scratch.create_all(engine)
    try:
        yield
    finally:
        scratch.drop_all(engine)
        engine.dispose()


wait_until = partial(waiting.wait_for, timeout=30.0, step=0.05)


def instances_alive(services: Services, count: int) -> bool:
    with services.db.transaction() as conn:
        return len(live_instances(conn, PARTITIONED.name)) == count


def add_items(services: Services) -> None:
    ids = [f"item-{n:04d}" for n in range(ITEMS)]
    with services.db.transaction() as conn:
        conn.execute(insert(items), [{"id": i, "bucket": bucket_of(i), "state": "new"} for i in ids])


def all_done(services: Services) -> bool:
    with services.db.transaction() as conn:
        return conn.execute(select(func.count()).where(items.c.state == "new")).scalar_one() == 0


def assert_each_item_processed_once_by_both(services: Services, instances: set[str]) -> None:
    with services.db.transaction() as conn:
        log = conn.execute(select(processed.c.item_id, processed.c.instance)).all()
    assert len(log) == ITEMS
    assert len({item_id for item_id, _ in log}) == ITEMS
    per_instance = {name: sum(1 for _, who in log if who == name) for name in instances}
    assert all(count > 0 for count in per_instance.values()), per_instance


def test_two_runner_threads_share_the_items_exactly_once(services, scratch_tables):
    stop = threading.Event()
    names = ["thread-a", "thread-b"]
    threads = [
        threading.Thread(target=run_daemon, args=(PARTITIONED, services), kwargs={"stop": stop, "instance": name})
        for name in names
    ]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: instances_alive(services, 2))
        add_items(services)
        wait_until(lambda: all_done(services))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert_each_item_processed_once_by_both(services, set(names))
    assert instances_alive(services, 0)


def test_two_runner_processes_share_the_items_exactly_once(services, scratch_tables):
    names = ["process-a", "process-b"]
    procs = [
        subprocess.Popen([sys.executable, __file__, services.db.url, str(services.settings.data_dir), name])
        for name in names
    ]
    try:
        wait_until(lambda: instances_alive(services, 2))
        add_items(services)
        wait_until(lambda: all_done(services))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=20) for proc in procs]
    assert codes == [0, 0]
    assert_each_item_processed_once_by_both(services, set(names))
    assert instances_alive(services, 0)


def serve_until_terminated(url: str, data_dir: str, instance: str) -> None:
    """One instance in its own process, stopped gracefully by SIGTERM."""
    services = Services.from_settings(ServerSettings(database_url=url, data_dir=Path(data_dir)), migrate=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_daemon(PARTITIONED, services, stop=stop, instance=instance)
    finally:
        services.close()


if __name__ == "__main__":
    serve_until_terminated(*sys.argv[1:4])
