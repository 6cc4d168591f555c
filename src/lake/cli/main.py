"""The `lake` command: global options and the command groups (each group is one module)."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Annotated

import typer

from lake.cli import (
    account,
    auth,
    did,
    files,
    group,
    key,
    oauth_client,
    policy,
    replica,
    rse,
    rule,
    scope,
    token,
    transfer,
)
from lake.cli.common import CliState, LakeGroup

app = typer.Typer(
    cls=LakeGroup,
    help="Lake: a scientific data lake. Log in, upload, find and download data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option("--url", envvar="LAKE_URL", help="lake API URL")] = None,
    json: Annotated[bool, typer.Option("--json", help="machine-readable output (NDJSON for lists)")] = False,
) -> None:
    """Lake: a scientific data lake."""
    ctx.obj = CliState(url=url, json=json)


app.command("login")(auth.login)
app.command("whoami")(auth.whoami)
app.command("token")(token.token)
app.command("upload")(files.upload)
app.command("download")(files.download)
app.add_typer(rse.app, name="rse")
app.add_typer(scope.app, name="scope")
app.add_typer(did.app, name="did")
app.add_typer(replica.app, name="replica")
app.add_typer(rule.app, name="rule")
app.add_typer(transfer.app, name="transfer")
app.add_typer(account.app, name="account")
app.add_typer(oauth_client.app, name="client")
app.add_typer(group.app, name="group")
app.add_typer(policy.app, name="policy")
app.add_typer(key.app, name="key")
rse.app.command("usage")(transfer.rse_usage)
for extension in entry_points(group="lake.commands"):  # the server commands (lake.server.commands)
    extension.load()(app)
