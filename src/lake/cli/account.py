"""`lake account limits|usage`: quotas per RSE or RSE expression, and the bytes an account's rules hold."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, state
from lake.cli.output import print_rows

app = typer.Typer(help="Accounts: quotas and usage.", no_args_is_help=True)


def parse_limit(text: str) -> tuple[str, int]:
    """`EXPR=BYTES` split at the last `=` (expressions may contain `=`, e.g. `tier=1=5000`)."""
    expression, sep, value = text.rpartition("=")
    try:
        size = int(value)
    except ValueError:
        size = None
    if not sep or not expression or size is None or size < -1:
        raise typer.BadParameter(f"expected EXPR=BYTES (BYTES an integer, -1 removes the limit), got {text!r}")
    return expression, size


@app.command("limits")
def limits(
    ctx: typer.Context,
    account: str,
    set_: Annotated[
        list[str] | None, typer.Option("--set", metavar="EXPR=BYTES", help="set a limit (admin; -1 removes it)")
    ] = None,
) -> None:
    """Show an account's limits; with --set, change them first (an RSE name is local, an expression global)."""
    changes = [parse_limit(item) for item in set_ or []]
    lake = client(ctx)
    for expression, size in changes:
        lake.set_limit(account, expression, size)
    print_rows(lake.list_limits(account), ["rse_expression", "bytes", "is_local"], state(ctx).json)


@app.command("usage")
def usage(ctx: typer.Context, account: str) -> None:
    """Files and bytes the account's rules hold on each RSE, with the local limit and what remains."""
    columns = ["rse", "files", "bytes", "bytes_limit", "bytes_remaining"]
    print_rows(client(ctx).account_usage(account), columns, state(ctx).json)
