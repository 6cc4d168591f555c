"""The real `rucio` CLI and `rucio.client.Client` (rucio-clients in .venv-rucio) against a running lake.

Install the client with `bash scripts/install-rucio-client.sh`; without it these tests skip.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from rucio_venv import RUCIO_VENV, python, rucio, rucio_env

from lake.testing.server import RunningLake, running_lake

pytestmark = pytest.mark.integration

if not (RUCIO_VENV / "rucio").exists():
    pytest.skip("rucio-clients not installed: run scripts/install-rucio-client.sh", allow_module_level=True)

REGISTER = textwrap.dedent("""
    import hashlib, zlib
    from rucio.client import Client
    client = Client()
    files = []
    for name in ("a.txt", "b.txt"):
        data = f"content of {name}".encode()
        files.append({"scope": "user.alice", "name": name, "bytes": len(data), "md5": hashlib.md5(data).hexdigest(),
                      "adler32": "%08x" % zlib.adler32(data), "meta": {"guid": "0" * 32}})
    client.add_dataset("user.alice", "ds1", meta={"run": 7})
    assert client.add_replicas("CERN-DISK", files)
    assert client.attach_dids("user.alice", "ds1", [{"scope": "user.alice", "name": f["name"]} for f in files])
    assert client.get_metadata("user.alice", "ds1", plugin="ALL")["run"] == 7
    replicas = list(client.list_replicas([{"scope": "user.alice", "name": "ds1"}]))
    assert sorted(r["name"] for r in replicas) == ["a.txt", "b.txt"]
    assert all(r["states"] == {"CERN-DISK": "AVAILABLE"} for r in replicas)
    assert client.whoami()["account"] == "alice"
    try:
        client.get_did("user.alice", "missing")
    except Exception as exc:
        print(type(exc).__name__)
""")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLake]:
    with running_lake(tmp_path_factory.mktemp("rucio-lake"), endpoints=2) as running:
        yield running


@pytest.fixture(scope="module")
def env(lake: RunningLake, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return rucio_env(lake, tmp_path_factory.mktemp("rucio-home"), lake.user, lake.user_password, lake.user)


def test_python_client_registers_files_in_a_dataset(env: dict[str, str]) -> None:
    assert python(env, REGISTER).strip() == "DataIdentifierNotFound"


def test_cli_session(env: dict[str, str], lake: RunningLake) -> None:
    """whoami, RSEs, scopes, DID listing with a metadata filter, content, replicas, rules, errors."""
    if "ds1" not in rucio(env, "did", "list", "user.alice:*"):
        python(env, REGISTER)
    assert "alice" in rucio(env, "whoami")
    assert rucio(env, "rse", "list", "--rses", "site=CERN").split() == ["CERN-DISK"]
    shown = rucio(env, "rse", "show", "CERN-DISK")
    assert "rucio.rse.protocols.webdav.NoRename" in shown and "site: CERN" in shown
    assert "user.alice" in rucio(env, "scope", "list")
    rucio(env, "did", "add", "--type", "dataset", "user.alice:ds2")
    listed = rucio(env, "did", "list", "user.alice:*", "--filter", "run>=5")
    assert "user.alice:ds1" in listed and "user.alice:ds2" not in listed
    content = rucio(env, "did", "content", "list", "user.alice:ds1")
    assert "user.alice:a.txt" in content and "user.alice:b.txt" in content
    assert "CERN-DISK: https://" in rucio(env, "replica", "list", "file", "user.alice:ds1")
    rule_id = rucio(env, "rule", "add", "user.alice:ds1", "--copies", "1", "--rses", "DESY-DISK").strip()
    assert len(rule_id) == 32
    assert rule_id in rucio(env, "rule", "list", "--did", "user.alice:ds1")
    assert "DESY-DISK" in rucio(env, "rule", "show", rule_id)
    rucio(env, "rule", "remove", rule_id)
    assert rule_id not in rucio(env, "rule", "list", "--account", "alice")


def test_cli_errors_arrive_as_rucio_exceptions(env: dict[str, str]) -> None:
    """The CLI prints the description of the exception class the server named."""
    assert "Data identifier not found" in rucio(env, "did", "content", "list", "user.alice:missing", ok=False)
    assert "RSE expression is considered invalid" in rucio(env, "rse", "list", "--rses", "bad&&expr", ok=False)
    rucio(env, "did", "add", "--type", "dataset", "user.alice:dup")
    assert "Data Identifier Already Exists" in rucio(env, "did", "add", "--type", "dataset", "user.alice:dup", ok=False)


def test_upload_and_download_through_the_builtin_endpoint(env: dict[str, str], tmp_path: Path) -> None:
    """`rucio upload` into a new dataset, then `rucio download` of the dataset (adler32 checked by the client),
    both through the https twin of a built-in endpoint."""
    contents = {"up1.txt": b"upload me", "up2.dat": os.urandom(300_000)}
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    files = [str(tmp_path / name) for name in contents]
    output = rucio(env, "upload", "--rse", "CERN-DISK", "--scope", "user.alice", *files, "user.alice:upds")
    assert output.count("Successfully uploaded") == len(contents), output
    assert "https://127.0.0.1" in output
    listed = rucio(env, "replica", "list", "file", "user.alice:upds")
    assert all(f"| {name} " in listed for name in contents) and listed.count("CERN-DISK: https://") == len(contents)
    output = rucio(env, "download", "--dir", str(tmp_path / "down"), "user.alice:upds")
    assert "Total files (DID): " in output and "Downloaded files: " in output, output
    for name, data in contents.items():
        assert (tmp_path / "down" / "upds" / name).read_bytes() == data
