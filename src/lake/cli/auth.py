"""`lake login` and `lake whoami`."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import CliState, client, state
from lake.cli.output import print_message, print_object


def login(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(prompt=True, help="identity to log in with")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="its password")],
    url: Annotated[str | None, typer.Option(help="lake URL (overrides the global --url)")] = None,
    account: Annotated[str | None, typer.Option(help="account to act as")] = None,
) -> None:
    """Log in with a password and save the token for the next commands."""
    current = state(ctx)
    if url:
        current = CliState(url=url, json=current.json)
    lake = current.client(ctx)
    token = lake.login(username, password, account)
    if current.json:
        print_object({"account": token.account, "expires_in": token.expires_in}, True)
    print_message(f"Logged in as {token.account}; token saved to {lake.settings.token_file}", current.json)


def whoami(ctx: typer.Context) -> None:
    """Show the account the saved token acts as."""
    print_object(client(ctx).whoami(), state(ctx).json)
