"""Every daemon of this installation: the modules of `lake.daemons` that declare a module-level `DAEMON`.

A new daemon registers itself by existing as `lake/daemons/<name>.py`; nothing else lists daemons by hand.
"""

from __future__ import annotations

import importlib
import pkgutil

import lake.daemons
from lake.daemons.base import Daemon

MACHINERY = frozenset({"base", "runner", "registry"})


def all_daemons() -> dict[str, Daemon]:
    """Declared daemons by name, sorted; two modules declaring the same name is a programming error."""
    found: dict[str, Daemon] = {}
    for module_info in pkgutil.iter_modules(lake.daemons.__path__):
        if module_info.name in MACHINERY or module_info.name.startswith("_"):
            continue
        declared = getattr(importlib.import_module(f"lake.daemons.{module_info.name}"), "DAEMON", None)
        if not isinstance(declared, Daemon):
            continue
        if declared.name in found:
            raise ValueError(f"two daemon modules declare the name {declared.name!r}")
        found[declared.name] = declared
    return dict(sorted(found.items()))
