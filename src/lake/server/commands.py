"""`lake up`, `lake endpoint`, `lake daemon`: the commands that start server processes.

They live in the composition root, not in `lake.cli` (which may import only `lake.core`), and join the `lake`
command through the `lake.commands` entry-point group (pyproject.toml). Every dependency is a plain import
the layer contracts see; the server's are made inside each command, so client commands start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lake.cli.common import state
from lake.cli.output import print_rows
from lake.core.settings import EndpointSettings, ServerSettings


def up(
    data_dir: Annotated[Path | None, typer.Option(help="where the lake keeps its state")] = None,
    port: Annotated[int | None, typer.Option(help="API port")] = None,
) -> None:
    """Run a whole lake in one process: API, built-in storage endpoints and every registered daemon."""
    from lake.server.embedded import run_embedded

    given = {"data_dir": data_dir, "port": port}
    overrides: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    run_embedded(ServerSettings(**overrides))


def endpoint() -> None:
    """Run one built-in storage endpoint (configured by LAKE_ENDPOINT_*)."""
    from lake.endpoint.server import serve

    serve(EndpointSettings())


def daemon(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="daemons to run; all when none", show_default=False)] = None,
    once: Annotated[bool, typer.Option("--once", help="one iteration of each, in order, then exit")] = False,
    greedy: Annotated[bool, typer.Option("--greedy", help="take all eligible work, ignoring thresholds")] = False,
    list_: Annotated[bool, typer.Option("--list", help="print the registered daemons and exit")] = False,
) -> None:
    """Run daemons against the configured database (LAKE_*) until SIGTERM/SIGINT; instances share the work."""
    from lake.daemons.registry import all_daemons
    from lake.daemons.runner import run_daemons

    if list_:
        rows = [{"name": name, "description": spec.description} for name, spec in all_daemons().items()]
        print_rows(rows, ["name", "description"], as_json=state(ctx).json)
        return
    raise typer.Exit(run_daemons(ServerSettings(), names or [], once=once, greedy=greedy))


def register(app: typer.Typer) -> None:
    """Add the server commands to the `lake` command (the `lake.commands` entry point)."""
    app.command("up")(up)
    app.command("endpoint")(endpoint)
    app.command("daemon")(daemon)
