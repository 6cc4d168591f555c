"""What every schema module shares: one `metadata` with Lake's naming convention, and common column types."""

from __future__ import annotations

from sqlalchemy import MetaData, String

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

SCOPE = String(25)
DID_NAME = String(250)
