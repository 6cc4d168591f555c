"""Upload completion against a real built-in endpoint: files checked in parallel, with no transaction open.

The lock tests hold one file's storage check at a gate (the real HTTP backend's checksum call waits on an
event: a delay injected around real I/O, not a fake storage) and write to the same replica rows meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from lake.core.clock import utcnow
from lake.core.models import ReplicaState
from lake.db.schema import replicas
from lake.logic.services import Services
from lake.storage.http import HttpBackend
from lake.testing.endpoint import running_endpoint
from lake.testing.factories import adler32

SCOPE = "user.alice"
DATA = b"measured " * 500


@pytest.fixture
def rse(services: Services, root_api, tmp_path: Path) -> Iterator[str]:
    """RSE `DISK` served by a built-in endpoint that trusts this lake's tokens."""
    keys = services.keystore.keyset()
    with running_endpoint(tmp_path / "storage", keys, issuer=services.settings.issuer) as endpoint:
        root_api.post("/v1/rses", json={"name": "DISK"})
        protocol = {"scheme": "http", "hostname": "127.0.0.1", "port": endpoint.port, "prefix": "/"}
        assert root_api.post("/v1/rses/DISK/protocols", json=protocol).status_code == 201
        yield "DISK"


def upload(api, rse: str, names: list[str], bad: Collection[str] = ()) -> None:
    """Ticket, then PUT each file (`bad` ones with other bytes of the same length)."""
    files = [{"scope": SCOPE, "name": n, "bytes": len(DATA), "adler32": adler32(DATA)} for n in names]
    ticket = api.post("/v1/uploads", json={"rse": rse, "files": files}).json()
    auth = {"Authorization": f"Bearer {ticket['token']}"}
    for target in ticket["targets"]:
        body = b"X" * len(DATA) if target["name"] in bad else DATA
        assert httpx.put(target["pfn"], content=body, headers=auth).status_code in (200, 201)


def complete(api, rse: str, names: list[str], dataset: str | None = None) -> dict[str, dict[str, Any]]:
    body: dict[str, Any] = {"rse": rse, "files": [{"scope": SCOPE, "name": n} for n in names]}
    if dataset:
        body["dataset"] = {"scope": SCOPE, "name": dataset}
    response = api.post("/v1/uploads/complete", json=body)
    assert response.status_code == 200, response.text
    return {r["name"]: r for r in response.json()}


def replica_states(services: Services) -> dict[str, str]:
    with services.db.transaction() as conn:
        return dict(conn.execute(select(replicas.c.name, replicas.c.state)).all())  # type: ignore[arg-type]


def test_completion_of_many_files_with_one_corrupted_fails_only_that_one(services, user_api, rse):
    names = [f"f{i:03d}" for i in range(40)]
    upload(user_api, rse, names, bad={"f017"})
    results = complete(user_api, rse, [*names, "never-prepared"], dataset="ds")
    assert results["f017"]["state"] == "UNAVAILABLE" and results["f017"]["error"]["code"] == "ChecksumMismatch"
    assert results["never-prepared"]["error"]["code"] == "ReplicaNotFound"
    assert {results[n]["state"] for n in names if n != "f017"} == {"AVAILABLE"}
    states = replica_states(services)
    assert "f017" not in states and {states[n] for n in names if n != "f017"} == {"AVAILABLE"}
    assert user_api.get(f"/v1/dids/{SCOPE}/ds").json()["length"] == 39


def test_completing_again_reports_available_files_as_available(services, user_api, rse):
    upload(user_api, rse, ["again"])
    assert complete(user_api, rse, ["again"])["again"]["state"] == "AVAILABLE"
    assert complete(user_api, rse, ["again", "again"])["again"]["state"] == "AVAILABLE"


def test_storage_down_leaves_no_file_available(services, user_api, root_api, rse):
    upload(user_api, rse, ["a", "b"])
    unused = {"scheme": "http", "hostname": "127.0.0.1", "port": 9, "prefix": "/"}
    root_api.delete("/v1/rses/DISK/protocols/http")
    assert root_api.post("/v1/rses/DISK/protocols", json=unused).status_code == 201
    results = complete(user_api, rse, ["a", "b"])
    assert {r["state"] for r in results.values()} == {"UNAVAILABLE"}
    assert all(r["error"]["code"] for r in results.values())
    assert ReplicaState.AVAILABLE.value not in replica_states(services).values()


class Gate:
    """Holds the storage checksum of one file until released (the real call follows)."""

    def __init__(self, name: str) -> None:
        self.name, self.entered, self.released = name, threading.Event(), threading.Event()

    @contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
        real = HttpBackend.checksum

        def gated(backend: HttpBackend, url: str, algorithm: Any = "adler32") -> str:
            if url.endswith("/" + self.name):
                self.entered.set()
                self.released.wait(timeout=30)
            return real(backend, url, algorithm)

        monkeypatch.setattr(HttpBackend, "checksum", gated)
        try:
            yield self
        finally:
            self.released.set()


def complete_in_background(api, names: list[str]) -> tuple[threading.Thread, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, Any]] = {}
    thread = threading.Thread(target=lambda: results.update(complete(api, "DISK", names)))
    thread.start()
    return thread, results


def quick_write(services: Services, names: list[str], **values: Any) -> None:
    """Update these replicas in a transaction that gives up after 0.5 s if another one holds a lock."""
    with services.db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA busy_timeout=500")
            conn.commit()
        try:
            with conn.begin():
                if not sqlite:
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '500ms'")
                conn.execute(update(replicas).where(replicas.c.name.in_(names)).values(updated_at=utcnow(), **values))
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000")


def test_no_transaction_is_held_while_storage_is_checked(services, user_api, rse, monkeypatch):
    names = ["g0", "g1", "g2", "slow"]
    upload(user_api, rse, names)
    with Gate("slow").installed(monkeypatch) as gate:
        thread, results = complete_in_background(user_api, names)
        assert gate.entered.wait(timeout=10)
        quick_write(services, names)  # the replicas being verified, while one check is still running
        gate.released.set()
        thread.join(timeout=30)
    assert [results[n]["state"] for n in names] == ["AVAILABLE"] * 4


def test_a_replica_changed_during_the_check_is_not_overwritten(services, user_api, rse, monkeypatch):
    upload(user_api, rse, ["kept", "slow"])
    with Gate("slow").installed(monkeypatch) as gate:
        thread, results = complete_in_background(user_api, ["kept", "slow"])
        assert gate.entered.wait(timeout=10)
        quick_write(services, ["slow"], state=ReplicaState.BEING_DELETED.value)
        gate.released.set()
        thread.join(timeout=30)
    assert results["kept"]["state"] == "AVAILABLE"
    assert results["slow"]["state"] == "UNAVAILABLE" and results["slow"]["error"]["code"] == "Conflict"
    assert replica_states(services)["slow"] == ReplicaState.BEING_DELETED.value
