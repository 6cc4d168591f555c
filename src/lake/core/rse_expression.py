"""The RSE-expression grammar: pick a set of RSEs by name and attributes.

Terms: `*` (every RSE), a bare upper-case IDENT (attribute IDENT is true; every RSE carries its own
name as such an attribute, so a bare RSE name selects itself), `key=value`, `key<number`,
`key>number`. Operators: `|` union, `&` intersection, `\\` difference, and parentheses. As in Rucio
there is no precedence: operators fold left to right, so `A|B&C` means `(A|B)&C`.

`parse` turns the text into an immutable AST (kept in a small LRU cache); `resolve` evaluates it
against a mapping of RSE name -> attributes. An empty result is an error, as upstream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from lake.core.errors import InvalidRSEExpression

RSEs = Mapping[str, Mapping[str, Any]]

_ALLOWED = re.compile(r"[A-Za-z0-9._\-=<>*()|&\\]*")
_TOKENS = re.compile(r"[()|&\\]|[^()|&\\]+")
_OPERATORS = ("|", "&", "\\")
_BARE = re.compile(r"[A-Z0-9]+(?:[_-][A-Z0-9]+)*")
_COMPARISON = re.compile(r"([A-Za-z0-9._-]+)([=<>])([A-Za-z0-9._-]+)")
_BOOLEANS = ("true", "false")
# Complexity bounds: real expressions are a few terms; these keep parsing and evaluation (recursive) bounded.
MAX_LENGTH = 4096
MAX_DEPTH = 32
MAX_OPERATORS = 256


@dataclass(frozen=True)
class AllRSEs:
    """`*`: every RSE."""

    def select(self, rses: RSEs) -> set[str]:
        return set(rses)


@dataclass(frozen=True)
class AttributeEquals:
    """`key=value`, or a bare `KEY` (value True); booleans compare case-insensitively."""

    key: str
    value: str | bool = True

    def select(self, rses: RSEs) -> set[str]:
        return {name for name, attrs in rses.items() if _equals(_attribute(name, attrs, self.key), self.value)}


@dataclass(frozen=True)
class AttributeCompare:
    """`key<number` or `key>number`; RSEs whose attribute is not a number never match."""

    key: str
    op: Literal["<", ">"]
    value: float

    def select(self, rses: RSEs) -> set[str]:
        selected = set()
        for name, attrs in rses.items():
            number = _as_number(_attribute(name, attrs, self.key))
            if number is not None and (number < self.value if self.op == "<" else number > self.value):
                selected.add(name)
        return selected


@dataclass(frozen=True)
class BinaryOp:
    """`left | right`, `left & right` or `left \\ right`."""

    op: Literal["|", "&", "\\"]
    left: Expr
    right: Expr

    def select(self, rses: RSEs) -> set[str]:
        left, right = self.left.select(rses), self.right.select(rses)
        if self.op == "|":
            return left | right
        if self.op == "&":
            return left & right
        return left - right


Expr = AllRSEs | AttributeEquals | AttributeCompare | BinaryOp


def _attribute(rse: str, attrs: Mapping[str, Any], key: str) -> Any:
    """The attribute `key` of an RSE; its own name is an implicit True attribute."""
    if key in attrs:
        return attrs[key]
    return True if key == rse else None


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _equals(actual: Any, wanted: str | bool) -> bool:
    """String equality, except that true/false match case-insensitively (and the bools True/False)."""
    if actual is None:
        return False
    actual_text, wanted_text = _as_text(actual), _as_text(wanted)
    if actual_text.lower() in _BOOLEANS and wanted_text.lower() in _BOOLEANS:
        return actual_text.lower() == wanted_text.lower()
    return actual_text == wanted_text


def _as_number(value: Any) -> float | None:
    """A finite float from an int, float or numeric string; None for booleans and anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _validate(expression: str) -> None:
    """Reject bad characters and unbalanced parentheses before parsing."""
    if not expression:
        raise InvalidRSEExpression("RSE expression is empty", expression=expression)
    if not _ALLOWED.fullmatch(expression):
        bad = next(c for c in expression if not _ALLOWED.fullmatch(c))
        raise InvalidRSEExpression(f"invalid character {bad!r} in RSE expression {expression!r}", expression=expression)
    if len(expression) > MAX_LENGTH:
        raise InvalidRSEExpression(f"RSE expression is too long: {len(expression)} characters, limit {MAX_LENGTH}")
    depth = deepest = 0
    for char in expression:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
        if depth < 0:
            break
    if depth != 0:
        raise InvalidRSEExpression(f"unbalanced parentheses in RSE expression {expression!r}", expression=expression)
    if deepest > MAX_DEPTH:
        raise InvalidRSEExpression(f"RSE expression nests {deepest} parentheses deep, limit {MAX_DEPTH}")
    if sum(expression.count(op) for op in _OPERATORS) > MAX_OPERATORS:
        raise InvalidRSEExpression(f"RSE expression has more than {MAX_OPERATORS} operators")


def _term(text: str, expression: str) -> Expr:
    """One primitive term: `*`, a bare IDENT, or key[=<>]value."""
    if text == "*":
        return AllRSEs()
    if _BARE.fullmatch(text):
        return AttributeEquals(text)
    match = _COMPARISON.fullmatch(text)
    if match is None:
        raise InvalidRSEExpression(
            f"invalid term {text!r} in RSE expression {expression!r}: expected *, an upper-case "
            "attribute name, key=value, key<number or key>number",
            expression=expression,
        )
    key, op, value = match.groups()
    if op == "=":
        return AttributeEquals(key, value)
    number = _as_number(value)
    if number is None:
        raise InvalidRSEExpression(
            f"{value!r} in term {text!r} is not a number (needed for {op!r})", expression=expression
        )
    return AttributeCompare(key, op, number)  # type: ignore[arg-type]


class _Parser:
    """Recursive descent over the tokens; each nesting level folds its operators left to right."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _TOKENS.findall(expression)
        self.position = 0

    def _error(self, problem: str) -> InvalidRSEExpression:
        return InvalidRSEExpression(f"{problem} in RSE expression {self.expression!r}", expression=self.expression)

    def _next(self) -> str | None:
        token = self.tokens[self.position] if self.position < len(self.tokens) else None
        self.position += 1
        return token

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def parse(self) -> Expr:
        result = self._sequence()
        leftover = self._peek()
        if leftover is not None:
            raise self._error(f"expected an operator before {leftover!r}")
        return result

    def _sequence(self) -> Expr:
        result = self._operand()
        while (token := self._peek()) in _OPERATORS:
            self.position += 1
            result = BinaryOp(token, result, self._operand())  # type: ignore[arg-type]
        return result

    def _operand(self) -> Expr:
        token = self._next()
        if token is None:
            raise self._error("missing term at the end")
        if token in _OPERATORS or token == ")":
            raise self._error(f"empty term before {token!r}")
        if token != "(":
            return _term(token, self.expression)
        inner = self._sequence()
        if self._next() != ")":
            raise self._error("expected ')'")
        return inner


def parse(expression: str) -> Expr:
    """Validate and parse an RSE expression into an AST; results are cached (the AST is immutable)."""
    if not isinstance(expression, str):
        raise InvalidRSEExpression(f"RSE expression must be a string, not {type(expression).__name__}")
    return _parse_cached(expression)


@lru_cache(maxsize=512)
def _parse_cached(expression: str) -> Expr:
    _validate(expression)
    return _Parser(expression).parse()


def resolve(expression: str, rses: RSEs) -> set[str]:
    """The names of the RSEs an expression selects; `rses` maps RSE name -> attributes."""
    selected = parse(expression).select(rses)
    if not selected:
        raise InvalidRSEExpression(f"no RSE matches {expression!r}", expression=expression)
    return selected
