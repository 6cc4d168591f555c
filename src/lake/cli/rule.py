"""`lake rule ...`: replication rules (how many copies of a DID, where), their locks and changes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lake.cli.common import client, did_arg, state
from lake.cli.output import print_json, print_message, print_object, print_rows

if TYPE_CHECKING:
    from lake.core.replication import RuleOut

app = typer.Typer(help="Rules: keep N copies of a DID on RSEs matching an expression.", no_args_is_help=True)

RULE_COLUMNS = ["id", "account", "did", "rse_expression", "copies", "state", "locks ok/repl/stuck", "expires_at"]
RuleId = Annotated[str, typer.Argument(metavar="ID", help="rule id")]


def _table_rows(rules: Iterable[RuleOut]) -> Iterator[dict[str, Any]]:
    """Rules with `scope:name` and the three lock counters in one column each, for people."""
    for rule in rules:
        row = rule.model_dump(mode="json")
        row["did"] = f"{rule.scope}:{rule.name}"
        row["locks ok/repl/stuck"] = f"{rule.locks_ok_cnt}/{rule.locks_replicating_cnt}/{rule.locks_stuck_cnt}"
        yield row


class GroupingChoice(StrEnum):
    all = "all"
    dataset = "dataset"
    none = "none"


@app.command("add")
def add(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(metavar="SCOPE:NAME")],
    rse: Annotated[str, typer.Option("--rse", help="RSE expression of the targets")],
    copies: Annotated[int, typer.Option(min=1, help="copies to keep")] = 1,
    grouping: Annotated[GroupingChoice, typer.Option(case_sensitive=False, help="keep files together")] = (
        GroupingChoice.dataset
    ),
    lifetime: Annotated[int | None, typer.Option(min=1, help="seconds until the rule expires")] = None,
    weight: Annotated[str | None, typer.Option(help="RSE attribute weighting the choice")] = None,
    activity: Annotated[str | None, typer.Option(help="transfer activity")] = None,
    priority: Annotated[int | None, typer.Option(min=1, max=5, help="transfer priority, 1..5")] = None,
    source: Annotated[str | None, typer.Option("--source", help="RSE expression to copy from")] = None,
    purge: Annotated[bool, typer.Option("--purge", help="delete replicas when the rule goes")] = False,
    locked: Annotated[bool, typer.Option("--locked", help="refuse deletion until unlocked")] = False,
    comment: Annotated[str | None, typer.Option("--comment")] = None,
) -> None:
    """Add a rule; prints its id (the whole rule with --json)."""
    from lake.core.replication import RuleIn

    scope, name = did_arg(did)
    fields = {
        "scope": scope,
        "name": name,
        "copies": copies,
        "rse_expression": rse,
        "grouping": grouping.value.upper(),
        "weight": weight,
        "lifetime": lifetime,
        "locked": locked,
        "activity": activity,
        "priority": priority,
        "source_replica_expression": source,
        "purge_replicas": purge,
        "comments": comment,
    }
    spec = RuleIn.model_validate({key: value for key, value in fields.items() if value is not None})
    created = client(ctx).add_rule(spec)
    if state(ctx).json:
        print_object(created, True)
    else:
        typer.echo(created.id)


@app.command("list")
def list_(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="only rules of this account")] = None,
    did: Annotated[str | None, typer.Option("--did", metavar="SCOPE:NAME", help="only rules on this DID")] = None,
    rule_state: Annotated[str | None, typer.Option("--state", help="REPLICATING, OK, STUCK or SUSPENDED")] = None,
) -> None:
    """List rules."""
    scope, name = did_arg(did) if did else (None, None)
    rows = client(ctx).list_rules(account=account, scope=scope, name=name, state=rule_state)
    as_json = state(ctx).json
    print_rows(rows if as_json else _table_rows(rows), RULE_COLUMNS, as_json)


@app.command("show")
def show(ctx: typer.Context, rule_id: RuleId) -> None:
    """Show one rule: its state, lock counters (ok / replicating / stuck) and last error."""
    print_object(client(ctx).get_rule(rule_id), state(ctx).json)


@app.command("update")
def update(
    ctx: typer.Context,
    rule_id: RuleId,
    lifetime: Annotated[int | None, typer.Option(help="seconds from now; -1 removes the expiry")] = None,
    lock: Annotated[bool | None, typer.Option("--lock/--unlock", help="lock or unlock the rule")] = None,
    suspend: Annotated[bool | None, typer.Option("--suspend/--resume", help="pause or resume the rule")] = None,
    priority: Annotated[int | None, typer.Option(min=1, max=5)] = None,
    activity: Annotated[str | None, typer.Option()] = None,
    comment: Annotated[str | None, typer.Option("--comment")] = None,
) -> None:
    """Change a rule (only the options given)."""
    from lake.core.replication import RuleUpdate

    change = RuleUpdate(
        lifetime=lifetime, locked=lock, suspended=suspend, priority=priority, activity=activity, comments=comment
    )
    if not change.model_dump(exclude_none=True):
        raise typer.BadParameter("nothing to change: give at least one option (see --help)")
    print_object(client(ctx).update_rule(rule_id, change), state(ctx).json)


@app.command("delete")
def delete(
    ctx: typer.Context,
    rule_id: RuleId,
    force: Annotated[bool, typer.Option("--force", help="delete even if the rule is locked")] = False,
) -> None:
    """Delete a rule; replicas no other rule needs become eligible for deletion."""
    client(ctx).delete_rule(rule_id, force=force)
    if state(ctx).json:
        print_json({"deleted": rule_id})
    print_message(f"Deleted rule {rule_id}", state(ctx).json)


@app.command("reduce")
def reduce(ctx: typer.Context, rule_id: RuleId, copies: Annotated[int, typer.Option(min=1)]) -> None:
    """Keep fewer copies of the rule's data."""
    print_object(client(ctx).reduce_rule(rule_id, copies), state(ctx).json)


@app.command("move")
def move(
    ctx: typer.Context, rule_id: RuleId, rse: Annotated[str, typer.Option("--rse", help="new RSE expression")]
) -> None:
    """Move the rule's data to RSEs matching a new expression; prints the child rule that replicates first."""
    print_object(client(ctx).move_rule(rule_id, rse), state(ctx).json)


@app.command("locks")
def locks(ctx: typer.Context, rule_id: RuleId) -> None:
    """List the locks of a rule: one per file and RSE, with its state."""
    print_rows(client(ctx).rule_locks(rule_id), ["scope", "name", "rse", "state", "bytes"], state(ctx).json)
