"""`lake policy add|list|remove`: which storage scope paths and audiences accounts and groups may get (admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, state
from lake.cli.output import print_message, print_object, print_rows

app = typer.Typer(
    help="Storage policies: storage.* scopes an account or group may get in tokens.", no_args_is_help=True
)


@app.command("add")
def add(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="account:<name> or group:</vo/sub>")],
    scope: Annotated[str, typer.Argument(help="e.g. storage.create:/escape/cta")],
    audience: Annotated[str, typer.Option(help="the audience (https://host:port) it may be issued for")] = "*",
) -> None:
    """Let a subject get a storage scope path (and below) in tokens for an audience (admin)."""
    print_object(client(ctx).add_storage_policy(subject, scope, audience), state(ctx).json)


@app.command("list")
def list_(ctx: typer.Context, subject: Annotated[str | None, typer.Option(help="only this subject")] = None) -> None:
    """Storage policies."""
    columns = ["id", "subject", "scope", "audience", "created_at"]
    print_rows(client(ctx).list_storage_policies(subject), columns, state(ctx).json)


@app.command("remove")
def remove(ctx: typer.Context, policy_id: int) -> None:
    """Revoke a policy: new tokens no longer get what it allowed (issued ones run until they expire)."""
    client(ctx).remove_storage_policy(policy_id)
    print_message(f"removed storage policy {policy_id}", state(ctx).json)
