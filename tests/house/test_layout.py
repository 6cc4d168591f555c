"""The house's layout as the formatter lays it out: no `# fmt: skip` to hide a long function, no function over 50
lines, no module over 400 lines (migrations are generated and exempt)."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "lake"
MAX_FUNCTION_LINES = 50
MAX_MODULE_LINES = 400


def modules() -> list[Path]:
    return sorted(path for path in SOURCE.rglob("*.py") if "migrations" not in path.parts)


def test_no_module_hides_its_layout_from_the_formatter():
    marked = [
        f"{path.relative_to(SOURCE)}:{number}"
        for path in modules()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "fmt: skip" in line or "fmt: off" in line
    ]
    assert marked == []


def test_every_function_is_at_most_fifty_lines():
    long = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - first + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SOURCE)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []


def test_every_module_is_at_most_four_hundred_lines():
    long = [
        f"{path.relative_to(SOURCE)} ({count} lines)"
        for path in modules()
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []
