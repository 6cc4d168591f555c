"""`lake rse ...`: storage elements, their attributes, protocols and distances."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, pairs_arg, state
from lake.cli.output import print_object, print_rows
from lake.cli.parsing import parse_value

app = typer.Typer(help="RSEs: storage elements.", no_args_is_help=True)

RSE_COLUMNS = ["name", "rse_type", "deterministic", "availability_read", "availability_write", "availability_delete"]


@app.command("list")
def list_(
    ctx: typer.Context,
    expression: Annotated[str | None, typer.Option("--expression", "-e", help="RSE expression")] = None,
) -> None:
    """List RSEs, optionally those matching an RSE expression."""
    print_rows(client(ctx).list_rses(expression), RSE_COLUMNS, state(ctx).json)


@app.command("show")
def show(ctx: typer.Context, name: str) -> None:
    """Show one RSE with its attributes and protocols."""
    print_object(client(ctx).get_rse(name), state(ctx).json)


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    attr: Annotated[list[str] | None, typer.Option("--attr", help="attribute KEY=VALUE (repeatable)")] = None,
) -> None:
    """Create an RSE (admin)."""
    from lake.core.models import RSEIn

    rse = RSEIn(name=name, attributes=pairs_arg(attr))
    print_object(client(ctx).add_rse(rse), state(ctx).json)


@app.command("set-attr")
def set_attr(ctx: typer.Context, name: str, key: str, value: str) -> None:
    """Set one attribute of an RSE (admin); VALUE is JSON when it parses as JSON."""
    print_object(client(ctx).set_rse_attribute(name, key, parse_value(value)), state(ctx).json)


@app.command("add-protocol")
def add_protocol(
    ctx: typer.Context,
    name: str,
    scheme: Annotated[str, typer.Option(help="e.g. https, davs, root")],
    hostname: Annotated[str, typer.Option()],
    port: Annotated[int, typer.Option()],
    prefix: Annotated[str, typer.Option()] = "/",
    impl: Annotated[str, typer.Option(help="storage backend")] = "lake.storage.http",
) -> None:
    """Add a protocol (how to reach the storage) to an RSE (admin)."""
    from lake.core.models import ProtocolIn

    protocol = ProtocolIn(scheme=scheme, hostname=hostname, port=port, prefix=prefix, impl=impl)
    print_object(client(ctx).add_protocol(name, protocol), state(ctx).json)


@app.command("distance")
def distance(
    ctx: typer.Context,
    source: str,
    destination: str,
    value: Annotated[int | None, typer.Argument(min=0, help="set the distance (admin); omit to show it")] = None,
) -> None:
    """Show or set the distance from SOURCE to DESTINATION."""
    lake = client(ctx)
    if value is not None:
        print_object(lake.set_distance(source, destination, value), state(ctx).json)
        return
    rows = lake.list_distances(source, destination)
    print_rows(rows, ["source", "destination", "distance"], state(ctx).json)
