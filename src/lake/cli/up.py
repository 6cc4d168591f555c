"""`lake up`, `lake endpoint`, `lake daemon`: start server processes.

The CLI may import only `lake.core`, so server code is imported lazily, by name, inside each command.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from lake.cli.common import state
from lake.cli.output import print_rows
from lake.core.errors import UnsupportedOperation


def _server_function(module: str, name: str) -> Callable[..., Any]:
    """`module.name`, or UnsupportedOperation when this installation lacks it."""
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise UnsupportedOperation(f"{module}.{name} is not available: {exc}") from exc


def up(
    data_dir: Annotated[Path | None, typer.Option(help="where the lake keeps its state")] = None,
    port: Annotated[int | None, typer.Option(help="API port")] = None,
) -> None:
    """Run a whole lake in one process: API, built-in storage endpoints and every registered daemon."""
    from lake.core.settings import ServerSettings

    given = {"data_dir": data_dir, "port": port}
    overrides: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    _server_function("lake.server.embedded", "run_embedded")(ServerSettings(**overrides))


def endpoint() -> None:
    """Run one built-in storage endpoint (configured by LAKE_ENDPOINT_*)."""
    from lake.core.settings import EndpointSettings

    _server_function("lake.endpoint.server", "serve")(EndpointSettings())


def daemon(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="daemons to run; all when none", show_default=False)] = None,
    once: Annotated[bool, typer.Option("--once", help="one iteration of each, in order, then exit")] = False,
    greedy: Annotated[bool, typer.Option("--greedy", help="take all eligible work, ignoring thresholds")] = False,
    list_: Annotated[bool, typer.Option("--list", help="print the registered daemons and exit")] = False,
) -> None:
    """Run daemons against the configured database (LAKE_*) until SIGTERM/SIGINT; instances share the work."""
    if list_:
        daemons = _server_function("lake.daemons.registry", "all_daemons")()
        rows = [{"name": name, "description": spec.description} for name, spec in daemons.items()]
        print_rows(rows, ["name", "description"], as_json=state(ctx).json)
        return
    from lake.core.settings import ServerSettings

    run_daemons = _server_function("lake.daemons.runner", "run_daemons")
    raise typer.Exit(run_daemons(ServerSettings(), names or [], once=once, greedy=greedy))
