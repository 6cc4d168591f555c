"""`lake upload` and `lake download`, with Rich progress bars on stderr."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lake.cli.common import client, did_arg, pairs_arg, state
from lake.cli.output import print_error, print_rows

if TYPE_CHECKING:
    from rich.progress import Progress


class ByteBar:
    """One bar for many files: each file's size joins the total when it first reports progress."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.task = progress.add_task(label, total=0)
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, name: str, count: int, size: int) -> None:
        with self.lock:
            if name not in self.seen:
                self.seen.add(name)
                total = self.progress.tasks[self.task].total or 0
                self.progress.update(self.task, total=total + size)
            self.progress.advance(self.task, count)


@contextmanager
def byte_bar(label: str) -> Iterator[ByteBar]:
    """A transfer bar on stderr, shown only on a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        yield ByteBar(progress, label)


def upload(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(exists=True, metavar="PATH...", help="files or directories")],
    rse: Annotated[str, typer.Option(help="RSE to upload to")],
    scope: Annotated[str, typer.Option(help="scope of the new files")],
    dataset: Annotated[str | None, typer.Option(help="dataset to put them in (created if missing)")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="KEY=VALUE on every file (repeatable)")] = None,
    parallel: Annotated[int, typer.Option(min=1, help="concurrent transfers")] = 4,
) -> None:
    """Upload files (directories recursively) to an RSE; they become AVAILABLE once verified."""
    metadata = pairs_arg(meta)
    lake = client(ctx)
    with byte_bar("upload") as bar:
        results = lake.upload(paths, rse, scope, dataset, metadata, parallel=parallel, progress=bar)
    print_rows(results, ["scope", "name", "state", "error"], state(ctx).json)
    failed = [result for result in results if result.error is not None]
    for result in failed:
        error = result.error or {}
        print_error(f"{result.scope}:{result.name}: {error.get('message')}", str(error.get("code")))
    if failed:
        raise typer.Exit(1)


def download(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")],
    dest: Annotated[Path, typer.Option("--dir", file_okay=False, help="files go to DIR/<scope>/<name>")] = Path(),
    rse: Annotated[str | None, typer.Option("--rse", help="RSE expression the sources must match")] = None,
    parallel: Annotated[int, typer.Option(min=1, help="concurrent transfers")] = 4,
    site: Annotated[
        str | None, typer.Option("--site", envvar="LAKE_SITE", help="your site: read through its cache first")
    ] = None,
) -> None:
    """Download a file, dataset or container; every file is verified against its catalog checksum."""
    scope, name = did_arg(did)
    lake = client(ctx)
    with byte_bar("download") as bar:
        results = lake.download(f"{scope}:{name}", dest, rse, parallel=parallel, progress=bar, site=site)
    rows = [
        {"scope": r.scope, "name": r.name, "path": str(r.path), "rse": r.rse, "skipped": r.skipped}
        | ({"error": r.error.to_dict()} if r.error else {})
        for r in results
    ]
    print_rows(rows, ["scope", "name", "path", "rse", "skipped"], state(ctx).json)
    for result in results:
        if result.error is not None:
            print_error(result.error)
    if not all(result.ok for result in results):
        raise typer.Exit(1)
