"""`lake group add|add-member|remove-member|list`: groups whose members get them in `wlcg.groups` (admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, state
from lake.cli.output import print_message, print_object, print_rows

app = typer.Typer(help="Groups (WLCG /vo/sub paths) asserted in tokens as wlcg.groups.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="group path, e.g. /escape/cta")],
    description: Annotated[str | None, typer.Option(help="what the group is for")] = None,
) -> None:
    """Create a group (admin)."""
    print_object(client(ctx).add_group(name, description), state(ctx).json)


@app.command("add-member")
def add_member(
    ctx: typer.Context,
    group: str,
    account: str,
    optional: Annotated[bool, typer.Option(help="assert only when the token asks for this group")] = False,
) -> None:
    """Make an account a default (or --optional) member of a group (admin)."""
    print_object(client(ctx).add_group_member(group, account, optional), state(ctx).json)


@app.command("remove-member")
def remove_member(ctx: typer.Context, group: str, account: str) -> None:
    """Take an account out of a group (admin)."""
    client(ctx).remove_group_member(group, account)
    print_message(f"removed {account} from {group}", state(ctx).json)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Groups with their members (optional members marked `?`)."""
    rows = [
        {**group, "members": " ".join(m["account"] + ("?" if m["optional"] else "") for m in group["members"])}
        for group in client(ctx).list_groups()
    ]
    print_rows(rows, ["name", "description", "members"], state(ctx).json)
