"""The protocol layer: one backend interface, backends by URL scheme, native failures as Lake errors."""

from lake.storage.base import CopyResult, StatResult, StorageBackend, WriteResult
from lake.storage.registry import get_backend, register_backend

__all__ = ["CopyResult", "StatResult", "StorageBackend", "WriteResult", "get_backend", "register_backend"]
