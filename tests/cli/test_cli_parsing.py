"""Pure CLI parsing: DIDs, KEY=VALUE pairs and their values; usage and error exits."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lake.cli.main import app
from lake.cli.parsing import parse_did, parse_pairs, parse_value
from lake.testing.net import free_port


def test_did_splits_at_the_first_colon():
    assert parse_did("user.alice:run/1:raw") == ("user.alice", "run/1:raw")
    assert parse_did("f.root", default_scope="data") == ("data", "f.root")
    for bad in ["nocolon", ":name", "scope:"]:
        with pytest.raises(ValueError):
            parse_did(bad)


def test_values_are_json_when_they_parse_else_text():
    assert parse_value("100") == 100
    assert parse_value("2.5") == 2.5
    assert parse_value("true") is True
    assert parse_value('["a", 1]') == ["a", 1]
    assert parse_value("raw") == "raw"
    assert parse_value("007") == "007"
    assert parse_value("") == ""


def test_pairs_split_at_the_first_equals():
    assert parse_pairs(["run=100", "kind=raw", "expr=a=b"]) == {"run": 100, "kind": "raw", "expr": "a=b"}
    assert parse_pairs(None) == {}
    for bad in ["novalue", "=x"]:
        with pytest.raises(ValueError):
            parse_pairs([bad])


@pytest.fixture
def runner(tmp_path, monkeypatch) -> CliRunner:
    monkeypatch.setenv("LAKE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LAKE_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.delenv("LAKE_TOKEN", raising=False)
    return CliRunner()


def test_help_lists_the_command_groups(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ["login", "upload", "download", "rse", "did", "replica", "scope"]:
        assert command in result.stdout


def test_bad_usage_exits_2_without_a_traceback(runner):
    result = runner.invoke(app, ["did", "show", "nocolon"])
    assert result.exit_code == 2
    assert "SCOPE:NAME" in result.stderr
    assert runner.invoke(app, ["did", "add", "s:n", "--type", "dataset", "--meta", "broken"]).exit_code == 2


def test_unreachable_lake_prints_the_error_code_and_exits_1(runner):
    result = runner.invoke(app, ["whoami"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error [Unavailable]: cannot reach")
    assert "Traceback" not in result.output
