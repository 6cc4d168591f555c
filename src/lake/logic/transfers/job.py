"""A claimed transfer with everything its I/O needs, so copying never touches the database."""

from __future__ import annotations

from dataclasses import dataclass

from lake.db.transfers import TransferRow
from lake.logic.transfers.paths import Route
from lake.logic.transfers.sources import Source


@dataclass(frozen=True)
class Job:
    """One transfer claimed by `worker`: the row as claimed, the chosen source and the route."""

    transfer: TransferRow
    source: Source
    route: Route
    worker: str

    @property
    def source_pfn(self) -> str:
        return self.route.source.pfn(self.transfer.scope, self.transfer.name, self.source.path)

    @property
    def dest_pfn(self) -> str:
        return self.route.dest.pfn(self.transfer.scope, self.transfer.name)

    @property
    def source_rse(self) -> str:
        return self.route.source.rse.name

    @property
    def dest_rse(self) -> str:
        return self.route.dest.rse.name

    @property
    def key(self) -> tuple[str, str, str]:
        """(dest_rse_id, scope, name): the replica this transfer creates."""
        return (self.transfer.dest_rse_id, self.transfer.scope, self.transfer.name)
