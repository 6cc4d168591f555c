"""DID search filters: the native text syntax and Rucio's dict style, parsed into one model.

A filter is an OR of AND-groups of `Term(key, op, value)`. Text: AND-terms separated by `,`,
OR-groups by `;`, each term `key OP value` (`type=DATASET,run>=100;name=calib*`). Rucio dicts:
one dict per AND-group, operators as key suffixes (`{"run_number.gte": 5, "name": "x*"}`).
An empty list means no filter, and an empty AND-group matches every DID.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lake.core.errors import InvalidFilter

OPERATORS = ("=", "!=", "<", ">", "<=", ">=")
WILDCARD_OPERATORS = ("=", "!=")
SUFFIX_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "ne": "!="}
DID_COLUMNS = frozenset({"name", "type"})

Value = str | int | float | bool

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_TERM = re.compile(r"(?P<key>[^=!<>]*)(?P<op>[=!<>]+)(?P<value>.*)", re.DOTALL)
_INT = re.compile(r"-?\d+")
# Complexity bounds: each term becomes a join on DID metadata, so a filter stays a few dozen terms.
MAX_TERMS = 64
MAX_LENGTH = 8192
_FLOAT = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Term:
    """One comparison `key op value`; checks its own consistency so every builder gets the same rules."""

    key: str
    op: str
    value: Value

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidFilter("filter term has an empty key", term=str(self))
        if not _KEY.fullmatch(self.key):
            raise InvalidFilter(f"invalid filter key {self.key!r}: use letters, digits, '_', '.' and '-'", key=self.key)
        if self.op not in OPERATORS:
            raise InvalidFilter(
                f"unknown operator {self.op!r} for key {self.key!r}; use one of {', '.join(OPERATORS)}",
                key=self.key,
            )
        if self.is_wildcard and self.op not in WILDCARD_OPERATORS:
            raise InvalidFilter(
                f"wildcard '*' in {self.value!r} works only with = and !=, not {self.op!r}", key=self.key
            )

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"

    @property
    def is_wildcard(self) -> bool:
        """True when the value is a pattern with `*` (then op is `=` or `!=`)."""
        return isinstance(self.value, str) and "*" in self.value

    @property
    def is_did_column(self) -> bool:
        """True for `name` and `type`, which address the DID itself; other keys are metadata."""
        return self.key in DID_COLUMNS


Filters = list[list[Term]]


def typed_value(text: str, key: str = "") -> Value:
    """int or float when numeric, bool for true/false (any case), else the string; DID columns stay text."""
    if key in DID_COLUMNS or "*" in text:
        return text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _term(raw_key: str, op: str, value: Any) -> Term:
    """A Term from a key that may carry a Rucio suffix operator (`run.gte`), with `op` from the text."""
    key, dot, suffix = raw_key.rpartition(".")
    if dot and suffix in SUFFIX_OPERATORS:
        if op != "=":
            raise InvalidFilter(
                f"key {raw_key!r} already names the operator {SUFFIX_OPERATORS[suffix]!r}; "
                f"write {raw_key}=value or {key}{op}value",
                key=raw_key,
            )
        op = SUFFIX_OPERATORS[suffix]
    else:
        key = raw_key
    if isinstance(value, str):
        if not value:
            raise InvalidFilter(f"filter term for key {raw_key!r} has an empty value", key=raw_key)
        value = typed_value(value, key)
    elif not isinstance(value, int | float | bool):
        raise InvalidFilter(
            f"unsupported value {value!r} for key {raw_key!r}: use a string, number or boolean", key=raw_key
        )
    return Term(key, op, value)


def _parse_term(text: str) -> Term:
    """`key OP value` with surrounding whitespace ignored."""
    match = _TERM.fullmatch(text.strip())
    if match is None:
        raise InvalidFilter(f"filter term {text.strip()!r} has no operator; write key=value", term=text)
    raw_key, op, value = match.group("key").strip(), match.group("op"), match.group("value").strip()
    if not raw_key:
        raise InvalidFilter(f"filter term {text.strip()!r} has an empty key", term=text)
    if op not in OPERATORS:
        raise InvalidFilter(
            f"unknown operator {op!r} in filter term {text.strip()!r}; use one of {', '.join(OPERATORS)}",
            term=text,
        )
    return _term(raw_key, op, value)


def parse_filters(text: str | None) -> Filters:
    """Parse the native `filter=` text into OR-groups of AND-terms; empty text means no filter."""
    if text is None or not text.strip():
        return []
    if len(text) > MAX_LENGTH:
        raise InvalidFilter(f"filter is too long: {len(text)} characters, limit {MAX_LENGTH}")
    groups: Filters = []
    for group_text in text.split(";"):
        if not group_text.strip():
            raise InvalidFilter(f"empty OR-group (stray ';') in filter {text!r}", filter=text)
        terms = []
        for term_text in group_text.split(","):
            if not term_text.strip():
                raise InvalidFilter(f"empty term (stray ',') in filter {text!r}", filter=text)
            terms.append(_parse_term(term_text))
        groups.append(terms)
    return _bounded(groups)


def _bounded(groups: Filters) -> Filters:
    """Refuse a filter of more than MAX_TERMS terms in all."""
    terms = sum(len(group) for group in groups)
    if terms > MAX_TERMS:
        raise InvalidFilter(f"filter has {terms} terms, limit {MAX_TERMS}")
    return groups


def filters_from_dicts(groups: Iterable[Mapping[str, Any]]) -> Filters:
    """Rucio's list-of-dicts filters (one dict per AND-group, suffix operators) in the same model."""
    if isinstance(groups, Mapping):
        groups = [groups]
    result: Filters = []
    for group in groups:
        if not isinstance(group, Mapping):
            raise InvalidFilter(f"each filter group must be a dict, not {type(group).__name__}")
        result.append([_term(str(key), "=", value) for key, value in group.items()])
    return _bounded(result)
