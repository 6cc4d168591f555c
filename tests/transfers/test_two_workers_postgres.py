"""Two transfer_worker instances with partitions (0,2) and (1,2) on PostgreSQL share one rule's transfers:
each transfer is done exactly once, by the instance owning its bucket."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

import pytest

from lake.core.partition import Partition

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("LAKE_TEST_DATABASE_URL"), reason="needs LAKE_TEST_DATABASE_URL"),
]


def test_two_partitioned_workers_share_the_transfers_and_none_is_done_twice(lake):
    files = {f"p{i:02d}.dat": random.Random(i).randbytes(20_000 + i) for i in range(16)}
    lake.upload("CERN-DISK", "ds", files)
    rule_id = lake.add_rule("ds", "tier=1", copies=2)
    finished = threading.Event()
    errors: list[BaseException] = []

    def worker(instance: str, partition: Partition) -> None:
        try:
            while not finished.is_set():
                if not lake.work(instance=instance, partition=partition):
                    time.sleep(0.05)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"pg-worker-{i}", Partition(index=i, total=2))) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while lake.rule(rule_id).state != "OK" and not errors:
            assert time.monotonic() < deadline, "the two workers did not finish the rule"
            time.sleep(0.1)
    finally:
        finished.set()
        for thread in threads:
            thread.join(10)
    assert errors == []
    done = lake.events("transfer.done")
    assert len(done) == 32 and max(Counter(e.transfer_id for e in done).values()) == 1
    assert Counter((e.dest_rse, e.name) for e in done) == {(r, n): 1 for r in ("DESY-DISK", "PIC-DISK") for n in files}
    buckets = {x.id: x.bucket for x in lake.transfers(rule_id=rule_id)}
    by_worker = Counter(e.payload["worker"] for e in done)
    assert set(by_worker) == {"pg-worker-0", "pg-worker-1"}
    assert all(e.payload["worker"] == f"pg-worker-{buckets[e.transfer_id] % 2}" for e in done)
    assert lake.temp_files() == []
