"""`lake group`, `lake policy` and `lake key` against a real embedded lake (API on a loopback port)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lake.testing.cli import RemoteCli
from lake.testing.server import RunningLake, running_lake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLake]:
    with running_lake(tmp_path_factory.mktemp("lake"), endpoints=1, daemons=False) as running:
        yield running


def _runner(lake: RunningLake, token_file: Path, username: str, password: str):  # noqa: ANN202
    cli = RemoteCli(lake.url, token_file).login(username, password)

    def run(*args: str, code: int = 0) -> str:
        return cli.run(*args, code=code).stdout

    return run


def test_admin_manages_groups_policies_and_keys_from_the_cli(lake: RunningLake, tmp_path: Path) -> None:
    root = _runner(lake, tmp_path / "root.token", "root", lake.root_password)
    root("group", "add", "/escape/cta", "--description", "CTA")
    root("group", "add-member", "/escape/cta", lake.user, "--optional")
    (group,) = [json.loads(line) for line in root("--json", "group", "list").splitlines()]
    assert group["name"] == "/escape/cta" and group["members"] == f"{lake.user}?"
    policy = json.loads(root("--json", "policy", "add", f"account:{lake.user}", "storage.create:/escape/cta",
                             "--audience", "https://host:1094"))  # fmt: skip
    assert policy["audience"] == "https://host:1094"
    listed = [json.loads(line) for line in root("--json", "policy", "list").splitlines()]
    assert [p["id"] for p in listed] == [policy["id"]]
    root("policy", "remove", str(policy["id"]))
    assert root("--json", "policy", "list") == ""
    root("group", "remove-member", "/escape/cta", lake.user)
    keys = {key["state"]: key["kid"] for key in map(json.loads, root("--json", "key", "list").splitlines())}
    root("key", "rotate", code=1)  # the next key was published moments ago
    rotated = {
        key["state"]: key["kid"] for key in map(json.loads, root("--json", "key", "rotate", "--force").splitlines())
    }
    assert rotated["current"] == keys["next"] and rotated["retired"] == keys["current"]


def test_non_admin_is_refused_by_the_cli(lake: RunningLake, tmp_path: Path) -> None:
    alice = _runner(lake, tmp_path / "alice.token", lake.user, lake.user_password)
    alice("group", "add", "/mine", code=1)
    alice("key", "rotate", code=1)
