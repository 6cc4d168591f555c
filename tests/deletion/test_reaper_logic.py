"""The reaper on SQLite with an in-memory storage: eligibility, watermark, greedy mode, failures, partitions."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from lake.core.clock import utcnow
from lake.core.errors import PermissionDenied, Unavailable
from lake.core.models import ProtocolDomains, ProtocolIn, RegisterFilesIn, RSEIn, RSEUpdate
from lake.core.partition import Partition
from lake.core.states import OBSOLETE
from lake.db import schema as t
from lake.db.schema_replication import events, transfers
from lake.logic.catalog import replicas, rses
from lake.logic.catalog.replicas import rse_access
from lake.logic.deletion import reaper
from lake.logic.deletion.reaper import reap
from lake.testing.factories import ALICE, ROOT, file_in

RSE = "MEM-A"


@pytest.fixture
def lake(services, store, add_mem_rses):
    """A lake with one in-memory RSE; returns a function registering files there (present on storage)."""
    with services.db.transaction() as conn:
        add_mem_rses(conn, {RSE: {}, "MEM-B": {}})

    def add_files(names, size=100, rse=RSE, **replica_values):
        with services.db.transaction() as conn:
            request = RegisterFilesIn(rse=rse, files=[file_in(n, size) for n in names])
            replicas.register_files(conn, ALICE, request)
            access = rse_access(conn, rse, "delete")
            store.files.update(access.pfn("user.alice", n) for n in names)
            r = t.replicas.c
            rse_id = rses.rse_id(conn, rse)
            for name in names:
                values = {k: v[name] if isinstance(v, dict) else v for k, v in replica_values.items()}
                conn.execute(update(t.replicas).where(r.rse_id == rse_id, r.name == name).values(**values))

    return add_files


def left(services, rse=RSE):
    with services.db.transaction() as conn:
        rse_id = rses.rse_id(conn, rse)
        return {r.name: r for r in conn.execute(select(t.replicas).where(t.replicas.c.rse_id == rse_id))}


def events_of(services, kind):
    with services.db.transaction() as conn:
        return conn.execute(select(events).where(events.c.kind == kind).order_by(events.c.id)).all()


def set_attributes(services, rse=RSE, **attributes):
    with services.db.transaction() as conn:
        for key, value in attributes.items():
            rses.set_attribute(conn, ROOT, rse, key, value)


def ago(hours):
    return utcnow() - timedelta(hours=hours)


def test_only_unlocked_replicas_with_a_past_tombstone_are_eligible(services, store, lake, scopes_of):
    lake(["gone"], tombstone=OBSOLETE)
    lake(["locked"], tombstone=OBSOLETE, lock_cnt=1)
    lake(["kept"], tombstone=None)
    lake(["future"], tombstone=utcnow() + timedelta(days=1))
    lake(["busy"], tombstone=OBSOLETE, state="BEING_DELETED", updated_at=utcnow())
    lake(["lru"], tombstone=ago(5))
    assert reap(services, Partition()) == 1
    assert set(left(services)) == {"locked", "kept", "future", "busy", "lru"}
    [pfn] = store.deleted
    assert pfn.endswith("/gone") and pfn not in store.files
    assert scopes_of(store.tokens[0]) == [f"storage.modify:/{pfn.split('/', 3)[3]}"]
    [done] = events_of(services, "deletion.done")
    assert (done.name, done.bytes, done.dest_rse, done.payload) == ("gone", 100, RSE, {"rse": RSE})


def test_space_pressure_deletes_oldest_tombstones_first_after_obsolete_ones(services, store, lake):
    lake(["obsolete"], tombstone=OBSOLETE)
    lake(["old", "mid", "new"], tombstone={"old": ago(30), "mid": ago(20), "new": ago(10)})
    set_attributes(services, total_space=1000, MinFreeSpace=800)  # used 400, free 600: 200 bytes needed
    assert reap(services, Partition(), chunk=2) == 2
    assert set(left(services)) == {"mid", "new"}
    set_attributes(services, MinFreeSpace=750)  # used 200, free 800: nothing needed
    assert reap(services, Partition()) == 0


def test_greedy_mode_deletes_every_eligible_replica(services, lake):
    lake(["a", "b"], tombstone=ago(1))
    lake(["held"], tombstone=ago(1), lock_cnt=2)
    assert reap(services, Partition()) == 0
    assert reap(services, Partition(), greedy=True) == 2
    lake(["c"], rse="MEM-B", tombstone=ago(1))
    set_attributes(services, rse="MEM-B", greedyDeletion=True)
    assert reap(services, Partition()) == 1
    assert set(left(services)) == {"held"} and left(services, "MEM-B") == {}


def test_a_file_already_gone_from_storage_counts_as_deleted(services, store, lake):
    lake(["ghost"], tombstone=OBSOLETE)
    store.files.clear()
    assert reap(services, Partition()) == 1
    assert left(services) == {}


@pytest.mark.parametrize(("failure", "category"), [(Unavailable("down"), "STORAGE_ERROR"),
                                                   (PermissionDenied("no"), "AUTH")])  # fmt: skip
def test_a_storage_failure_restores_the_replica_and_records_why(services, store, lake, failure, category):
    lake(["a"], tombstone=OBSOLETE, state="UNAVAILABLE")
    store.failure = failure
    assert reap(services, Partition()) == 0
    replica = left(services)["a"]
    assert (replica.state, replica.tombstone) == ("UNAVAILABLE", OBSOLETE)
    [failed] = events_of(services, "deletion.failed")
    assert (failed.name, failed.error_category, failed.dest_rse) == ("a", category, RSE)
    store.failure = None
    assert reap(services, Partition()) == 1


def test_an_expired_file_did_goes_with_its_last_replica(services, lake):
    lake(["a"], tombstone=OBSOLETE)
    with services.db.transaction() as conn:
        d = t.dids.c
        conn.execute(update(t.dids).where(d.name == "a").values(expired_at=datetime(2000, 1, 1)))
    assert reap(services, Partition()) == 1
    with services.db.transaction() as conn:
        assert conn.execute(select(t.dids).where(t.dids.c.name == "a")).first() is None
        assert conn.execute(select(t.deleted_dids).where(t.deleted_dids.c.name == "a")).first() is not None


def test_rses_of_other_partitions_or_closed_for_deletion_are_left_alone(services, lake):
    lake(["a"], tombstone=OBSOLETE)
    lake(["b"], rse="MEM-B", tombstone=OBSOLETE)
    with services.db.transaction() as conn:
        owner = {name: rses.rse_id(conn, name) for name in (RSE, "MEM-B")}
        rses.update_rse(conn, ROOT, "MEM-B", RSEUpdate(availability_delete=False))
    mine = next(p for p in (Partition(0, 2), Partition(1, 2)) if p.owns(owner[RSE]))
    other = Partition(1 - mine.index, 2)
    assert reap(services, other) == 0 and set(left(services)) == {"a"}
    assert reap(services, mine) == 1
    assert reap(services, Partition()) == 0 and set(left(services, "MEM-B")) == {"b"}


def test_a_replica_locked_while_being_deleted_becomes_copying_again(services, store, lake):
    lake(["a"], tombstone=OBSOLETE)
    with services.db.transaction() as conn:
        [job] = [j for j in reaper.plan(conn, Partition(), greedy=False) if j.access.rse.name == RSE]
        claimed = reaper.claim(conn, job.access.rse.id, reaper.candidates(conn, job.access.rse.id, None, 10))
    assert left(services)["a"].state == "BEING_DELETED"
    with services.db.transaction() as conn:
        assert reaper.claim(conn, job.access.rse.id, claimed) == []  # already claimed: nobody takes it twice
        conn.execute(update(t.replicas).where(t.replicas.c.name == "a").values(lock_cnt=1))
    outcomes = reaper.delete_on_storage(services.issuer, job.access, claimed)
    with services.db.transaction() as conn:
        reaper.finish(conn, job.access, outcomes)
    replica = left(services)["a"]
    assert (replica.state, replica.tombstone, replica.lock_cnt) == ("COPYING", None, 1)


def test_a_replica_left_being_deleted_by_a_crashed_reaper_is_retried(services, lake):
    lake(["a"], tombstone=OBSOLETE, state="BEING_DELETED", updated_at=ago(2))
    assert reap(services, Partition()) == 1


def test_a_replica_still_being_written_by_a_transfer_waits_for_it(services, lake):
    lake(["a"], tombstone=OBSOLETE, state="COPYING")
    with services.db.transaction() as conn:
        now = utcnow()
        conn.execute(insert(transfers).values(
            id="t1", scope="user.alice", name="a", dest_rse_id=rses.rse_id(conn, RSE), state="SUBMITTED",
            activity="test", priority=3, bytes=100, attempt=1, max_attempts=3, bucket=0, created_at=now,
            updated_at=now))  # fmt: skip
    assert reap(services, Partition()) == 0
    with services.db.transaction() as conn:
        conn.execute(update(transfers).values(state="FAILED"))
    assert reap(services, Partition()) == 1


def test_caches_are_left_to_their_own_eviction(services, caplog):
    """A volatile RSE (a site's cache) is never planned, and its missing delete protocol is not a warning."""
    with services.db.transaction() as conn:
        rses.add_rse(conn, ROOT, RSEIn(name="SITE-CACHE", volatile=True, attributes={"site": "SITE"}))
        read_only = ProtocolDomains(read=1)
        protocol = ProtocolIn(scheme="http", hostname="127.0.0.1", port=9999, wan=read_only, lan=read_only)
        rses.add_protocol(conn, ROOT, "SITE-CACHE", protocol)
        planned = [job.access.rse.name for job in reaper.plan(conn, Partition(), greedy=True)]
    assert "SITE-CACHE" not in planned and "SITE-CACHE" not in caplog.text
