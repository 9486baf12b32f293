"""What the sqlite store does beyond the shared contract: files, schema, settings, errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from zion_core.errors import ZionError
from zion_plugin_sqlite import (
    SCHEMA_VERSION,
    InvalidBatchError,
    NotAStoreError,
    SchemaVersionError,
    SqliteBackend,
    SqliteConfig,
    SqliteStorageError,
    SqliteStore,
    StoreClosedError,
    StoreNotFoundError,
    prefix_successor,
)
from zion_plugin_sqlite import store as store_module


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


def open_store(path: Path, **config: object) -> SqliteStore:
    return SqliteBackend(SqliteConfig(**config)).open(path)  # type: ignore[arg-type]


def pragma(store: SqliteStore, name: str) -> object:
    assert store._conn is not None
    return store._conn.execute(f"PRAGMA {name}").fetchone()[0]


@pytest.mark.parametrize(
    ("prefix", "successor"),
    [
        (b"", None),
        (b"a", b"b"),
        (b"a\x00", b"a\x01"),
        (b"a\xff", b"b"),
        (b"a\xfe\xff\xff", b"a\xff"),
        (b"\xff", None),
        (b"\xff\xff\xff", None),
        (b"\x00\xff", b"\x01"),
    ],
)
def test_prefix_successor(prefix: bytes, successor: bytes | None) -> None:
    assert prefix_successor(prefix) == successor


# ---------------------------------------------------------------------- opening files


def test_open_creates_the_file_and_its_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "chain.sqlite3"
    with SqliteBackend().open(path) as store:
        assert store.path == path and path.is_file()
        assert repr(store) == f"<SqliteStore {str(path)!r} open>"
    assert store.closed and repr(store).endswith("closed>")
    with SqliteBackend().open(path, create=False) as again:
        assert again.get(b"x") is None


def test_open_missing_without_create(db: Path) -> None:
    with pytest.raises(StoreNotFoundError, match=r"no sqlite store at .*create=False") as info:
        SqliteBackend().open(db, create=False)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ZionError)
    assert not db.exists()


def test_open_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotAStoreError, match="is a directory; a sqlite store is one file"):
        SqliteBackend().open(tmp_path)


def test_open_a_file_that_is_not_a_database(db: Path) -> None:
    db.write_bytes(b"not a database, " * 100)
    with pytest.raises(NotAStoreError, match="is not a ZION sqlite store: file is not a database"):
        SqliteBackend().open(db)
    assert db.read_bytes() == b"not a database, " * 100


def test_open_another_sqlite_database(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(
        NotAStoreError, match=r"a SQLite database but not a ZION store \(tables: t\)"
    ):
        SqliteBackend().open(db)


def test_open_an_empty_file(db: Path) -> None:
    db.touch()
    with pytest.raises(NotAStoreError, match="empty database"):
        SqliteBackend().open(db, create=False)
    with SqliteBackend().open(db) as store:  # create=True makes it a store
        store.write_batch({b"k": b"v"})
    with SqliteBackend().open(db, create=False) as store:
        assert store.get(b"k") == b"v"


def test_schema(db: Path) -> None:
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        sql = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        meta = dict(conn.execute("SELECT name, value FROM meta"))
    conn.close()
    assert sql["kv"] == "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
    assert meta == {"schema_version": str(SCHEMA_VERSION)}


def test_newer_schema_is_refused(db: Path) -> None:
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE name = 'schema_version'", (SCHEMA_VERSION + 1,)
        )
    conn.close()
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        open_store(db)


def test_missing_schema_version(db: Path) -> None:
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM meta")
    conn.close()
    with pytest.raises(NotAStoreError, match="no valid schema version"):
        open_store(db)


# ------------------------------------------------------------------------- settings


def test_default_pragmas(db: Path) -> None:
    with open_store(db) as store:
        assert pragma(store, "journal_mode") == "wal"
        assert pragma(store, "synchronous") == 2  # FULL
        assert pragma(store, "busy_timeout") == 5000
        assert pragma(store, "cache_size") == -16 * 1024


def test_configured_pragmas(db: Path) -> None:
    with open_store(db, synchronous="normal", cache_size_mb=3, busy_timeout_ms=250) as store:
        assert pragma(store, "synchronous") == 1  # NORMAL
        assert pragma(store, "busy_timeout") == 250
        assert pragma(store, "cache_size") == -3 * 1024


def test_prefix_scan_is_a_range_query_on_the_primary_key(db: Path) -> None:
    with open_store(db) as store:
        assert store._conn is not None
        plan = store._conn.execute(
            "EXPLAIN QUERY PLAN SELECT key, value FROM kv WHERE key >= ? AND key < ? "
            "ORDER BY key LIMIT 5",
            (b"a", b"b"),
        ).fetchall()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH kv USING PRIMARY KEY (key>? AND key<?)" in detail
    assert "TEMP B-TREE" not in detail  # no sort: the index gives the order


# ---------------------------------------------------------------- reads and writes


def test_empty_key(db: Path) -> None:
    with open_store(db) as store:
        store.write_batch({b"": b"root", b"\x00": b"zero"})
        assert store.get(b"") == b"root"
        assert list(store.iter_prefix(b"")) == [(b"", b"root"), (b"\x00", b"zero")]


def test_iter_prefix_reads_page_by_page(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "SCAN_PAGE", 4)
    keys = [b"p%02d" % i for i in range(10)]
    with open_store(db) as store:
        store.write_batch({key: key for key in keys} | {b"q": b"", b"o": b""})
        scan = store.iter_prefix(b"p")
        assert next(scan) == (b"p00", b"p00")  # lazy: one page (p00..p03) read so far
        store.write_batch({b"p05x": b"new"}, deletes=[b"p01", b"p09"])  # not a snapshot:
        # the page already read still has p01; later pages see the batch
        assert [key for key, _ in scan] == [*keys[1:6], b"p05x", *keys[6:9]]


def test_closing_during_a_scan(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "SCAN_PAGE", 2)
    store = open_store(db)
    store.write_batch({b"k%d" % i: b"" for i in range(5)})
    scan = iter(store.iter_prefix(b"k"))
    assert [next(scan), next(scan)] == [(b"k0", b""), (b"k1", b"")]
    store.close()
    with pytest.raises(StoreClosedError, match="is closed"):
        next(scan)


def test_bad_arguments_are_typed_errors(db: Path) -> None:
    with open_store(db) as store:
        with pytest.raises(InvalidBatchError, match="puts must be a mapping, not list"):
            store.write_batch([(b"k", b"v")])  # type: ignore[arg-type]
        with pytest.raises(InvalidBatchError, match="deletes must be an iterable of keys"):
            store.write_batch({}, deletes=b"key")  # type: ignore[arg-type]
        with pytest.raises(InvalidBatchError, match=r"value of key b'k' must be bytes, not str"):
            store.write_batch({b"k": "v"})  # type: ignore[dict-item]
        with pytest.raises(InvalidBatchError, match="key must be bytes, not bytearray"):
            store.get(bytearray(b"k"))  # type: ignore[arg-type]
        with pytest.raises(TypeError):  # InvalidBatchError is a TypeError too
            store.write_batch({}, deletes=[memoryview(b"k")])  # type: ignore[list-item]


def test_a_failing_batch_is_rolled_back(db: Path) -> None:
    with open_store(db) as store:
        store.write_batch({b"a": b"1", b"b": b"2"})
        assert store._conn is not None
        store._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)  # values over 1000 bytes fail
        with pytest.raises(SqliteStorageError, match=r"write_batch failed: .*too big"):
            store.write_batch({b"c": b"3", b"big": b"x" * 2000}, deletes=[b"a"])
        assert not store._conn.in_transaction
        assert list(store.iter_prefix(b"")) == [(b"a", b"1"), (b"b", b"2")]
        store.write_batch({b"c": b"3"})
    with open_store(db) as again:
        assert list(again.iter_prefix(b"")) == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]


def test_another_writer_holding_the_lock(db: Path) -> None:
    with open_store(db, busy_timeout_ms=50) as store:
        store.write_batch({b"k": b"v"})
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(SqliteStorageError, match="database is locked"):
            store.write_batch({b"k": b"w"})
        assert store.get(b"k") == b"v"  # WAL: readers are not blocked
        other.execute("ROLLBACK")
        other.close()
        store.write_batch({b"k": b"w"})
        assert store.get(b"k") == b"w"


def test_threads_share_a_store(db: Path) -> None:
    errors: list[BaseException] = []
    with open_store(db) as store:

        def write(t: int) -> None:
            try:
                for i in range(40):
                    store.write_batch({b"t%d/%03d" % (t, i): b"%d" % i, b"last/%d" % t: b"%d" % i})
                    rows = list(store.iter_prefix(b"t%d/" % t))
                    assert len(rows) == i + 1
                    assert store.get(b"last/%d" % t) == b"%d" % i
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(list(store.iter_prefix(b"t"))) == 160
        assert [v for _, v in store.iter_prefix(b"last/")] == [b"39"] * 4
