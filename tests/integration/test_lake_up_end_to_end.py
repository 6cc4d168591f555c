"""End to end as a scientist would: `lake up` in a subprocess, then the `lake` CLI uploads a directory as a
dataset, finds it with a metadata filter, downloads it with checksums verified; data survives a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lake.testing.net import free_ports

pytestmark = pytest.mark.integration
LAKE = str(Path(sys.executable).with_name("lake"))


def start_lake(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([LAKE, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{env['LAKE_URL']}/v1/ping", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
        if proc.poll() is not None:
            raise AssertionError(f"lake up exited: {proc.stdout.read() if proc.stdout else ''}")
    proc.kill()
    raise AssertionError("lake up did not answer within 30 s")


def stop_lake(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    return output


def lake(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAKE, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def lake_env(tmp_path: Path) -> dict[str, str]:
    ports = free_ports(6)  # API, four endpoints, the cache
    tls_ports = free_ports(4, exclude=ports)  # the endpoints' https twins listen on port + offset
    return dict(
        os.environ,
        LAKE_ENDPOINT_TLS_PORT_OFFSET=str(tls_ports[0] - ports[1]),
        LAKE_DATA_DIR=str(tmp_path / "lake-data"),
        LAKE_PORT=str(ports[0]),
        LAKE_ENDPOINT_BASE_PORT=str(ports[1]),
        LAKE_URL=f"http://127.0.0.1:{ports[0]}",
        LAKE_TOKEN_FILE=str(tmp_path / "token"),
        LAKE_USER_PASSWORD="alice-secret-1",
        LAKE_ROOT_PASSWORD="root-secret-1",
    )


def make_dataset(directory: Path) -> dict[str, bytes]:
    contents = {f"part{i}.dat": os.urandom(1000 + i * 4096) for i in range(6)}
    contents["sub/nested.dat"] = os.urandom(70_000)
    for name, data in contents.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    return contents


def test_upload_find_and_download_a_dataset_through_lake_up(lake_env: dict[str, str], tmp_path: Path) -> None:
    proc = start_lake(lake_env)
    try:
        source = tmp_path / "run42"
        source.mkdir()
        contents = make_dataset(source)
        assert lake(lake_env, "login", "--username", "alice", "--password", "alice-secret-1").returncode == 0
        rses = json.loads(lake(lake_env, "--json", "rse", "list", "--expression", "country=DE").stdout.splitlines()[0])
        assert rses["name"] == "DESY-DISK" and rses["attributes"]["tier"] == 1
        up = lake(lake_env, "upload", str(source), "--rse", "CERN-DISK", "--scope", "user.alice",
                  "--dataset", "run42", "--meta", "run=42", "--meta", "kind=raw")  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        found = lake(lake_env, "--json", "did", "list", "user.alice", "--filter", "type=DATASET,run>=40")
        assert [json.loads(x)["name"] for x in found.stdout.splitlines()] == ["run42"]
        assert lake(lake_env, "--json", "did", "list", "user.alice", "--filter", "run<40").stdout.strip() == ""
        replicas = lake(lake_env, "--json", "replica", "list", "user.alice:run42").stdout.splitlines()
        assert {json.loads(x)["state"] for x in replicas} == {"AVAILABLE"} and len(replicas) == len(contents)
        down = lake(lake_env, "download", "user.alice:run42", "--dir", str(tmp_path / "back"))
        assert down.returncode == 0, down.stdout + down.stderr
        for name, data in contents.items():
            assert (tmp_path / "back" / "user.alice" / name).read_bytes() == data
    finally:
        banner = stop_lake(proc)
    assert "CERN-DISK" in banner and "lake login" in banner


def test_data_and_accounts_persist_across_restarts(lake_env: dict[str, str], tmp_path: Path) -> None:
    proc = start_lake(lake_env)
    try:
        (tmp_path / "one.dat").write_bytes(b"persistent bytes")
        assert lake(lake_env, "login", "--username", "alice", "--password", "alice-secret-1").returncode == 0
        up = lake(lake_env, "upload", str(tmp_path / "one.dat"), "--rse", "PIC-DISK", "--scope", "user.alice")
        assert up.returncode == 0, up.stderr
    finally:
        stop_lake(proc)
    proc = start_lake(lake_env)
    try:
        down = lake(lake_env, "download", "user.alice:one.dat", "--dir", str(tmp_path / "back"))
        assert down.returncode == 0, down.stderr
        assert (tmp_path / "back" / "user.alice" / "one.dat").read_bytes() == b"persistent bytes"
    finally:
        stop_lake(proc)
