"""`lake did ...`: datasets, containers, their contents and metadata."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from lake.cli.common import client, did_arg, pairs_arg, state
from lake.cli.output import print_json, print_message, print_object, print_rows

app = typer.Typer(help="DIDs: files, datasets and containers.", no_args_is_help=True)
meta_app = typer.Typer(help="DID metadata.", no_args_is_help=True)
app.add_typer(meta_app, name="meta")

DID_COLUMNS = ["scope", "name", "type", "bytes", "length", "account"]


class CollectionType(StrEnum):
    dataset = "dataset"
    container = "container"


class AnyType(StrEnum):
    file = "file"
    dataset = "dataset"
    container = "container"
    collection = "collection"
    all = "all"


@app.command("add")
def add(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")],
    type: Annotated[CollectionType, typer.Option("--type", "-t", case_sensitive=False)],
    lifetime: Annotated[int | None, typer.Option(min=1, help="seconds until it expires")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="KEY=VALUE (repeatable)")] = None,
) -> None:
    """Create a dataset or a container."""
    from lake.core.models import DIDIn, DIDType

    scope, name = did_arg(did)
    body = DIDIn(scope=scope, name=name, type=DIDType(type.value.upper()), lifetime=lifetime, meta=pairs_arg(meta))
    print_object(client(ctx).add_did(body), state(ctx).json)


@app.command("list")
def list_(
    ctx: typer.Context,
    scope: str,
    filter: Annotated[str | None, typer.Option("--filter", "-f", help="e.g. 'run>=100,kind=raw'")] = None,
    type: Annotated[AnyType | None, typer.Option("--type", "-t", case_sensitive=False)] = None,
    limit: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Search the DIDs of a scope by name, type and metadata."""
    kind = type.value.upper() if type else None
    print_rows(client(ctx).search_dids(scope, filter, kind, limit), DID_COLUMNS, state(ctx).json)


@app.command("show")
def show(ctx: typer.Context, did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")]) -> None:
    """Show one DID with its metadata."""
    print_object(client(ctx).get_did(*did_arg(did), meta=True), state(ctx).json)


def _children(parent: tuple[str, str], children: list[str]) -> list:
    from lake.core.models import DIDRef

    refs = [did_arg(child, default_scope=parent[0]) for child in children]
    return [DIDRef(scope=scope, name=name) for scope, name in refs]


@app.command("attach")
def attach(
    ctx: typer.Context,
    parent: Annotated[str, typer.Argument(metavar="PARENT")],
    children: Annotated[list[str], typer.Argument(metavar="CHILD...", help="SCOPE:NAME, or NAME in PARENT's scope")],
) -> None:
    """Attach DIDs to a dataset or container."""
    scope, name = did_arg(parent)
    count = client(ctx).attach(scope, name, _children((scope, name), children))
    _report_count(ctx, "attached", count, parent)


@app.command("detach")
def detach(
    ctx: typer.Context,
    parent: Annotated[str, typer.Argument(metavar="PARENT")],
    children: Annotated[list[str], typer.Argument(metavar="CHILD...", help="SCOPE:NAME, or NAME in PARENT's scope")],
) -> None:
    """Detach DIDs from a dataset or container."""
    scope, name = did_arg(parent)
    count = client(ctx).detach(scope, name, _children((scope, name), children))
    _report_count(ctx, "detached", count, parent)


def _report_count(ctx: typer.Context, verb: str, count: int, parent: str) -> None:
    if state(ctx).json:
        print_json({verb: count})
    print_message(f"{count} DID(s) {verb} ({parent})", state(ctx).json)


@app.command("close")
def close(ctx: typer.Context, did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")]) -> None:
    """Close a collection: nothing more can be attached."""
    print_object(client(ctx).close_did(*did_arg(did)), state(ctx).json)


@app.command("content")
def content(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="all levels below")] = False,
) -> None:
    """List what a collection contains."""
    rows = client(ctx).list_content(*did_arg(did), recursive=recursive)
    print_rows(rows, DID_COLUMNS, state(ctx).json)


@meta_app.command("get")
def meta_get(ctx: typer.Context, did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")]) -> None:
    """Show a DID's metadata."""
    print_object(client(ctx).get_meta(*did_arg(did)), state(ctx).json)


@meta_app.command("set")
def meta_set(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")],
    pairs: Annotated[list[str], typer.Argument(metavar="KEY=VALUE...")],
) -> None:
    """Set metadata keys (VALUE is JSON when it parses as JSON, else text)."""
    print_object(client(ctx).set_meta(*did_arg(did), pairs_arg(pairs)), state(ctx).json)
