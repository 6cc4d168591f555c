"""The replication state machine's shared vocabulary beyond the enums of `core.policy`: which transfer states
still write a replica, which ones a released lock may cancel, and the tombstone that means "delete first".

Core, not logic: the db layer's owner modules, rules, transfers and deletion all speak it, and a constant
redefined in two domains drifts (multihop once kept its own copy of ACTIVE_TRANSFER).
"""

from __future__ import annotations

from datetime import datetime

from lake.core.replication import TransferState

ACTIVE_TRANSFER = (TransferState.QUEUED.value, TransferState.SUBMITTED.value, TransferState.WAITING.value)
CANCELLABLE_TRANSFER = (TransferState.QUEUED.value, TransferState.WAITING.value)  # not yet copying
OBSOLETE = datetime(1970, 1, 1)  # a tombstone older than any access: the reaper deletes these first, always
