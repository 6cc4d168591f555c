"""`lake replica list`."""

from __future__ import annotations

from typing import Annotated

import typer

from lake.cli.common import client, did_arg, state
from lake.cli.output import print_rows

app = typer.Typer(help="Replicas: copies of files on RSEs.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")],
    rse: Annotated[str | None, typer.Option("--rse", help="RSE expression")] = None,
    replica_state: Annotated[str | None, typer.Option("--state", help="e.g. AVAILABLE")] = None,
    site: Annotated[str | None, typer.Option("--site", envvar="LAKE_SITE", help="list its cache URLs first")] = None,
) -> None:
    """List the replicas of a file, or of every file below a collection (cached: on or through a cache)."""
    rows = client(ctx).list_replicas(*did_arg(did), rse_expression=rse, state=replica_state, site=site)
    print_rows(rows, ["scope", "name", "rse", "state", "bytes", "adler32", "cached", "pfn"], state(ctx).json)
