"""`lake login` (device flow by default, password optional) and `lake whoami`."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import CliState, client, state
from lake.cli.output import print_message, print_object


def _device_prompt(uri: str, complete: str, user_code: str) -> None:
    """Tell the user where to approve the login (on stderr, so `--json` output stays one object)."""
    typer.echo(f"To log in, open {uri} and enter the code {user_code}", err=True)
    typer.echo(f"  (or open {complete})", err=True)
    typer.echo("Waiting for approval...", err=True)


def login(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option(help="log in with a password as this identity")] = None,
    password: Annotated[str | None, typer.Option(help="its password (else prompted for)")] = None,
    url: Annotated[str | None, typer.Option(help="lake URL (overrides the global --url)")] = None,
    account: Annotated[str | None, typer.Option(help="account to act as (password login)")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="an extra scope, e.g. storage.create:/user.me")] = None,
) -> None:
    """Log in and save an access token and a refresh token, which renews it later without a password.

    By default this is a device login: open the printed address in a browser (or approve the code from a
    session already logged in) and the command finishes by itself. --username/--password use a password.
    """
    from lake.client.oauth import LOGIN_SCOPES

    current = CliState(url=url, json=state(ctx).json) if url else state(ctx)
    lake = current.client(ctx)
    scopes = [*LOGIN_SCOPES, *(scope or [])]
    if username or password:
        username = username or typer.prompt("Username")
        password = password or typer.prompt("Password", hide_input=True)
        result = lake.password_login(username, password, account, scopes)
    else:
        code = lake.start_device_login(scopes)
        _device_prompt(code.verification_uri, code.verification_uri_complete, code.user_code)
        result = lake.finish_device_login(code)
    if current.json:
        print_object({"account": result.account, "expires_in": result.expires_in, "scope": result.scope}, True)
    print_message(f"Logged in as {result.account}; token saved to {lake.settings.token_file}", current.json)


def whoami(ctx: typer.Context) -> None:
    """Show the account the saved token acts as."""
    print_object(client(ctx).whoami(), state(ctx).json)
