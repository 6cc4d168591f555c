"""`lake account add|list|show|limits|usage|add-identity`: accounts (admin), quotas, the bytes an account's rules
hold, external identities."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, state
from lake.cli.output import print_object, print_rows
from lake.core.models import AccountIn, AccountType

app = typer.Typer(help="Accounts: add, list, show; quotas, usage and identities.", no_args_is_help=True)
ACCOUNT_COLUMNS = ["name", "type", "status", "email", "admin"]


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    type_: Annotated[AccountType, typer.Option("--type", help="USER, GROUP or SERVICE")] = AccountType.USER,
    email: Annotated[str | None, typer.Option(help="contact address")] = None,
    password: Annotated[str | None, typer.Option(help="also add a username/password identity named NAME")] = None,
) -> None:
    """Create an account (admin)."""
    account = AccountIn(name=name, type=type_, email=email, password=password)
    print_object(client(ctx).add_account(account), state(ctx).json)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every account."""
    print_rows(client(ctx).list_accounts(), ACCOUNT_COLUMNS, state(ctx).json)


@app.command("show")
def show(ctx: typer.Context, name: str) -> None:
    """One account: type, status, email, whether it is an administrator."""
    print_object(client(ctx).get_account(name), state(ctx).json)


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


@app.command("add-identity")
def add_identity(
    ctx: typer.Context,
    account: str,
    issuer: Annotated[str, typer.Option(help="a trusted external issuer (https URL, as in its tokens' iss)")],
    subject: Annotated[str, typer.Option(help="the subject (`sub`) of the person at that issuer")],
) -> None:
    """Map an external issuer's subject to ACCOUNT (admin): tokens of that subject then act as the account."""
    identity = client(ctx).add_oidc_identity(account, issuer, subject)
    print_rows([identity], ["account", "type", "identity"], state(ctx).json)
