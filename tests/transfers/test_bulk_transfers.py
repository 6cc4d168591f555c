"""Small files in bulk: the worker pulls a link's small files with one request to the destination endpoint, one
token per side, and records the batch in one transaction; bad entries fail alone, and a batch cut short or
copied by a worker that died is finished without copying anything twice."""

from __future__ import annotations

from collections import Counter

import pytest

from lake.core.errors import StorageError
from lake.core.partition import Partition
from lake.core.replication import ErrorCategory
from lake.logic.transfers import batch
from lake.logic.transfers.claim import claim
from lake.logic.transfers.execute import Backends
from lake.storage.bulkpull import BulkUnsupported, PullRequest, pull_many
from lake.storage.http import HttpBackend
from lake.testing.factories import seeded_bytes as payload

pytestmark = pytest.mark.integration

FILES = {f"s{i:02d}.dat": payload(f"s{i}", 1500 + i) for i in range(20)}


@pytest.fixture
def pulls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every bulk pull request the worker sends (the real requests, counted on the way)."""
    sizes: list[int] = []
    real = batch.pull_many

    def counted(dest, origin, files, source_token):
        sizes.append(len(files))
        return real(dest, origin, files, source_token)

    monkeypatch.setattr(batch, "pull_many", counted)
    return sizes


def assert_done_once_and_clean(lake, files: dict[str, bytes], rse: str) -> None:
    done = [e for e in lake.events("transfer.done") if e.dest_rse == rse]
    assert Counter(e.name for e in done) == dict.fromkeys(files, 1)
    assert lake.stored(rse) == files and lake.temp_files() == []
    assert {(r.name, r.state) for r in lake.replicas(rse)} == {(name, "AVAILABLE") for name in files}


def test_a_rule_over_small_files_is_one_bulk_pull_on_its_link(lake, pulls):
    lake.upload("CERN-DISK", "ds", FILES)
    rule_id = lake.add_rule("ds", "DESY-DISK")
    lake.work_until(lake.rule_is(rule_id, "OK"))
    assert pulls == [len(FILES)]
    assert_done_once_and_clean(lake, FILES, "DESY-DISK")


def test_missing_and_corrupted_sources_fail_only_their_files_in_a_batch(lake, pulls):
    lake.upload("CERN-DISK", "ds", FILES)
    root = lake.storage_root("CERN-DISK")
    next(root.rglob("s03.dat")).unlink()
    corrupted = next(root.rglob("s07.dat"))
    data = bytearray(corrupted.read_bytes())
    data[10] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    lake.add_rule("ds", "DESY-DISK")
    lake.work()
    assert pulls == [len(FILES)]
    failed = {e.name: e.error_category for e in lake.events("transfer.failed")}
    assert failed == {"s03.dat": ErrorCategory.SOURCE_MISSING.value, "s07.dat": ErrorCategory.CHECKSUM_MISMATCH.value}
    good = {name: data for name, data in FILES.items() if name not in failed}
    assert lake.stored("DESY-DISK") == good and lake.temp_files() == []
    states = {r.name: r.state for r in lake.replicas("DESY-DISK")}
    assert states == {name: "AVAILABLE" if name in good else "COPYING" for name in FILES}


def test_a_bulk_pull_copied_by_a_worker_that_then_died_is_accepted_not_copied_again(lake):
    lake.upload("CERN-DISK", "ds", FILES)
    rule_id = lake.add_rule("ds", "DESY-DISK")
    with lake.services.db.transaction() as conn:
        jobs = claim(conn, Partition(), "ghost-worker", limit=500).jobs
    backends = Backends()
    [whole] = batch.split(jobs, backends)[0]
    outcomes = batch.run(whole, lake.services.issuer, backends)  # copied; the worker dies before recording
    backends.close()
    assert all(not isinstance(result, Exception) for _, result in outcomes)
    assert lake.stored("DESY-DISK") == FILES
    lake.work_until(lake.rule_is(rule_id, "OK"))
    done = lake.events("transfer.done")
    assert all(e.payload["recovered"] is True for e in done)
    assert len(lake.events("transfer.requeued")) == len(FILES)
    assert_done_once_and_clean(lake, FILES, "DESY-DISK")


def test_a_bulk_pull_cut_short_fails_the_unanswered_files_and_they_complete_on_retry(lake, monkeypatch, fast_retries):
    """The destination's answer stops half-way (its endpoint went away mid-batch, simulated on the worker's
    side): the files it reported are done, the others fail with a storage error and their retry accepts or
    copies each one."""
    real = batch.pull_many

    def cut_short(dest, origin, files, source_token):
        for count, result in enumerate(real(dest, origin, files, source_token)):
            if count == len(files) // 2:
                raise StorageError("connection reset by peer")
            yield result

    monkeypatch.setattr(batch, "pull_many", cut_short)
    lake.upload("CERN-DISK", "ds", FILES)
    rule_id = lake.add_rule("ds", "DESY-DISK")
    lake.work()
    failed = lake.events("transfer.failed")
    assert len(failed) == len(FILES) - len(FILES) // 2
    assert {e.error_category for e in failed} == {ErrorCategory.STORAGE_ERROR.value}
    lake.work_until(lake.rule_is(rule_id, "OK"))
    assert_done_once_and_clean(lake, FILES, "DESY-DISK")


def test_a_destination_without_bulk_pulls_gets_one_copy_per_file(lake, monkeypatch):
    def unsupported(dest, origin, files, source_token):
        raise BulkUnsupported(f"{origin} does not offer bulk pulls (HTTP 404)")

    monkeypatch.setattr(batch, "pull_many", unsupported)
    lake.upload("CERN-DISK", "ds", FILES)
    rule_id = lake.add_rule("ds", "DESY-DISK")
    lake.work_until(lake.rule_is(rule_id, "OK"))
    assert {e.payload["mode"] for e in lake.events("transfer.done")} == {"http-pull"}
    assert lake.events("transfer.failed") == []
    assert_done_once_and_clean(lake, FILES, "DESY-DISK")


def test_a_server_that_does_not_know_bulk_pulls_answers_bulk_unsupported(lake):
    """The lake's API server is an HTTP server without the endpoint's bulk pull: 404, read as BulkUnsupported."""
    backend = HttpBackend("not-a-token")
    try:
        files = [PullRequest("http://127.0.0.1:1/x", "/x", 1, "00000001")]
        with pytest.raises(BulkUnsupported):
            list(pull_many(backend, lake.running.url, files, None))
    finally:
        backend.close()
