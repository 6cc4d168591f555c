"""The `lake` CLI in tests, run in-process by typer's CliRunner as one account: against a running lake's URL with
its own token file (`RemoteCli`), or with its client talking to an in-process API app (`InProcessCli`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from lake.cli.common import CliState
from lake.cli.main import app
from lake.client import LakeClient
from lake.core.settings import ClientSettings


class LakeCli:
    """Runs `lake ...` with `env` (added to the process environment while it runs)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.runner = CliRunner()
        self.env = env

    def run(self, *args: str, code: int = 0, input: str | None = None) -> Result:
        """Run `lake *args` (with `input` on stdin) and assert it exits with `code`."""
        result = self.runner.invoke(app, list(args), env=self.env, input=input)
        assert result.exit_code == code, (args, result.output)
        return result

    def json(self, *args: str) -> Any:
        """The parsed output of `lake --json *args`."""
        return json.loads(self.run("--json", *args).stdout)

    def ndjson(self, *args: str) -> list[Any]:
        """The parsed lines of `lake --json *args`."""
        return [json.loads(line) for line in self.run("--json", *args).stdout.splitlines()]


class RemoteCli(LakeCli):
    """The CLI against the lake at `url`, with its own token file (none set in the environment)."""

    def __init__(self, url: str, token_file: Path) -> None:
        super().__init__({"LAKE_URL": url, "LAKE_TOKEN_FILE": str(token_file), "LAKE_TOKEN": ""})
        self.token_file = token_file

    def login(self, username: str, password: str) -> RemoteCli:
        """`lake login` with a password: later commands act as `username`."""
        self.run("login", "--username", username, "--password", password)
        return self


class InProcessCli(LakeCli):
    """The CLI as `username`, its client talking to the in-process app `api` with a token the API gave for the
    password (`settings`: that client's settings); wide columns, so that tables are not cut."""

    def __init__(self, api: TestClient, username: str, password: str) -> None:
        super().__init__({"COLUMNS": "250"})
        response = api.post("/v1/auth/token", json={"username": username, "password": password})
        self.settings = ClientSettings(url="http://testserver", token=response.json()["access_token"])
        self.api = api

    def run(self, *args: str, code: int = 0, input: str | None = None) -> Result:
        def client(_state: CliState, ctx: typer.Context) -> LakeClient:
            return ctx.with_resource(LakeClient(self.settings, http=self.api))

        with mock.patch.object(CliState, "client", client):
            return super().run(*args, code=code, input=input)
