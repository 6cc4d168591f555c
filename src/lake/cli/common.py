"""Shared CLI plumbing: the global state (--url, --json), the client, and LakeError -> exit 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from lake.cli.output import print_error
from lake.cli.parsing import parse_did, parse_pairs
from lake.core.errors import LakeError

if TYPE_CHECKING:
    from lake.client import LakeClient


@dataclass
class CliState:
    """Global options, set by the root callback and read by every command."""

    url: str | None = None
    json: bool = False

    def client(self, ctx: typer.Context) -> LakeClient:
        """A client for this invocation (closed when the command ends)."""
        from lake.client import LakeClient
        from lake.core.settings import ClientSettings

        settings = ClientSettings(url=self.url) if self.url else ClientSettings()
        return ctx.with_resource(LakeClient(settings))


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def client(ctx: typer.Context) -> LakeClient:
    return state(ctx).client(ctx)


def did_arg(text: str, default_scope: str | None = None) -> tuple[str, str]:
    """Parse `SCOPE:NAME` or fail as bad usage (exit 2)."""
    try:
        return parse_did(text, default_scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def pairs_arg(items: list[str] | None) -> dict[str, Any]:
    """Parse `KEY=VALUE` items or fail as bad usage (exit 2)."""
    try:
        return parse_pairs(items)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


class LakeGroup(TyperGroup):
    """Root group: a LakeError from any command prints `Error [code]: message` and exits 1."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except LakeError as exc:
            print_error(exc)
            raise typer.Exit(1) from None
