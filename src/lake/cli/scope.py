"""`lake scope add|list`."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, state
from lake.cli.output import print_object, print_rows

app = typer.Typer(help="Scopes: the namespaces of DIDs.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    account: Annotated[str | None, typer.Option(help="owner; default you")] = None,
) -> None:
    """Create a scope (admin)."""
    print_object(client(ctx).add_scope(name, account), state(ctx).json)


@app.command("list")
def list_(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="only scopes of this account")] = None,
) -> None:
    """List scopes."""
    print_rows(client(ctx).list_scopes(account), ["name", "account", "status"], state(ctx).json)
