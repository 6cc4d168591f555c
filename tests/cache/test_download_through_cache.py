"""`lake up` runs a read-through cache at the second site in front of the first; `lake download --site` at that
site reads through it: the first download is a miss (the origin sends the file), the second a hit."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from lake.cli.main import app
from lake.testing.server import RunningLake, running_lake

pytestmark = pytest.mark.integration
DATA = os.urandom(2 * 1024 * 1024 + 17)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLake]:
    with running_lake(tmp_path_factory.mktemp("lake"), endpoints=2, daemons=False) as running:
        yield running


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def cache_stats(lake: RunningLake) -> dict[str, int]:
    assert lake.lake.cache is not None
    return dict(httpx.get(lake.lake.cache.settings.origin() + "/.well-known/lake-cache").json())


def test_download_at_the_cache_site_misses_then_hits_and_files_verify(lake, tmp_path):
    env = {"LAKE_URL": lake.url, "LAKE_TOKEN_FILE": str(tmp_path / "token"), "LAKE_TOKEN": ""}
    run(env, "login", "--username", lake.user, "--password", lake.user_password)
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    run(env, "upload", str(source), "--rse", "CERN-DISK", "--scope", "user.alice")
    listed = [json.loads(line) for line in run(env, "--json", "replica", "list", "user.alice:big.bin",
                                               "--site", "DESY").splitlines()]  # fmt: skip
    assert [(r["rse"], r["cached"]) for r in listed] == [("DESY-CACHE", True), ("CERN-DISK", False)]

    rows = []
    for attempt in ("first", "second"):
        out = run(env, "--json", "download", "user.alice:big.bin", "--dir", str(tmp_path / attempt), "--site", "DESY")
        rows.append(json.loads(out))
        assert (tmp_path / attempt / "user.alice" / "big.bin").read_bytes() == DATA
    assert [r["rse"] for r in rows] == ["DESY-CACHE", "DESY-CACHE"]
    stats = cache_stats(lake)
    assert (stats["misses"], stats["hits"]) == (1, 1)
    assert stats["bytes_from_origin"] == len(DATA)  # the hit read nothing from the origin


def test_download_elsewhere_reads_the_origin_directly(lake, tmp_path):
    env = {"LAKE_URL": lake.url, "LAKE_TOKEN_FILE": str(tmp_path / "token"), "LAKE_TOKEN": ""}
    run(env, "login", "--username", lake.user, "--password", lake.user_password)
    source = tmp_path / "small.bin"
    source.write_bytes(b"x" * 1000)
    run(env, "upload", str(source), "--rse", "CERN-DISK", "--scope", "user.alice")
    before = cache_stats(lake)
    out = run(env, "--json", "download", "user.alice:small.bin", "--dir", str(tmp_path / "d"), "--site", "CERN")
    assert json.loads(out)["rse"] == "CERN-DISK"
    assert cache_stats(lake) == before
