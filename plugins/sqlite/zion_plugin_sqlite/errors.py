"""The errors the ``sqlite`` storage backend raises on purpose.

Every one is a :class:`~zion_core.errors.ZionError` (through :class:`SqliteStorageError`),
so the command line reports it as a one-line message instead of a traceback. Errors that
mirror a built-in exception also derive from it (a missing store is a
:class:`FileNotFoundError`, a bad batch a :class:`TypeError`), so generic callers can catch
them without importing this plugin.
"""

from __future__ import annotations

from zion_core.errors import ZionError


class SqliteStorageError(ZionError):
    """Root of the sqlite backend's errors; also wraps unexpected ``sqlite3`` errors."""


class StoreNotFoundError(SqliteStorageError, FileNotFoundError):
    """``open(path, create=False)`` was asked for a database file that does not exist."""


class NotAStoreError(SqliteStorageError):
    """The path exists but is not a ZION sqlite store (a directory, another file or database)."""


class SchemaVersionError(SqliteStorageError):
    """The store was written by a newer version of the plugin, with a schema it does not know."""


class StoreClosedError(SqliteStorageError):
    """The store was used after :meth:`~zion_plugin_sqlite.SqliteStore.close`."""


class InvalidBatchError(SqliteStorageError, TypeError):
    """A key, value or argument is not of the expected type; nothing was written."""


__all__ = [
    "InvalidBatchError",
    "NotAStoreError",
    "SchemaVersionError",
    "SqliteStorageError",
    "StoreClosedError",
    "StoreNotFoundError",
]
