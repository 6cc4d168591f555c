"""One owner per state table: only the table's owner module in `lake.db` may INSERT, UPDATE or DELETE its rows.

The check parses every module of `src/lake` (ast, no import) and finds the writes: sqlalchemy's `insert(X)`,
`update(X)`, `delete(X)`, the table methods `X.insert()`, `X.update()`, `X.delete()`, the bulk helper
`insert_rows(conn, X, ...)` and raw SQL strings (`UPDATE X ...`). `X` is resolved through the module's imports
and simple assignments: `t.replicas` (`from lake.db import schema as t`), `rules` (`from lake.db.schema_replication
import rules`), `lake.db.schema.replicas`, `child = rules.alias(...)`. To give another table an owner, add it to
OWNERS.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "lake"
OWNERS = {
    "replicas": "lake.db.replicas",
    "rules": "lake.db.rules",
    "locks": "lake.db.locks",
    "transfers": "lake.db.transfers",
    "updated_dids": "lake.db.did_updates",
}
SCHEMA = re.compile(r"^lake\.db\.schema\w*$")  # the modules defining tables
VERBS = {"insert", "update", "delete"}
BULK_INSERT = "lake.db.bulk.insert_rows"
RAW_SQL = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(" + "|".join(OWNERS) + r")\b")


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    table: str
    how: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} {self.how} {self.table} (owner: {OWNERS[self.table]})"


class _Names:
    """What the names of one module refer to: modules, imported objects (qualified names), owned tables."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.modules: dict[str, str] = {}  # local name -> module
        self.objects: dict[str, str] = {}  # local name -> qualified name of what `from ... import` gave
        self.tables: dict[str, str] = {}  # local name -> owned table

    def learn(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.modules[alias.asname] = alias.name
                    else:
                        self.modules[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                self._learn_from(node)
        for node in ast.walk(tree):  # after the imports: assignments may use any of them
            if isinstance(node, ast.Assign) and (table := self.table_of(node.value)):
                self.tables.update({target.id: table for target in node.targets if isinstance(target, ast.Name)})

    def _learn_from(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parent = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join(parent + ([base] if base else []))
        for alias in node.names:
            local = alias.asname or alias.name
            if SCHEMA.match(base) and alias.name in OWNERS:
                self.tables[local] = alias.name
            elif base.startswith("lake") or SCHEMA.match(f"{base}.{alias.name}"):
                self.modules[local] = f"{base}.{alias.name}"  # a module, or an object: `dotted` tells
                self.objects[local] = f"{base}.{alias.name}"
            else:
                self.objects[local] = f"{base}.{alias.name}"

    def dotted(self, node: ast.expr) -> str | None:
        """The qualified name an attribute chain (`t.replicas`, `sa.insert`) stands for."""
        if isinstance(node, ast.Name):
            return self.modules.get(node.id) or self.objects.get(node.id)
        if isinstance(node, ast.Attribute) and (value := self.dotted(node.value)):
            return f"{value}.{node.attr}"
        return None

    def table_of(self, node: ast.expr) -> str | None:
        """The owned table an expression is (or an alias of), if any."""
        if isinstance(node, ast.Name) and node.id in self.tables:
            return self.tables[node.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "alias":
            return self.table_of(node.func.value)
        if isinstance(node, ast.Attribute) and node.attr in OWNERS:
            owner = self.dotted(node.value)
            return node.attr if owner and SCHEMA.match(owner) else None
        return None


def _write(names: _Names, call: ast.Call) -> tuple[str, str] | None:
    """(table, how) if the call writes an owned table."""
    func = call.func
    target = names.dotted(func) or ""
    if target.startswith("sqlalchemy") and target.rpartition(".")[2] in VERBS and call.args:
        table = names.table_of(call.args[0])
        return (table, f"{target.rpartition('.')[2]}()") if table else None
    if isinstance(func, ast.Attribute) and func.attr in VERBS and (table := names.table_of(func.value)):
        return table, f".{func.attr}()"
    if target == BULK_INSERT and len(call.args) > 1 and (table := names.table_of(call.args[1])):
        return table, "insert_rows()"
    return None


def violations(source: str, module: str, is_package: bool = False) -> list[Violation]:
    """Writes to owned tables in this module's source that its owner module does not make."""
    tree = ast.parse(source)
    names = _Names(module, is_package)
    names.learn(tree)
    found = []
    for node in ast.walk(tree):
        write = None
        if isinstance(node, ast.Call):
            write = _write(names, node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (sql := RAW_SQL.search(node.value)):
            write = (sql.group(1), "raw SQL")
        if write and OWNERS[write[0]] != module:
            found.append(Violation(module, node.lineno, write[0], write[1]))
    return sorted(found, key=lambda v: v.line)


def module_name(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return (".".join(parts[:-1]), True) if parts[-1] == "__init__" else (".".join(parts), False)


def test_only_the_owner_module_writes_each_state_table() -> None:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        module, is_package = module_name(path)
        found += violations(path.read_text(), module, is_package)
    assert not found, "writes outside the table's owner:\n" + "\n".join(map(str, found))


def test_every_owner_module_exists() -> None:
    for owner in OWNERS.values():
        assert (SOURCE.parent / (owner.replace(".", "/") + ".py")).is_file(), owner


LOGIC = """
from sqlalchemy import delete, update as change
import sqlalchemy as sa
from lake.db import schema as t, locks
from lake.db.bulk import insert_rows
from lake.db.schema_replication import rules as r, transfers

def go(conn):
    conn.execute(change(t.replicas).values(state="AVAILABLE"))
    conn.execute(delete(r).where(r.c.id == "x"))
    conn.execute(sa.insert(transfers), [])
    insert_rows(conn, transfers, [])
    child = r.alias("child")
    conn.execute(sa.update(child))
    conn.execute(t.replicas.delete())
    conn.exec_driver_sql("DELETE FROM updated_dids")
    locks.release(conn, "rule")  # the owner module's operation: fine
    conn.execute(sa.select(r))  # a read: fine
"""


def test_the_checker_finds_every_kind_of_write_outside_the_owner() -> None:
    found = {(v.line, v.table, v.how) for v in violations(LOGIC, "lake.logic.rules.example")}
    assert found == {
        (9, "replicas", "update()"),
        (10, "rules", "delete()"),
        (11, "transfers", "insert()"),
        (12, "transfers", "insert_rows()"),
        (14, "rules", "update()"),
        (15, "replicas", ".delete()"),
        (16, "updated_dids", "raw SQL"),
    }


def test_the_owner_module_may_write_its_own_table_only() -> None:
    source = "from sqlalchemy import update\nfrom lake.db import schema as t\nupdate(t.replicas)\nupdate(t.rules)\n"
    assert [(v.table, v.line) for v in violations(source, "lake.db.replicas")] == [("rules", 4)]
