"""The transfer engine against a real lake: built-in HTTP endpoints, real tokens, HTTP-TPC and streaming."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from lake.core.models import DistanceIn
from lake.core.replication import ErrorCategory
from lake.logic.catalog import rses
from lake.testing.factories import ROOT as ROOT_CALLER
from lake.testing.factories import adler32
from lake.testing.factories import seeded_bytes as payload
from lake.testing.net import free_ports

pytestmark = pytest.mark.integration


FILES = {f"f{i}.dat": payload(f"f{i}", 40_000 + i) for i in range(3)}


def assert_replicas_verified(lake: Any, rse: str, files: dict[str, bytes]) -> None:
    """Every file is AVAILABLE on the RSE, and the bytes on its storage match the catalog's adler32."""
    replicas = {r.name: r for r in lake.replicas(rse)}
    stored = lake.stored(rse)
    for name, data in files.items():
        assert replicas[name].state == "AVAILABLE"
        assert stored[name] == data and adler32(stored[name]) == replicas[name].adler32


def test_rule_for_two_copies_becomes_ok_through_http_tpc(lake, caplog):
    lake.upload("CERN-DISK", "ds", FILES)
    rule_id = lake.add_rule("ds", "tier=1", copies=2)
    assert lake.rule(rule_id).state == "REPLICATING"
    with caplog.at_level(logging.DEBUG):
        lake.work_until(lake.rule_is(rule_id, "OK"))
    for rse in ("DESY-DISK", "PIC-DISK"):
        assert_replicas_verified(lake, rse, FILES)
    done = lake.transfers(rule_id=rule_id)
    assert [(x.state, x.mode, x.attempt) for x in done] == [("DONE", "http-pull", 0)] * 6
    events = lake.events("transfer.done")
    assert len(events) == 6 and {e.source_rse for e in events} == {"CERN-DISK"}
    assert {e.dest_rse for e in events} == {"DESY-DISK", "PIC-DISK"}
    assert all(e.bytes == len(FILES[e.name]) and e.duration > 0 and e.activity == "User Subscriptions" for e in events)
    assert len(lake.events("transfer.submitted")) == 6
    assert "eyJ" not in caplog.text  # no token (a JWT starts with eyJ) ever reaches the logs
    assert lake.rule(rule_id).locks_ok_cnt == 6


def test_streaming_through_the_worker_when_the_destination_cannot_pull(lake):
    lake.upload("CERN-DISK", "ds", FILES)
    lake.set_protocol("DESY-DISK", third_party_copy_write=None)
    rule_id = lake.add_rule("ds", "DESY-DISK")
    lake.work_until(lake.rule_is(rule_id, "OK"))
    assert {x.mode for x in lake.transfers(rule_id=rule_id)} == {"stream"}
    assert_replicas_verified(lake, "DESY-DISK", FILES)


def test_corrupted_source_is_detected_and_another_source_is_used(lake, fast_retries):
    files = {"a.dat": payload("a", 50_000)}
    lake.upload("CERN-DISK", "ds", files)
    first = lake.add_rule("ds", "DESY-DISK")
    lake.work_until(lake.rule_is(first, "OK"))
    with lake.services.db.transaction() as conn:  # CERN is the nearest source of PIC; DESY the fallback
        rses.set_distance(conn, ROOT_CALLER, DistanceIn(source="CERN-DISK", destination="PIC-DISK", distance=1))
        rses.set_distance(conn, ROOT_CALLER, DistanceIn(source="DESY-DISK", destination="PIC-DISK", distance=5))
    cern_copy = next(lake.storage_root("CERN-DISK").rglob("a.dat"))
    corrupted = bytearray(cern_copy.read_bytes())
    corrupted[100] ^= 0xFF
    cern_copy.write_bytes(bytes(corrupted))

    second = lake.add_rule("ds", "PIC-DISK")
    lake.work()
    [failed] = lake.events("transfer.failed")
    assert (failed.error_category, failed.source_rse) == (ErrorCategory.CHECKSUM_MISMATCH.value, "CERN-DISK")
    assert [r.state for r in lake.replicas("PIC-DISK")] == ["COPYING"]
    assert lake.stored("PIC-DISK") == {}  # the bad copy was deleted
    [queued] = lake.transfers(rule_id=second)
    assert (queued.state, queued.attempt, queued.retry_after is not None) == ("QUEUED", 1, True)

    lake.work_until(lake.rule_is(second, "OK"))
    [done] = [e for e in lake.events("transfer.done") if e.dest_rse == "PIC-DISK"]
    assert done.source_rse == "DESY-DISK"
    assert_replicas_verified(lake, "PIC-DISK", files)


def test_endpoint_down_makes_the_rule_stuck_and_the_repairer_fixes_it(lake, fast_retries):
    lake.upload("CERN-DISK", "ds", FILES)
    port = lake.protocol_port("DESY-DISK")
    lake.set_protocol("DESY-DISK", port=free_ports(1)[0])  # nobody listens there: connection refused
    rule_id = lake.add_rule("ds", "DESY-DISK")
    lake.work_until(lake.rule_is(rule_id, "STUCK"))
    lake.work_until(lambda: lake.rule(rule_id).locks_stuck_cnt == 3)
    failures = lake.events("transfer.failed")
    assert len(failures) == 9 and {f.error_category for f in failures} == {ErrorCategory.STORAGE_ERROR.value}
    assert {(f.source_rse, f.dest_rse) for f in failures} == {("CERN-DISK", "DESY-DISK")}
    assert {(x.state, x.attempt) for x in lake.transfers(rule_id=rule_id)} == {("FAILED", 3)}
    stuck = lake.rule(rule_id)
    assert stuck.error and "STORAGE_ERROR" in stuck.error

    lake.set_protocol("DESY-DISK", port=port)  # the endpoint is back
    assert lake.repair()
    assert lake.rule(rule_id).state == "REPLICATING"
    assert len(lake.events("lock.retried")) == 3
    lake.work_until(lake.rule_is(rule_id, "OK"))
    assert_replicas_verified(lake, "DESY-DISK", FILES)
    assert lake.rule(rule_id).error is None


def test_multihop_through_an_intermediate_rse(lake, fast_retries):
    files = {"m.dat": payload("m", 30_000)}
    lake.upload("CERN-DISK", "ds", files)
    lake.set_protocol("CERN-DISK", read=None)  # CERN only serves third-party copies
    lake.set_protocol("PIC-DISK", third_party_copy_write=None)  # PIC cannot pull: no direct path
    rule_id = lake.add_rule("ds", "PIC-DISK")
    lake.work()
    [no_path] = lake.events("transfer.failed")
    assert no_path.error_category == ErrorCategory.NO_PATH.value, no_path.message

    with lake.services.db.transaction() as conn:
        rses.set_attribute(conn, ROOT_CALLER, "DESY-DISK", "available_for_multihop", True)
    lake.work_until(lake.rule_is(rule_id, "OK"))
    [original] = lake.transfers(rule_id=rule_id, hop_of=None)
    [hop] = lake.transfers(hop_of=original.id)
    assert (hop.state, hop.mode, original.state, original.mode) == ("DONE", "http-pull", "DONE", "stream")
    done = {(e.source_rse, e.dest_rse) for e in lake.events("transfer.done")}
    assert done == {("CERN-DISK", "DESY-DISK"), ("DESY-DISK", "PIC-DISK")}
    assert_replicas_verified(lake, "PIC-DISK", files)
    [intermediate] = lake.replicas("DESY-DISK")
    assert intermediate.state == "AVAILABLE" and intermediate.tombstone.year == 1970 and intermediate.lock_cnt == 0
