"""The file:// backend passes the storage conformance suite."""

from pathlib import Path

import pytest

from lake.storage import StorageBackend, get_backend
from lake.testing.conformance import StorageConformance


@pytest.fixture
def backend() -> StorageBackend:
    return get_backend("file:///")


@pytest.fixture
def base_url(tmp_path: Path) -> str:
    (tmp_path / "store").mkdir()
    return (tmp_path / "store").as_uri()


class TestFileConformance(StorageConformance):
    pass
