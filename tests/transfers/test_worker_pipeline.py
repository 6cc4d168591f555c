"""The transfer worker refills free slots as copies finish, within the per-link limit."""

from __future__ import annotations

import threading
import time

from lake.logic.transfers import execute
from lake.logic.transfers.claim import LINK_LIMIT


def test_worker_refills_slots_as_copies_finish_and_keeps_the_link_limit(lake, monkeypatch, one_by_one):
    """One slow copy does not hold back the others (no waiting for a whole batch), and never more than
    LINK_LIMIT copies run at once on the link."""
    lake.upload("CERN-DISK", "ds", {f"f{i:02d}": b"x" * 100 for i in range(12)})
    rule_id = lake.add_rule("ds", "DESY-DISK")
    running, peak, finished, lock = [0], [0], [], threading.Lock()
    original = execute.run

    def observed(job, issuer, backends):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(1.5 if job.transfer.name == "f00" else 0.05)
        try:
            return original(job, issuer, backends)
        finally:
            with lock:
                running[0] -= 1
                finished.append(job.transfer.name)

    monkeypatch.setattr(execute, "run", observed)
    lake.work_until(lake.rule_is(rule_id, "OK"), timeout=30)
    assert peak[0] == LINK_LIMIT
    assert finished[-1] == "f00" and sorted(finished) == [f"f{i:02d}" for i in range(12)]
