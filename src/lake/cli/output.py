"""Printing for the CLI: Rich tables for people, JSON (NDJSON for lists) with --json, errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import typer

from lake.core.errors import LakeError

if TYPE_CHECKING:
    from rich.console import Console


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


def _plain(item: Any) -> Any:
    """A JSON-ready form of a model or a plain value."""
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json", exclude_none=True)
    return item


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def print_json(item: Any) -> None:
    typer.echo(json.dumps(_plain(item), default=str))


def print_rows(rows: Iterable[Any], columns: list[str], as_json: bool) -> None:
    """A list: NDJSON streamed line by line, or a table with the given columns."""
    if as_json:
        for row in rows:
            print_json(row)
        return
    from rich.table import Table

    table = Table(*columns, box=None, header_style="bold")
    for row in rows:
        plain = _plain(row)
        table.add_row(*(_cell(plain.get(column)) for column in columns))
    _console().print(table)


def print_object(item: Any, as_json: bool) -> None:
    """One object: JSON, or a two-column table of its fields."""
    if as_json:
        print_json(item)
        return
    from rich.table import Table

    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in _plain(item).items():
        table.add_row(key, _cell(value))
    _console().print(table)


def print_message(text: str, as_json: bool) -> None:
    """A short confirmation for people (silent with --json, which prints the object instead)."""
    if not as_json:
        _console().print(text, markup=False, highlight=False)


def print_error(error: LakeError | str, code: str | None = None) -> None:
    """`Error [<code>]: <message>` in red on stderr."""
    if isinstance(error, LakeError):
        code, text = error.code, error.message
    else:
        text = error
    _console(stderr=True).print(f"Error [{code}]: {text}", style="red", markup=False, highlight=False, soft_wrap=True)
