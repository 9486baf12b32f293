"""The ``sqlite`` storage backend: one SQLite database file per store, in WAL mode.

Layout of a store file::

    kv(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID   -- the data
    meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID -- schema_version...

SQLite compares BLOBs with ``memcmp`` then by length: exactly the order of Python
``bytes``, so the primary-key index gives prefix scans in key order.

Durability: ``journal_mode=WAL`` and, by default, ``synchronous=FULL``. Each
:meth:`SqliteStore.write_batch` is one ``BEGIN IMMEDIATE ... COMMIT`` transaction and
returns only once the commit record is fsynced into the write-ahead log; a crash at any
moment leaves either the whole batch or none of it.

Threads: a store holds one connection, opened with ``check_same_thread=False`` and
guarded by a lock, so any thread may call any method; calls run one at a time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

from zion_core.files import fsync_dir

from .config import SqliteConfig
from .errors import (
    InvalidBatchError,
    NotAStoreError,
    SchemaVersionError,
    SqliteStorageError,
    StoreClosedError,
    StoreNotFoundError,
)

SCHEMA_VERSION = 1
"""The layout this version writes; a store with a higher ``schema_version`` is refused."""

SCAN_PAGE = 256
"""Rows fetched per query by :meth:`SqliteStore.iter_prefix` (the memory it holds at once)."""

_SCHEMA = (
    "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
)


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix``.

    ``None`` when no such bound exists: the empty prefix, or one made only of ``0xff``
    bytes (every longer key of ``0xff`` bytes starts with it). Trailing ``0xff`` bytes
    are dropped and the last remaining byte incremented: ``b"a\\xff"`` gives ``b"b"``.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _check_bytes(what: str, obj: object) -> None:
    if not isinstance(obj, bytes):
        raise InvalidBatchError(f"{what} must be bytes, not {type(obj).__name__} ({obj!r:.60})")


class SqliteStore:
    """An open store: a :class:`~zion_hookspecs.Storage` on one SQLite database file.

    Create one with :meth:`SqliteBackend.open`. Usable as a context manager, which
    closes it. Thread-safe (one connection behind a lock).
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = connection
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._conn is None

    def _connection(self) -> sqlite3.Connection:
        """The connection; call with the lock held."""
        if self._conn is None:
            raise StoreClosedError(f"sqlite store {self._path} is closed")
        return self._conn

    def _failure(self, action: str, exc: sqlite3.Error) -> SqliteStorageError:
        return SqliteStorageError(f"sqlite store {self._path}: {action} failed: {exc}")

    # -- the Storage protocol ---------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        """The value stored under ``key``, or ``None``."""
        _check_bytes("key", key)
        with self._lock:
            conn = self._connection()
            try:
                row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                raise self._failure("get", exc) from exc
        return None if row is None else bytes(row[0])

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The ``(key, value)`` pairs whose key starts with ``prefix``, in key order.

        A range query on the primary key (``key >= prefix AND key < successor``), read
        :data:`SCAN_PAGE` rows at a time, so a large scan holds little memory and no
        transaction between pages. The iteration is not a snapshot: a batch committed
        meanwhile (by another thread) may be seen for the keys not yet reached; each key
        comes at most once and keys always increase. The type check and the closed check
        happen at the call; the store closing during the iteration raises
        :class:`~zion_plugin_sqlite.errors.StoreClosedError` at the next page.
        """
        _check_bytes("prefix", prefix)
        with self._lock:
            self._connection()
        return self._scan(prefix, prefix_successor(prefix))

    def _scan(self, low: bytes, high: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        bound = "" if high is None else " AND key < :high"
        first = f"SELECT key, value FROM kv WHERE key >= :low{bound} ORDER BY key LIMIT :n"
        after = f"SELECT key, value FROM kv WHERE key > :low{bound} ORDER BY key LIMIT :n"
        params: dict[str, object] = {"low": low, "high": high, "n": SCAN_PAGE}
        sql = first
        while True:
            with self._lock:
                conn = self._connection()
                try:
                    rows = conn.execute(sql, params).fetchall()
                except sqlite3.Error as exc:
                    raise self._failure("iter_prefix", exc) from exc
            for key, value in rows:
                yield bytes(key), bytes(value)
            if len(rows) < SCAN_PAGE:
                return
            params["low"] = rows[-1][0]
            sql = after

    def write_batch(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        """Apply ``puts`` then ``deletes`` in one transaction, durably, or nothing.

        Every key and value must be ``bytes``; anything else raises
        :class:`~zion_plugin_sqlite.errors.InvalidBatchError` before the database is
        touched. A key both put and deleted ends up deleted; deleting a missing key is
        not an error. Returns once the transaction is committed (fsynced with
        ``synchronous = "full"``); on any error, including an interruption, the
        transaction is rolled back.
        """
        if not isinstance(puts, Mapping):
            raise InvalidBatchError(f"puts must be a mapping, not {type(puts).__name__}")
        if isinstance(deletes, (bytes, bytearray, memoryview, str)):
            raise InvalidBatchError(
                f"deletes must be an iterable of keys, not a single {type(deletes).__name__}"
            )
        items = list(puts.items())
        for key, value in items:
            _check_bytes("key", key)
            _check_bytes(f"value of key {key!r:.60}", value)
        doomed = [(key,) for key in deletes]
        for (key,) in doomed:
            _check_bytes("deleted key", key)
        with self._lock:
            conn = self._connection()
            if not items and not doomed:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._failure("write_batch", exc) from exc
            try:
                if items:
                    conn.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", items)
                if doomed:
                    conn.executemany("DELETE FROM kv WHERE key = ?", doomed)
                conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise self._failure("write_batch", exc) from exc
                raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        """Undo the open transaction, if any (a failed rollback must not hide the cause)."""
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close the database; a second call does nothing. Any later use raises."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- conveniences -----------------------------------------------------------------

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<SqliteStore {str(self._path)!r} {state}>"


class SqliteBackend:
    """The ``sqlite`` :class:`~zion_hookspecs.StorageBackend`: opens :class:`SqliteStore`.

    ``config`` is the ``[sqlite]`` section (defaults when omitted).
    """

    name = "sqlite"

    def __init__(self, config: SqliteConfig | None = None) -> None:
        self.config = config if config is not None else SqliteConfig()

    def open(self, path: Path, *, create: bool = True) -> SqliteStore:
        """Open the store in the database file ``path``.

        With ``create`` (the default) a missing file is created, with its parent
        directories; without it, a missing file raises
        :class:`~zion_plugin_sqlite.errors.StoreNotFoundError`. A directory, a file that
        is not a SQLite database, or a database that is not a ZION store raises
        :class:`~zion_plugin_sqlite.errors.NotAStoreError`; a store of a newer schema
        :class:`~zion_plugin_sqlite.errors.SchemaVersionError`.
        """
        path = Path(path)
        if path.is_dir():
            raise NotAStoreError(
                f"{path} is a directory; a sqlite store is one file (e.g. {path / 'chain.sqlite3'})"
            )
        exists = path.exists()
        if not exists and not create:
            raise StoreNotFoundError(f"no sqlite store at {path} (and create=False)")
        if not exists:
            path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"{path.resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                isolation_level=None,  # autocommit: transactions are explicit
                check_same_thread=False,  # the store's lock serialises the threads
                timeout=self.config.busy_timeout_ms / 1000,
            )
        except sqlite3.Error as exc:
            raise SqliteStorageError(f"cannot open sqlite store {path}: {exc}") from exc
        try:
            self._configure(conn, path, create=create)
        except BaseException:
            conn.close()
            raise
        if not exists:
            fsync_dir(path.parent)
        return SqliteStore(path, conn)

    def _configure(self, conn: sqlite3.Connection, path: Path, *, create: bool) -> None:
        config = self.config
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SqliteStorageError(
                    f"sqlite store {path}: the write-ahead log is not available "
                    f"(journal_mode is {mode!r}); the file system may not support it"
                )
            conn.execute(f"PRAGMA synchronous = {config.synchronous.upper()}")
            conn.execute(f"PRAGMA busy_timeout = {int(config.busy_timeout_ms)}")
            conn.execute(f"PRAGMA cache_size = {-1024 * int(config.cache_size_mb)}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = self._schema(conn, path, create=create)
                conn.execute("COMMIT")
            except BaseException:
                SqliteStore._rollback(conn)
                raise
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                raise NotAStoreError(f"{path} is not a ZION sqlite store: {exc}") from exc
            raise SqliteStorageError(f"cannot open sqlite store {path}: {exc}") from exc
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"sqlite store {path} has schema version {version}, newer than the "
                f"{SCHEMA_VERSION} this zion-plugin-sqlite understands; upgrade the plugin"
            )

    @staticmethod
    def _schema(conn: sqlite3.Connection, path: Path, *, create: bool) -> int:
        """Create the tables in an empty database; return the store's schema version."""
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not tables:
            if not create:
                raise NotAStoreError(f"{path} is an empty database, not a store (and create=False)")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            return SCHEMA_VERSION
        if not {"kv", "meta"} <= tables:
            raise NotAStoreError(
                f"{path} is a SQLite database but not a ZION store "
                f"(tables: {', '.join(sorted(tables))})"
            )
        row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise NotAStoreError(f"{path}: the store has no valid schema version") from None
