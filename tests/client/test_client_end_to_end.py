"""The client against a real lake: API and built-in endpoints on loopback ports, real tokens and PUT/GET."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lake.client import LakeClient
from lake.core.errors import (
    ChecksumMismatch,
    DIDNotFound,
    InvalidFilter,
    PermissionDenied,
    RSENotFound,
    Unauthenticated,
    Unavailable,
)
from lake.core.models import DIDIn, DIDRef, DIDType, ProtocolIn, ReplicaState
from lake.testing.clients import connect
from lake.testing.net import free_port
from lake.testing.server import RunningLake, running_lake

pytestmark = pytest.mark.integration

SCOPE = "user.alice"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLake]:
    with running_lake(tmp_path_factory.mktemp("lake"), endpoints=2) as running:
        yield running


@pytest.fixture
def alice(lake: RunningLake, tmp_path: Path) -> Iterator[LakeClient]:
    with connect(lake, tmp_path, lake.user, lake.user_password) as client:
        yield client


@pytest.fixture
def root(lake: RunningLake, tmp_path: Path) -> Iterator[LakeClient]:
    with connect(lake, tmp_path, "root", lake.root_password) as client:
        yield client


def make_tree(base: Path, tag: str, nested: bool) -> Path:
    """Small files named `tag-f<i>.txt`, or (nested) a directory `tag/` with a subdirectory."""
    top = base / tag if nested else base
    (top / "sub" if nested else top).mkdir(parents=True)
    for i in range(3):
        (top / f"{'' if nested else tag + '-'}f{i}.txt").write_text(f"{tag} file {i}\n" * (100 + i))
    if nested:
        (top / "sub" / "g.bin").write_bytes(tag.encode() * 3000)
    return base


def local_files(base: Path) -> dict[str, bytes]:
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def upload_tree(
    client: LakeClient, tmp_path: Path, rse: str, dataset: str, meta: dict | None = None, nested: bool = False
) -> Path:
    """Upload a fresh tree into `dataset` and check every file became AVAILABLE."""
    tree = make_tree(tmp_path / dataset, dataset, nested)
    results = client.upload([tree], rse, SCOPE, dataset, meta)
    assert [(r.name, r.state, r.error) for r in results] == [
        (name, ReplicaState.AVAILABLE, None) for name in local_files(tree)
    ]
    return tree


def test_login_and_whoami(alice, root, lake):
    assert alice.whoami().name == lake.user
    assert root.whoami().admin
    assert alice.settings.token_file.read_text().strip() == alice.token


def test_upload_search_content_replicas_and_verified_download(alice, root, lake, tmp_path):
    root.add_scope("e2e.project", lake.user)
    assert "e2e.project" in {s.name for s in alice.list_scopes(account=lake.user)}
    tree = upload_tree(alice, tmp_path, lake.rses[0], "run42", {"run": 42, "kind": "raw"}, nested=True)

    found = alice.search_dids(SCOPE, "run>=40,kind=raw", type="dataset")
    assert [d.name for d in found] == ["run42"]
    assert sorted(d.name for d in alice.search_dids(SCOPE, "run=42", type="file")) == sorted(local_files(tree))
    assert sorted(d.name for d in alice.list_content(SCOPE, "run42")) == sorted(local_files(tree))
    replicas = list(alice.list_replicas(SCOPE, "run42"))
    assert {(r.rse, r.state) for r in replicas} == {(lake.rses[0], ReplicaState.AVAILABLE)}

    results = alice.download(f"{SCOPE}:run42", tmp_path / "out")
    assert [(r.rse, r.error) for r in results] == [(lake.rses[0], None)] * len(results)
    assert local_files(tmp_path / "out" / SCOPE) == local_files(tree)
    again = alice.download(DIDRef(scope=SCOPE, name="run42"), tmp_path / "out")
    assert all(r.skipped for r in again)


def test_corrupt_first_copy_falls_back_to_the_second(alice, lake, tmp_path):
    tree = upload_tree(alice, tmp_path, lake.rses[0], "twice")
    alice.upload([tree], lake.rses[1], SCOPE, "twice")
    stored = lake.settings.data_dir / "storage" / lake.rses[0]
    victim = next(p for p in stored.rglob("twice-f1.txt"))
    victim.write_bytes(b"X" * victim.stat().st_size)

    results = {r.name: r for r in alice.download(f"{SCOPE}:twice", tmp_path / "out")}
    assert results["twice-f1.txt"].rse == lake.rses[1]
    assert results["twice-f0.txt"].rse == lake.rses[0]
    assert local_files(tmp_path / "out" / SCOPE) == local_files(tree)

    for copy in (lake.settings.data_dir / "storage").rglob("twice-f1.txt"):
        copy.write_bytes(b"Y" * copy.stat().st_size)
    failed = {r.name: r for r in alice.download(f"{SCOPE}:twice", tmp_path / "again")}
    assert isinstance(failed["twice-f1.txt"].error, ChecksumMismatch)
    assert failed["twice-f0.txt"].ok
    assert not (tmp_path / "again" / SCOPE / "twice-f1.txt").exists()


def test_unreachable_first_source_falls_back_to_the_second(alice, root, lake, tmp_path):
    tree = upload_tree(alice, tmp_path, lake.rses[0], "reach")
    alice.upload([tree], lake.rses[1], SCOPE, "reach")
    first = root.get_rse(lake.rses[0]).protocols[0]
    root.delete_protocol(lake.rses[0], first.scheme)
    root.add_protocol(lake.rses[0], first.model_copy(update={"port": free_port()}))
    try:
        results = alice.download(f"{SCOPE}:reach", tmp_path / "out")
        assert {r.rse for r in results} == {lake.rses[1]}
        only_first = alice.download(f"{SCOPE}:reach", tmp_path / "none", rse_expression=lake.rses[0])
        assert all(isinstance(r.error, Unavailable) for r in only_first)
    finally:
        root.delete_protocol(lake.rses[0], first.scheme)
        root.add_protocol(lake.rses[0], ProtocolIn.model_validate(first.model_dump()))
    assert local_files(tmp_path / "out" / SCOPE) == local_files(tree)


def test_errors_arrive_as_their_lake_error_class(alice, lake, tmp_path):
    with pytest.raises(PermissionDenied):
        alice.add_scope("not.mine")
    with pytest.raises(DIDNotFound):
        alice.get_did(SCOPE, "no-such-did")
    with pytest.raises(InvalidFilter):
        list(alice.search_dids(SCOPE, "run>>1"))
    with pytest.raises(RSENotFound):
        upload_tree(alice, tmp_path, "NO-SUCH-RSE", "lost")
    with pytest.raises(Unauthenticated):
        connect(lake, tmp_path, lake.user, "wrong password")
    alice.add_did(DIDIn(scope=SCOPE, name="box", type=DIDType.CONTAINER))
    assert alice.get_did(SCOPE, "box").type == DIDType.CONTAINER
