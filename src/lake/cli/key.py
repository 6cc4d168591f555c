"""`lake key list|rotate`: the issuer's signing keys (next, current, retired) and their rotation (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from lake.cli.common import client, state
from lake.cli.output import print_rows

app = typer.Typer(help="Signing keys: list them, rotate the next key into use.", no_args_is_help=True)
COLUMNS = ["kid", "algorithm", "state", "created_at", "retired_at", "published_until"]


def _readable(key: dict[str, Any]) -> dict[str, Any]:
    """Unix times as ISO dates."""
    times = {
        name: datetime.fromtimestamp(key[name], UTC).isoformat(timespec="seconds")
        for name in COLUMNS[3:]
        if key.get(name) is not None
    }
    return {**key, **times}


def _print(ctx: typer.Context, keys: list[dict[str, Any]]) -> None:
    as_json = state(ctx).json
    print_rows(keys if as_json else [_readable(key) for key in keys], COLUMNS, as_json)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Signing keys with their states."""
    _print(ctx, client(ctx).list_keys())


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option(help="rotate even if the next key was published less than 6 h ago")] = False,
) -> None:
    """Promote the next key to signing, retire the current one and publish a new next key."""
    _print(ctx, client(ctx).rotate_keys(force))
