"""`lake token`: print the access token in use, or exchange it (RFC 8693) for a narrower one."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, state
from lake.cli.output import print_object


def token(
    ctx: typer.Context,
    scope: Annotated[list[str] | None, typer.Option(help="a scope of the new token, e.g. storage.read:/x")] = None,
    audience: Annotated[list[str] | None, typer.Option(help="an audience of the new token")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="get a refresh token instead (needs a client)")] = False,
    client_id: Annotated[str | None, typer.Option(envvar="LAKE_CLIENT_ID", help="client for --refresh")] = None,
    client_secret: Annotated[str | None, typer.Option(envvar="LAKE_CLIENT_SECRET", help="its secret")] = None,
) -> None:
    """Print the current access token (renewed if expired); with --scope/--audience, a narrower exchanged one."""
    lake, as_json = client(ctx), state(ctx).json
    if not (scope or audience or refresh):
        typer.echo(lake.current_token())
        return
    if refresh and not (client_id and client_secret):
        raise typer.BadParameter("--refresh needs --client-id and --client-secret", param_hint="--refresh")
    credentials = (client_id, client_secret) if refresh and client_id and client_secret else None
    body = lake.exchange_token(scope or [], audience or [], credentials)
    if as_json:
        print_object(body, True)
    else:
        typer.echo(body["refresh_token"] if refresh else body["access_token"])
