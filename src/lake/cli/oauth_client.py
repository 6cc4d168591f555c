"""`lake client add|list`: OAuth clients (services using the client-credentials grant), admin only."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, state
from lake.cli.output import print_object, print_rows

app = typer.Typer(help="OAuth clients: services that get tokens with their own credentials.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="the account the client acts for")],
    scope: Annotated[list[str] | None, typer.Option(help="a scope it may request (repeatable)")] = None,
    audience: Annotated[list[str] | None, typer.Option(help="an audience it may request (repeatable)")] = None,
) -> None:
    """Register a client (admin); prints its client_id and client_secret (the secret is shown only once)."""
    if not audience:
        raise typer.BadParameter("give at least one --audience", param_hint="--audience")
    print_object(client(ctx).add_oauth_client(account, scope or [], audience), state(ctx).json)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """The registered clients (admin); secrets are never shown again."""
    print_rows(client(ctx).list_oauth_clients(), ["client_id", "account", "scopes", "audiences"], state(ctx).json)
