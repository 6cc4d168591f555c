"""Removing crash leftovers: the hidden temporary files of uploads, pulls and cache fills that will never end.

A process killed during a PUT, a pull or a fill leaves `.lake.tmp.*` files (never listed nor served). Their
names carry the writer (host hash and pid; lake.storage.localfs) and each process remembers the ones it is
writing, so a sweep removes a temporary file unless this process is writing it, and only if its writer is
gone (our own pid, an earlier process with our pid, a pid of this host that no longer runs) or it was not
written for `stale_upload_seconds` (the longest an upload may stall). A restarted endpoint therefore removes
all of its killed predecessor's files, however young, while live uploads of other processes on the same
root (an https twin, another endpoint, the file:// backend) are kept. Assumption: processes sharing a root
from other hosts or pid namespaces are told apart by host name; their files go by the age rule only.

The first sweep starts with the app (in the background: a large tree is not walked before serving), then one
runs every `temp_sweep_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from lake.storage import localfs

log = logging.getLogger(__name__)


@dataclass
class TempSweep:
    """The sweeps of one served root, run by the app's lifespan (`start` at startup, `stop` at shutdown)."""

    root: Path
    max_idle: float
    interval: float
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def run_once(self) -> int:
        """Remove the abandoned temporary files now; returns how many."""
        removed = localfs.remove_stale_temp_files(self.root, self.max_idle, time.time())
        if removed:
            log.info("removed %d stale temporary files under %s", removed, self.root)
        return removed

    async def _forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except OSError as exc:
                log.warning("sweeping temporary files under %s failed: %s", self.root, exc)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
