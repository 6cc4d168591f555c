"""What a daemon is: a declaration (name, interval) plus `run_once(ctx) -> work_done`.

The shared runner (daemons/runner.py) loops, heartbeats, partitions work and stops gracefully; each daemon
module only declares `DAEMON = Daemon(...)` and implements one iteration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from lake.core.partition import Partition
from lake.logic.services import Services


@dataclass
class DaemonContext:
    services: Services
    instance: str
    partition: Partition = field(default_factory=Partition)
    stop: threading.Event = field(default_factory=threading.Event)
    greedy: bool = False


@dataclass(frozen=True)
class Daemon:
    name: str
    interval: float
    run_once: Callable[[DaemonContext], bool]
    description: str = ""
