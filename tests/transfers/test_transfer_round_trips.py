"""Requests and tokens per copy: a first claim skips the destination stat and MKCOL where it can, verifies with
one HEAD, and still accepts or replaces a file in the way; later claims look before they copy.

The requests are the worker's own, counted on the real httpx client on their way to real servers (the
built-in endpoints, and XRootD for a destination that needs MKCOL); tokens are counted at the key store.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lake.core.models import ProtocolDomains, ProtocolIn, RSEIn
from lake.core.partition import Partition
from lake.logic.catalog import rses
from lake.logic.transfers.claim import claim
from lake.logic.transfers.execute import Backends, run
from lake.logic.transfers.job import Job
from lake.testing.factories import ROOT as ROOT_CALLER
from lake.testing.xrootd import running_xrootd, xrootd_available

pytestmark = pytest.mark.integration

FILES = {f"t{i}.dat": bytes([i]) * (10_000 + i) for i in range(3)}


class Traffic:
    """The HTTP requests (thread, method, path, Want-Digest) sent through httpx clients, and the tokens minted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, keystore: Any) -> None:
        self.requests: list[tuple[str, str, str, str | None]] = []
        self.tokens = 0
        send, mint = httpx.Client.send, keystore.mint

        def counted_send(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            seen = (
                threading.current_thread().name,
                request.method,
                request.url.path,
                request.headers.get("want-digest"),
            )
            self.requests.append(seen)
            return send(client, request, **kwargs)

        def counted_mint(*args: Any, **kwargs: Any) -> str:
            self.tokens += 1
            return str(mint(*args, **kwargs))

        monkeypatch.setattr(httpx.Client, "send", counted_send)
        monkeypatch.setattr(keystore, "mint", counted_mint)

    def methods(self, thread_prefix: str | None = None) -> list[str]:
        """The methods sent from this thread, or from threads whose name starts with `thread_prefix`."""
        here = threading.current_thread().name
        return [r[1] for r in self.requests if (r[0].startswith(thread_prefix) if thread_prefix else r[0] == here)]

    def mine(self) -> list[tuple[str, str, str | None]]:
        here = threading.current_thread().name
        return [r[1:] for r in self.requests if r[0] == here]

    def reset(self) -> None:
        self.requests.clear()
        self.tokens = 0


@pytest.fixture
def traffic(lake: Any, monkeypatch: pytest.MonkeyPatch) -> Traffic:
    return Traffic(monkeypatch, lake.services.issuer.keystore)


@pytest.fixture
def backends() -> Iterator[Backends]:
    shared = Backends()
    yield shared
    shared.close()


def claimed(lake: Any, dest: str, worker: str = "ghost-worker") -> list[Job]:
    """Upload FILES to CERN-DISK, add a rule for `dest` and claim its transfers as `worker`."""
    lake.upload("CERN-DISK", "ds", FILES)
    lake.add_rule("ds", dest)
    with lake.services.db.transaction() as conn:
        return claim(conn, Partition(), worker, limit=8).jobs


def dest_file(lake: Any, job: Job) -> Path:
    return lake.storage_root(job.dest_rse) / job.dest_pfn.split("/", 3)[3]


def test_first_claim_of_an_http_pull_makes_three_requests_and_mints_three_tokens(lake, traffic, backends):
    job = claimed(lake, "DESY-DISK")[0]
    traffic.reset()
    copied = run(job, lake.services.issuer, backends)
    assert traffic.methods() == ["HEAD", "COPY", "HEAD"]  # source stat, pull (no MKCOL needed), verification
    requests = traffic.mine()
    assert requests[0][1] in job.source_pfn and requests[2][1] in job.dest_pfn
    assert requests[2][2] == "adler32"  # size and checksum in the one HEAD
    assert traffic.tokens == 3  # source read, destination create, destination read
    assert not copied.recovered
    assert dest_file(lake, job).read_bytes() == FILES[job.transfer.name]


def test_requeued_transfer_accepts_the_copy_a_dead_worker_made_without_copying_again(lake, traffic, backends):
    job = claimed(lake, "DESY-DISK")[0]
    run(job, lake.services.issuer, backends)  # the ghost worker copies, then dies before recording it
    [rule] = {x.rule_id for x in lake.transfers()}
    traffic.reset()
    lake.work_until(lake.rule_is(rule, "OK"))  # requeues the ghost's transfers, then copies in the pool
    [done] = [e for e in lake.events("transfer.done") if e.transfer_id == job.transfer.id]
    assert done.payload["recovered"] is True and done.payload["attempt"] == 0
    sent = traffic.methods(thread_prefix="transfer")
    assert sent.count("COPY") == len(FILES) - 1  # only the two files the ghost had not copied
    # all three were held by the ghost, so each looks first: a source stat and a destination HEAD per file,
    # and a verification HEAD after each of the two copies
    assert sent.count("HEAD") == 3 + 3 + 2 and "MKCOL" not in sent


def test_first_claim_replaces_a_different_file_in_the_way_and_copies_once_more(lake, traffic, backends):
    job = claimed(lake, "DESY-DISK")[0]
    target = dest_file(lake, job)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the file")
    traffic.reset()
    copied = run(job, lake.services.issuer, backends)
    # COPY refused (Overwrite: F), the file checked and deleted, COPY again, verified
    assert traffic.methods() == ["HEAD", "COPY", "HEAD", "DELETE", "COPY", "HEAD"]
    assert not copied.recovered
    assert target.read_bytes() == FILES[job.transfer.name]


def test_first_claim_accepts_the_right_file_in_the_way(lake, traffic, backends):
    job = claimed(lake, "DESY-DISK")[0]
    target = dest_file(lake, job)
    target.parent.mkdir(parents=True)
    target.write_bytes(FILES[job.transfer.name])
    traffic.reset()
    copied = run(job, lake.services.issuer, backends)
    assert traffic.methods() == ["HEAD", "COPY", "HEAD"] and copied.recovered


@contextlib.contextmanager
def xrootd_rse(lake: Any, workdir: Path, rse: str) -> Iterator[Path]:
    """An XRootD RSE taking HTTP-TPC pulls only, with identity paths (one directory per scope); its data dir."""
    with running_xrootd(workdir, rse.lower()) as server:
        port = int(server.http_url.rsplit(":", 1)[1])
        wan = ProtocolDomains(read=1, write=1, delete=1, third_party_copy_read=1, third_party_copy_write=1)
        with lake.services.db.transaction() as conn:
            rses.add_rse(conn, ROOT_CALLER, RSEIn(name=rse, attributes={"lfn2pfn_algorithm": "identity"}))
            rses.add_protocol(conn, ROOT_CALLER, rse, ProtocolIn(
                scheme="http", hostname="127.0.0.1", port=port, prefix="/", lan=wan, wan=wan))  # fmt: skip
        yield server.data_dir


@pytest.mark.skipif(not xrootd_available(), reason="needs the xrootd daemon")
def test_mkcol_once_per_directory_where_the_destination_needs_it_and_again_after_it_vanished(
    lake, traffic, backends, tmp_path
):
    with xrootd_rse(lake, tmp_path / "xrootd", "XRD-PULL") as data_dir:
        first, second, third = claimed(lake, "XRD-PULL")
        traffic.reset()
        run(first, lake.services.issuer, backends)  # XrdHttpTPC 5.5.3 does not make directories: learnt here
        assert traffic.methods() == ["HEAD", "COPY", "MKCOL", "COPY", "HEAD"]
        traffic.reset()
        run(second, lake.services.issuer, backends)  # same directory, known to exist
        assert traffic.methods() == ["HEAD", "COPY", "HEAD"]
        assert traffic.tokens == 3
        shutil.rmtree(data_dir / "user")  # the directory goes away meanwhile
        traffic.reset()
        run(third, lake.services.issuer, backends)
        assert traffic.methods() == ["HEAD", "COPY", "MKCOL", "COPY", "HEAD"]
        assert (data_dir / "user" / "alice" / third.transfer.name).read_bytes() == FILES[third.transfer.name]
