"""`lake up`, `lake endpoint`: start server processes.

The CLI may import only `lake.core`, so server code is imported lazily, by name, inside each command.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

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
    """Run a whole lake in one process: API and built-in storage endpoints (daemons join with the policy engine)."""
    from lake.core.settings import ServerSettings

    given = {"data_dir": data_dir, "port": port}
    overrides: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    _server_function("lake.server.embedded", "run_embedded")(ServerSettings(**overrides))


def endpoint() -> None:
    """Run one built-in storage endpoint (configured by LAKE_ENDPOINT_*)."""
    from lake.core.settings import EndpointSettings

    _server_function("lake.endpoint.server", "serve")(EndpointSettings())
