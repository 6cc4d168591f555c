"""`lake transfer list`, `lake transfer links` and `lake rse usage`: what the lake is copying, how many at once
per link, and what each RSE holds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lake.cli.common import client, state
from lake.cli.output import print_json, print_rows

if TYPE_CHECKING:
    from lake.core.monitoring import LinkLimitOut
    from lake.core.replication import TransferOut

app = typer.Typer(help="Transfers: the copies rules ask for.", no_args_is_help=True)

TRANSFER_COLUMNS = ["id", "did", "state", "link", "attempt", "error_category", "error"]
LINK_COLUMNS = [
    "source_rse",
    "dest_rse",
    "limit",
    "throughput",
    "files_per_second",
    "successes",
    "failures",
    "decided_at",
]


def _table_rows(transfers: Iterable[TransferOut]) -> Iterator[dict[str, Any]]:
    """Transfers with `scope:name` and a `source -> destination` link column, for people."""
    for item in transfers:
        row = item.model_dump(mode="json")
        row["did"] = f"{item.scope}:{item.name}"
        row["link"] = f"{item.source_rse or '?'} -> {item.dest_rse}"
        yield row


@app.command("list")
def list_(
    ctx: typer.Context,
    transfer_state: Annotated[str | None, typer.Option("--state", help="QUEUED, SUBMITTED, DONE, FAILED ...")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="only transfers of this rule id")] = None,
    rse: Annotated[str | None, typer.Option("--rse", help="only transfers from or to this RSE")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many (default 1000)")] = None,
) -> None:
    """List transfers, newest first: state, link, attempt and the error of failed ones."""
    rows = client(ctx).list_transfers(state=transfer_state, rule_id=rule, rse=rse, limit=limit)
    as_json = state(ctx).json
    print_rows(rows if as_json else _table_rows(rows), TRANSFER_COLUMNS, as_json)


@app.command("links")
def links(ctx: typer.Context) -> None:
    """Links with the concurrency limit the optimizer decided, and the throughput and outcomes it saw."""
    rows = client(ctx).list_links()
    as_json = state(ctx).json
    print_rows(rows if as_json else _link_rows(rows), LINK_COLUMNS, as_json)


def _link_rows(links: Iterable[LinkLimitOut]) -> Iterator[dict[str, Any]]:
    """Links with throughput in MB/s and rates rounded, for people."""
    for link in links:
        row = link.model_dump(mode="json")
        row["throughput"] = f"{link.throughput / 1e6:.1f} MB/s"
        row["files_per_second"] = f"{link.files_per_second:.2f}"
        yield row


def rse_usage(ctx: typer.Context, rse: Annotated[str, typer.Argument(metavar="RSE")]) -> None:
    """Files and bytes on an RSE per replica state (AVAILABLE, COPYING, ...)."""
    usage = client(ctx).rse_usage(rse)
    if state(ctx).json:
        print_json(usage)
        return
    rows = [*usage.by_state, {"state": "total", "files": usage.files, "bytes": usage.bytes}]
    print_rows(rows, ["state", "files", "bytes"], False)
