"""Transfers with real XRootD 5.5.3 RSEs: root TPC, HTTP-TPC pull and push, tokens, bounded-time failures.

The lake (API + four built-in endpoints) runs in this process and the test steps the transfer worker here
too. Whether a copy between two XRootD servers is really third-party is measured on this process: the
kernel's rchar/wchar (/proc/self/io: every read/write/readv/writev syscall, which is how the XRootD client
library moves data) plus the bytes through Python socket objects (httpx uses recv/send, which rchar/wchar
do not count). A control copy streamed through the worker shows the measure sees the bytes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lake.core.models import ProtocolDomains, ProtocolIn, RSEIn
from lake.core.replication import ErrorCategory
from lake.logic.auth.keystore import KeyStore
from lake.logic.catalog import rses
from lake.logic.transfers.paths import HTTP_PULL, HTTP_PUSH, ROOT_TPC, STREAM
from lake.testing.factories import ROOT as ROOT_CALLER
from lake.testing.factories import adler32
from lake.testing.net import wait_refused
from lake.testing.xrootd import TrustedIssuer, XRootDServer, running_xrootd, xrootd_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not xrootd_available(), reason="needs the xrootd daemon and the XRootD Python bindings"),
]

MiB = 1024 * 1024
BOUND = 30.0  # seconds within which a dead, hung or refusing server must fail a transfer
PLAIN = ProtocolDomains(read=1, write=1, delete=1)


def payload(name: str, size: int) -> bytes:
    return (name.encode() * (size // len(name) + 1))[:size] if size > MiB else os.urandom(size)


FILES = {f"x{i}.dat": os.urandom(30_000 + i) for i in range(3)}


class Grid:
    """The lake harness plus XRootD servers registered as RSEs."""

    def __init__(self, lake: Any, workdir: Path, stack: contextlib.ExitStack) -> None:
        self.lake = lake
        self.workdir = workdir
        self.stack = stack
        self.servers: dict[str, XRootDServer] = {}

    def xrootd(self, rse: str, *, issuer: TrustedIssuer | None = None, root: int | None = 1, https: int = 2,
               https_tpc_write: bool = True) -> XRootDServer:  # fmt: skip
        """Start a server and register it: root:// (TPC at `root`, None = no root TPC) and http (TPC read,
        push declared, TPC write unless `https_tpc_write`, at `https`)."""
        server = self.stack.enter_context(running_xrootd(self.workdir, rse.lower(), token_issuer=issuer))
        root_port = int(server.root_url.rsplit(":", 1)[1])
        http_port = int(server.http_url.rsplit(":", 1)[1])
        root_wan = ProtocolDomains(read=1, write=1, delete=1, third_party_copy_read=root,
                                   third_party_copy_write=root)  # fmt: skip
        http_wan = ProtocolDomains(read=https, write=https, delete=https, third_party_copy_read=https,
                                   third_party_copy_write=https if https_tpc_write else None)  # fmt: skip
        with self.lake.services.db.transaction() as conn:
            rses.add_rse(conn, ROOT_CALLER, RSEIn(name=rse, attributes={"type": "XROOTD"}))
            rses.add_protocol(conn, ROOT_CALLER, rse, ProtocolIn(
                scheme="root", hostname="127.0.0.1", port=root_port, prefix="/", impl="lake.storage.xrootd",
                lan=PLAIN, wan=root_wan))  # fmt: skip
            rses.add_protocol(conn, ROOT_CALLER, rse, ProtocolIn(
                scheme="http", hostname="127.0.0.1", port=http_port, prefix="/", lan=PLAIN, wan=http_wan,
                extended_attributes={"tpc_push": True}))  # fmt: skip
        self.servers[rse] = server
        return server

    def replicate(self, dataset: str, rse: str, source: str | None = None) -> str:
        """A rule for `dataset` on `rse` (copied from `source` only, if given), worked until OK."""
        extra = {"source_replica_expression": source} if source else {}
        rule_id = self.lake.add_rule(dataset, rse, **extra)
        self.lake.work_until(self.lake.rule_is(rule_id, "OK"), timeout=60.0)
        return rule_id

    def modes(self, rule_id: str) -> set[str]:
        return {x.mode for x in self.lake.transfers(rule_id=rule_id)}

    def stored(self, rse: str) -> dict[str, bytes]:
        """Files on an RSE's storage by name: XRootD data directories or built-in endpoint roots."""
        root = self.servers[rse].data_dir if rse in self.servers else self.lake.storage_root(rse)
        return {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}

    def assert_verified(self, rse: str, files: dict[str, bytes]) -> None:
        replicas = {r.name: r for r in self.lake.replicas(rse)}
        stored = self.stored(rse)
        for name, data in files.items():
            assert replicas[name].state == "AVAILABLE"
            assert stored[name] == data and adler32(data) == replicas[name].adler32

    def one_failed_attempt(self, rule_id: str) -> tuple[Any, float]:
        """Run worker iterations until the rule's transfer has failed once; (its row, seconds it took)."""
        started = time.monotonic()
        while not any(x.attempt for x in self.lake.transfers(rule_id=rule_id)):
            assert time.monotonic() - started < BOUND + 30, "no failure recorded"
            self.lake.work()
        [transfer] = self.lake.transfers(rule_id=rule_id)
        return transfer, time.monotonic() - started


@pytest.fixture
def grid(lake: Any, tmp_path: Path) -> Iterator[Grid]:
    with contextlib.ExitStack() as stack:
        yield Grid(lake, tmp_path / "xrootd", stack)


@pytest.fixture
def lake_issuer(grid: Grid) -> TrustedIssuer:
    """Lake's own issuer and keys, as a token-protected XRootD trusts them."""
    issuer = grid.lake.services.issuer
    return TrustedIssuer(issuer=issuer.issuer, jwks=issuer.keystore.jwks())


def io_bytes() -> int:
    """Bytes this process passed to read/write-family syscalls (files and C-level socket I/O, every thread)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"]) + int(fields["wchar"])


class SocketBytes:
    """Counts the bytes through Python socket objects' recv/recv_into/send/sendall while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.total = 0
        self._lock = threading.Lock()
        cls = socket.socket
        recv, recv_into, send, sendall = cls.recv, cls.recv_into, cls.send, cls.sendall
        monkeypatch.setattr(cls, "recv", lambda sock, *a, **k: self._add(recv(sock, *a, **k), len))
        monkeypatch.setattr(cls, "recv_into", lambda sock, *a, **k: self._add(recv_into(sock, *a, **k), int))
        monkeypatch.setattr(cls, "send", lambda sock, *a, **k: self._add(send(sock, *a, **k), int))
        monkeypatch.setattr(cls, "sendall", lambda sock, data, *a: sendall(sock, data, *a) or self._count(data))

    def _add(self, result: Any, size: Callable[[Any], int]) -> Any:
        with self._lock:
            self.total += size(result)
        return result

    def _count(self, data: Any) -> None:
        with self._lock:
            self.total += memoryview(data).nbytes


def moved_by_lake(sockets: SocketBytes, action: Callable[[], Any]) -> int:
    """Bytes this process moved (syscall I/O plus Python sockets) while `action` ran."""
    before = io_bytes() + sockets.total
    action()
    return io_bytes() + sockets.total - before


@contextlib.contextmanager
def stopped(server: XRootDServer) -> Iterator[None]:
    """The server hangs (SIGSTOP) while the block runs; it always resumes."""
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


def test_rule_replicates_a_dataset_across_xrootd_rses_and_builtin_endpoints(grid):
    grid.xrootd("XRD-A")
    grid.xrootd("XRD-B")
    grid.lake.upload("CERN-DISK", "ds", FILES)
    grid.lake.set_protocol("DESY-DISK", third_party_copy_write=None)  # DESY only takes plain writes

    assert grid.modes(grid.replicate("ds", "XRD-A")) == {HTTP_PULL}  # XRootD pulls from Lake's endpoint
    assert grid.modes(grid.replicate("ds", "XRD-B", source="XRD-A")) == {ROOT_TPC}
    assert grid.modes(grid.replicate("ds", "PIC-DISK", source="XRD-B")) == {HTTP_PULL}  # Lake pulls from XRootD
    assert grid.modes(grid.replicate("ds", "DESY-DISK", source="XRD-B")) == {HTTP_PUSH}  # XRootD pushes
    for rse in ("XRD-A", "XRD-B", "PIC-DISK", "DESY-DISK"):
        grid.assert_verified(rse, FILES)
    assert {e.source_rse for e in grid.lake.events("transfer.done") if e.dest_rse == "DESY-DISK"} == {"XRD-B"}


def test_root_tpc_and_http_tpc_bytes_never_pass_through_lake(grid, monkeypatch):
    """64 MiB copied between two XRootD servers moves < 4 MiB through this process; streaming a file of the
    same size between them (the control) moves at least twice its size (read from one, written to the other)."""
    grid.xrootd("XRD-A")
    grid.xrootd("XRD-B")
    big = {name: payload(name, 64 * MiB) for name in ("big-root.dat", "big-http.dat", "big-stream.dat")}
    for name, data in big.items():
        grid.lake.upload("CERN-DISK", name.removesuffix(".dat"), {name: data})
        grid.replicate(name.removesuffix(".dat"), "XRD-A")
    sockets = SocketBytes(monkeypatch)

    by_root = moved_by_lake(sockets, lambda: grid.replicate("big-root", "XRD-B", source="XRD-A"))
    with grid.lake.services.db.transaction() as conn:  # without root://, XRD-B is reached over http
        rses.delete_protocol(conn, ROOT_CALLER, "XRD-B", "root")
    by_http = moved_by_lake(sockets, lambda: grid.replicate("big-http", "XRD-B", source="XRD-A"))
    grid.lake.set_protocol("XRD-A", third_party_copy_read=None)  # no TPC from XRD-A: the worker streams
    streamed = moved_by_lake(sockets, lambda: grid.replicate("big-stream", "XRD-B", source="XRD-A"))

    modes = {x.name: x.mode for x in grid.lake.transfers() if x.dest_rse_id in _ids(grid, "XRD-B")}
    assert modes == {"big-root.dat": ROOT_TPC, "big-http.dat": HTTP_PULL, "big-stream.dat": STREAM}
    assert by_root < 4 * MiB and by_http < 4 * MiB, (by_root, by_http)
    assert streamed >= 2 * 64 * MiB, streamed
    grid.assert_verified("XRD-B", big)


def _ids(grid: Grid, *names: str) -> set[str]:
    with grid.lake.services.db.transaction() as conn:
        return {rses.get_rse(conn, name).id for name in names}


def gone(server: XRootDServer) -> None:
    """Stop the daemon for good (SIGTERM) and wait until its port refuses connections."""
    os.kill(server.pid, signal.SIGTERM)
    port = int(server.root_url.rsplit(":", 1)[1])
    wait_refused(port, "the xrootd daemon")


def assert_retried_later(grid: Grid, rule_id: str, transfer: Any, dest: str) -> None:
    """The catalog is consistent after a failed attempt: queued again, replica COPYING, rule REPLICATING."""
    assert (transfer.state, transfer.attempt, transfer.retry_after is not None) == ("QUEUED", 1, True)
    assert [r.state for r in grid.lake.replicas(dest)] == ["COPYING"]
    assert grid.lake.rule(rule_id).state == "REPLICATING"


def test_stopped_xrootd_source_fails_the_transfer_within_bounded_time(grid):
    server = grid.xrootd("XRD-A")
    grid.lake.upload("CERN-DISK", "ds", {"a.dat": FILES["x0.dat"]})
    grid.replicate("ds", "XRD-A")
    gone(server)
    rule_id = grid.lake.add_rule("ds", "PIC-DISK", source_replica_expression="XRD-A")
    transfer, seconds = grid.one_failed_attempt(rule_id)
    assert seconds < BOUND
    assert transfer.error_category == ErrorCategory.STORAGE_ERROR.value
    assert_retried_later(grid, rule_id, transfer, "PIC-DISK")


@pytest.mark.parametrize("mode", [HTTP_PULL, ROOT_TPC])
def test_hung_xrootd_source_fails_the_transfer_within_bounded_time(grid, mode):
    server = grid.xrootd("XRD-A")
    grid.xrootd("XRD-B")
    grid.lake.upload("CERN-DISK", "ds", {"a.dat": FILES["x0.dat"]})
    grid.replicate("ds", "XRD-A")
    dest = "PIC-DISK" if mode == HTTP_PULL else "XRD-B"
    rule_id = grid.lake.add_rule("ds", dest, source_replica_expression="XRD-A")
    with stopped(server):
        transfer, seconds = grid.one_failed_attempt(rule_id)
    assert seconds < BOUND
    assert transfer.mode == mode
    assert transfer.error_category == ErrorCategory.TIMEOUT.value, transfer.error
    assert_retried_later(grid, rule_id, transfer, dest)


def test_hung_xrootd_destination_fails_the_transfer_within_bounded_time(grid):
    server = grid.xrootd("XRD-A")
    grid.lake.upload("CERN-DISK", "ds", {"a.dat": FILES["x0.dat"]})
    rule_id = grid.lake.add_rule("ds", "XRD-A")
    with stopped(server):
        transfer, seconds = grid.one_failed_attempt(rule_id)
    assert seconds < BOUND and transfer.error_category == ErrorCategory.TIMEOUT.value, transfer.error
    assert_retried_later(grid, rule_id, transfer, "XRD-A")
    grid.lake.work_until(grid.lake.rule_is(rule_id, "OK"), timeout=30.0)  # resumed: the retry succeeds


def test_token_protected_xrootd_takes_a_push_and_serves_a_pull_on_per_transfer_tokens(grid, lake_issuer, caplog):
    """HTTP-TPC push into and pull from token-protected servers (their root TPC is off: `root=None`)."""
    grid.xrootd("XRD-A")
    grid.xrootd("XRD-T", issuer=lake_issuer, root=None, https_tpc_write=False)  # takes plain writes only
    grid.xrootd("XRD-U", issuer=lake_issuer, root=None)  # pulls, into directories made with MKCOL first
    minted = record_tokens(grid)
    grid.lake.upload("CERN-DISK", "ds", FILES)
    grid.replicate("ds", "XRD-A")
    with caplog.at_level(logging.DEBUG):
        assert grid.modes(grid.replicate("ds", "XRD-T", source="XRD-A")) == {HTTP_PUSH}
        assert grid.modes(grid.replicate("ds", "DESY-DISK", source="XRD-T")) == {HTTP_PULL}
        assert grid.modes(grid.replicate("ds", "XRD-U", source="XRD-T")) == {HTTP_PULL}
    for rse in ("XRD-T", "DESY-DISK", "XRD-U"):
        grid.assert_verified(rse, FILES)
    assert minted and not [token for token in minted if token in caplog.text]


def test_root_tpc_from_and_into_token_protected_xrootd_runs_on_per_transfer_tokens(grid, lake_issuer, caplog):
    """The read token travels in the source URL (`authz` CGI) to the destination's `xrdcp --server`; the
    create token in the destination URL. Neither end is stat'ed with a token that does not allow it."""
    grid.xrootd("XRD-A")
    grid.xrootd("XRD-T", issuer=lake_issuer, root=1)
    grid.xrootd("XRD-V", issuer=lake_issuer, root=1)
    minted = record_tokens(grid)
    grid.lake.upload("CERN-DISK", "ds", FILES)
    with caplog.at_level(logging.DEBUG):
        assert grid.modes(grid.replicate("ds", "XRD-T")) == {HTTP_PULL}
        assert grid.modes(grid.replicate("ds", "XRD-A", source="XRD-T")) == {ROOT_TPC}
        assert grid.modes(grid.replicate("ds", "XRD-V", source="XRD-A")) == {ROOT_TPC}
    grid.assert_verified("XRD-A", FILES)
    grid.assert_verified("XRD-V", FILES)
    assert minted and not [token for token in minted if token in caplog.text]


def test_xrootd_refusing_lake_tokens_fails_the_transfer_as_auth(grid, caplog):
    foreign = KeyStore.load_or_create(grid.workdir / "foreign-keys")
    issuer = TrustedIssuer(issuer=grid.lake.services.issuer.issuer, jwks=foreign.jwks())
    grid.xrootd("XRD-T", issuer=issuer, root=None)
    minted = record_tokens(grid)
    grid.lake.upload("CERN-DISK", "ds", {"a.dat": FILES["x0.dat"]})
    rule_id = grid.lake.add_rule("ds", "XRD-T")
    with caplog.at_level(logging.DEBUG):
        transfer, seconds = grid.one_failed_attempt(rule_id)
    assert seconds < BOUND and transfer.error_category == ErrorCategory.AUTH.value, transfer.error
    assert_retried_later(grid, rule_id, transfer, "XRD-T")
    assert minted and not [token for token in minted if token in caplog.text or token in transfer.error]


def record_tokens(grid: Grid) -> list[str]:
    """Every storage token the lake mints from now on (to prove none of them reaches a log)."""
    issuer = grid.lake.services.issuer
    minted: list[str] = []
    original = issuer.storage_token

    def storage_token(*args: Any, **kwargs: Any) -> str:
        token = original(*args, **kwargs)
        minted.append(token)
        return token

    grid.stack.callback(setattr, issuer, "storage_token", original)
    issuer.storage_token = storage_token  # type: ignore[method-assign]
    return minted
