"""``zion-plugin-sqlite``: the embedded storage backend on SQLite.

Registers the ``sqlite`` :class:`~zion_hookspecs.StorageBackend` (one WAL-mode database
file per store, every ``write_batch`` one fsynced transaction), the ``[sqlite]`` config
section, and the SQLite library's version for ``zion diagnose``. See docs/storage.md.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from zion_hookspecs import hookimpl

from .config import SqliteConfig
from .errors import (
    InvalidBatchError,
    NotAStoreError,
    SchemaVersionError,
    SqliteStorageError,
    StoreClosedError,
    StoreNotFoundError,
)
from .store import SCHEMA_VERSION, SqliteBackend, SqliteStore, prefix_successor

if TYPE_CHECKING:
    from zion_hookspecs import (
        DiagnosticsReport,
        Node,
        Register,
        RegisterConfigSection,
        StorageBackend,
    )

SECTION = "sqlite"


@hookimpl
def zion_register_config(register: RegisterConfigSection) -> None:
    """Declare the ``[sqlite]`` section."""
    register(SECTION, SqliteConfig)


@hookimpl
def zion_register_storages(register: Register[StorageBackend], node: Node) -> None:
    """Register the ``sqlite`` backend, configured from ``[sqlite]``."""
    register(SqliteBackend(node.config_section(SECTION)))


@hookimpl
def zion_diagnose(report: DiagnosticsReport) -> None:
    """The SQLite library the backend runs on, and its threading mode."""
    report.add("sqlite library", sqlite3.sqlite_version)
    modes = {0: "single-thread", 1: "multi-thread", 3: "serialized"}
    report.add("threading", modes.get(sqlite3.threadsafety, str(sqlite3.threadsafety)))
    report.add("schema version", SCHEMA_VERSION)


__all__ = [
    "SCHEMA_VERSION",
    "InvalidBatchError",
    "NotAStoreError",
    "SchemaVersionError",
    "SqliteBackend",
    "SqliteConfig",
    "SqliteStorageError",
    "SqliteStore",
    "StoreClosedError",
    "StoreNotFoundError",
    "prefix_successor",
]
