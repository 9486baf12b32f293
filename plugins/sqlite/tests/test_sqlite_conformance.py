"""The sqlite backend against the storage conformance suite (zion_core.testing.storage)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zion_core.testing.storage import StorageConformance, StoreFactory
from zion_plugin_sqlite import (
    InvalidBatchError,
    SqliteBackend,
    SqliteConfig,
    SqliteStore,
    StoreClosedError,
)


class TestSqliteConformance(StorageConformance):
    closed_error = StoreClosedError
    invalid_error = InvalidBatchError

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        backend = SqliteBackend()
        return lambda where: backend.open(where / "store.sqlite3")


class TestSqliteNormalSyncConformance(StorageConformance):
    """``synchronous = "normal"`` changes when the log is fsynced, not what is stored."""

    closed_error = StoreClosedError
    invalid_error = InvalidBatchError

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        backend = SqliteBackend(SqliteConfig(synchronous="normal", cache_size_mb=1))

        def open_store(where: Path) -> SqliteStore:
            return backend.open(where / "deep" / "dirs" / "store.sqlite3")

        return open_store
